#!/bin/bash
# publish.sh OUT - `dotnet publish` loop-order (service/, Release) into OUT for the VM, host side:
# the e2e suite (tests/vm/e2e/run.sh), the benchmark (bench/fio/run.sh) and service/run.sh use it.
#
# ReadyToRun: under the VM's software emulation JIT-compiling the server costs ~7 s a start, and
# the suites start it dozens of times. ReadyToRun needs the runtime pack and crossgen from the
# package feed; without them it falls back to a plain (JIT) publish and says so on stderr.
# Exit status: dotnet's (non-zero when even the plain publish failed).
set -uo pipefail
[ $# = 1 ] || { echo "usage: $0 OUT" >&2; exit 2; }
out=$1
proj=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/service/LoopOrder.Service.csproj
dotnet publish "$proj" -c Release -o "$out" -p:PublishReadyToRun=true -nologo -v:q && exit 0
echo "publish.sh: ReadyToRun publish failed; publishing without it (slower starts in the VM)" >&2
dotnet publish "$proj" -c Release -o "$out" -nologo -v:q
