#!/bin/bash
# One-off (2026-11-22 session 12): is LoopOrder's randwrite spread per process or per job?
# Rounds of: loop, lo (normal), lo (setarch -R: no ASLR); each attach runs 10 s warm-up then
# three 8 s randwrite jobs in the same process.
set -u
root=/work/main
OUT=$VM_SHARED/diag-var
rm -rf $OUT; mkdir -p $OUT
BIN=$root/artifacts/bench/loop-order.dll
FILE=/tmp/scratch/var.img
W=/tmp/diag; mkdir -p $W; cd $W
dd if=/dev/urandom of=chunk bs=1M count=16 status=none
for _ in $(seq 64); do cat chunk; done | dd of=$FILE bs=1M iflag=fullblock oflag=direct status=none
sync
common="--ioengine=io_uring --direct=1 --rw=randwrite --bs=4k --iodepth=16 --numjobs=2 --cpus_allowed=0-1 --cpus_allowed_policy=split --group_reporting --randrepeat=0 --norandommap --time_based"
log() { echo "$(date +%T) $*" | tee -a $OUT/log.txt; }
for round in 1 2 3 4; do
  for t in loop lo lo-norand; do
    sync; echo 3 > /proc/sys/vm/drop_caches
    SRV=''
    case $t in
      loop) DEV=$(losetup --find --show $FILE) ;;
      lo|lo-norand)
        pre=(); [ $t = lo-norand ] && pre=(setarch x86_64 -R)
        : > serve.out
        env --default-signal=INT "${pre[@]}" dotnet $BIN serve --file $FILE --size 1024M --queues 2 --ordering drain > serve.out 2> $OUT/serve-$t-$round.log & SRV=$!
        for _ in $(seq 1200); do [ -s serve.out ] && break; sleep 0.1; done
        DEV=$(head -1 serve.out)
        grep -E 'ublk|anon' /proc/$SRV/maps | awk '{print $1, $6}' | head -5 > $OUT/maps-$t-$round.txt ;;
    esac
    fio --name=w --filename=$DEV $common --runtime=10 > /dev/null 2>&1
    res=''
    for j in 1 2 3; do
      i=$(fio --name=m --filename=$DEV $common --runtime=8 --ramp_time=2 --output-format=json | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["jobs"][0]["write"]["iops"]))')
      res="$res $i"
    done
    log "round $round $t:$res"
    if [ -n "$SRV" ]; then kill -TERM $SRV; wait $SRV; else losetup -d $DEV; fi
  done
done
