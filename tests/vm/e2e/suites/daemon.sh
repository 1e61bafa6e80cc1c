# daemon.sh - the daemon's end-to-end tests (sourced by ../suite.sh inside the VM, after lib.sh):
# devices added and deleted through the control socket of a running `loop-order serve`, and a
# device that survives the daemon being SIGKILLed in the middle of a verifying fio run.
# shellcheck shell=bash

RUNDIR=/run/loop-order

# daemon_start: `loop-order serve` with no device, in the background; waits for its "ready" log
# line (event 101: recorded devices reattached, control socket open). Sets DMN_PID, DMN_LOG.
daemon_start() {
  local rc=0
  DMN_LOG=$(mktemp "$WORK/daemon.XXXX.log")
  : > "$WORK/daemon.out"
  lo_serve "$E2E_BIN" "$WORK/daemon.out" "$DMN_LOG"
  DMN_PID=$LO_PID
  echo "$DMN_PID" > "$SRV_PIDFILE"
  lo_wait_ready "$DMN_PID" "$DMN_LOG" || rc=$?
  case $rc in
    0) ;;
    1) cat "$DMN_LOG" >&2; die "serve exited with $LO_RC before it was ready" ;;
    *) cat "$DMN_LOG" >&2; die "serve not ready after 120 s" ;;
  esac
  log "daemon pid $DMN_PID: $(grep 'ready:' "$DMN_LOG" | tail -1 | sed 's/.*ready:/ready:/')"
}

# daemon_stop: SIGTERM, exit 0 within 120 s, no device and no record left.
daemon_stop() {
  lo_stop "$DMN_PID" || { server_stacks >&2; kill -9 "$DMN_PID"; die "daemon did not exit within 120 s of SIGTERM"; }
  rm -f "$SRV_PIDFILE"
  tail -3 "$DMN_LOG"
  [ "$LO_RC" = 0 ] || { cat "$DMN_LOG" >&2; die "daemon exited $LO_RC after SIGTERM (expected 0)"; }
  no_devices_left
  [ -z "$(ls "$RUNDIR/devices" 2>/dev/null)" ] || die "device records left: $(ls "$RUNDIR/devices")"
  [ ! -e "$RUNDIR/control.sock" ] || die "control socket left behind"
}

lo() { lo_argv "$E2E_BIN"; "${LO_ARGV[@]}" "$@"; }

# Two devices through the daemon: add, list --json, I/O on both, stats, del one (the other keeps
# serving), SIGTERM.
test_daemon_devices() {
  daemon_start
  local a b
  a=$(lo add --file "$SCRATCH/da.img" --size 128M --queues 2)
  b=$(lo add --file "$SCRATCH/db.img" --size 64M --ordering strict)
  [ -b "$a" ] && [ -b "$b" ] || die "add printed '$a' and '$b'"
  log "added $a and $b"
  local json; json=$(lo list --json)
  echo "$json"
  echo "$json" | grep -q "\"file\":\"$SCRATCH/da.img\"" || die "list --json lacks da.img"
  echo "$json" | grep -q "\"file\":\"$SCRATCH/db.img\"" || die "list --json lacks db.img"
  [ "$(echo "$json" | grep -o '"blockDevice"' | wc -l)" = 2 ] || die "list --json does not show exactly two devices"
  dd if=/dev/urandom of="$WORK/pat" bs=1M count=8 status=none
  for d in "$a" "$b"; do
    dd if="$WORK/pat" of="$d" bs=1M oflag=direct conv=fsync status=none
    cmp <(dd if="$d" bs=1M count=8 iflag=direct status=none) "$WORK/pat" || die "$d reads back different data"
  done
  local ida=${a#/dev/ublkb}
  lo stats "$ida"
  lo stats "$ida" --json | grep -q '"writes":' || die "stats --json has no write counts"
  lo del "$ida"
  [ ! -e "$a" ] || die "$a still exists after del"
  [ -b "$b" ] || die "$b vanished with the other device"
  cmp <(dd if="$b" bs=1M count=8 iflag=direct status=none) "$WORK/pat" || die "$b changed after deleting $a"
  cmp -n $((8 << 20)) "$SCRATCH/da.img" "$WORK/pat" || die "da.img lacks the data written through $a"
  [ "$(lo list --json | grep -o '"blockDevice"' | wc -l)" = 1 ] || die "list does not show one device after del"
  daemon_stop
}

# SIGKILL the daemon while fio writes with verification; a new daemon reattaches the device
# (USER_RECOVERY, REISSUE) and fio finishes and verifies every block.
test_daemon_recovery() { daemon_recovery_under_fio "$SCRATCH/dr.img"; }

# The same for an O_DIRECT file, which runs zero copy where the kernel offers AUTO_BUF_REG (7.3):
# the killed daemon's ring held the requests' registered pages, the new one registers them anew.
test_daemon_recovery_direct() {
  DR_CHECK=dr_zero_copy daemon_recovery_under_fio "$SCRATCH/drd.img" --direct-io
}

# After the recovery, before the daemon stops: where offered, the device still runs zero copy.
dr_zero_copy() {
  local flags; flags=$(lo list --json | grep -o '"flags":"[^"]*"')
  log "recovered device: $flags"
  if ft_offered AUTO_BUF_REG; then
    echo "$flags" | grep -q 'AutoBufReg' || die "the recovered O_DIRECT device does not run zero copy"
  fi
}

# The same with batched commands (and zero copy) where the kernel offers them (7.3): the new
# daemon arms the recovered queues with PREP_IO_CMDS and its multishot fetches.
test_daemon_recovery_batch() {
  DR_CHECK=dr_batch_io daemon_recovery_under_fio "$SCRATCH/drb.img" --direct-io --batch-io
}

dr_batch_io() {
  local flags; flags=$(lo list --json | grep -o '"flags":"[^"]*"')
  log "recovered device: $flags"
  if ft_offered BATCH_IO; then
    echo "$flags" | grep -q 'BatchIo' || die "the recovered device does not run batched commands"
  fi
}

# daemon_recovery_under_fio FILE [ADD_ARGS...]
daemon_recovery_under_fio() {
  local file=$1; shift
  daemon_start
  local dev; dev=$(lo add --file "$file" --size 256M --queues 2 "$@")
  [ -b "$dev" ] || die "add printed '$dev'"
  lo list | tail -1
  fio --name=survive --filename="$dev" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
      --iodepth=8 --numjobs=2 --size=24M --offset_increment=96M --cpus_allowed=0-1 \
      --cpus_allowed_policy=split --verify=crc32c --verify_fatal=1 --do_verify=1 \
      --group_reporting > "$WORK/survive.out" 2>&1 &
  local fio_pid=$!
  sleep 3
  kill -0 "$fio_pid" 2>/dev/null || { cat "$WORK/survive.out"; die "fio finished before the kill: make it longer"; }
  log "SIGKILL daemon $DMN_PID during fio"
  kill -9 "$DMN_PID"; wait "$DMN_PID" 2>/dev/null || true
  [ -b "$dev" ] || die "$dev vanished with its daemon"
  cat "/sys/block/$(basename "$dev")/inflight" | sed 's/^/e2e: inflight while orphaned: /'
  daemon_start
  grep -E 'recovered' "$DMN_LOG" || die "the new daemon did not recover the device"
  local rc=0; wait "$fio_pid" || rc=$?
  grep -E 'IOPS=|err=|verify' "$WORK/survive.out" | head -5
  [ "$rc" = 0 ] || { cat "$WORK/survive.out"; die "fio exited $rc across the recovery"; }
  lo stats "${dev#/dev/ublkb}"
  [ -z "${DR_CHECK:-}" ] || "$DR_CHECK"
  daemon_stop
}

TESTS="$TESTS daemon_devices daemon_recovery daemon_recovery_direct daemon_recovery_batch"
