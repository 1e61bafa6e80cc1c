# rbd.sh - the RBD target end to end (sourced by ../suite.sh inside the VM, after lib.sh and
# daemon.sh): a one-node Ceph cluster in the guest (tests/ceph/cluster.sh: one monitor, one
# memstore OSD, cephx, pool "rbd" of size 1), and `loop-order add --target rbd` backing
# /dev/ublkbN with an image in it: fio verifying with fsyncs, ext4 + e2fsck of the exported image
# after a clean stop, a daemon SIGKILLed under fio whose device the next daemon reattaches (taking
# over the image's exclusive lock), and the OSD stopped and restarted under a verifying fio. The
# cluster is started by the first of these tests that needs it and stopped by the last.
# shellcheck shell=bash

RBD_DIR=$WORK/ceph
RBD_SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/ceph/cluster.sh

# rbd_cluster: the cluster, started when it is not running; sets CEPH_CONF and CEPH_KEYRING.
rbd_cluster() {
  command -v ceph-mon >/dev/null || die "ceph-mon not found in the guest (tests/vm/host-deps.sh installs it on the host)"
  # rados, not ceph: a Python start costs seconds under emulation
  if [ ! -f "$RBD_DIR/ceph.conf" ] || ! timeout 30 rados -c "$RBD_DIR/ceph.conf" lspools >/dev/null 2>&1; then
    bash "$RBD_SCRIPT" stop "$RBD_DIR" 2>/dev/null || rm -rf "$RBD_DIR"
    local t=$SECONDS
    bash "$RBD_SCRIPT" start "$RBD_DIR" > "$WORK/ceph-start.log" 2>&1 || { cat "$WORK/ceph-start.log"; die "the Ceph cluster did not start"; }
    log "Ceph $(ceph --version | cut -d' ' -f3) cluster up in $((SECONDS - t)) s ($RBD_DIR)"
  fi
  CEPH_CONF=$RBD_DIR/ceph.conf CEPH_KEYRING=$RBD_DIR/keyring
}

# rbd_image NAME SIZE: a new image with the exclusive-lock feature.
rbd_image() {
  rbd -c "$CEPH_CONF" rm "rbd/$1" >/dev/null 2>&1 || true
  rbd -c "$CEPH_CONF" create --size "$2" --image-feature layering,exclusive-lock "rbd/$1"
}

# rbd_add NAME [options]: add a device serving image NAME; prints the device.
rbd_add() {
  local image=$1; shift
  lo add --target rbd --pool rbd --image "$image" --conf "$CEPH_CONF" --keyring "$CEPH_KEYRING" --queues 2 "$@"
}

# rbd_size NAME: the image's size in bytes (rbd info).
rbd_size() { rbd -c "$CEPH_CONF" info --format json "rbd/$1" | grep -o '"size":[0-9]*' | cut -d: -f2; }

# rbd_wait_size DEV BYTES: waits (60 s at most) until DEV is BYTES long.
rbd_wait_size() {
  local _
  for _ in $(seq 1 600); do
    [ "$(blockdev --getsize64 "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

# rbd_fsck NAME: e2fsck of the image's bytes, read past LoopOrder with `rbd export`.
rbd_fsck() {
  rm -f "$SCRATCH/$1.export"
  rbd -c "$CEPH_CONF" export --no-progress "rbd/$1" "$SCRATCH/$1.export"
  e2fsck -fn "$SCRATCH/$1.export" || die "e2fsck found problems in rbd/$1 ($2)"
  rm -f "$SCRATCH/$1.export"
}

# fio with crc32c verify and an fsync every 16 writes over 2 queues; ext4 with a tree of files
# read back by checksum after a remount; resizing (UPDATE_SIZE: `loop-order resize` grows the
# image, and an `rbd resize` by another client is followed, the mounted ext4 then grown with
# resize2fs; without it: resize exits 69, the image is left as it was, and an outside resize is
# logged while the device keeps its size); the daemon stopped cleanly (the device's final flush,
# the image's lock released); e2fsck of the exported image.
test_rbd_target() {
  local mnt=$WORK/mnt
  mkdir -p "$mnt"
  rbd_cluster
  rbd_image e2e 256M
  daemon_start
  local dev; dev=$(rbd_add e2e)
  [ -b "$dev" ] || die "add printed '$dev'"
  [ "$(blockdev --getsize64 "$dev")" = $((256 << 20)) ] || die "$dev is not the image's 256 MiB"
  lo list --json | grep -q '"target":"rbd"' || die "list --json does not name the rbd target"
  rbd -c "$CEPH_CONF" lock ls rbd/e2e | grep -q '1 exclusive lock' || die "the device does not hold the image's exclusive lock"
  # A second device on the same image: refused (exit 75) while this one holds it, nothing created.
  local rc=0; rbd_add e2e >/dev/null 2>"$WORK/rbd-second.err" || rc=$?
  [ "$rc" != 0 ] || die "a second device on rbd/e2e was added"
  cat "$WORK/rbd-second.err"
  fio --name=rbd --filename="$dev" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
      --iodepth=16 --numjobs=2 --size=4M --offset_increment=64M --cpus_allowed=0-1 \
      --cpus_allowed_policy=split --fsync=16 --verify=crc32c --verify_fatal=1 --do_verify=1 \
      --group_reporting > "$WORK/rbd-fio.out"
  grep -E 'IOPS=|err=' "$WORK/rbd-fio.out"
  ext4_tree "$dev" "$mnt"
  ext4_tree_check "$dev" "$mnt"
  local id=${dev#/dev/ublkb}
  if ft_offered UPDATE_SIZE; then
    lo resize "$id" 320M > /dev/null || die "loop-order resize $id 320M failed"
    [ "$(rbd_size e2e)" = $((320 << 20)) ] || die "loop-order resize did not grow rbd/e2e to 320 MiB ($(rbd_size e2e))"
    [ "$(blockdev --getsize64 "$dev")" = $((320 << 20)) ] || die "$dev did not grow to 320 MiB"
    rbd -c "$CEPH_CONF" resize --no-progress --size 384M rbd/e2e
    rbd_wait_size "$dev" $((384 << 20)) || die "$dev did not follow rbd resize to 384 MiB: $(blockdev --getsize64 "$dev")"
    grep -q 'follows rbd:rbd/e2e' "$DMN_LOG" || die "the daemon did not log following the image"
    mount "$dev" "$mnt"
    resize2fs "$dev" 2>&1 | tail -1
    local kb; kb=$(df -k --output=size "$mnt" | tail -1)
    umount "$mnt"
    [ "$kb" -gt $((320 << 10)) ] || die "ext4 did not grow online to the image's new size (${kb} KiB)"
    log "rbd/e2e: 256 -> 320 MiB by loop-order resize, -> 384 MiB by rbd resize, followed; ext4 grown online to ${kb} KiB"
  else
    local rc=0; lo resize "$id" 320M > "$WORK/rbd-resize.out" 2>&1 || rc=$?
    [ "$rc" = 69 ] || die "resize without UPDATE_SIZE exited $rc (expected 69): $(cat "$WORK/rbd-resize.out")"
    [ "$(rbd_size e2e)" = $((256 << 20)) ] || die "a refused resize changed rbd/e2e ($(rbd_size e2e))"
    rbd -c "$CEPH_CONF" resize --no-progress --size 320M rbd/e2e
    local _; for _ in $(seq 1 600); do grep -q 'the device stays' "$DMN_LOG" && break; sleep 0.1; done
    grep 'the device stays' "$DMN_LOG" | tail -1 | grep -q UPDATE_SIZE || die "an outside rbd resize was not logged as not followed (no UPDATE_SIZE)"
    [ "$(blockdev --getsize64 "$dev")" = $((256 << 20)) ] || die "$dev changed size without UPDATE_SIZE"
    log "no UPDATE_SIZE: resize refused (69), rbd resize to 320 MiB logged, $dev stays 256 MiB"
  fi
  ext4_tree_check "$dev" "$mnt"
  daemon_stop
  rbd -c "$CEPH_CONF" lock ls rbd/e2e | grep -q 'exclusive lock' && die "the lock outlived the stopped daemon"
  rbd_fsck e2e "after a clean stop"
}

# SIGKILL the daemon during a verifying fio run on an RBD device: the kernel holds the I/O
# (USER_RECOVERY); the next daemon reopens the image, librbd breaks the dead client's lock once
# its watch times out (10 s in this cluster), and fio finishes and verifies; then ext4 and e2fsck.
test_rbd_recovery() {
  local mnt=$WORK/mnt
  mkdir -p "$mnt"
  rbd_cluster
  rbd_image e2er 256M
  daemon_start
  local dev; dev=$(rbd_add e2er)
  [ -b "$dev" ] || die "add printed '$dev'"
  fio --name=survive --filename="$dev" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
      --iodepth=8 --numjobs=2 --size=6M --offset_increment=96M --cpus_allowed=0-1 \
      --cpus_allowed_policy=split --fsync=32 --verify=crc32c --verify_fatal=1 --do_verify=1 \
      --group_reporting > "$WORK/rbd-survive.out" 2>&1 &
  local fio_pid=$!
  sleep 3
  kill -0 "$fio_pid" 2>/dev/null || { cat "$WORK/rbd-survive.out"; die "fio finished before the kill: make it longer"; }
  log "SIGKILL daemon $DMN_PID during fio"
  kill -9 "$DMN_PID"; wait "$DMN_PID" 2>/dev/null || true
  [ -b "$dev" ] || die "$dev vanished with its daemon"
  local t=$SECONDS
  daemon_start
  grep -E 'recovered' "$DMN_LOG" || { cat "$DMN_LOG"; die "the new daemon did not recover the RBD device"; }
  log "recovered in $((SECONDS - t)) s (the dead client's lock broken)"
  local rc=0; wait "$fio_pid" || rc=$?
  grep -E 'IOPS=|err=|verify' "$WORK/rbd-survive.out" | head -5
  [ "$rc" = 0 ] || { cat "$WORK/rbd-survive.out"; die "fio exited $rc across the recovery"; }
  mkfs.ext4 -q -F "$dev"
  mount "$dev" "$mnt"
  head -c $((8 << 20)) /dev/urandom > "$mnt/blob"
  umount "$mnt"
  daemon_stop
  rbd_fsck e2er "after recovery and a clean stop"
}

# The OSD stopped (cleanly: memstore keeps its objects) for a few seconds and started again while
# fio writes and verifies: requests wait for it (less than --rbd-timeout) and complete, none fails;
# then ext4 and e2fsck. The last RBD test: it stops the cluster.
test_rbd_osd_restart() {
  rbd_cluster
  rbd_image e2eo 128M
  daemon_start
  local dev; dev=$(rbd_add e2eo --rbd-timeout 60)
  [ -b "$dev" ] || die "add printed '$dev'"
  fio --name=osd --filename="$dev" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
      --iodepth=8 --numjobs=2 --size=4M --offset_increment=32M --cpus_allowed=0-1 \
      --cpus_allowed_policy=split --fsync=16 --verify=crc32c --verify_fatal=1 --do_verify=1 \
      --group_reporting > "$WORK/rbd-osd.out" 2>&1 &
  local fio_pid=$!
  sleep 2
  kill -0 "$fio_pid" 2>/dev/null || { cat "$WORK/rbd-osd.out"; die "fio finished before the OSD stopped: make it longer"; }
  log "stopping the OSD under fio"
  bash "$RBD_SCRIPT" osd-stop "$RBD_DIR"
  sleep 3
  log "starting the OSD again"
  bash "$RBD_SCRIPT" osd-start "$RBD_DIR" 2>/dev/null
  local rc=0; wait "$fio_pid" || rc=$?
  grep -E 'IOPS=|err=|verify' "$WORK/rbd-osd.out" | head -5
  [ "$rc" = 0 ] || { cat "$WORK/rbd-osd.out"; die "fio exited $rc across the OSD restart"; }
  mkfs.ext4 -q -F "$dev"
  daemon_stop
  rbd_fsck e2eo "after an OSD restart and a clean stop"
  bash "$RBD_SCRIPT" stop "$RBD_DIR"
}

# On both kernels (about 3 min a kernel under TCG); RBD_KERNELS (through VM_ENV) narrows it, and
# naming the tests runs them on any kernel.
case " ${RBD_KERNELS:-6.12 7.3} " in
  *" $(uname -r | cut -d. -f1-2) "*) TESTS="$TESTS rbd_target rbd_recovery rbd_osd_restart" ;;
esac
