#!/bin/bash
# inside.sh - the guest half of bench/fio/run.sh (runs inside the VM as root; see README.md).
# Serves one preallocated backing file on /tmp/scratch through every target in BENCH_TARGETS
# and runs every fio job in BENCH_JOBS against the block device, writing one fio JSON per
# (repeat, target, job) into $BENCH_OUT. Repeats are the outer loop, so slow drift of the
# emulated machine spreads over all targets alike; even repeats run the targets in reverse
# order (serpentine), so no target always runs first after the backing file is written, or
# always minutes after the loop row it is compared with.
#
# Targets: loop | loop-dio                    the kernel loop driver, buffered / --direct-io=on
#          file | file-dio                    no device: fio on the backing file itself, through
#                                             the page cache / O_DIRECT (what a user-space writer
#                                             of this file gets)
#          lo-MODE-qN[-dio]                   LoopOrder, --ordering MODE --queues N [--direct-io]
#          lo-mem-MODE-qN                     LoopOrder serving the memory target (--target memory
#                                             --size S): the transport floor, ublk and the engine
#                                             without the file
#          loX-MODE-qN[-dio]                  the same, served by a second build X (a-z) of
#                                             LoopOrder: $LOOPORDER_BIN_X (run.sh BENCH_BUILDS)
#          nbd-ko-cN                          the kernel's own NBD client (nbd.ko, set up by
#                                             nbd-client -C N) on /dev/nbd0, N connections
#          lo-nbd-MODE-cN, loX-nbd-MODE-cN    LoopOrder's NBD target: --target nbd --connections N
#                                             --ordering MODE --queues 2
#          Both NBD clients talk to one nbdkit `file` plugin server on the same backing file, on
#          a Unix socket, started at attach and stopped at detach (nbdkit states multi-conn for
#          the file plugin, so a flush on one connection covers all); both use 4 KiB logical
#          blocks. c1 vs cN: what more connections (nbd.ko: one hardware queue each) buy each
#          client against the same server. nbd.ko must be loaded (run.sh adds VM_MODULES=nbd).
#          krbd                               the kernel's own RBD client (rbd.ko, `rbd device map`) on /dev/rbdN
#          rbd-nbd                            Ceph's own rbd-nbd (librbd behind nbd.ko) on /dev/nbdN
#          lo-rbd-MODE, loX-rbd-MODE          LoopOrder's RBD target: --target rbd --ordering MODE
#                                             --queues 2
#          The RBD clients serve one image (BENCH_RBD_MB, 512 MiB: the OSD keeps it in memory)
#          in a one-node cluster (tests/ceph/cluster.sh) started at the first RBD target and
#          kept for the others; the image is written once in full, from the backing file. The
#          librbd clients run with librbd's cache off (rbd-nbd --rbd-cache=false, as LoopOrder
#          sets it; krbd has none), so the rows compare the clients, not the caches.
# Jobs:    randwrite randread fsync32 seqwrite randrw  (defined in job_args below)
#
# Before every job (and before each attach): sync, wait until Dirty + Writeback in /proc/meminfo
# are near 0, drop the page cache (settle), so no target's dirty pages are written back during
# another's job. During every job a sampler (shell builtins, every 0.25 s) records /proc/stat
# (CPU jiffies, context switches) and, where tracefs has syscall events, a hist trigger's count
# of io_uring_enter calls per thread: report.py interpolates them at the edges of fio's measured
# window (after the ramp) to get guest CPU, context switches and io_uring_enter per I/O.
set -u
: "${LOOPORDER_BIN:?LOOPORDER_BIN must name loop-order.dll}"
: "${BENCH_OUT:?BENCH_OUT must name the results folder (shared with the host)}"
TARGETS=${BENCH_TARGETS:-loop loop-dio file lo-drain-q2 lo-strict-q2 lo-none-q2 lo-drain-q1 lo-drain-q2-dio}
JOBS=${BENCH_JOBS:-randwrite randread fsync32 seqwrite randrw}
RUNTIME=${BENCH_RUNTIME:-10}
RAMP=${BENCH_RAMP:-2}
# BENCH_PROFILE=1: a system-wide perf profile (cpu-clock, kernel and user) of each measured job,
# written as r<repeat>.<target>.<job>.perf.txt: where the guest's CPUs go, per thread and symbol.
PROFILE=${BENCH_PROFILE:-0}
REPEATS=${BENCH_REPEATS:-3}
# fio jobs per run (processes); the queue depth is split between them (4 KiB jobs: QD32 in all,
# seqwrite: QD8). 2: one per vCPU, pinned (a ublk queue is chosen by the submitting CPU, so a
# 2-queue device sees both queues busy); 1: one job, QD32, not pinned (issue 18's plain job).
NUMJOBS=${BENCH_NUMJOBS:-2}
# 1: count io_uring_enter calls per thread during each job (a tracefs hist trigger on the
# syscall's entry tracepoint; needs CONFIG_HIST_TRIGGERS and CONFIG_FTRACE_SYSCALLS)
SYSCOUNT=${BENCH_SYSCOUNT:-1}
# 1: also count, per job, context switches by the thread switched out (and its state) and
# wake-ups by waker and wakee (tracefs hist triggers on sched:sched_switch and sched:sched_wakeup),
# written as r<repeat>.<target>.<job>.sched.txt: which threads make the guest's context switches
SCHED=${BENCH_SCHED:-0}
# settle: the most Dirty + Writeback (kB) left before a job starts, and how long to wait for it
SETTLE_KB=${BENCH_SETTLE_KB:-1024}
SETTLE_S=${BENCH_SETTLE_S:-120}
# seconds of unmeasured 4 KiB random writes right after each attach, on every target alike: a
# freshly started server tiers its hot methods up in the background, which under TCG took ~19 s
# of guest CPU inside the first measured job (.NET Tiered Compilation thread, 2026-11-22 run)
# A server is long-lived: its start (JIT tier-up under TCG) is not what a job should measure.
WARMUP=${BENCH_WARMUP:-10}
# jobs run in repeats 2..REPEATS; default: all of them
REPEAT_JOBS=${BENCH_REPEAT_JOBS:-$JOBS}
SIZE_MB=${BENCH_SIZE_MB:-1024}
DEV_MB=$SIZE_MB   # the device under test's size (an RBD row's image differs); set per target below
SCRATCH=${VM_SCRATCH:-/tmp/scratch}
FILE=$SCRATCH/bench.img
WORK=/tmp/bench
# shellcheck source=../../tests/vm/guest-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../tests/vm/guest-lib.sh"
mkdir -p "$WORK" "$BENCH_OUT"
cd "$WORK" || exit 1

log() { echo "bench: $(date +%T) $*" | tee -a "$BENCH_OUT/inside.log"; }
die() { log "FAIL: $*"; exit 1; }

[ -d "$SCRATCH" ] || die "$SCRATCH missing: run with a scratch disk (VM_DISK)"
[ -c /dev/ublk-control ] || die "/dev/ublk-control missing: ublk_drv is not loaded"
df -T "$SCRATCH" | tail -1 | grep -q tmpfs && die "$SCRATCH is tmpfs: fsync would be free there"

{
  echo "kernel=$(uname -r)"
  echo "vcpus=$(nproc)"
  echo "mem_mb=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)"
  echo "fio=$(fio --version)"
  case " $TARGETS " in
    *"rbd-"*|*" krbd "*) echo "ceph=$(ceph --version 2>/dev/null | cut -d' ' -f3)"; echo "rbd_mb=${BENCH_RBD_MB:-512}" ;;
  esac
  case " $TARGETS " in
    *" nbd-"*|*-nbd-*) echo "nbdkit=$(nbdkit --version 2>/dev/null)"
                       echo "nbd_client=$(nbd-client -V 2>&1 | sed -n "s/.*from nbd /nbd-client /p" | head -1)" ;;
  esac
  echo "scratch_fs=$(df -T "$SCRATCH" | awk 'NR==2 {print $2}') on $(df "$SCRATCH" | awk 'NR==2 {print $1}')"
  echo "runtime=$RUNTIME"; echo "ramp=$RAMP"; echo "repeats=$REPEATS"; echo "numjobs=$NUMJOBS"
  echo "settle=sync, Dirty+Writeback <= $SETTLE_KB kB, drop_caches; before every job"
  echo "targets=$TARGETS"; echo "order=serpentine"; echo "jobs=$JOBS"; echo "repeat_jobs=$REPEAT_JOBS"; echo "size_mb=$SIZE_MB"
} > "$BENCH_OUT/meta.txt"

# The same fully written file serves every target: every block allocated and written once, so
# buffered and O_DIRECT targets read and overwrite real extents (no holes, no unwritten extents).
log "writing the backing file: $SIZE_MB MiB on $SCRATCH"
dd if=/dev/urandom of="$WORK/chunk" bs=1M count=16 status=none
rm -f "$FILE"
for _ in $(seq 1 $((SIZE_MB / 16))); do cat "$WORK/chunk"; done | dd of="$FILE" bs=1M iflag=fullblock oflag=direct status=none ||
  die "cannot write $FILE"
sync

# fio against the block device, always O_DIRECT (--direct=1, added per target in the loop below,
# where only the bare file's buffered target differs): what is compared is the device's own
# handling (its cache mode: buffered or O_DIRECT on the backing file), not the guest page cache
# above the block device. QD32 = 2 jobs x 16, one per vCPU (--cpus_allowed
# split), so a 2-queue device gets traffic on both of its queues, as the ublk queue is chosen
# by the submitting CPU.
# BENCH_NUMJOBS=1: one unpinned job at the whole depth.
pin_args() {
  [ "$NUMJOBS" -gt 1 ] && echo "--cpus_allowed=0-$(( $(nproc) - 1 )) --cpus_allowed_policy=split"
}
job_args() {
  local qd=$((32 / NUMJOBS)) sqd=$(( (8 + NUMJOBS - 1) / NUMJOBS ))
  # shellcheck disable=SC2207 # pin_args is a word list
  local common=(--ioengine=io_uring --time_based --runtime="$RUNTIME" --ramp_time="$RAMP"
                --numjobs="$NUMJOBS" $(pin_args) --group_reporting
                --randrepeat=0 --norandommap --output-format=json)
  case $1 in
    randwrite) echo "${common[@]} --rw=randwrite --bs=4k --iodepth=$qd" ;;
    randread)  echo "${common[@]} --rw=randread --bs=4k --iodepth=$qd" ;;
    fsync32)   echo "${common[@]} --rw=randwrite --bs=4k --iodepth=$qd --fsync=32" ;;
    seqwrite)  echo "${common[@]} --rw=write --bs=1M --iodepth=$sqd --size=$((DEV_MB / NUMJOBS))M --offset_increment=$((DEV_MB / NUMJOBS))M" ;;
    randrw)    echo "${common[@]} --rw=randrw --rwmixread=70 --bs=4k --iodepth=$qd" ;;
    *) return 1 ;;
  esac
}
for j in $JOBS; do job_args "$j" >/dev/null || die "unknown job $j"; done
[[ $NUMJOBS =~ ^[1-9][0-9]*$ ]] || die "BENCH_NUMJOBS=$NUMJOBS is not a count"

# settle [LABEL]: sync, wait until the dirty and under-writeback pages are (near) gone, then drop
# the page cache. `sync` alone waits for the writeback it starts, but a server or a kworker may
# still dirty pages after it returns; the poll makes sure nothing is left to be written back
# during the next job. One line per call into settle.txt: label, seconds, Dirty and Writeback
# (kB) left. Builtins only for the poll (a fork costs under TCG).
rm -f "$WORK/tick.fifo"; mkfifo "$WORK/tick.fifo" || die "mkfifo"
exec 6<>"$WORK/tick.fifo"
nap() { read -r -t "$1" -u 6 _ 2>/dev/null; return 0; }   # sleep without a fork: nothing ever arrives
meminfo_dirty() {
  local k v _
  DIRTY_KB=0 WB_KB=0
  while read -r k v _; do
    case $k in
      Dirty:) DIRTY_KB=$v ;;
      Writeback:) WB_KB=$v; break ;;
    esac
  done < /proc/meminfo
}
settle() {
  local t0=$EPOCHREALTIME i
  sync
  for ((i = 0; i < SETTLE_S * 10; i++)); do
    meminfo_dirty
    [ $((DIRTY_KB + WB_KB)) -le "$SETTLE_KB" ] && break
    ((i % 50 == 49)) && sync
    nap 0.1
  done
  echo 3 > /proc/sys/vm/drop_caches
  local t1=$EPOCHREALTIME
  printf '%s\t%s\t%s\t%s\n' "$1" "$(( (${t1/./} - ${t0/./}) / 1000 ))ms" "$DIRTY_KB" "$WB_KB" >> "$BENCH_OUT/settle.txt"
  [ $((DIRTY_KB + WB_KB)) -le "$SETTLE_KB" ] || log "WARNING: $1: still $DIRTY_KB kB dirty, $WB_KB kB under writeback after ${SETTLE_S} s"
}

# fio and its libraries (84 MB with Debian's, read over 9p from the host) copied once into the
# guest's tmpfs: drop_caches before every job would otherwise send every fio start back to 9p,
# ~9 s under TCG. tmpfs pages are not page cache that drop_caches frees; every target alike.
fio_local() {
  local d=$WORK/fio-local lib
  mkdir -p "$d/lib" && cp -L "$(command -v fio)" "$d/fio" || return 1
  while read -r lib; do cp -L "$lib" "$d/lib/" || return 1; done < <(ldd "$d/fio" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
  LD_LIBRARY_PATH=$d/lib "$d/fio" --version > /dev/null || return 1
  FIO_DIR=$d
}
if fio_local; then
  fio() { LD_LIBRARY_PATH=$FIO_DIR/lib "$FIO_DIR/fio" "$@"; }
else
  log "WARNING: fio runs from the host over 9p (copying it into tmpfs failed): slow starts after every drop"
fi

# io_uring_enter calls per thread: a hist trigger keyed by thread id on the syscall's entry
# tracepoint (exact counts, no process to start; cleared before every job). Empty HIST: none.
HIST=''
hist_setup() {
  local d ev
  [ "$SYSCOUNT" = 1 ] || return 0
  for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do [ -d "$d/events" ] && break; d=''; done
  if [ -z "$d" ] && mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then d=/sys/kernel/tracing; fi
  ev=${d:+$d/events/syscalls/sys_enter_io_uring_enter}
  if [ -z "$ev" ] || [ ! -e "$ev/trigger" ]; then
    log "no io_uring_enter counts: no tracefs with syscall events${d:+ at $d}"; echo "syscount=none (no tracefs syscall events)" >> "$BENCH_OUT/meta.txt"; return 0
  fi
  if echo 'hist:keys=common_pid:vals=hitcount:size=4096' > "$ev/trigger" 2>/dev/null; then
    HIST=$ev; echo "syscount=io_uring_enter (tracefs hist trigger, $d)" >> "$BENCH_OUT/meta.txt"
  else
    log "no io_uring_enter counts: the hist trigger was refused"; echo "syscount=none (hist trigger refused)" >> "$BENCH_OUT/meta.txt"
  fi
}
hist_clear() { [ -z "$HIST" ] || echo 'hist:keys=common_pid:vals=hitcount:size=4096:clear' >> "$HIST/trigger" 2>/dev/null; }
hist_off() { [ -z "$HIST" ] || echo '!hist:keys=common_pid:vals=hitcount:size=4096' >> "$HIST/trigger" 2>/dev/null; }
hist_setup

# BENCH_SCHED=1: who switches and who wakes whom, per job (the whole fio run, ramp included).
# sched_switch keyed by the thread switched out and its state (0: preempted, runnable; 1: a
# voluntary sleep); sched_wakeup keyed by the waker (common_pid, with its name) and the wakee.
SCHED_SPECS=(
  "sched_switch:hist:keys=prev_comm,prev_state:vals=hitcount:sort=hitcount.descending:size=2048"
  "sched_wakeup:hist:keys=common_pid.execname,comm:vals=hitcount:sort=hitcount.descending:size=4096"
)
SCHED_DIR=''
sched_setup() {
  local d spec ev
  [ "$SCHED" = 1 ] || return 0
  for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do [ -d "$d/events/sched" ] && break; d=''; done
  [ -n "$d" ] || { log "BENCH_SCHED: no tracefs sched events"; return 0; }
  for spec in "${SCHED_SPECS[@]}"; do
    ev=$d/events/sched/${spec%%:*}
    echo "${spec#*:}" > "$ev/trigger" 2>/dev/null || { log "BENCH_SCHED: hist trigger on ${spec%%:*} refused"; return 0; }
  done
  SCHED_DIR=$d/events/sched
  echo "sched=sched_switch, sched_wakeup hist triggers ($d)" >> "$BENCH_OUT/meta.txt"
}
sched_clear() {
  local spec
  [ -n "$SCHED_DIR" ] || return 0
  for spec in "${SCHED_SPECS[@]}"; do echo "${spec#*:}:clear" >> "$SCHED_DIR/${spec%%:*}/trigger" 2>/dev/null; done
}
sched_dump() {
  local spec
  [ -n "$SCHED_DIR" ] || return 0
  for spec in "${SCHED_SPECS[@]}"; do
    echo "## ${spec%%:*}"
    grep -v '^#' "$SCHED_DIR/${spec%%:*}/hist" | grep -v '^$'
  done > "$1" 2>/dev/null
}
sched_off() {
  local spec
  [ -n "$SCHED_DIR" ] || return 0
  for spec in "${SCHED_SPECS[@]}"; do echo "!${spec#*:}" >> "$SCHED_DIR/${spec%%:*}/trigger" 2>/dev/null; done
}
sched_setup

# One sample, one line (written at once, so a sampler killed between samples leaves whole lines):
# the wall clock (the clock of fio's timestamp_ms), the aggregate cpu line and ctxt of /proc/stat,
# and the io_uring_enter count of every thread seen: T sec.usec cpu F1 F2 ... ctxt N [H tid:count ...]
sample() {
  local k rest line l
  l="T $EPOCHREALTIME"
  while read -r k rest; do
    case $k in
      cpu) l+=" cpu $rest" ;;
      ctxt) l+=" ctxt $rest"; break ;;
    esac
  done < /proc/stat
  if [ -n "$HIST" ]; then
    l+=" H"
    while read -r line; do
      [[ $line =~ common_pid:\ *([0-9]+)\ *\}\ *hitcount:\ *([0-9]+) ]] && l+=" ${BASH_REMATCH[1]}:${BASH_REMATCH[2]}"
    done < "$HIST/hist"
  fi
  echo "$l"
}
sampler() { while :; do sample; nap 0.25; done; }

# The NBD rows' one server: nbdkit's file plugin on $FILE (never truncated: the same fully
# written file as every other target), on a Unix socket. Its stderr goes to nbdkit-TARGET.log.
NBD_SOCK=$WORK/nbd.sock NBD_PID='' NBDDEV=''
nbd_server_start() {
  local _
  command -v nbdkit >/dev/null || { log "nbdkit not found (tests/vm/host-deps.sh installs it on the host)"; return 1; }
  rm -f "$NBD_SOCK"
  nbdkit --foreground --unix "$NBD_SOCK" file "$FILE" 2>"$BENCH_OUT/nbdkit-$1.log" &
  NBD_PID=$!
  for _ in $(seq 1 300); do
    [ -S "$NBD_SOCK" ] && return 0
    kill -0 "$NBD_PID" 2>/dev/null || break
    sleep 0.1
  done
  log "nbdkit did not listen on $NBD_SOCK: $(tail -2 "$BENCH_OUT/nbdkit-$1.log")"
  return 1
}

# The RBD rows' one cluster and image (see the header), made by the first RBD target.
RBD_DIR=$WORK/ceph RBD_MB=${BENCH_RBD_MB:-512} RBD_UP='' RBDDEV='' KRBDDEV=''
RBD_CLUSTER=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../tests/ceph" && pwd)/cluster.sh
rbd_up() {
  [ -n "$RBD_UP" ] && return 0
  command -v ceph-mon >/dev/null || { log "ceph-mon not found (tests/vm/host-deps.sh installs it on the host)"; return 1; }
  bash "$RBD_CLUSTER" start "$RBD_DIR" > "$BENCH_OUT/ceph-start.log" 2>&1 ||
    { log "the Ceph cluster did not start: $(tail -2 "$BENCH_OUT/ceph-start.log")"; return 1; }
  dd if="$FILE" bs=1M count="$RBD_MB" status=none |
    rbd -c "$RBD_DIR/ceph.conf" import --no-progress --image-feature layering,exclusive-lock - rbd/bench ||
    { log "cannot write the RBD image"; return 1; }
  RBD_UP=1
}

SRV_PID='' DEV='' LOOPDEV='' DEV_MB=$SIZE_MB
attach() {
  local t=$1
  DEV_MB=$SIZE_MB
  case $t in
    rbd-nbd)
      [ -e /dev/nbd0 ] || { log "/dev/nbd0 missing: nbd.ko is not loaded (run.sh loads it for rbd-nbd)"; return 1; }
      rbd_up || return 1
      RBDDEV=$(rbd-nbd -c "$RBD_DIR/ceph.conf" --rbd-cache=false map rbd/bench 2> "$BENCH_OUT/rbd-nbd-$t.log") ||
        { log "rbd-nbd map failed: $(tail -2 "$BENCH_OUT/rbd-nbd-$t.log")"; RBDDEV=''; return 1; }
      DEV=$RBDDEV DEV_MB=$RBD_MB ;;
    krbd)
      [ -d /sys/bus/rbd ] || { log "/sys/bus/rbd missing: rbd.ko is not loaded (run.sh loads it for krbd)"; return 1; }
      rbd_up || return 1
      # noudev: the guest runs no udevd; devtmpfs makes /dev/rbdN
      KRBDDEV=$(rbd -c "$RBD_DIR/ceph.conf" device map -o noudev rbd/bench 2> "$BENCH_OUT/krbd-$t.log") ||
        { log "rbd device map failed: $(tail -2 "$BENCH_OUT/krbd-$t.log")"; KRBDDEV=''; return 1; }
      DEV=$KRBDDEV DEV_MB=$RBD_MB ;;
    file|file-dio) DEV=$FILE ;;
    loop)     LOOPDEV=$(losetup --find --show "$FILE") || return 1; DEV=$LOOPDEV ;;
    loop-dio) LOOPDEV=$(losetup --find --show --direct-io=on "$FILE") || return 1; DEV=$LOOPDEV
              [ "$(cat "/sys/block/$(basename "$DEV")/loop/dio")" = 1 ] || { log "WARNING: $DEV did not take direct I/O"; } ;;
    nbd-ko-c*)
      local n=${t#nbd-ko-c} _
      [[ $n =~ ^[1-9][0-9]*$ ]] || return 1
      [ -b /dev/nbd0 ] || { log "/dev/nbd0 missing: nbd.ko is not loaded (run.sh loads it for nbd targets)"; return 1; }
      nbd_server_start "$t" || return 1
      # netlink set-up (nbd-client's default): it configures the device and exits; the export
      # name is left empty (nbdkit's file plugin serves any name)
      nbd-client -unix "$NBD_SOCK" /dev/nbd0 -C "$n" -b 4096 > "$BENCH_OUT/nbd-client-$t.log" 2>&1 ||
        { log "nbd-client failed: $(tail -2 "$BENCH_OUT/nbd-client-$t.log")"; return 1; }
      NBDDEV=/dev/nbd0 DEV=/dev/nbd0
      for _ in $(seq 1 100); do
        [ "$(blockdev --getsize64 "$DEV" 2>/dev/null)" = $((SIZE_MB << 20)) ] && return 0
        sleep 0.1
      done
      log "$DEV is not $SIZE_MB MiB: $(blockdev --getsize64 "$DEV" 2>&1)"; return 1 ;;
    lo-*|lo[a-z]-*)
      local build=${t%%-*} bin=$LOOPORDER_BIN rest=${t#*-} mode q n dio=() args=()
      local envname=BENCH_ENV_${build#lo} argsname=BENCH_ARGS_${build#lo} kv extra=() more=()
      if [ "$build" != lo ]; then
        bin=LOOPORDER_BIN_${build#lo}; bin=${!bin:-}
        # a variant with its own environment only (BENCH_ENV_X, no build X): the working tree
        [ -z "$bin" ] && { [ -n "${!envname:-}" ] || [ -n "${!argsname:-}" ]; } && bin=$LOOPORDER_BIN
        [ -f "$bin" ] || { log "no build for $t (LOOPORDER_BIN_${build#lo})"; return 1; }
      fi
      [ "$build" != lo ] && read -r -a extra <<< "${!envname:-}"
      # BENCH_ARGS_X: more serve arguments for build X's devices (an A/B of an option)
      [ "$build" != lo ] && read -r -a more <<< "${!argsname:-}"
      case $rest in
        rbd-*)          # lo-rbd-MODE, before lo-MODE-qN: "rbd" is no mode
          mode=${rest#rbd-}
          rbd_up || return 1
          DEV_MB=$RBD_MB
          args=(--target rbd --pool rbd --image bench --conf "$RBD_DIR/ceph.conf" --keyring "$RBD_DIR/keyring"
                --queues 2 --ordering "$mode") ;;
        nbd-*-c*)       # lo-nbd-MODE-cN, before lo-MODE-qN: "nbd" is no mode
          rest=${rest#nbd-}; mode=${rest%-c*}; n=${rest##*-c}
          [[ $n =~ ^[1-9][0-9]*$ ]] || return 1
          nbd_server_start "$t" || return 1
          args=(--target nbd --nbd "nbd+unix:///?socket=$NBD_SOCK" --connections "$n" --queues 2
                --ordering "$mode" --block-size 4096) ;;
        mem-*-q*)       # lo-mem-MODE-qN: the memory target, the transport floor
          rest=${rest#mem-}; mode=${rest%-q*}; q=${rest##*-q}
          [[ $q =~ ^[1-9][0-9]*$ ]] || return 1
          args=(--target memory --size "${SIZE_MB}M" --queues "$q" --ordering "$mode") ;;
        *)
          mode=${rest%%-*}; rest=${rest#*-}; q=${rest%%-*}; q=${q#q}
          case $rest in *-dio) dio=(--direct-io) ;; esac
          args=(--file "$FILE" --size "${SIZE_MB}M" --queues "$q" --ordering "$mode" "${dio[@]}") ;;
      esac
      : > "$WORK/serve.out"
      # BENCH_ENV_X: NAME=VALUE words for build X's server only (an A/B of a setting)
      for kv in "${extra[@]}"; do export "${kv?}"; done
      lo_serve "$bin" "$WORK/serve.out" "$BENCH_OUT/serve-$t.log" "${args[@]}" "${more[@]}"
      for kv in "${extra[@]}"; do unset "${kv%%=*}"; done
      SRV_PID=$LO_PID
      local rc=0
      lo_wait_device "$SRV_PID" "$WORK/serve.out" || rc=$?
      DEV=$LO_DEV
      [ "$rc" = 1 ] && SRV_PID=''      # it exited: nothing for detach to stop
      [ "$rc" = 0 ] || return 1
      # BENCH_IOSCHED_X: the I/O scheduler build X's device gets after attach (an A/B of it)
      local iosched=BENCH_IOSCHED_${build#lo}
      if [ "$build" != lo ] && [ -n "${!iosched:-}" ]; then
        echo "${!iosched}" > "/sys/block/${DEV#/dev/}/queue/scheduler" || log "WARNING: cannot set the scheduler of $DEV to ${!iosched}"
      fi ;;
    *) return 1 ;;
  esac
}

# Per-thread CPU time and context switches of the server, for the profile in RESULTS.md. Shell
# builtins only: under TCG every fork costs a noticeable fraction of a second, and a process of
# 20-odd threads took five of them per thread.
thread_snapshot() {
  local f=$1 task comm stat k v vol nonvol
  local -a fl
  [ -n "$SRV_PID" ] || return 0
  for task in /proc/"$SRV_PID"/task/*; do
    read -r comm < "$task/comm" || continue
    read -r stat < "$task/stat" || continue
    # utime and stime are fields 14 and 15; the comm field (2) may hold spaces, so count from
    # the state field (3) that follows its closing parenthesis
    read -r -a fl <<< "${stat##*) }"
    vol=0 nonvol=0
    while read -r k v; do
      case $k in
        voluntary_ctxt_switches:) vol=$v ;;
        nonvoluntary_ctxt_switches:) nonvol=$v ;;
      esac
    done < "$task/status"
    printf '%s\t%s\t%s\t%s\t%s\n' "$comm" "${fl[11]}" "${fl[12]}" "$vol" "$nonvol"
  done > "$f" 2>/dev/null
}

# The engine's flush statistics (loop-order stats, straight off the control socket: python
# starts in a fraction of the time a second dotnet process takes under TCG).
stats_snapshot() {
  [ -n "$SRV_PID" ] || return 0
  python3 - "${DEV#/dev/ublkb}" > "$1" 2>/dev/null <<'PY' || rm -f "$1"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect("/run/loop-order/control.sock")
s.sendall(('{"op":"stats","id":%d}\n' % int(sys.argv[1])).encode())
b = b""
while not b.endswith(b"\n"):
    c = s.recv(65536)
    if not c:
        break
    b += c
sys.stdout.write(b.decode())
PY
}

detach() {
  local _
  if [ -n "$LOOPDEV" ]; then losetup -d "$LOOPDEV"; LOOPDEV=''; fi
  if [ -n "$KRBDDEV" ]; then
    rbd -c "$RBD_DIR/ceph.conf" device unmap -o noudev "$KRBDDEV" >> "$BENCH_OUT/krbd.log" 2>&1 || log "WARNING: rbd device unmap $KRBDDEV failed"
    KRBDDEV=''
  fi
  if [ -n "$RBDDEV" ]; then
    rbd-nbd unmap "$RBDDEV" >> "$BENCH_OUT/rbd-nbd.log" 2>&1 || log "WARNING: rbd-nbd unmap $RBDDEV failed"
    RBDDEV=''
  fi
  if [ -n "$NBDDEV" ]; then
    nbd-client -d "$NBDDEV" >> "$BENCH_OUT/nbd-client.log" 2>&1 || log "WARNING: nbd-client -d $NBDDEV failed"
    # the next nbd-ko target reuses the device: wait until it is free (-c exits 0 while connected)
    for _ in $(seq 1 300); do
      nbd-client -c "$NBDDEV" > /dev/null 2>&1 || break
      sleep 0.1
    done
    NBDDEV=''
  fi
  if [ -n "$SRV_PID" ]; then
    lo_stop "$SRV_PID" TERM 60 || { log "WARNING: serve did not stop; killing it"; kill -9 "$SRV_PID"; wait "$SRV_PID" 2>/dev/null; }
    SRV_PID=''
  fi
  # the NBD server last: its clients are gone (a stopping LoopOrder flushes through it)
  if [ -n "$NBD_PID" ]; then
    kill "$NBD_PID" 2>/dev/null; wait "$NBD_PID" 2>/dev/null; NBD_PID=''
  fi
  DEV=''
}
trap 'detach; hist_off; sched_off' EXIT

fails=0
reversed=$(echo "$TARGETS" | tr ' ' '\n' | grep -v '^$' | tac | tr '\n' ' ')
for r in $(seq 1 "$REPEATS"); do
  jobs_now=$JOBS
  [ "$r" -gt 1 ] && jobs_now=$REPEAT_JOBS
  order=$TARGETS
  [ $((r % 2)) = 0 ] && order=$reversed
  for t in $order; do
    settle "r$r.$t.attach"
    attach "$t" || { log "FAIL attach $t"; fails=$((fails + 1)); detach; continue; }
    log "repeat $r: $t on $DEV$( [ -r "/sys/block/${DEV#/dev/}/queue/scheduler" ] && echo " (scheduler: $(< "/sys/block/${DEV#/dev/}/queue/scheduler"))")"
    # One stats call before the warm-up: its first use JITs the control socket's JSON path, and
    # the background tier-up of that code (1.2-1.4 s of guest CPU seen) must not land in a job.
    stats_snapshot "$BENCH_OUT/r$r.$t.prime.stats" && rm -f "$BENCH_OUT/r$r.$t.prime.stats"
    # fio goes O_DIRECT to the devices (see job_args) and to file-dio; on the bare file
    # "buffered" means fio's own writes go through the page cache, as the servers' do.
    direct=1; [ "$t" = file ] && direct=0
    if [ "$WARMUP" -gt 0 ]; then
      # shellcheck disable=SC2046 # pin_args is a word list
      fio --name=warmup --filename="$DEV" --ioengine=io_uring --direct=$direct --rw=randwrite --bs=4k \
          --iodepth=$((32 / NUMJOBS)) --numjobs="$NUMJOBS" $(pin_args) --time_based \
          --runtime="$WARMUP" --randrepeat=0 --norandommap > /dev/null 2>&1 || log "WARNING: warm-up on $t failed"
    fi
    thread_snapshot "$BENCH_OUT/r$r.$t.start.threads"
    stats_snapshot "$BENCH_OUT/r$r.$t.start.stats"
    for j in $jobs_now; do
      out=$BENCH_OUT/r$r.$t.$j.json
      settle "r$r.$t.$j"
      perf_pid=''
      if [ "$PROFILE" = 1 ]; then
        # Sampling starts after the ramp and stops with the job, so it covers the measured part.
        (sleep "$RAMP"; exec perf record -q -a -e cpu-clock -F 499 -o "$WORK/perf.data" -- sleep "$RUNTIME") > /dev/null 2>&1 &
        perf_pid=$!
      fi
      hist_clear
      sched_clear
      sampler > "$BENCH_OUT/r$r.$t.$j.cpu" &
      sampler_pid=$!
      # shellcheck disable=SC2046 # job_args is a word list
      fio --name="$j" --filename="$DEV" $(job_args "$j") --direct=$direct > "$out.tmp" 2> "$out.err"
      fio_rc=$?
      kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null
      # the last sample after fio's end (its JSON timestamp), and the server's threads (their ids
      # pick the server's io_uring_enter counts out of the hist)
      { sample
        if [ -n "$SRV_PID" ]; then
          tids=(/proc/"$SRV_PID"/task/*); echo "S ${tids[*]##*/}"
        fi
      } >> "$BENCH_OUT/r$r.$t.$j.cpu"
      if [ "$fio_rc" = 0 ]; then
        mv "$out.tmp" "$out"; rm -f "$out.err"
        log "  $j: $(grep -o '"iops" : [0-9.]*' "$out" | head -2 | tr '\n' ' ')"
      else
        log "FAIL fio $t $j: $(tail -2 "$out.err")"; fails=$((fails + 1))
      fi
      if [ -n "$perf_pid" ]; then
        wait "$perf_pid"
        { perf report -i "$WORK/perf.data" --stdio --no-children --sort comm --percent-limit 0.5 2>/dev/null | grep -v '^#' | grep -v '^$'
          echo "---"
          perf report -i "$WORK/perf.data" --stdio --no-children --sort comm,sym --percent-limit 0.4 2>/dev/null | grep -v '^#' | grep -v '^$'
        } > "$BENCH_OUT/r$r.$t.$j.perf.txt"
        rm -f "$WORK/perf.data"
      fi
      sched_dump "$BENCH_OUT/r$r.$t.$j.sched.txt"
      thread_snapshot "$BENCH_OUT/r$r.$t.$j.threads"
      stats_snapshot "$BENCH_OUT/r$r.$t.$j.stats"
    done
    detach
  done
done
[ -n "$RBD_UP" ] && bash "$RBD_CLUSTER" stop "$RBD_DIR"
log "done, $fails failures"
[ "$fails" = 0 ]
