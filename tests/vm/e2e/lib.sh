# lib.sh - helpers for the guest-side e2e suite (sourced by suite.sh; runs inside the VM).
# shellcheck shell=bash

E2E_BIN=${LOOPORDER_BIN:?LOOPORDER_BIN must name loop-order.dll or the native loop-order}
# shellcheck disable=SC2034 # used by suite.sh
SCRATCH=${E2E_SCRATCH:-/tmp/scratch}
WORK=/tmp/e2e
SRV_PIDFILE=$WORK/server.pid

log() { echo "e2e: $*"; }
die() { echo "e2e: FAIL: $*" >&2; exit 1; }

# shellcheck source=../guest-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../guest-lib.sh"

# serve_start FILE [serve options...]: starts `loop-order serve --file FILE --queues 2 ...` in the
# background and waits for it to print the block device. Sets SRV_PID, SRV_LOG, DEV.
serve_start() {
  local file=$1 rc=0; shift
  SRV_LOG=$(mktemp "$WORK/serve.XXXX.log")
  local out; out=$(mktemp "$WORK/serve.XXXX.out")
  lo_serve "$E2E_BIN" "$out" "$SRV_LOG" --file "$file" --queues 2 "$@"
  SRV_PID=$LO_PID
  echo "$SRV_PID" > "$SRV_PIDFILE"
  lo_wait_device "$SRV_PID" "$out" || rc=$?
  DEV=$LO_DEV
  case $rc in
    0) ;;
    1) cat "$SRV_LOG" >&2; die "serve exited with $LO_RC before printing a device" ;;
    2) cat "$SRV_LOG" >&2; die "serve printed no device within 120 s" ;;
    *) cat "$SRV_LOG" >&2; die "serve printed '$DEV', not a block device" ;;
  esac
  log "serving $file as $DEV (pid $SRV_PID)"
}

# serve_stop [SIGNAL] [EXPECTED_RC] [SECONDS]: signals the server (TERM by default), waits for it
# (120 s), and checks the clean teardown: exit status EXPECTED_RC (0) and no /dev/ublkb* or
# /dev/ublkc* left.
serve_stop() {
  local sig=${1:-TERM} want=${2:-0} secs=${3:-120}
  if ! lo_stop "$SRV_PID" "$sig" "$secs"; then
    server_stacks >&2
    kill -9 "$SRV_PID"
    die "serve did not exit within $secs s of SIG$sig"
  fi
  rm -f "$SRV_PIDFILE"
  tail -2 "$SRV_LOG"
  [ "$LO_RC" = "$want" ] || { cat "$SRV_LOG" >&2; die "serve exited $LO_RC after SIG$sig (expected $want)"; }
  no_devices_left
}

no_devices_left() {
  local left
  left=$(ls /dev/ublkb* /dev/ublkc* 2>/dev/null || true)
  [ -z "$left" ] || die "devices left behind: $left"
}

# What every thread of a stuck server waits on (root can read kernel stacks).
server_stacks() {
  local t
  for t in /proc/"$SRV_PID"/task/*; do
    echo "== $(cat "$t"/comm) $(cat "$t"/wchan 2>/dev/null)"
    grep -v 'entry_SYSCALL\|do_syscall' "$t"/stack 2>/dev/null | head -12
  done
  dmesg | tail -20
}

# After a failed test: make sure no server from it is left running.
serve_cleanup() {
  [ -f "$SRV_PIDFILE" ] || return 0
  local pid; pid=$(cat "$SRV_PIDFILE"); rm -f "$SRV_PIDFILE"
  kill -0 "$pid" 2>/dev/null || return 0
  lo_stop "$pid" TERM 30 || kill -9 "$pid" 2>/dev/null || true
}

# Context switches of each queue thread of the server ("ublkN-qQ ctxsw" lines): a queue thread
# sleeps in its ring between batches and wakes for each, so the count grows with the requests it
# serves. The block layer keeps no per-queue counters any more, and this does not depend on what
# the server logs.
queue_switches() {
  local t comm
  for t in /proc/"$SRV_PID"/task/*; do
    comm=$(cat "$t/comm" 2>/dev/null) || continue
    [[ $comm =~ ^ublk[0-9]+-q[0-9]+$ ]] || continue
    echo "$comm $(awk '/^(non)?voluntary_ctxt_switches/ {n += $2} END {print n}' "$t/status")"
  done | sort
}

# both_queues_served BEFORE: every queue thread woke at least 10 more times than in BEFORE
# (the output of queue_switches taken before the workload); there must be QUEUES of them (2).
both_queues_served() {
  local before=$1 queues=${2:-2} after comm n was count=0
  after=$(queue_switches)
  log "queue thread wake-ups: $(echo "$after" | tr '\n' ' ')(before: $(echo "$before" | tr '\n' ' '))"
  while read -r comm n; do
    [ -n "$comm" ] || continue
    count=$((count + 1))
    was=$(awk -v c="$comm" '$1 == c {print $2}' <<<"$before")
    [ $((n - ${was:-0})) -ge 10 ] || die "queue thread $comm barely ran ($((n - ${was:-0})) wake-ups): its queue carried no load"
  done <<<"$after"
  [ "$count" = "$queues" ] || die "expected $queues queue thread(s), found $count"
}

# Flush requests the block layer completed on DEV (field 16 of /sys/block/X/stat, kernels 5.5+).
# ext4_tree DEV MNT: mkfs.ext4 on DEV, a small tree of random files, their checksums in
# $WORK/sums, unmounted again. ext4_tree_check DEV MNT: mounted read-only, every file as summed.
ext4_tree() {
  local dev=$1 mnt=$2 d f
  mkdir -p "$mnt"
  mkfs.ext4 -q -F "$dev"
  mount "$dev" "$mnt"
  for d in a a/b c; do
    mkdir -p "$mnt/$d"
    for f in 1 2 3 4; do head -c $(( (RANDOM % 256 + 1) * 1024 )) /dev/urandom > "$mnt/$d/file$f"; done
  done
  (cd "$mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$WORK/sums"
  umount "$mnt"
}
ext4_tree_check() {
  mount -o ro "$1" "$2"
  (cd "$2" && sha256sum --quiet -c "$WORK/sums") || { umount "$2"; die "checksums differ after a remount of $1"; }
  umount "$2"
}

flush_count() { awk '{print $16}' "/sys/block/$(basename "$DEV")/stat"; }
