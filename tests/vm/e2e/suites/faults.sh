# faults.sh - fault injection end to end (sourced by ../suite.sh inside the VM, after lib.sh):
# `--testing --inject-faults SPEC` fails chosen backend requests, and the real /dev/ublkbN must
# report each with the right errno, fail every later flush, keep what was acknowledged durable
# byte for byte, and (through the daemon) leave other devices serving. The daemon helpers
# (daemon_start, daemon_stop, lo) are in daemon.sh.
# shellcheck shell=bash

# expect_error TEXT CMD...: CMD must fail, and its stderr must contain TEXT (the errno's words).
expect_error() {
  local want=$1 err; shift
  if err=$("$@" 2>&1 >/dev/null); then
    die "'$*' succeeded; expected '$want'"
  fi
  grep -q "$want" <<<"$err" || die "'$*' failed with '$err'; expected '$want'"
  log "fails as it must: $* -> $(tail -1 <<<"$err")"
}

# stop_latched PID LOG: SIGTERM a server holding a device whose flushes are latched as failed:
# its final fdatasync fails too, so it must say so and exit 74 (EX_IOERR), leaving no device.
stop_latched() {
  local pid=$1 logf=$2
  lo_stop "$pid" || { kill -9 "$pid"; die "server $pid did not exit within 120 s of SIGTERM"; }
  rm -f "$SRV_PIDFILE"
  [ "$LO_RC" = 74 ] || { cat "$logf" >&2; die "server exited $LO_RC after a latched failure (expected 74)"; }
  grep -q 'final fdatasync failed' "$logf" || die "the server did not report the failed final fdatasync"
  no_devices_left
}

# injected_count LOG FILE: the fault-injected log lines (event 261) about FILE.
injected_count() { grep '\[261\]' "$1" | grep -c -- "$2" || true; }

# One served device: writes 1-2 are flushed (durable); write 3 gets EIO, write 4 ENOSPC, write 5
# lands half and fails. Each fails at the block device with its errno, every flush after the
# first failure fails, the durable data reads back intact from the device and from the file.
test_faults_eio() {
  local img=$SCRATCH/faults.img bs=65536 half=32768
  serve_start "$img" --size 16M --testing --inject-faults 'write:eio@3,write:enospc@4,write:short@5'
  grep -q '\[260\].*armed' "$SRV_LOG" || die "the log does not say faults are armed"
  dd if=/dev/urandom of="$WORK/durable" bs=$bs count=2 status=none
  dd if=/dev/urandom of="$WORK/doomed" bs=$bs count=3 status=none

  # Writes 1 and 2 (one 64 KiB request each) and a flush that succeeds: acknowledged durable.
  dd if="$WORK/durable" of="$DEV" bs=$bs oflag=direct conv=fsync status=none
  # Write 3, over the durable data: EIO, and the file must not be touched.
  expect_error 'Input/output error' dd if="$WORK/doomed" of="$DEV" bs=$bs count=1 oflag=direct status=none
  # The failed write is latched: every later flush fails (the second never reaches the file).
  expect_error 'Input/output error' sync "$DEV"
  expect_error 'Input/output error' sync "$DEV"
  # Write 4: ENOSPC; ublk_drv maps -ENOSPC to BLK_STS_NOSPC, which the write returns as ENOSPC.
  expect_error 'No space left on device' dd if="$WORK/doomed" of="$DEV" bs=$bs skip=1 seek=2 count=1 oflag=direct status=none
  # Write 5: the backend lands the first half and reports 32 KiB of 64: an error, never a success.
  expect_error 'Input/output error' dd if="$WORK/doomed" of="$DEV" bs=$bs skip=2 seek=3 count=1 oflag=direct status=none

  # What each range must hold: the durable data; zeros where ENOSPC hit; the short write's half.
  { cat "$WORK/durable"; head -c $bs /dev/zero; dd if="$WORK/doomed" bs=$half skip=4 count=1 status=none; head -c $half /dev/zero; } > "$WORK/expect"
  cmp <(dd if="$DEV" bs=$bs count=4 iflag=direct status=none) "$WORK/expect" || die "the device does not read back what the faults left"
  [ "$(injected_count "$SRV_LOG" "$img")" = 3 ] || { cat "$SRV_LOG" >&2; die "expected 3 injected-fault log lines"; }
  grep '\[261\]' "$SRV_LOG" | sed 's/^/e2e: log: /'

  stop_latched "$SRV_PID" "$SRV_LOG"
  cmp -n $((4 * bs)) "$img" "$WORK/expect" || die "the backing file does not hold the durable data and what the faults left"
}

# The daemon serves a clean device and a faulty one (sync 2 fails, every read fails). The faulty
# one fails exactly as asked; then the clean one's flushes succeed and fio verifies on it; at
# SIGTERM the clean one stops synced and the faulty one reports its failed final flush.
test_faults_daemon() {
  daemon_start
  local good bad bs=65536
  good=$(lo add --file "$SCRATCH/fgood.img" --size 128M --queues 2)
  bad=$(lo add --file "$SCRATCH/fbad.img" --size 16M --testing --inject-faults 'sync:eio@2,read:eio%100,seed=1')
  [ -b "$good" ] && [ -b "$bad" ] || die "add printed '$good' and '$bad'"
  dd if=/dev/urandom of="$WORK/bad" bs=$bs count=2 status=none
  # Sync 1 succeeds: the first block is durable. The second block lands, then sync 2 fails.
  dd if="$WORK/bad" of="$bad" bs=$bs count=1 oflag=direct conv=fsync status=none
  dd if="$WORK/bad" of="$bad" bs=$bs skip=1 seek=1 count=1 oflag=direct status=none
  expect_error 'Input/output error' sync "$bad"
  expect_error 'Input/output error' sync "$bad"
  expect_error 'Input/output error' dd if="$bad" of=/dev/null bs=$bs count=1 iflag=direct status=none

  # The clean device, beside the failed one: flushes succeed, fio writes and verifies every block.
  sync "$good" || die "a flush of $good failed beside the faulty device"
  fio --name=beside --filename="$good" --ioengine=io_uring --direct=1 --rw=randwrite --bs=16k \
      --iodepth=8 --size=4M --verify=crc32c --verify_fatal=1 --do_verify=1 \
      > "$WORK/beside.out" 2>&1 || { cat "$WORK/beside.out"; die "fio on $good failed beside the faulty device"; }
  grep -E 'IOPS=|err=' "$WORK/beside.out" | head -3
  [ "$(injected_count "$DMN_LOG" fbad.img)" -ge 2 ] || { cat "$DMN_LOG" >&2; die "expected the sync and read faults in the log"; }
  [ "$(injected_count "$DMN_LOG" fgood.img)" = 0 ] || die "faults were injected into the clean device"
  grep '\[261\].*Sync' "$DMN_LOG" | grep -q '#2 ' || { grep '\[261\]' "$DMN_LOG" >&2; die "the sync fault is not logged as sync #2"; }

  dd if="$WORK/bad" of="$good" bs=$bs count=2 oflag=direct conv=fsync status=none
  cmp <(dd if="$good" bs=$bs count=2 iflag=direct status=none) "$WORK/bad" || die "$good reads back different data"

  # SIGTERM (no 'del': every client start costs seconds under emulation): the clean device stops
  # and syncs (event 202), the faulty one reports its failed final fdatasync (203), exit 74.
  stop_latched "$DMN_PID" "$DMN_LOG"
  grep -q '\[202\].*fgood.img is synced' "$DMN_LOG" || die "the clean device was not stopped and synced"
  grep -q '\[203\].*fbad.img' "$DMN_LOG" || die "the faulty device's failed final fdatasync is not logged"
  [ -z "$(ls "$RUNDIR/devices" 2>/dev/null)" ] || die "device records left: $(ls "$RUNDIR/devices")"
  cmp -n $((2 * bs)) "$SCRATCH/fbad.img" "$WORK/bad" || die "fbad.img lacks the data written before the faults"
  cmp -n $((2 * bs)) "$SCRATCH/fgood.img" "$WORK/bad" || die "fgood.img lacks the data last written to it"
}

TESTS="$TESTS faults_eio faults_daemon"
