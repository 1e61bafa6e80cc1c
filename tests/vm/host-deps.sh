#!/bin/bash
# host-deps.sh - install the Debian packages the VM harness and the guest need.
#
# Usage: tests/vm/host-deps.sh [EXTRA_PACKAGE...]      (also: VM_HOST_PACKAGES="pkg pkg")
#
# The guest runs the HOST's binaries over 9p (its root is the host's / read-only), so every
# tool a kernel-facing test calls inside the VM must be installed here, not there. Only what
# is missing is installed (apt-get update runs once, and only then), with
# --no-install-recommends. Needs root when something is missing. run-vm.sh calls this; so
# can .ci/run.
set -euo pipefail
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

# command -> package. Harness: qemu, cpio/gzip/xz/zstd (initramfs, compressed modules),
# modinfo (module dependencies), flock, mkfs.ext4 (scratch disk). Tests in the guest: the rest.
# losetup lives in `mount` on bookworm; dmsetup is for the dm-* modules (log-writes, thin, snapshot);
# python3 runs the crash tests' workload; nbdkit serves the NBD suite's and the benchmark's exports,
# nbd-client attaches the kernel's own NBD client (nbd.ko) to one for bench/fio's nbd-ko-cN rows;
# ceph-mon, ceph-osd and ceph (ceph-common, with librbd1) make tests/ceph/cluster.sh's one-node
# cluster for the RBD target's host tests and VM suite, rbd-nbd is bench/fio's rbd-nbd row.
declare -A pkg_of=(
  [qemu-system-x86_64]=qemu-system-x86 [cpio]=cpio [gzip]=gzip [xz]=xz-utils [zstd]=zstd
  [modinfo]=kmod [flock]=util-linux [dpkg-deb]=dpkg [apt-get]=apt
  [fio]=fio [mkfs.ext4]=e2fsprogs [e2fsck]=e2fsprogs [blkdiscard]=util-linux [losetup]=mount
  [qemu-img]=qemu-utils [qemu-io]=qemu-utils [xxd]=xxd [sha256sum]=coreutils [dmsetup]=dmsetup
  [python3]=python3 [nbdkit]=nbdkit [nbd-client]=nbd-client
  [ceph-mon]=ceph-mon [ceph-osd]=ceph-osd [ceph]=ceph-common [rbd-nbd]=rbd-nbd
)
need=()
for cmd in "${!pkg_of[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("${pkg_of[$cmd]}")
done
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
# extra packages are checked by package name (they need not provide a command)
for p in "$@" ${VM_HOST_PACKAGES:-}; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || need+=("$p")
done
[ ${#need[@]} -gt 0 ] || exit 0

mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
command -v apt-get >/dev/null || { echo "host-deps.sh: missing ${need[*]} and no apt-get (Debian only)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "host-deps.sh: missing ${need[*]}; run as root to install them" >&2; exit 1; }
echo "[host-deps] installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
