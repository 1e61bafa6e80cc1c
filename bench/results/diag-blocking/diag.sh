#!/bin/bash
# A one-off diagnostic (2026-11-22): where do the threads block during 4 KiB random writes, the
# kernel loop driver against LoopOrder drain q2? Build with bench/fio/run.sh first (it publishes
# artifacts/bench), then, from the repository root:
#   VM_DISK=6G tests/vm/run-vm.sh bench/results/diag-blocking/diag.sh
# For each target: 10 s of warm-up writes, then 8 s under perf recording every context switch
# with its kernel stack and every balance_dirty_pages call; *.blocks.* counts the switches by
# thread and the four frames under schedule(), *.vmstat.* samples the dirty page counts.
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
OUT=$VM_SHARED/diag-out
mkdir -p $OUT
BIN=$root/artifacts/bench/loop-order.dll
FILE=/tmp/scratch/diag.img
W=/tmp/diag; mkdir -p $W; cd $W
dd if=/dev/urandom of=chunk bs=1M count=16 status=none
for _ in $(seq 64); do cat chunk; done | dd of=$FILE bs=1M iflag=fullblock oflag=direct status=none
sync
sysctl vm.dirty_ratio vm.dirty_background_ratio vm.dirty_expire_centisecs > $OUT/sysctl.txt
fioargs="--ioengine=io_uring --direct=1 --rw=randwrite --bs=4k --iodepth=16 --numjobs=2 --cpus_allowed=0-1 --cpus_allowed_policy=split --group_reporting --randrepeat=0 --norandommap --time_based"
for t in loop lo; do
  sync; echo 3 > /proc/sys/vm/drop_caches
  if [ $t = loop ]; then DEV=$(losetup --find --show $FILE); SRV=''
  else
    : > serve.out
    dotnet $BIN serve --file $FILE --size 1024M --queues 2 --ordering drain > serve.out 2> $OUT/serve.log & SRV=$!
    for _ in $(seq 600); do [ -s serve.out ] && break; sleep 0.1; done
    DEV=$(head -1 serve.out)
  fi
  fio --name=w --filename=$DEV $fioargs --runtime=10 > /dev/null 2>&1
  (for i in $(seq 10); do awk '/^nr_dirty |^nr_writeback |^nr_dirty_threshold|^nr_dirty_background_threshold/ {printf "%s=%s ", $1, $2}' /proc/vmstat; echo; sleep 1; done) > $OUT/$t.vmstat.$$ & VMS=$!
  perf record -q -a -g -e sched:sched_switch -e writeback:balance_dirty_pages -o $W/p.data -- \
    fio --name=m --filename=$DEV $fioargs --runtime=8 --output-format=terse > $OUT/$t.fio.$$ 2>&1
  wait $VMS
  perf script -i $W/p.data -F comm,event,trace,ip,sym 2>$OUT/$t.perf.err > $W/s.txt
  python3 - $W/s.txt > $OUT/$t.blocks.$$ 2>&1 <<'PY'
import sys, collections, re
cnt = collections.Counter(); pause = collections.Counter(); npause = collections.Counter()
cur = None
for block in open(sys.argv[1], errors='replace').read().split('\n\n'):
    lines = [l for l in block.strip().split('\n') if l.strip()]
    if not lines: continue
    head = lines[0]
    m = re.match(r'\s*(\S.*?)\s+(sched:sched_switch|writeback:balance_dirty_pages):\s*(.*)', head)
    if not m: continue
    comm, ev, tr = m.groups()
    comm = re.sub(r'\d+', 'N', comm)
    if ev.startswith('writeback'):
        p = re.search(r'pause=(-?\d+)', tr); pause[comm] += int(p.group(1)) if p else 0; npause[comm] += 1
        continue
    if 'prev_state=R' in tr: 
        cnt[(comm, 'preempted')] += 1; continue
    syms = [l.split()[1] if len(l.split())>1 else '?' for l in lines[1:]]
    syms = [s for s in syms if s not in ('__schedule','schedule','schedule_idle','preempt_schedule_common','__traceiter_sched_switch') and not s.startswith(('trace_','perf_'))]
    cnt[(comm, ' < '.join(syms[:4]))] += 1
for (c, s), n in cnt.most_common(40): print(f"{n:7d} {c:18s} {s}")
print('balance_dirty_pages: calls and total pause ms per comm')
for c in npause: print(c, npause[c], pause[c])
PY
  rm -f $W/p.data
  [ -n "$SRV" ] && { kill -TERM $SRV; wait $SRV; } || losetup -d $DEV
done
