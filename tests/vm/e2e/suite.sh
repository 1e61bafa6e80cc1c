#!/bin/bash
# suite.sh - LoopOrder's end-to-end tests against the real ublk_drv. Runs inside the VM (see
# run.sh, which builds on the host and boots the VM); every test serves files on /tmp/scratch
# (ext4 on a virtio disk) with 2 queues through /dev/ublkbN. Writes one "PASS name seconds" or
# "FAIL name seconds" line per test to $E2E_RESULTS and exits non-zero if any failed.
# Select tests with E2E_ONLY="fio_verify ext4".
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
RESULTS=${E2E_RESULTS:-$WORK/results}
mkdir -p "$WORK"; : > "$RESULTS"
log "kernel $(uname -r)"
# fio saves verify state in the current directory; the guest starts in the (read-only) repository.
cd "$WORK" || exit 1
[ -c /dev/ublk-control ] || die "/dev/ublk-control missing: ublk_drv is not loaded"
[ -d "$SCRATCH" ] || die "$SCRATCH missing: run with a scratch disk (VM_DISK)"
for t in fio blkdiscard mkfs.ext4 e2fsck qemu-img qemu-io sha256sum dotnet; do
  command -v "$t" >/dev/null || die "$t not found"
done

# fio with crc32c verification: 4 KiB random writes from two jobs pinned to different CPUs (so
# both hardware queues carry requests), each verifying its own region after writing it.
test_fio_verify() {
  serve_start "$SCRATCH/fio.img" --size 256M
  local switches; switches=$(queue_switches)
  fio --name=randwrite --filename="$DEV" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
      --iodepth=16 --numjobs=2 --size=16M --offset_increment=64M --cpus_allowed=0-1 \
      --cpus_allowed_policy=split --verify=crc32c --verify_fatal=1 --do_verify=1 \
      --group_reporting > "$WORK/fio.out"
  grep -E 'IOPS=|err=' "$WORK/fio.out"
  both_queues_served "$switches"
  serve_stop
}

# A flush-heavy job: fsync after every 8 writes, verified; the block layer must have completed
# flushes (the device advertises a volatile write cache).
test_fio_flush() {
  serve_start "$SCRATCH/flush.img" --size 128M
  local before after switches
  before=$(flush_count); switches=$(queue_switches)
  fio --name=flushy --filename="$DEV" --ioengine=psync --direct=1 --rw=randwrite --bs=4k --size=8M \
      --numjobs=2 --offset_increment=32M --cpus_allowed=0-1 --cpus_allowed_policy=split \
      --fsync=8 --verify=crc32c --verify_fatal=1 --do_verify=1 --group_reporting > "$WORK/flush.out"
  grep -E 'IOPS=|err=|sync' "$WORK/flush.out"
  after=$(flush_count)
  log "flushes completed by /dev/$(basename "$DEV"): $((after - before))"
  # 2 x 2048 writes with an fsync every 8 is 512 fsyncs; the block layer may merge concurrent ones.
  [ $((after - before)) -ge 128 ] || die "expected at least 128 flushes (512 fsyncs), saw $((after - before))"
  both_queues_served "$switches"
  serve_stop
}

# blkdiscard of a range reads back as zeros, the data around it survives, the backing file
# gets a hole; blkdiscard -z (WRITE_ZEROES) zeroes too.
test_discard() {
  local img=$SCRATCH/discard.img
  serve_start "$img" --size 64M
  dd if=/dev/urandom of="$WORK/pat" bs=1M count=8 status=none
  dd if="$WORK/pat" of="$DEV" bs=1M oflag=direct status=none
  sync
  local blocks_before; blocks_before=$(stat -c %b "$img")
  blkdiscard -o $((1 << 20)) -l $((2 << 20)) "$DEV"
  cmp -n $((2 << 20)) <(dd if="$DEV" bs=1M skip=1 count=2 iflag=direct status=none) /dev/zero || die "discarded range does not read as zeros"
  cmp -n $((1 << 20)) <(dd if="$DEV" bs=1M count=1 iflag=direct status=none) "$WORK/pat" || die "data before the discard changed"
  cmp <(dd if="$DEV" bs=1M skip=3 count=5 iflag=direct status=none) <(dd if="$WORK/pat" bs=1M skip=3 count=5 status=none) || die "data after the discard changed"
  blkdiscard -z -o $((4 << 20)) -l $((1 << 20)) "$DEV"
  cmp -n $((1 << 20)) <(dd if="$DEV" bs=1M skip=4 count=1 iflag=direct status=none) /dev/zero || die "zeroed range does not read as zeros"
  serve_stop
  local blocks_after; blocks_after=$(stat -c %b "$img")
  log "backing file blocks: $blocks_before before, $blocks_after after discarding 2 MiB"
  [ "$blocks_after" -lt "$blocks_before" ] || die "discard did not punch a hole in the backing file"
  cmp -n $((1 << 20)) "$img" "$WORK/pat" || die "backing file head differs"
}

# ext4 on the device: mkfs, a tree of files, umount, stop; e2fsck on the backing file; a second
# serve of the same file shows every file with the same checksum.
test_ext4() {
  local img=$SCRATCH/ext4.img mnt=$WORK/mnt
  mkdir -p "$mnt"
  serve_start "$img" --size 256M
  mkfs.ext4 -q -F "$DEV"
  mount "$DEV" "$mnt"
  local d f n=0
  for d in a a/b a/b/c d e/f; do mkdir -p "$mnt/$d"; done
  for d in . a a/b a/b/c d e/f; do
    for f in 1 2 3 4 5 6; do
      head -c $(( (RANDOM % 64 + 1) * 1024 + RANDOM % 1000 )) /dev/urandom > "$mnt/$d/file$f"
      n=$((n + 1))
    done
  done
  head -c $((3 << 20)) /dev/urandom > "$mnt/d/big"
  (cd "$mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$WORK/sums"
  umount "$mnt"
  serve_stop
  log "wrote $((n + 1)) files; e2fsck -fn $img"
  e2fsck -fn "$img" || die "e2fsck found problems in the backing file"
  serve_start "$img"
  mount -o ro "$DEV" "$mnt"
  (cd "$mnt" && sha256sum --quiet -c "$WORK/sums") || die "checksums differ after a second serve"
  [ "$(cd "$mnt" && find . -type f | wc -l)" = $((n + 1)) ] || die "file count differs"
  umount "$mnt"
  serve_stop INT
}

# VM disk backing: qemu-img converts a raw image onto the device and compares; qemu-io with
# O_DIRECT (-t none) writes, flushes and reads back patterns.
test_qemu() {
  local src=$WORK/src.raw
  # A 24 MiB raw disk: random data with a zero hole in the middle, as a real image has.
  head -c $((8 << 20)) /dev/urandom > "$src"
  head -c $((8 << 20)) /dev/zero >> "$src"
  head -c $((8 << 20)) /dev/urandom >> "$src"
  # --recovery: a USER_RECOVERY device must stop (quiesce, abort, delete) as cleanly as any.
  serve_start "$SCRATCH/vmdisk.img" --size 64M --direct-io --recovery
  qemu-img convert -n -f raw -O raw -t none "$src" "$DEV"
  qemu-img compare -f raw -F raw "$src" "$DEV" || die "qemu-img compare: the device differs from the image"
  cmp -n $((24 << 20)) "$src" "$DEV" || die "cmp: the device differs from the image"
  qemu-io -f raw -t none \
    -c 'write -P 0xab 0 1M' -c 'write -P 0xcd 40M 256k' -c 'writev -P 0x5a 8M 4k 8k 64k' -c 'flush' \
    -c 'read -P 0xab 0 1M' -c 'read -P 0xcd 40M 256k' -c 'readv -P 0x5a 8M 4k 8k 64k' \
    -c 'aio_write -P 0x11 48M 128k' -c 'aio_flush' -c 'read -P 0x11 48M 128k' \
    "$DEV" > "$WORK/qemu-io.out" 2>&1 || { cat "$WORK/qemu-io.out"; die "qemu-io failed"; }
  ! grep -qi 'fail\|error\|mismatch' "$WORK/qemu-io.out" || { cat "$WORK/qemu-io.out"; die "qemu-io reported a problem"; }
  grep -c '^read\|^wrote' "$WORK/qemu-io.out"
  serve_stop
}

# The other two orderings serve a verified workload with flushes too.
test_orderings() {
  local mode
  for mode in strict none; do
    serve_start "$SCRATCH/order-$mode.img" --size 64M --ordering "$mode"
    fio --name="$mode" --filename="$DEV" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
        --iodepth=8 --size=4M --fsync=4 --verify=crc32c --verify_fatal=1 --do_verify=1 > "$WORK/$mode.out"
    grep -E 'IOPS=|err=' "$WORK/$mode.out"
    serve_stop
  done
}

# The transport's own kernel tests (tests/LoopOrder.Ublk.Tests, category Kernel): read/write
# paths, results committed as given, inline completion, and USER_RECOVERY takeover of an
# abandoned device with a read queued across it.
test_transport() {
  [ -n "${E2E_TESTS_DLL:-}" ] || die "E2E_TESTS_DLL not set (run.sh builds it)"
  dotnet test "$E2E_TESTS_DLL" --filter Category=Kernel --logger 'console;verbosity=detailed' \
    --results-directory "$WORK/testresults" 2>&1 | tee "$WORK/transport.out" | grep -E 'Passed|Failed|Skipped|Total|error|allocated|Error Message|Assert|Expected|Actual' | grep -v '^\s*$'
  # On a host without ublk they report Skipped; here they must run.
  ! grep -qE '^\s*Skipped ' "$WORK/transport.out" || die "kernel tests were skipped in the VM (no /dev/ublk-control?)"
  grep -qE '^\s*Passed ' "$WORK/transport.out" || die "no kernel test ran"
  ( no_devices_left )
}

# Not in TESTS: the harness's own check that a kernel panic fails the suite at once, with the
# trace in run.sh's output (tests/vm/e2e/run.sh harness_panic: "0 passed, 1 failed").
test_harness_panic() {
  echo c > /proc/sysrq-trigger
  sleep 600
}

TESTS="fio_verify fio_flush discard ext4 qemu orderings transport"
# More tests, one file an area (daemon, faults, crash images...): each adds its names to TESTS.
for f in "$here"/suites/*.sh; do
  # shellcheck disable=SC1090
  . "$f"
done
# A test that hangs (a stuck device, a wedged kernel) fails at its own time limit, with the
# kernel's list of blocked tasks in its log, instead of eating the VM's whole limit; the tests
# after it are not run, since the kernel that hung one may hang the next. The default is 600 s,
# 2.5x the longest default test under emulation (crash_images, ~240 s); a test that runs longer
# on purpose sets TIMEOUT_<name>, and E2E_TEST_TIMEOUT overrides the default.
# Job control gives each test its own process group, so the whole of it can be killed.
set -m
test_limit() { local v="TIMEOUT_$1"; echo "${!v:-${E2E_TEST_TIMEOUT:-600}}"; }
passed=0 failed=0 hung=""
for t in ${E2E_ONLY:-$TESTS}; do
  log "=== $t"
  echo "$t" > "$RESULTS.running"     # what a kernel panic interrupted (run.sh reports it)
  start=$(date +%s) limit=$(test_limit "$t")
  ( set -e -o pipefail; "test_$t" ) < /dev/null > "$WORK/$t.log" 2>&1 &
  tpid=$!
  while kill -0 "$tpid" 2>/dev/null && [ $(( $(date +%s) - start )) -lt "$limit" ]; do sleep 0.5; done
  if kill -0 "$tpid" 2>/dev/null; then
    hung=$t
    { echo "e2e: $t still running after $limit s: the kernel's blocked tasks and the processes:"
      echo w > /proc/sysrq-trigger; sleep 1; dmesg | tail -150
      ps -eo pid,pgid,stat,wchan:32,args
      for f in "$WORK"/daemon.*.log "$WORK"/serve*.log; do [ -f "$f" ] && { echo "--- tail of $f"; tail -40 "$f"; }; done
      for d in /sys/block/ublkb*; do [ -d "$d" ] && echo "$(basename "$d") inflight: $(cat "$d/inflight")"; done
    } >> "$WORK/$t.log" 2>&1
    kill -9 -- "-$tpid" 2>/dev/null
  fi
  wait "$tpid"; rc=$?
  secs=$(( $(date +%s) - start ))
  sed 's/^/    /' "$WORK/$t.log"
  if [ -n "$hung" ]; then
    failed=$((failed + 1)); echo "FAIL $t ${secs}s (timed out after $limit s; the tests after it were not run)" | tee -a "$RESULTS"
    break
  fi
  serve_cleanup
  if [ $rc = 0 ]; then
    passed=$((passed + 1)); echo "PASS $t ${secs}s" | tee -a "$RESULTS"
  else
    failed=$((failed + 1)); echo "FAIL $t ${secs}s" | tee -a "$RESULTS"
  fi
  rm -f "$SCRATCH"/*.img
done
set +m
rm -f "$RESULTS.running"
[ -n "$hung" ] || ( no_devices_left ) || { echo "FAIL teardown" | tee -a "$RESULTS"; failed=$((failed + 1)); }
echo "e2e: $passed passed, $failed failed on $(uname -r)"
[ "$failed" = 0 ]
