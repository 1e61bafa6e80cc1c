#!/bin/bash
# stress.sh - SIGKILL stress of a minimal ublk server that knows nothing of LoopOrder
# (ublk-kill.c), to tell a kernel bug from a LoopOrder one and to try ring setups fast: the
# server starts in milliseconds where LoopOrder's .NET start takes a minute under TCG.
#
# Usage (host): VM_DISK=2G VM_ENV="UK_TASKRUN=defer KILLS=200 SEED=1 UK_HEADERS=$(tests/vm/fetch-headers.sh)" \
#                 tests/vm/run-vm.sh tests/vm/sigkill/stress.sh
#   UK_TASKRUN  defer (SINGLE_ISSUER | DEFER_TASKRUN) | coop (SINGLE_ISSUER | COOP_TASKRUN) | none
#   KILLS       SIGKILLs (default 200); SEED: the random schedule (default: random, printed)
#   EARLY       percent of kills during a server's start (default 30; 0 leaves out the window in
#               which 6.12 oopses on the next recovery, see partial.sh, to hunt other bugs)
#
# Two devices as in the report (A: 2 queues, B: 1 queue), each its own server process; fio 4 KiB
# randwrite QD16, crc32c verify, fsync every 8 on both; both servers are SIGKILLed together,
# during their start (early), just after ready (fresh) or under load (busy), and restarted with
# START/END_USER_RECOVERY. Every fio run must finish and verify; the kernel must log nothing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
W=/tmp/uk; mkdir -p "$W"; cd "$W"
S=${VM_SCRATCH:-/tmp/scratch}
KILLS=${KILLS:-200}; EARLY=${EARLY:-30}; UK_TASKRUN=${UK_TASKRUN:-defer}; export UK_TASKRUN
SEED=${SEED:-$(( $(od -An -N4 -tu4 /dev/urandom) % 1000000 ))}; RANDOM=$SEED
log() { echo "uk: $*"; }
die() { echo "uk: FAIL: $*"; dmesg | tail -30; exit 1; }
log "kernel $(uname -r), rings: $UK_TASKRUN, $KILLS kills ($EARLY% early), seed $SEED"
inc=${UK_HEADERS:?UK_HEADERS: the VM kernel UAPI headers (tests/vm/fetch-headers.sh prints the dir)}
gcc -O2 -pthread -I"$inc" -I"$inc/x86_64-linux-gnu" -o "$W/ublk-kill" "$here/ublk-kill.c" || die "build"

rnd() { R=$(( $1 + (RANDOM * 32768 + RANDOM) % ($2 - $1 + 1) )); }
msleep() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# start NAME ARGS...: a server in the background (PID_NAME); waits for nothing.
declare -A PID OUT
start() { local n=$1; shift; OUT[$n]=$W/$n.$RANDOM.out; "$W/ublk-kill" "$@" > "${OUT[$n]}" 2>&1 & PID[$n]=$!; }
ready() { local n=$1; for _ in $(seq 1 3000); do grep -q '^ready' "${OUT[$n]}" && return 0; kill -0 "${PID[$n]}" 2>/dev/null || { cat "${OUT[$n]}"; die "server $n exited"; }; sleep 0.01; done; die "server $n not ready"; }

start a add "$S/a.img" 256 2; ready a; A=$(awk '/^ready/ {print $2}' "${OUT[a]}")
start b add "$S/b.img" 256 1; ready b; B=$(awk '/^ready/ {print $2}' "${OUT[b]}")
log "devices ublkb$A (2 queues) and ublkb$B (1 queue)"

fio_job() { fio --name=uk --filename="$1" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k --iodepth=16 --numjobs=2 --size=8M --offset_increment=64M --cpus_allowed=0-1 --cpus_allowed_policy=split --fsync=8 --verify=crc32c --verify_fatal=1 --group_reporting "${@:2}"; }
loop_fio() { local n=0; while [ ! -e "$W/stop" ]; do n=$((n + 1)); fio_job "$1" --do_verify=1 > "$W/fio-$2.$n.out" 2>&1 && grep -q 'err= 0' "$W/fio-$2.$n.out" || { echo "$n" > "$W/fio-$2.failed"; return 1; }; echo "$n" > "$W/fio-$2.runs"; done; }
rm -f "$W"/stop "$W"/fio-*
loop_fio "/dev/ublkb$A" a & FA=$!
loop_fio "/dev/ublkb$B" b & FB=$!

kills=0 early=0 fresh=0 busy=0 t0=$(date +%s)
while [ "$kills" -lt "$KILLS" ]; do
  rnd 0 99
  if [ "$kills" -gt 0 ] && [ "$R" -lt "$EARLY" ]; then mode=early; rnd 0 40; msleep "$R"
  else
    ready a; ready b
    if [ "$R" -lt 60 ]; then mode=fresh; rnd 0 300; else mode=busy; rnd 300 2000; fi
    msleep "$R"
  fi
  kill -0 "$FA" 2>/dev/null || die "fio on A failed: $(cat "$W"/fio-a.*.out | tail -20)"
  kill -0 "$FB" 2>/dev/null || die "fio on B failed"
  kill -9 "${PID[a]}" "${PID[b]}" 2>/dev/null || true
  wait "${PID[a]}" "${PID[b]}" 2>/dev/null || true
  kills=$((kills + 1)); eval "$mode=\$(( $mode + 1 ))"
  ! dmesg | grep -qE 'WARNING:|BUG:|Oops|list_add|list_del' || die "kernel trouble after kill $kills ($mode)"
  [ $((kills % 10)) = 0 ] && log "kill $kills ($mode, ${R} ms): fio runs A $(cat "$W/fio-a.runs" 2>/dev/null || echo 0), B $(cat "$W/fio-b.runs" 2>/dev/null || echo 0)"
  start a recover "$A" "$S/a.img"; start b recover "$B" "$S/b.img"
done
ready a; ready b
touch "$W/stop"
wait "$FA" || die "fio on A failed"; wait "$FB" || die "fio on B failed"
fio_job "/dev/ublkb$A" --verify_only > "$W/va.out" 2>&1 || die "verify A"
fio_job "/dev/ublkb$B" --verify_only > "$W/vb.out" 2>&1 || die "verify B"
kill -9 "${PID[a]}" "${PID[b]}"; wait 2>/dev/null || true
start a recover "$A" "$S/a.img"; start b recover "$B" "$S/b.img"; ready a; ready b
"$W/ublk-kill" del "$A"; "$W/ublk-kill" del "$B"; wait 2>/dev/null || true
! dmesg | grep -E 'WARNING:|BUG:|Oops' || die "kernel warnings"
log "PASS: $kills kills ($early early, $fresh fresh, $busy busy), fio runs A $(cat "$W/fio-a.runs") B $(cat "$W/fio-b.runs") verified, $(( $(date +%s) - t0 )) s, rings $UK_TASKRUN, seed $SEED, kernel $(uname -r)"
