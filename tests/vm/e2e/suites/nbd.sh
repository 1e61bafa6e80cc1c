# nbd.sh - the NBD target end to end (sourced by ../suite.sh inside the VM, after lib.sh and
# daemon.sh): nbdkit's file plugin serves a file on the scratch disk over a Unix socket, and
# `loop-order add --target nbd --connections 2` backs /dev/ublkbN with it: fio verifying with
# fsyncs, ext4 + e2fsck of the export's file after a clean stop, and a daemon SIGKILLed under
# fio whose device the next daemon reattaches over fresh connections.
# shellcheck shell=bash

# nbd_server_start FILE SIZE: nbdkit's file plugin on FILE (created sparse), on $NBD_SOCK.
nbd_server_start() {
  command -v nbdkit >/dev/null || die "nbdkit not found in the guest"
  truncate -s "$2" "$1"
  NBD_SOCK=$WORK/nbd.sock
  rm -f "$NBD_SOCK"
  nbdkit --foreground --unix "$NBD_SOCK" file "$1" 2>"$WORK/nbdkit.log" &
  NBD_PID=$!
  for _ in $(seq 1 300); do [ -S "$NBD_SOCK" ] && break; sleep 0.1; done
  [ -S "$NBD_SOCK" ] || { cat "$WORK/nbdkit.log" >&2; die "nbdkit did not listen on $NBD_SOCK"; }
  NBD_URI="nbd+unix:///?socket=$NBD_SOCK"
  log "nbdkit $(nbdkit --version | cut -d' ' -f2) serving $1 ($2) at $NBD_URI (pid $NBD_PID)"
}

# nbd_server_died: true (and says how, with nbdkit's last words) when the server is gone.
nbd_server_died() {
  kill -0 "$NBD_PID" 2>/dev/null && return 1
  local rc=0; wait "$NBD_PID" 2>/dev/null || rc=$?
  log "nbdkit $NBD_PID is gone (exit status $rc); its log ends:"
  tail -20 "$WORK/nbdkit.log" | sed 's/^/e2e:   nbdkit: /'
  return 0
}

nbd_server_stop() {
  kill "$NBD_PID" 2>/dev/null || true
  wait "$NBD_PID" 2>/dev/null || true
}

# fio with crc32c verify and an fsync every 16 writes over 2 connections; then ext4 with a tree
# of files read back by checksum after a remount, the daemon stopped cleanly (the device's final flush), and e2fsck of the
# file nbdkit serves, read past LoopOrder and nbdkit both.
test_nbd_target() {
  local img=$SCRATCH/nbd.img mnt=$WORK/mnt
  mkdir -p "$mnt"
  nbd_server_start "$img" 256M
  daemon_start
  local dev; dev=$(lo add --target nbd --nbd "$NBD_URI" --connections 2 --queues 2)
  [ -b "$dev" ] || die "add printed '$dev'"
  [ "$(blockdev --getsize64 "$dev")" = $((256 << 20)) ] || die "$dev is not the export's 256 MiB"
  lo list --json | grep -q '"target":"nbd"' || die "list --json does not name the nbd target"
  grep -q '"connections":"2"' "$RUNDIR/devices/${dev#/dev/ublkb}.json" || die "the record lacks the connection count"
  fio --name=nbd --filename="$dev" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
      --iodepth=16 --numjobs=2 --size=16M --offset_increment=64M --cpus_allowed=0-1 \
      --cpus_allowed_policy=split --fsync=16 --verify=crc32c --verify_fatal=1 --do_verify=1 \
      --group_reporting > "$WORK/nbd-fio.out"
  grep -E 'IOPS=|err=' "$WORK/nbd-fio.out"
  ext4_tree "$dev" "$mnt"
  ext4_tree_check "$dev" "$mnt"
  daemon_stop
  nbd_server_stop
  e2fsck -fn "$img" || die "e2fsck found problems in the exported file after a clean stop"
}

# SIGKILL the daemon during a verifying fio run on an NBD device: the kernel holds the I/O
# (USER_RECOVERY), the next daemon reconnects to the export from the record and fio finishes
# and verifies; then ext4 and e2fsck after a clean stop.
test_nbd_recovery() {
  local img=$SCRATCH/nbdr.img mnt=$WORK/mnt
  mkdir -p "$mnt"
  nbd_server_start "$img" 256M
  daemon_start
  local dev; dev=$(lo add --target nbd --nbd "$NBD_URI" --connections 2 --queues 2)
  [ -b "$dev" ] || die "add printed '$dev'"
  fio --name=survive --filename="$dev" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
      --iodepth=8 --numjobs=2 --size=24M --offset_increment=96M --cpus_allowed=0-1 \
      --cpus_allowed_policy=split --fsync=32 --verify=crc32c --verify_fatal=1 --do_verify=1 \
      --group_reporting > "$WORK/nbd-survive.out" 2>&1 &
  local fio_pid=$!
  sleep 3
  kill -0 "$fio_pid" 2>/dev/null || { cat "$WORK/nbd-survive.out"; die "fio finished before the kill: make it longer"; }
  log "SIGKILL daemon $DMN_PID during fio"
  kill -9 "$DMN_PID"; wait "$DMN_PID" 2>/dev/null || true
  [ -b "$dev" ] || die "$dev vanished with its daemon"
  # nbdkit 1.32.5 (bookworm) sometimes aborts when its client dies mid-request: "connections.c:402:
  # raw_send_socket: Assertion `sock >= 0' failed" after "write reply: NBD_CMD_WRITE: Broken
  # pipe" from two of its worker threads (seen on 7.3.4 in about 1 run of 3; with nothing to
  # reconnect to, the recovery failed and fio waited for good, which looked like a hang). The
  # export outlives both: a new server on the same file, and the device recovers from it, by
  # the new daemon or by `loop-order recover`.
  sleep 1
  if nbd_server_died; then log "restarting nbdkit on the same file"; nbd_server_start "$img" 256M; fi
  daemon_start
  if ! grep -E 'recovered' "$DMN_LOG"; then
    nbd_server_died || { cat "$DMN_LOG"; die "the new daemon did not recover the NBD device"; }
    log "restarting nbdkit on the same file; loop-order recover"
    nbd_server_start "$img" 256M
    lo recover "${dev#/dev/ublkb}" || die "loop-order recover failed with the server back"
  fi
  local rc=0; wait "$fio_pid" || rc=$?
  grep -E 'IOPS=|err=|verify' "$WORK/nbd-survive.out" | head -5
  [ "$rc" = 0 ] || { cat "$WORK/nbd-survive.out"; die "fio exited $rc across the recovery"; }
  mkfs.ext4 -q -F "$dev"
  mount "$dev" "$mnt"
  head -c $((8 << 20)) /dev/urandom > "$mnt/blob"
  umount "$mnt"
  daemon_stop
  nbd_server_stop
  e2fsck -fn "$img" || die "e2fsck found problems in the exported file after recovery and a clean stop"
}

TESTS="$TESTS nbd_target nbd_recovery"
