#!/usr/bin/env bash
# The whole test suite, as README.md gives it and .ci/run calls it:
#   1. host tests: dotnet test LoopOrder.sln (unit, randomized checker, struct layouts vs the
#      6.12 and 7.3 uapi headers, CLI exit codes on a host without ublk; tests that need the
#      kernel are reported skipped here);
#   2. every kernel-facing test, inside the bundled VM (tests/vm), against the real ublk_drv:
#      the whole VM suite once per kernel (6.12 and 7.3, tests/vm/lib.sh's VM_KERNELS), on the
#      native (AOT) loop-order.
# Ends with one line "tests: N passed, N failed[, N skipped]" over all of them, and exits
# non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

passed=0 failed=0 skipped=0 rc=0 summaries=() failures=() phases=()
t0=$SECONDS
# CI shows only the tail of this output: the end repeats what failed and how long each part took.
phase() { phases+=("$1: $((SECONDS - t0)) s"); t0=$SECONDS; }
# what .ci/run did before (host packages, the native publish, the package check), ";"-separated
IFS=';' read -ra phases <<< "${RUN_ALL_TOOK:-}"
log=$(mktemp); trap 'rm -f "$log"' EXIT

# Root: the VM needs it, and so do the tests that check permission errors honestly.
[ "$(id -u)" = 0 ] || { echo "run-all: run as root (the VM and the device tests need it)" >&2; exit 2; }

# qemu, fio, e2fsprogs, qemu-utils, gcc...: installed when missing. The struct-layout tests
# fetch the VM kernels' uapi headers themselves (tests/vm/fetch-headers.sh).
bash tests/vm/host-deps.sh gcc libc6-dev linux-libc-dev nbdkit qemu-utils clang zlib1g-dev || exit 1

echo "== host tests: dotnet test LoopOrder.sln"
dotnet test LoopOrder.sln -c Release 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
# "Passed!  - Failed:     0, Passed:    27, Skipped:     2, Total: ..." one line per test assembly
while read -r f p s; do
  failed=$((failed + f)); passed=$((passed + p)); skipped=$((skipped + s))
done < <(sed -n 's/.*Failed: *\([0-9]*\), Passed: *\([0-9]*\), Skipped: *\([0-9]*\),.*/\1 \2 \3/p' "$log")
# "  Failed LoopOrder.Tests.Foo.Bar [12 ms]", one line per failed test
while read -r t; do failures+=("host: $t"); done < <(sed -n 's/^ *Failed \([A-Za-z_][^ ]*\) \[.*/\1/p' "$log")
phase "host tests"

# The VM suites run the native executable, the loop-order the Debian package installs
# (LOOPORDER_BIN=dll runs them on the JIT build instead, which the host tests above cover; a
# path runs that binary). Published once for every kernel.
bin=${LOOPORDER_BIN:-native}
case $bin in
  native)
    echo "== the native binary: service/packaging/publish-native.sh artifacts/native-bin"
    if bash service/packaging/publish-native.sh artifacts/native-bin >/dev/null; then
      bin=$PWD/artifacts/native-bin/loop-order
    else
      echo "run-all: the native publish failed; the VM suites run the JIT build" >&2
      failed=$((failed + 1)); rc=1; bin=""; failures+=("the native publish")
    fi
    phase "native publish" ;;
  dll) bin="" ;;
esac

# One VM run per kernel; the first builds, the others reuse its build.
build=${E2E_NO_BUILD:-0}
kernels=${VM_KERNELS:-$(. tests/vm/lib.sh && echo "$VM_KERNELS")}
for k in $kernels; do
  echo "== kernel tests in the VM on $k: VM_KERNEL=$k tests/vm/e2e/run.sh"
  E2E_NO_BUILD=$build VM_KERNEL=$k LOOPORDER_BIN=$bin bash tests/vm/e2e/run.sh 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" = 0 ] || rc=1
  build=1
  phase "VM suite on $k"
  while read -r t; do failures+=("$k: $t"); done < <(sed -n 's/^e2e: FAIL \([^ ]*\) .*/\1/p' "$log")
  if line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1); then
    passed=$((passed + ${line%% *}))
    f=${line#*, }; failed=$((failed + ${f%% *}))
    summaries+=("$line")
  else
    failed=$((failed + 1)); rc=1
    summaries+=("no summary from the VM suite on $k")
  fi
done

for s in "${summaries[@]}"; do echo "== VM suite: $s"; done
for p in "${phases[@]}"; do echo "== took: $p"; done
for f in "${failures[@]}"; do echo "== FAILED $f"; done
[ "$failed" = 0 ] || rc=1
echo "tests: $passed passed, $failed failed$([ "$skipped" = 0 ] || echo ", $skipped skipped")"
exit "$rc"
