#!/bin/bash
# One-off (session 12): under TCG, is a buffered 4 KiB random write cheaper as pwrite from the
# submitting thread (psync) or through io_uring (ext4 punts to io-wq)? fio on the file itself.
set -u
OUT=$VM_SHARED/diag-wq; rm -rf $OUT; mkdir -p $OUT
FILE=/tmp/scratch/wq.img
W=/tmp/diag; mkdir -p $W; cd $W
dd if=/dev/urandom of=chunk bs=1M count=16 status=none
for _ in $(seq 64); do cat chunk; done | dd of=$FILE bs=1M iflag=fullblock oflag=direct status=none
sync
common="--filename=$FILE --direct=0 --rw=randwrite --bs=4k --numjobs=2 --cpus_allowed=0-1 --cpus_allowed_policy=split --group_reporting --randrepeat=0 --norandommap --time_based --runtime=6 --ramp_time=2 --output-format=json"
log() { echo "$(date +%T) $*" | tee -a $OUT/log.txt; }
iops() { python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; print(int(j["write"]["iops"]), round(j["usr_cpu"]+j["sys_cpu"],1))'; }
for round in 1 2 3; do
  for e in psync uring uring-async; do
    sync; echo 3 > /proc/sys/vm/drop_caches
    case $e in
      psync) a="--ioengine=psync" ;;
      uring) a="--ioengine=io_uring --iodepth=16" ;;
      uring-async) a="--ioengine=io_uring --iodepth=16 --force_async=1" ;;
    esac
    r=$(fio --name=$e $common $a | iops)
    log "round $round $e: iops cpu% $r"
  done
done
