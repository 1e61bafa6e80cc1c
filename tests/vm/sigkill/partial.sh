#!/bin/bash
# partial.sh - deterministic reproducer of the 6.12 ublk recovery oops, no LoopOrder involved: a
# server killed in the middle of a recovery, after one queue of a 2-queue device fetched all its
# tags and before the other did; the next START_USER_RECOVERY then reinitialises a queue whose
# daemon was never set (ublk_queue_reinit: WARN, then put_task_struct(NULL)).
#
# Usage (host): VM_DISK=1G VM_ENV="UK_HEADERS=$(tests/vm/fetch-headers.sh)" \
#                 tests/vm/run-vm.sh tests/vm/sigkill/partial.sh
# Exit 0 and "partial: survived" where the kernel handles it; on 6.12.95 the guest oopses at
# step 3 (with VM_PANIC_ON_OOPS=1, the default, the VM ends there: run-vm.sh prints the oops).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
W=/tmp/uk; mkdir -p "$W"; cd "$W"
S=${VM_SCRATCH:-/tmp}
inc=${UK_HEADERS:?UK_HEADERS: the VM kernel UAPI headers (tests/vm/fetch-headers.sh prints the dir)}
gcc -O2 -pthread -I"$inc" -I"$inc/x86_64-linux-gnu" -o "$W/ublk-kill" "$here/ublk-kill.c"
echo "partial: kernel $(uname -r), rings ${UK_TASKRUN:-defer}"
wait_for() { for _ in $(seq 1 3000); do grep -q "^$1" "$2" && return 0; sleep 0.01; done; cat "$2"; echo "partial: no '$1'"; exit 1; }

"$W/ublk-kill" add "$S/p.img" 64 2 > "$W/1.out" 2>&1 & p=$!
wait_for ready "$W/1.out"; id=$(awk '{print $2}' "$W/1.out")
dd if=/dev/urandom of="/dev/ublkb$id" bs=1M count=4 oflag=direct status=none
echo "partial: 1. ublkb$id served by $p (2 queues); SIGKILL"
kill -9 "$p"; wait "$p" 2>/dev/null || true

UK_QUEUES=1 "$W/ublk-kill" recover "$id" "$S/p.img" > "$W/2.out" 2>&1 & p=$!
wait_for partial "$W/2.out"
echo "partial: 2. START_USER_RECOVERY by $p, queue 0 fetched all its tags, queue 1 none; SIGKILL"
kill -9 "$p"; wait "$p" 2>/dev/null || true

echo "partial: 3. START_USER_RECOVERY again"
"$W/ublk-kill" recover "$id" "$S/p.img" > "$W/3.out" 2>&1 & p=$!
sleep 5
cat "$W/3.out"
dmesg | grep -E 'WARNING|BUG|Oops' && { echo "partial: kernel trouble"; exit 1; }
if grep -q '^ready' "$W/3.out"; then
  dd if="/dev/ublkb$id" of=/dev/null bs=1M count=4 iflag=direct status=none
  kill -9 "$p"; wait "$p" 2>/dev/null || true
  "$W/ublk-kill" recover "$id" "$S/p.img" > "$W/4.out" 2>&1 & p=$!; wait_for ready "$W/4.out"
fi
echo "partial: survived (step 3: $(head -1 "$W/3.out"))"
