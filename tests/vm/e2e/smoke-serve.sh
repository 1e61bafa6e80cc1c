#!/bin/bash
# Guest-side quick check: serve a file with 2 queues, dd through it, stop with SIGINT.
set -u
BIN=${LOOPORDER_BIN:-/work/main/artifacts/vm/loop-order.dll}
dir=/tmp/scratch; [ -d $dir ] || dir=/tmp
f=$dir/smoke.img
rm -f $f
t0=$(date +%s.%N); echo "start $(date +%T.%N)"
env --default-signal=INT dotnet $BIN serve --file $f --size 256M --queues 2 --verbose >/tmp/out 2>/tmp/err &
pid=$!
for i in $(seq 1 300); do [ -s /tmp/out ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
dev=$(cat /tmp/out)
echo "device: '$dev' after $(echo "$(date +%s.%N) - $t0" | bc) s"
cat /tmp/err
[ -b "$dev" ] || { echo "no block device"; kill $pid; wait $pid; echo rc=$?; cat /tmp/err; exit 1; }
cat /sys/block/$(basename $dev)/queue/{logical_block_size,physical_block_size,max_sectors_kb,write_cache,fua,discard_granularity,discard_max_bytes,write_zeroes_max_bytes} | tr '\n' ' '; echo
dd if=/dev/urandom of=/tmp/pat bs=1M count=16 status=none
dd if=/tmp/pat of=$dev bs=1M oflag=direct status=none conv=fsync && echo "dd write ok"
dd if=$dev of=/tmp/back bs=1M count=16 iflag=direct status=none && echo "dd read ok"
cmp /tmp/pat /tmp/back && echo "compare ok"
dd if=/tmp/pat of=$dev bs=4k seek=100 count=500 status=none conv=fsync && echo "buffered write ok"
kill -INT $pid
for i in $(seq 1 300); do kill -0 $pid 2>/dev/null || break; sleep 0.2; done
if kill -0 $pid 2>/dev/null; then
  echo "STUCK after SIGINT"; cat /tmp/err
  for t in /proc/$pid/task/*; do echo "== $t $(cat $t/comm) $(cat $t/wchan)"; cat $t/stack; done 2>&1 | grep -v '^\[<0>\] \(entry_SYSCALL\|do_syscall\)' | head -150
  dmesg | tail -20
  kill -9 $pid
fi
wait $pid; rc=$?
echo "serve rc=$rc"
cat /tmp/err | tail -5
ls /dev/ublk* 2>&1
cmp -n 409600 /tmp/pat $f && echo "backing file matches"
