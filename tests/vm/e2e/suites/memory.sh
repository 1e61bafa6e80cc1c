# memory.sh - the memory target end to end (sourced by ../suite.sh inside the VM, after lib.sh
# and daemon.sh): `serve --target memory` holds ext4 and a verifying fio run; a memory device
# added to the daemon dies with it and is deleted, not reattached, by the next daemon.
# shellcheck shell=bash

# memory_serve_start SIZE: `loop-order serve --target memory` in the background, as serve_start
# does for a file (which always passes --file); sets DEV, SRV_PID, SRV_LOG for serve_stop.
memory_serve_start() {
  SRV_LOG=$(mktemp "$WORK/serve.XXXX.log")
  local out; out=$(mktemp "$WORK/serve.XXXX.out")
  lo_argv "$E2E_BIN"
  env --default-signal=INT "${LO_ARGV[@]}" serve --target memory --size "$1" --queues 2 >"$out" 2>"$SRV_LOG" &
  SRV_PID=$!
  echo "$SRV_PID" > "$SRV_PIDFILE"
  for _ in $(seq 1 1200); do
    [ -s "$out" ] && break
    kill -0 "$SRV_PID" 2>/dev/null || { cat "$SRV_LOG" >&2; wait "$SRV_PID"; die "serve exited with $? before printing a device"; }
    sleep 0.1
  done
  DEV=$(head -1 "$out")
  [ -b "$DEV" ] || { cat "$SRV_LOG" >&2; die "serve printed '$DEV', not a block device"; }
  log "serving memory ($1) as $DEV (pid $SRV_PID)"
}

# ext4 on a 256 MiB memory device: a tree of files read back by checksum after a remount, an
# e2fsck of the unmounted device, then fio with crc32c verify and fsyncs on the raw device.
test_memory_target() {
  local mnt=$WORK/mnt
  mkdir -p "$mnt"
  memory_serve_start 256M
  [ "$(blockdev --getsize64 "$DEV")" = $((256 << 20)) ] || die "$DEV is not 256 MiB"
  ext4_tree "$DEV" "$mnt"
  e2fsck -fn "$DEV" || die "e2fsck found problems on the memory device"
  ext4_tree_check "$DEV" "$mnt"
  fio --name=memory --filename="$DEV" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
      --iodepth=16 --numjobs=2 --size=16M --offset_increment=64M --cpus_allowed=0-1 \
      --cpus_allowed_policy=split --fsync=16 --verify=crc32c --verify_fatal=1 --do_verify=1 \
      --group_reporting > "$WORK/memory-fio.out"
  grep -E 'IOPS=|err=' "$WORK/memory-fio.out"
  serve_stop
}

# A memory device through the daemon: add, I/O, list; SIGKILL the daemon: the device is not held
# for a restart (no USER_RECOVERY), and the next daemon deletes what is left and its record.
test_memory_daemon() {
  daemon_start
  local dev; dev=$(lo add --target memory --size 64M)
  [ -b "$dev" ] || die "add printed '$dev'"
  dd if=/dev/urandom of="$WORK/pat" bs=1M count=8 status=none
  dd if="$WORK/pat" of="$dev" bs=1M oflag=direct conv=fsync status=none
  cmp <(dd if="$dev" bs=1M count=8 iflag=direct status=none) "$WORK/pat" || die "$dev reads back different data"
  lo list | tail -1
  lo list --json | grep -q '"target":"memory"' || die "list --json does not name the memory target"
  local id=${dev#/dev/ublkb}
  [ -f "$RUNDIR/devices/$id.json" ] || die "no record of device $id"

  log "SIGKILL daemon $DMN_PID"
  kill -9 "$DMN_PID"; wait "$DMN_PID" 2>/dev/null || true
  # Not held: the disk goes (or fails its I/O at once) instead of waiting for a server.
  for _ in $(seq 1 300); do [ -b "$dev" ] || break; sleep 0.1; done
  if [ -b "$dev" ]; then
    ! timeout 60 dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null || die "$dev still serves reads without its daemon"
    log "$dev is still listed but fails its I/O"
  else
    log "$dev went with its daemon"
  fi
  daemon_start
  grep -E 'deleted, not reattached' "$DMN_LOG" || die "the new daemon did not delete the memory device"
  ! grep -q 'recovered:' "$DMN_LOG" || die "the new daemon reattached a memory device"
  [ ! -e "/dev/ublkc$id" ] || die "/dev/ublkc$id left behind"
  [ ! -e "$RUNDIR/devices/$id.json" ] || die "the memory device's record was left"

  # The same through add on the new daemon, deleted normally.
  dev=$(lo add --target memory --size 16M)
  [ -b "$dev" ] || die "add printed '$dev'"
  lo del "${dev#/dev/ublkb}"
  daemon_stop
}

TESTS="$TESTS memory_target memory_daemon"
