#!/bin/bash
# smoke.sh - is the VM fit for the kernel-facing tests? Prints `smoke: ok` or why not.
#
# Usage: tests/vm/smoke.sh               (on the host: boots a VM with a 1G scratch disk and
#                                         runs itself there, then the panic self-test below;
#                                         VM_* knobs as for run-vm.sh, VM_KERNEL=7.3 included)
#        tests/vm/run-vm.sh tests/vm/smoke.sh   (the guest part alone)
#
# Panic self-test (host, ~10-30 s): a guest that crashes its kernel (sysrq c) must make run-vm.sh
# exit 125 at once with the panic's trace printed, not sit until VM_TIMEOUT.
set -euo pipefail

if [ "${VM_GUEST:-0}" != 1 ]; then
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  VM_DISK=${VM_DISK-1G} "$here/run-vm.sh" "$here/smoke.sh" || exit
  [ "${VM_PANIC_ON_OOPS:-1}" = 1 ] || exit 0
  echo "smoke: panic self-test: the guest crashes its kernel (echo c > /proc/sysrq-trigger)"
  t0=$(date +%s)
  rc=0
  out=$(VM_DISK='' VM_TIMEOUT=240 "$here/run-vm.sh" 'echo c > /proc/sysrq-trigger; sleep 600' 2>&1) || rc=$?
  secs=$(( $(date +%s) - t0 ))
  trace=$(sed -n '/\*\*\* KERNEL PANIC \*\*\*/,$p' <<<"$out")
  if [ "$rc" != 125 ] || ! grep -q 'sysrq triggered crash' <<<"$trace" || ! grep -q 'Call Trace' <<<"$trace"; then
    echo "$out" | tail -40 >&2
    echo "smoke: FAIL: panic self-test: run-vm.sh exited $rc after $secs s without the panic's trace" >&2
    exit 1
  fi
  echo "$trace" | head -8
  echo "smoke: panic self-test: ok (exit 125 after $secs s, trace printed)"
  exit 0
fi

fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
step() { echo "smoke: $*"; }

[ -c /dev/ublk-control ] || fail "/dev/ublk-control missing (ublk_drv not loaded?)"
[ -c /dev/loop-control ] || fail "/dev/loop-control missing"
[ -e /dev/fd/1 ] || fail "/dev/fd missing (bash's <(...) needs it)"
[ $(( $(cat /sys/class/net/lo/flags) & 1 )) = 1 ] || fail "loopback is down (vstest needs 127.0.0.1)"
for m in ublk_drv loop ext4 virtio_blk; do
  [ -d "/sys/module/$m" ] || fail "module $m not loaded"
done
for t in fio e2fsck mkfs.ext4 losetup blkdiscard qemu-img qemu-io sha256sum xxd dotnet; do
  command -v "$t" >/dev/null || fail "$t not found on the host (tests/vm/host-deps.sh installs it)"
done

# run-vm.sh asks every kernel to panic on trouble: check this one took each parameter.
if grep -qw 'oops=panic' /proc/cmdline; then
  for k in panic_on_oops hung_task_panic softlockup_panic panic_on_rcu_stall; do
    [ "$(cat "/proc/sys/kernel/$k" 2>/dev/null)" = 1 ] || fail "kernel.$k is not 1 on $(uname -r)"
  done
  step "$(uname -r): panics on oops, hung task, soft lockup, RCU stall"
fi

dir=/tmp
if [ -n "${VM_SCRATCH:-}" ]; then
  # shellcheck disable=SC2034 # the fields of /proc/mounts
  read -r dev mnt fstype rest < <(grep ' /tmp/scratch ' /proc/mounts) || fail "/tmp/scratch is not mounted"
  [ "$dev $fstype" = "/dev/vda ext4" ] || fail "/tmp/scratch is $fstype on $dev, not ext4 on /dev/vda"
  [ -w /tmp/scratch ] || fail "/tmp/scratch is not writable"
  dir=/tmp/scratch
  step "/tmp/scratch: ext4 on /dev/vda, $(df -h /tmp/scratch | awk 'NR==2 {print $2}')"
fi

img=$dir/smoke.img
truncate -s 64M "$img"
loop=$(losetup -f --show "$img") || fail "losetup on $img failed"
# set -e holds inside the trap too: every step must be allowed to fail
cleanup() { umount /tmp/smoke-mnt 2>/dev/null || true; losetup -d "$loop" 2>/dev/null || true; rm -f "$img"; }
trap cleanup EXIT
[ -b "$loop" ] || fail "$loop did not appear in /dev"
mkfs.ext4 -q -F "$loop" || fail "mkfs.ext4 on $loop failed"
mkdir -p /tmp/smoke-mnt
mount "$loop" /tmp/smoke-mnt || fail "mount $loop failed"
head -c 1M /dev/urandom > /tmp/smoke-mnt/data
sum=$(sha256sum < /tmp/smoke-mnt/data)
umount /tmp/smoke-mnt
out=$(e2fsck -fn "$loop" 2>&1) || { echo "$out" >&2; fail "e2fsck found errors on $loop"; }
mount -o ro "$loop" /tmp/smoke-mnt
[ "$(sha256sum < /tmp/smoke-mnt/data)" = "$sum" ] || fail "data read back differs"
umount /tmp/smoke-mnt
step "losetup $loop on $dir, mkfs.ext4, mount, e2fsck: ok"

fio --name=smoke --filename="$loop" --rw=randwrite --bs=4k --size=4M --direct=1 \
    --ioengine=libaio --iodepth=4 --output-format=terse >/dev/null || fail "fio against $loop failed"
blkdiscard "$loop" || fail "blkdiscard $loop failed"
qemu-img info "$img" >/dev/null || fail "qemu-img info failed"
qemu-io -f raw -c 'read 0 4k' "$img" >/dev/null || fail "qemu-io failed"
step "fio, blkdiscard, qemu-img, qemu-io: ok"

t0=$(date +%s.%N)
dotnet --info >/tmp/dotnet-info.txt 2>&1 || { cat /tmp/dotnet-info.txt >&2; fail "dotnet --info failed"; }
step "dotnet --info: ok ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s; runtime $(sed -n 's/^ *Version: *//p' /tmp/dotnet-info.txt | tail -1))"
echo "smoke: ok"
