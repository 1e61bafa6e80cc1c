#!/bin/bash
# publish-native.sh OUT - `loop-order` as one native executable (Native AOT, linux-x64): OUT/loop-order,
# with nothing beside it (no .NET runtime needed where it runs). Its debug symbols go to
# OUT/loop-order.dbg (the Debian package leaves them out).
#
# Needs the .NET 10 SDK (the ILCompiler package is restored from the feed at the SDK's version),
# clang and zlib1g-dev (Debian: apt-get install clang zlib1g-dev; .ci/run installs them). The
# trimming and AOT analyzers already run in every build (IsAotCompatible in the project file), and
# with TreatWarningsAsErrors an ILC warning fails this publish too.
#
# The native build keeps its intermediate files apart from the JIT build's (artifacts/native, or
# $LOOPORDER_ARTIFACTS), so switching between the two rebuilds neither.
set -euo pipefail
[ $# = 1 ] || { echo "usage: $0 OUT" >&2; exit 2; }
out=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
command -v clang >/dev/null || { echo "publish-native.sh: clang is missing (apt-get install clang zlib1g-dev)" >&2; exit 69; }
export LOOPORDER_ARTIFACTS=${LOOPORDER_ARTIFACTS:-$root/artifacts/native}
stage=$LOOPORDER_ARTIFACTS/publish-native
rm -rf "$stage"
dotnet publish "$root/service/LoopOrder.Service.csproj" -c Release -r linux-x64 \
  -p:PublishAot=true -p:SelfContained=true -p:StripSymbols=true \
  -o "$stage" -nologo -v:q
mkdir -p "$out"
install -m 0755 "$stage/loop-order" "$out/loop-order"
[ -f "$stage/loop-order.dbg" ] && install -m 0644 "$stage/loop-order.dbg" "$out/loop-order.dbg"
echo "$out/loop-order"
