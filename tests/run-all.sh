#!/usr/bin/env bash
# The whole test suite, as README.md gives it and .ci/run calls it:
#   1. host tests: dotnet test LoopOrder.sln (unit, randomized checker, struct layouts vs the
#      6.12 uapi header, CLI exit codes on a host without ublk);
#   2. every kernel-facing test, inside the bundled VM (tests/vm), against the real ublk_drv.
# Ends with one line "tests: N passed, N failed" over both, and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

passed=0 failed=0 rc=0
log=$(mktemp); trap 'rm -f "$log"' EXIT

# Root: the VM needs it, and so do the tests that check permission errors honestly.
[ "$(id -u)" = 0 ] || { echo "run-all: run as root (the VM and the device tests need it)" >&2; exit 2; }

# qemu, fio, e2fsprogs, qemu-utils, gcc...: installed when missing. The struct-layout tests
# fetch the VM kernel's uapi headers themselves (tests/vm/fetch-headers.sh).
bash tests/vm/host-deps.sh gcc libc6-dev linux-libc-dev || exit 1

echo "== host tests: dotnet test LoopOrder.sln"
dotnet test LoopOrder.sln -c Release 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
# "Passed!  - Failed:     0, Passed:    27, Skipped: ..." one line per test assembly
while read -r f p; do
  failed=$((failed + f)); passed=$((passed + p))
done < <(sed -n 's/.*Failed: *\([0-9]*\), Passed: *\([0-9]*\),.*/\1 \2/p' "$log")

echo "== kernel tests in the VM: tests/vm/e2e/run.sh"
bash tests/vm/e2e/run.sh 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
if line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1); then
  passed=$((passed + ${line%% *}))
  f=${line#*, }; failed=$((failed + ${f%% *}))
else
  failed=$((failed + 1)); rc=1
fi

[ "$failed" = 0 ] || rc=1
echo "tests: $passed passed, $failed failed"
exit "$rc"
