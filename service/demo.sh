#!/bin/bash
# demo.sh DLL [serve options]: the demonstration run.sh runs inside the VM. The backing file goes
# to the scratch disk (/tmp/scratch) under the name given with --file.
set -euo pipefail
# shellcheck source=../tests/vm/guest-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/vm/guest-lib.sh"
dll=$1; shift
args=() file=disk.img
while [ $# -gt 0 ]; do
  case $1 in
    --file|-f) file=$(basename "$2"); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
dir=/tmp/scratch; [ -d $dir ] || dir=/tmp
img=$dir/$file work=/tmp/demo mnt=/tmp/demo/mnt
mkdir -p "$mnt"; cd "$work"
step() { echo; echo "demo: $*"; }

step "serving $img (${args[*]:-default size}) with loop-order serve"
: > serve.out
lo_serve "$dll" serve.out serve.log --file "$img" "${args[@]}"
pid=$LO_PID
lo_wait_device "$pid" serve.out || { cat serve.log; echo "demo: no block device"; exit 1; }
dev=$LO_DEV
echo "demo: $dev is up"

step "mkfs.ext4 $dev and mount it"
mkfs.ext4 -q -F "$dev"
mount "$dev" "$mnt"

step "writing 20 files (1-4 MiB of random data) and recording their checksums"
for i in $(seq 1 20); do dd if=/dev/urandom of="$mnt/file$i" bs=1M count=$(( (i % 4) + 1 )) status=none; done
(cd "$mnt" && sha256sum file* > "$work/sums")
sync

step "dropping the page cache and verifying every checksum through the device"
echo 3 > /proc/sys/vm/drop_caches
(cd "$mnt" && sha256sum -c --quiet "$work/sums") && echo "demo: all 20 files verified"

step "loop-order stats ${dev#/dev/ublkb}"
dotnet "$dll" stats "${dev#/dev/ublkb}"

step "unmount, SIGTERM the server, check the teardown"
umount "$mnt"
lo_stop "$pid" || { kill -9 "$pid"; echo "demo: serve did not exit within 120 s of SIGTERM"; exit 1; }
rc=$LO_RC
tail -2 serve.log
[ $rc = 0 ] || { echo "demo: serve exited $rc"; exit 1; }
left=$(ls /dev/ublkb* /dev/ublkc* 2>/dev/null || true)
[ -z "$left" ] || { echo "demo: devices left: $left"; exit 1; }
echo "demo: no ublk device left"
e2fsck -fn "$img" > /dev/null && echo "demo: e2fsck of $img is clean"
step "done"
