# features.sh - the ublk features negotiated with GET_FEATURES (issue 14, item 4), sourced by
# ../suite.sh inside the VM after lib.sh and daemon.sh (daemon_start, daemon_stop, lo). Every test
# runs on both kernels and asks the kernel what it offers: where a feature is offered it is
# exercised (7.3: resize with an online resize2fs, TRY_STOP_DEV, fail-fast recovery, no partition
# scan); where not, the clear refusal is checked (6.12: exit 69) or the fallback (the user-space
# opener check of del).
# shellcheck shell=bash

FT_MNT=$WORK/ft-mnt

# ft_offered FLAG: true when `loop-order features --json` says the kernel offers UBLK_F_FLAG.
ft_offered() { lo features --json | grep -q "\"name\":\"UBLK_F_$1\",\"offered\":true"; }

# ft_rc VAR CMD...: runs CMD (stdout and stderr to $WORK/ft.out, shown), its exit status in VAR.
ft_rc() {
  local __var=$1; shift
  local __rc=0
  "$@" > "$WORK/ft.out" 2>&1 || __rc=$?
  sed 's/^/    | /' "$WORK/ft.out"
  printf -v "$__var" '%s' "$__rc"
}

ft_size() { blockdev --getsize64 "$1"; }

# What this kernel offers and what LoopOrder makes of it (the report quotes it).
test_features_report() {
  log "kernel $(uname -r)"
  lo features
  lo features --json > "$WORK/features.json"
  grep -q '"name":"UBLK_F_USER_RECOVERY","offered":true' "$WORK/features.json" || die "USER_RECOVERY not offered?"
  [ "$(grep -o '"bit":' "$WORK/features.json" | wc -l)" -ge 21 ] || die "features --json does not list every flag"
}

# resize: 7.3 grows a mounted ext4's device, resize2fs grows the filesystem online, data intact;
# bad sizes change nothing. Without UPDATE_SIZE: exit 69, nothing changed.
test_features_resize() {
  daemon_start
  local img=$SCRATCH/resize.img dev id rc
  dev=$(lo add --file "$img" --size 128M)
  id=${dev#/dev/ublkb}
  [ "$(ft_size "$dev")" = $((128 << 20)) ] || die "$dev is not 128 MiB"
  if ! ft_offered UPDATE_SIZE; then
    ft_rc rc lo resize "$id" 256M
    [ "$rc" = 69 ] || die "resize without UPDATE_SIZE exited $rc (expected 69)"
    grep -q UBLK_F_UPDATE_SIZE "$WORK/ft.out" || die "the refusal does not name UPDATE_SIZE"
    [ "$(ft_size "$dev")" = $((128 << 20)) ] && [ "$(stat -c %s "$img")" = $((128 << 20)) ] || die "a refused resize changed a size"
    lo del "$id"
    daemon_stop
    return 0
  fi
  mkfs.ext4 -q -F "$dev"
  mkdir -p "$FT_MNT"; mount "$dev" "$FT_MNT"
  dd if=/dev/urandom of="$FT_MNT/data" bs=1M count=32 status=none
  sync
  local sum; sum=$(sha256sum < "$FT_MNT/data")
  local blocks; blocks=$(df -k --output=size "$FT_MNT" | tail -1)

  # Bad input first: each exits 64 and changes nothing.
  ft_rc rc lo resize "$id" $(((256 << 20) + 100)); [ "$rc" = 64 ] || die "a size not a whole number of blocks exited $rc"
  grep -q 'not a whole number' "$WORK/ft.out" || die "no clear message for a partial block"
  ft_rc rc lo resize "$id" 64M; [ "$rc" = 64 ] || die "shrinking without --allow-shrink exited $rc"
  grep -q -- '--allow-shrink' "$WORK/ft.out" || die "the shrink refusal does not mention --allow-shrink"
  ft_rc rc lo resize 99 256M; [ "$rc" = 64 ] || die "resize of an unknown device exited $rc"
  grep -q 'no device 99' "$WORK/ft.out" || die "no clear message for an unknown device"
  [ "$(ft_size "$dev")" = $((128 << 20)) ] && [ "$(stat -c %s "$img")" = $((128 << 20)) ] || die "a refused resize changed a size"

  lo resize "$id" 256M
  [ "$(ft_size "$dev")" = $((256 << 20)) ] || die "blockdev --getsize64 says $(ft_size "$dev") after resize to 256M"
  [ "$(stat -c %s "$img")" = $((256 << 20)) ] || die "the backing file is $(stat -c %s "$img") bytes after resize"
  resize2fs "$dev"
  local grown; grown=$(df -k --output=size "$FT_MNT" | tail -1)
  log "ext4: $blocks KiB before, $grown KiB after the online resize2fs"
  [ "$grown" -gt $((blocks * 3 / 2)) ] || die "the filesystem did not grow online ($blocks -> $grown KiB)"
  dd if=/dev/urandom of="$FT_MNT/more" bs=1M count=64 status=none   # the new space takes data
  sync
  [ "$(sha256sum < "$FT_MNT/data")" = "$sum" ] || die "data changed across the resize"
  umount "$FT_MNT"
  e2fsck -fn "$dev" > /dev/null || die "e2fsck finds errors after the online resize"
  lo list | tail -1
  lo del "$id"
  daemon_stop
}

# del refuses a device that is mounted or open (TRY_STOP_DEV on 7.x, the user-space check on
# 6.12) with exit 75, and --force stops a mounted one.
test_features_safe_stop() {
  daemon_start
  local dev id rc how=user-space
  ft_offered SAFE_STOP_DEV && how=TRY_STOP_DEV
  log "opener check: $how"
  dev=$(lo add --file "$SCRATCH/safe.img" --size 64M)
  id=${dev#/dev/ublkb}

  # Held open by a plain process (no mount, no O_EXCL).
  sleep 600 < "$dev" & local holder=$!
  sleep 0.5
  ft_rc rc lo del "$id"
  [ "$rc" = 75 ] || die "del of an open device exited $rc (expected 75)"
  grep -q "device $id is open or mounted" "$WORK/ft.out" || die "no clear message for an open device"
  [ -b "$dev" ] || die "a refused del removed $dev"
  kill "$holder"; wait "$holder" 2>/dev/null || true

  # Mounted.
  mkfs.ext4 -q -F "$dev"
  mkdir -p "$FT_MNT"; mount "$dev" "$FT_MNT"
  echo survives > "$FT_MNT/file"; sync
  ft_rc rc lo del "$id"
  [ "$rc" = 75 ] || die "del of a mounted device exited $rc (expected 75)"
  [ -b "$dev" ] && mountpoint -q "$FT_MNT" || die "a refused del touched the device or the mount"
  cat "$FT_MNT/file" > /dev/null
  ft_rc rc lo del --all
  [ "$rc" = 75 ] || die "del --all with a mounted device exited $rc (expected 75)"

  # --force: STOP_DEV removes the disk under the mount; DEL_DEV then waits for the mount to go.
  lo del "$id" --force > "$WORK/force.out" 2>&1 & local del=$!
  for _ in $(seq 1 300); do [ -b "$dev" ] || break; sleep 0.1; done
  [ ! -b "$dev" ] || die "del --force did not stop the mounted device within 30 s"
  umount "$FT_MNT" 2>/dev/null || umount -l "$FT_MNT"
  local drc=0; wait "$del" || drc=$?
  cat "$WORK/force.out"
  [ "$drc" = 0 ] || die "del --force exited $drc"

  # Unused: del goes through.
  dev=$(lo add --file "$SCRATCH/safe2.img" --size 64M)
  lo del "${dev#/dev/ublkb}"
  [ ! -e "$dev" ] || die "$dev still exists after del"
  daemon_stop
}

# --recovery-io fail: with the daemon SIGKILLed, I/O fails at once instead of waiting; the next
# daemon recovers the device with its data. Without USER_RECOVERY_FAIL_IO: exit 69, nothing made.
test_features_fail_io() {
  daemon_start
  local img=$SCRATCH/failio.img dev id rc
  if ! ft_offered USER_RECOVERY_FAIL_IO; then
    ft_rc rc lo add --file "$img" --size 64M --recovery-io fail
    [ "$rc" = 69 ] || die "--recovery-io fail without the feature exited $rc (expected 69)"
    grep -q UBLK_F_USER_RECOVERY_FAIL_IO "$WORK/ft.out" || die "the refusal does not name USER_RECOVERY_FAIL_IO"
    [ ! -e "$img" ] || die "a refused add created $img"
    no_devices_left
    daemon_stop
    return 0
  fi
  dev=$(lo add --file "$img" --size 64M --recovery-io fail)
  id=${dev#/dev/ublkb}
  dd if=/dev/urandom of="$WORK/pat" bs=1M count=8 status=none
  dd if="$WORK/pat" of="$dev" bs=1M oflag=direct conv=fsync status=none
  log "SIGKILL daemon $DMN_PID"
  kill -9 "$DMN_PID"; wait "$DMN_PID" 2>/dev/null || true
  local state=""
  for _ in $(seq 1 200); do
    state=$(lo list --json | grep -o '"state":"[a-z_]*"' | head -1)
    [ "$state" = '"state":"fail_io"' ] && break
    sleep 0.1
  done
  log "orphaned device: $state"
  [ "$state" = '"state":"fail_io"' ] || die "the orphaned device is $state, not fail_io"
  # A hang here would be the bug: timeout turns it into exit 124.
  local t0; t0=$(date +%s%N)
  rc=0; timeout 60 dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct 2> "$WORK/dd.err" || rc=$?
  log "read while no daemon runs: exit $rc after $(( ($(date +%s%N) - t0) / 1000000 )) ms: $(cat "$WORK/dd.err" | head -1)"
  [ "$rc" != 124 ] || die "I/O hung (60 s) instead of failing fast"
  [ "$rc" != 0 ] || die "a read succeeded while no daemon served the device"
  rc=0; timeout 60 dd if=/dev/zero of="$dev" bs=4k count=1 oflag=direct 2> "$WORK/dd.err" || rc=$?
  [ "$rc" != 124 ] && [ "$rc" != 0 ] || die "a write did not fail fast (exit $rc)"
  daemon_start
  grep -E 'recovered' "$DMN_LOG" || die "the new daemon did not recover the device"
  cmp <(dd if="$dev" bs=1M count=8 iflag=direct status=none) "$WORK/pat" || die "data differs after recovery"
  lo list | tail -1
  lo del "$id"
  daemon_stop
}

# A partition table inside the file: not scanned by the host unless --partitions, where the
# kernel offers NO_AUTO_PART_SCAN (6.12 scans regardless).
test_features_partitions() {
  local img=$SCRATCH/parts.img dev
  truncate -s 16M "$img"
  # One MBR entry: type 0x83, first LBA 2048, 4096 sectors; then the 0x55AA signature.
  printf '\x00\x00\x00\x00\x83\x00\x00\x00\x00\x08\x00\x00\x00\x10\x00\x00' | dd of="$img" bs=1 seek=446 conv=notrunc status=none
  printf '\x55\xaa' | dd of="$img" bs=1 seek=510 conv=notrunc status=none
  daemon_start
  dev=$(lo add --file "$img")
  sleep 1
  if ft_offered NO_AUTO_PART_SCAN; then
    [ ! -e "${dev}p1" ] || die "${dev}p1 exists: the host scanned the guest's partition table"
    lo del "${dev#/dev/ublkb}"
    dev=$(lo add --file "$img" --partitions)
    for _ in $(seq 1 50); do [ -e "${dev}p1" ] && break; sleep 0.1; done
    [ -b "${dev}p1" ] || die "--partitions: no ${dev}p1"
    log "without --partitions no ${dev}p1; with it ${dev}p1 of $(ft_size "${dev}p1") bytes"
  else
    for _ in $(seq 1 50); do [ -e "${dev}p1" ] && break; sleep 0.1; done
    log "no NO_AUTO_PART_SCAN: the kernel scans regardless ($(ls "${dev}"p* 2>/dev/null | tr '\n' ' '))"
  fi
  lo del "${dev#/dev/ublkb}"
  daemon_stop
}

# --zero-copy: where the kernel offers AUTO_BUF_REG (7.3) the queue threads read and write the
# file straight from the requests' pages, and the device must serve the same bytes as with
# copies: verified random 4 KiB writes on both queues, verified 1 MiB sequential writes, flushes,
# the backing file equal to what the device reads, ext4 made and checked; a buffered file with
# `--zero-copy on`, an O_DIRECT one by default (auto). A buffered file by default copies. Where
# the flag is not offered (6.12) the same checks pass on copies, and `on` logs why.
# ft_verify_served NAME FILE: on the served $DEV (256M over FILE, 2 queues), 4 KiB random writes
# with an fsync every 32 from two jobs on both queues and 1 MiB sequential writes, each read
# back and verified; then the whole device equals FILE, and a fresh ext4 on it checks clean.
ft_verify_served() {
  local mode=$1 img=$2
  local switches; switches=$(queue_switches)
  fio --name=ftrand --filename="$DEV" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
      --iodepth=16 --numjobs=2 --size=16M --offset_increment=64M --cpus_allowed=0-1 \
      --cpus_allowed_policy=split --fsync=32 --verify=crc32c --verify_fatal=1 --do_verify=1 \
      --group_reporting > "$WORK/ft.fio" || { cat "$WORK/ft.fio"; die "$mode: random verify failed"; }
  grep -E 'IOPS=' "$WORK/ft.fio"
  both_queues_served "$switches"
  fio --name=ftseq --filename="$DEV" --ioengine=io_uring --direct=1 --rw=write --bs=1M \
      --iodepth=8 --size=64M --offset=128M --verify=crc32c --verify_fatal=1 --do_verify=1 \
      > "$WORK/ft.fio" || { cat "$WORK/ft.fio"; die "$mode: sequential verify failed"; }
  grep -E 'IOPS=' "$WORK/ft.fio"
  blockdev --flushbufs "$DEV"
  cmp <(dd if="$DEV" bs=1M iflag=direct status=none) "$img" || die "$mode: the device and its backing file differ"
  mkfs.ext4 -q -F "$DEV"
  e2fsck -fn "$DEV" > /dev/null || die "$mode: e2fsck finds errors in a fresh ext4"
}

# ft_serve_checked MODE FILE FEATURE GRANTED FALLBACK SERVE_ARGS...: serves FILE (256M, made
# anew) with SERVE_ARGS; where the kernel offers UBLK_F_FEATURE the device must run with it (GRANTED
# in the log's flags), where not and FALLBACK is given a log line must say FALLBACK; then
# ft_verify_served, and a clean stop.
ft_serve_checked() {
  local mode=$1 img=$2 feature=$3 granted=$4 fallback=$5; shift 5
  rm -f "$img"
  serve_start "$img" --size 256M "$@"
  if ft_offered "$feature"; then
    grep -q "$granted" "$SRV_LOG" || { cat "$SRV_LOG"; die "$mode: $feature offered but not negotiated"; }
    log "$mode: $feature negotiated"
  elif [ -n "$fallback" ]; then
    grep -q "$fallback" "$SRV_LOG" || { cat "$SRV_LOG"; die "$mode: no log line says '$fallback'"; }
    log "$mode: no $feature on $(uname -r), as logged"
  else
    log "$mode: no $feature on $(uname -r)"
  fi
  ft_verify_served "$mode" "$img"
  serve_stop
}

test_features_zero_copy() {
  local img=$SCRATCH/zc.img rc
  ft_rc rc lo serve --target memory --size 16M --zero-copy on
  [ "$rc" = 64 ] || die "--zero-copy on with the memory target exited $rc (expected 64)"
  grep -q -- '--zero-copy' "$WORK/ft.out" || die "the refusal does not name --zero-copy"
  rm -f "$img"
  serve_start "$img" --size 64M
  ! grep -q 'AutoBufReg' "$SRV_LOG" || { cat "$SRV_LOG"; die "a buffered file asked for zero copy by default"; }
  serve_stop
  ft_serve_checked on:buffered "$img" AUTO_BUF_REG AutoBufReg 'copying instead' --zero-copy on
  ft_serve_checked auto:direct "$img" AUTO_BUF_REG AutoBufReg '' --zero-copy auto --direct-io
}

# --batch-io: with copies (a buffered file) and with zero copy (O_DIRECT), where the kernel offers
# BATCH_IO (7.3) the device runs PREP/FETCH/COMMIT_IO_CMDS and serves, verifies and stops as the
# per-tag commands do; where not (6.12), it says so and uses one command per request.
test_features_batch_io() {
  local img=$SCRATCH/bio.img
  ft_serve_checked batch:buffered "$img" BATCH_IO BatchIo 'one command per request instead' --batch-io
  ft_serve_checked batch:direct "$img" BATCH_IO BatchIo 'one command per request instead' --batch-io --direct-io
}

TESTS="$TESTS features_report features_resize features_safe_stop features_fail_io features_partitions features_zero_copy features_batch_io"
