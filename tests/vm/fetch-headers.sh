#!/bin/bash
# fetch-headers.sh - the VM kernel's UAPI headers (linux-libc-dev from the same suite, same
# version when the kernel is cached), unpacked, not installed: the host's own
# /usr/include/linux/ublk_cmd.h is older than the kernels the tests run on. VM_KERNEL picks
# the kernel (6.12 default, 7.3) as for run-vm.sh; each has its own dir,
# $VM_CACHE/headers-$VM_KERNEL.
#
# Usage: tests/vm/fetch-headers.sh            prints the include dir  .../headers/usr/include
#        tests/vm/fetch-headers.sh --cflags   prints "-I.../usr/include -I.../usr/include/x86_64-linux-gnu"
#
#   gcc $(tests/vm/fetch-headers.sh --cflags) -o layout layout.c
#
# Use --cflags: <linux/types.h> includes <asm/types.h>, which Debian ships in the multiarch
# dir; with the include dir alone the compiler quietly takes the host's older asm/ headers.
# The package holds kernel headers only (linux/, asm/, asm-generic/, ...), no libc, so putting
# it ahead of the system dirs changes nothing else.
#
# Idempotent: once unpacked, it only prints (no apt, no network). Knobs: VM_CACHE,
# VM_KERNEL, VM_KERNEL_SUITE, VM_MIRROR as for run-vm.sh; VM_REFRESH=1 fetches again.
# Needs apt-get and dpkg-deb; root only for the first fetch if the cache is root's.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mode=dir
case ${1:-} in
  '') ;;
  --cflags) mode=cflags ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac

H=$VM_CACHE/headers-$VM_KERNEL_KEY
inc=$H/usr/include
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
check() {
  [ -f "$H/ok" ] && grep -q UBLK_U_CMD_GET_FEATURES "$inc/linux/ublk_cmd.h" 2>/dev/null &&
    [ -f "$inc/$arch/asm/types.h" ]
}

if [ "${VM_REFRESH:-0}" = 1 ] || ! check; then
  vm_lock apt 8
fi
# Checked again under the lock: two test processes may ask at once, and the second must not
# unpack afresh under the first one's compiler.
if [ "${VM_REFRESH:-0}" = 1 ] || ! check; then
  [ "${VM_REFRESH:-0}" = 1 ] && rm -f "$VM_APT_DIR/updated"
  rm -rf "$H"
  vm_apt_ready
  # The kernel's own version when run-vm.sh has fetched one (both come from the linux source
  # package), else the suite's newest.
  ver=$(cat "$VM_KERNEL_DIR/version" 2>/dev/null || true)
  if [ -z "$ver" ] || ! apt-cache "${VM_APT[@]}" show "linux-libc-dev=$ver" >/dev/null 2>&1; then
    ver=$(vm_apt_version linux-libc-dev "$VM_KERNEL_SUITE" "$VM_KERNEL_PREFIX")
  fi
  [ -n "$ver" ] || vm_die "no linux-libc-dev in $VM_KERNEL_SUITE"
  vm_log "fetching linux-libc-dev $ver ($VM_KERNEL_SUITE) into $H"
  vm_apt_download "$H.debs" "linux-libc-dev=$ver"
  dpkg-deb -x "$H".debs/linux-libc-dev_*.deb "$H"
  rm -rf "$H.debs"
  echo "$ver" > "$H/ok"
  check || vm_die "linux-libc-dev $ver lacks linux/ublk_cmd.h with UBLK_U_CMD_GET_FEATURES, or $arch/asm"
fi

case $mode in
  dir) echo "$inc" ;;
  cflags) echo "-I$inc -I$inc/$arch" ;;
esac
