#!/bin/bash
# run.sh - LoopOrder's end-to-end suite, from the host: builds Release, boots a VM with ublk_drv
# and a scratch disk (tests/vm/run-vm.sh), runs tests/vm/e2e/suite.sh there against the real
# driver, and prints each result and a last line "N passed, N failed (kernel K)". Exits non-zero
# on any failure; a kernel panic fails the test it interrupted, and its trace is printed.
#
# Usage: tests/vm/e2e/run.sh [TEST...]      (default: all; names as in suite.sh, e.g. ext4 qemu)
#   VM_KERNEL=6.12  the guest kernel (6.12 or 7.3, as for run-vm.sh)
#   VM_DISK=4G    scratch disk size (ext4 at /tmp/scratch in the guest, where the backing files go)
#   E2E_NO_BUILD=1  reuse artifacts/e2e from an earlier run
#   LOOPORDER_BIN   the loop-order the suites run: default artifacts/e2e/loop-order.dll (JIT,
#                   ReadyToRun); a path to the native executable runs them on that instead, e.g.
#                   `service/packaging/publish-native.sh artifacts/native-bin` then
#                   LOOPORDER_BIN=$PWD/artifacts/native-bin/loop-order (absolute: the guest sees
#                   the host's / read-only, so any host path works); LOOPORDER_BIN=native does both
#   VM_MODULES    extra modules besides btrfs and overlay (always loaded: the snapshots and
#                 package tests need them)
#   other VM_* knobs as for tests/vm/run-vm.sh
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
out=$root/artifacts/e2e
tests=$root/artifacts/e2e-tests
cd "$root" || exit 1

kernel=${VM_KERNEL:-6.12}    # until the VM says which build it booted
summary() { echo "$1 passed, $2 failed (kernel $kernel)"; exit $(( $2 > 0 ? 1 : 0 )); }

bin=${LOOPORDER_BIN:-$out/loop-order.dll}
if [ "${E2E_NO_BUILD:-0}" != 1 ]; then
  # The JIT build only when it is the one under test; the kernel tests' assembly always.
  if [ "$bin" = "$out/loop-order.dll" ]; then
    echo "e2e: building Release into $out"
    "$root/tests/vm/publish.sh" "$out" || { echo "e2e: build failed"; summary 0 1; }
  fi
  dotnet build tests/LoopOrder.Ublk.Tests/LoopOrder.Ublk.Tests.csproj -c Release -o "$tests" -nologo -v:q ||
    { echo "e2e: build failed"; summary 0 1; }
fi
if [ "$bin" = native ]; then
  echo "e2e: publishing the native binary into $root/artifacts/native-bin"
  "$root/service/packaging/publish-native.sh" "$root/artifacts/native-bin" >/dev/null || { echo "e2e: native publish failed"; summary 0 1; }
  bin=$root/artifacts/native-bin/loop-order
fi
bin=$(readlink -f "$bin")
[ -f "$bin" ] || { echo "e2e: LOOPORDER_BIN=$bin missing"; summary 0 1; }
echo "e2e: loop-order under test: $bin"
# The package suite installs the Debian package in the guest: built here from the native binary
# under test (not from the JIT build, which the package does not hold).
deb=""
if [ "$(basename "$bin")" = loop-order ] && [ "$(head -c 4 "$bin" | od -An -c | tr -d ' ')" = '177ELF' ]; then
  deb=$(LOOPORDER_NATIVE=$(dirname "$bin") "$root/service/packaging/build-deb.sh" "$root/artifacts/deb/e2e") ||
    { echo "e2e: build-deb.sh failed"; summary 0 1; }
  echo "e2e: the package under test: $deb"
fi

# The results, env file and panic trace live in this checkout, not in the kernel cache: two
# checkouts may share one VM_CACHE (its lock serializes their VMs), and a run waiting for that
# lock must not clear the running one's results.
shared=${VM_SHARED:-$root/artifacts/e2e-shared}
mkdir -p "$shared"
results=$shared/e2e-results
rm -f "$results" "$results.running" "$shared/.vm/panic" "$shared/.vm/kernel"
start=$(date +%s)
env_file=$shared/e2e.env
{
  echo "LOOPORDER_BIN=$bin"
  echo "E2E_RESULTS=$results"
  echo "E2E_TESTS_DLL=$tests/LoopOrder.Ublk.Tests.dll"
  [ -n "$deb" ] && echo "E2E_DEB=$deb"
  [ $# -gt 0 ] && echo "E2E_ONLY=$*"
} > "$env_file"
# The whole suite takes 10-12 min under emulation; suite.sh fails a hung test after 10 min (and
# runs no more), so 30 min means the guest itself is stuck.
# btrfs: the snapshots test takes reflink copies of a live backing file (run-vm.sh also installs
# btrfs-progs on the host for it); overlay: the package test installs into overlays.
VM_MODULES="btrfs,overlay${VM_MODULES:+,$VM_MODULES}" VM_SHARED=$shared VM_DISK=${VM_DISK:-4G} VM_ENV_FILE=$env_file VM_TIMEOUT=${VM_TIMEOUT:-1800} \
  "$root/tests/vm/run-vm.sh" "$root/tests/vm/e2e/suite.sh"
rc=$?
echo "e2e: VM exited $rc after $(( $(date +%s) - start )) s"

[ -s "$shared/.vm/kernel" ] && kernel=$(cat "$shared/.vm/kernel")
passed=$(grep -c '^PASS ' "$results" 2>/dev/null || true)
failed=$(grep -c '^FAIL ' "$results" 2>/dev/null || true)
passed=${passed:-0}; failed=${failed:-0}
[ -f "$results" ] && sed "s/\$/ [$kernel]/; s/^/e2e: /" "$results"
if [ -s "$shared/.vm/panic" ]; then
  # run-vm.sh printed the trace as it happened; say it again where the summary is read
  echo "e2e: FAIL $(cat "$results.running" 2>/dev/null || echo '(boot)') [$kernel]: the guest kernel panicked:"
  sed 's/^/e2e:     /' "$shared/.vm/panic"
  failed=$((failed + 1))
elif [ "$rc" != 0 ] && [ "$failed" = 0 ]; then
  # No test failed, yet the run did: the VM or the suite itself broke (125: no status came back).
  echo "e2e: FAIL $(cat "$results.running" 2>/dev/null || echo '(none running)') [$kernel]: the suite did not complete (exit $rc)"
  failed=1
fi
summary "$passed" "$failed"
