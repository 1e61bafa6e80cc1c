# crash.sh - crash images through a real filesystem (issue 7, items 1 and 2). Sourced by suite.sh.
# shellcheck shell=bash
#
# crash_images: per ordering mode, ext4 on a device served with --testing --record-trace, a
# metadata-heavy workload in several processes (tests/vm/e2e/crash-workload.py) plus fio, then
# `loop-order crash-images` renders images by the power-cut model from the recorded trace (the
# initial file plus, per sector, one write a power cut there could have left) and runs
# crash-check.sh on each: it mounts (journal replay), every file whose fsync had returned before
# the image's instant holds its data, e2fsck -fn is clean. strict and drain must have no failing
# image; none is reported (and must still hold the contract it makes: the kernel's).
# snapshots: the same workload on a file on btrfs, `cp --reflink=always` of the live backing
# file at seeded random instants, each snapshot checked the same way.
#
# Knobs: CRASH_IMAGES="strict:50 drain:50 none:16", CRASH_SECONDS=8, CRASH_SEED=7,
# CRASH_SNAPSHOTS=8, CRASH_SNAPSHOT_MODES="drain strict", CRASH_JOBS=2 (checks at once).

CRASH_PY=$here/crash-workload.py
CRASH_CHECK=$here/crash-check.sh
# The guest sees the host's /; a pyenv shim earlier in PATH would look for its root in the guest's $HOME.
CRASH_PYTHON=$(command -v /usr/bin/python3 || command -v python3 || true)
# 32 MiB of 4 KiB blocks and 4096 inodes: room for a few hundred files and a 4 MiB journal,
# small enough that rendering, mounting and e2fsck of an image each take well under a second
# under emulation.
CRASH_FS_SIZE=32M
crash_mkfs() { mkfs.ext4 -q -F -b 4096 -N 4096 "$1"; }

# crash_workload MNT SECONDS SEED LOG: the python workload in 3 processes plus a short fio job
# (random 4 KiB writes with an fsync every 16) on a file in the same filesystem.
crash_workload() {
  local mnt=$1 secs=$2 seed=$3 log=$4
  [ -n "$CRASH_PYTHON" ] || die "python3 not found on the host (tests/vm/host-deps.sh installs it)"
  fio --name=crashfio --directory="$mnt" --filename=fio.dat --size=4M --bs=4k --rw=randwrite \
      --ioengine=psync --fsync=16 --runtime="$secs" --time_based --randseed="$seed" > "$WORK/crashfio.out" 2>&1 &
  local fio_pid=$!
  # A workload that failed (its workers print why) leaves an oracle nobody checked: fail here.
  "$CRASH_PYTHON" "$CRASH_PY" "$mnt" "$secs" 3 "$seed" "$log" || { wait "$fio_pid"; die "the crash workload failed"; }
  wait "$fio_pid" || { cat "$WORK/crashfio.out"; die "fio failed"; }
  grep -E 'IOPS=' "$WORK/crashfio.out" | sed 's/^ */fio: /'
  log "workload: $(wc -l < "$log") files made durable (fsync of file and directory returned)"
}

# crash_phases RESULTS: mean milliseconds per phase of the images that passed.
crash_phases() {
  awk '$1 == "ok" { n++; m += $5; c += $6; u += $7; f += $8 } END { if (n) printf "per image: mount %d ms, files %d ms, umount %d ms, e2fsck %d ms", m / n, c / n, u / n, f / n }' "$1"
}

# crash_tally RESULTS: "F failed e2fsck, L lost fsynced files, M failed to mount" from crash-check.sh's lines.
crash_tally() {
  local r=$1
  echo "$(grep -c '^FAIL .* e2fsck' "$r" || true) failed e2fsck, $(grep -c '^FAIL .* durable files' "$r" || true) lost fsynced files, $(grep -c '^FAIL .* \(mount\|umount\)' "$r" || true) failed to mount"
}

# crash_mode MODE COUNT: record the workload in MODE, render COUNT images, check each. Prints
# the summary line; returns non-zero when an image failed or the contract audit found a violation.
crash_mode() {
  local mode=$1 count=$2 seed=${CRASH_SEED:-7}
  local img=$SCRATCH/crash-$mode.img trace=$WORK/trace-$mode mnt=$WORK/crash-mnt
  local durable=$WORK/durable-$mode.log results=$WORK/crash-results-$mode out=$WORK/crash-images-$mode.out
  mkdir -p "$mnt"
  rm -rf "$trace" "$durable" "$results"
  truncate -s "$CRASH_FS_SIZE" "$img"
  crash_mkfs "$img"
  serve_start "$img" --ordering "$mode" --testing --record-trace "$trace"
  mount "$DEV" "$mnt"
  local t0; t0=$(date +%s)
  crash_workload "$mnt" "${CRASH_SECONDS:-8}" "$seed" "$durable"
  # What ends the run: umount (ext4 writes back and commits everything), then the server's
  # final flush; the trace covers both, so images near the end are of a cleanly unmounted fs.
  umount "$mnt"
  serve_stop
  log "$mode: workload and teardown $(( $(date +%s) - t0 )) s; trace: $(du -sh "$trace" | cut -f1) ($(ls "$trace" | tr '\n' ' '))"
  : > "$results"
  local t1 rc=0; t1=$(date +%s)
  lo_argv "$E2E_BIN"
  CRASH_DURABLE=$durable CRASH_RESULTS=$results CRASH_MNT=$mnt \
    "${LO_ARGV[@]}" crash-images --trace "$trace" --count "$count" --seed "$seed" --out "$WORK/crash-img-$mode" \
    --check "$CRASH_CHECK" --jobs "${CRASH_JOBS:-2}" > "$out" || rc=$?
  head -1 "$out"
  grep -v '^image .*check exit 0,' "$out" | tail -n +2 | head -8
  local checked ok avg violations
  checked=$(grep -c . "$results" || true)
  ok=$(grep -c '^ok ' "$results" || true)
  avg=$(awk '$1 == "ok" { n++; s += $4 } END { printf "%d", n ? s / n : 0 }' "$results")
  violations=$(sed -n 's/^crash-images: .*, \([0-9]*\) contract violations.*/\1/p' "$out")
  CRASH_VIOLATIONS=${violations:-unknown}
  echo "crash: $mode $count images, $(crash_tally "$results"), ${violations:-?} contract violations ($ok passed; an image checked $avg fsynced files on average; $(( $(date +%s) - t1 )) s)"
  log "$mode: $(crash_phases "$results"); rendering: $(awk '/^image / { n++; s += $(NF - 1) } END { if (n) printf "%d ms", s / n }' "$out")"
  rm -rf "$trace" "$WORK/crash-img-$mode"
  rm -f "$img"
  [ "$checked" = "$count" ] || { echo "crash: $mode: $checked of $count images were checked"; return 1; }
  return "$rc"
}

test_crash_images() {
  local spec mode count failed=0
  # An image costs ~1 s to render, mount and check under emulation; 116 of them per kernel keep
  # the test near 2 minutes inside CI's budget (both kernels). The host's randomized checker
  # covers the power-cut model at scale; CRASH_IMAGES="strict:500 ..." for a deeper run here.
  for spec in ${CRASH_IMAGES:-strict:50 drain:50 none:16}; do
    mode=${spec%%:*} count=${spec##*:}
    if [ "$mode" = none ]; then
      # none promises only the kernel's contract (a flush covers writes completed before it);
      # what its images show is reported, not required.
      crash_mode "$mode" "$count" || log "none: some images failed (reported above); not a failure of this test"
      # It must still keep the kernel's contract: the audit holds none to that.
      [ "$CRASH_VIOLATIONS" = 0 ] || failed=1
    else
      crash_mode "$mode" "$count" || failed=1
    fi
  done
  [ "$failed" = 0 ] || die "crash images failed in strict or drain"
}

# snapshots: ext4 on a device whose backing file lives on btrfs; while the workload runs,
# `cp --reflink=always` copies of the live backing file at seeded random instants (an atomic
# file snapshot: the clone holds the inode lock, so it sees the file at one instant). Each
# snapshot is checked like a crash image, with the files whose fsync returned before the copy
# started required. drain, then strict.
# btrfs_scratch VOL TOP: a 512 MiB btrfs in file VOL (on the scratch ext4), mounted at TOP, for
# backing files that can be reflinked. Undone by `umount TOP; rm -f VOL`.
btrfs_scratch() {
  command -v mkfs.btrfs >/dev/null || die "mkfs.btrfs not found (run.sh's VM_MODULES has btrfs, which installs btrfs-progs)"
  grep -qw btrfs /proc/filesystems || die "btrfs is not in the VM kernel (VM_MODULES=btrfs)"
  mkdir -p "$2"
  truncate -s 512M "$1"
  mkfs.btrfs -q -f "$1"
  mount -o loop "$1" "$2"
}

test_snapshots() {
  local seed=${CRASH_SEED:-7} count=${CRASH_SNAPSHOTS:-8} mode failed=0
  local vol=$SCRATCH/btrfs.vol top=$WORK/btrfs mnt=$WORK/snap-mnt
  mkdir -p "$mnt"
  btrfs_scratch "$vol" "$top"
  for mode in ${CRASH_SNAPSHOT_MODES:-drain strict}; do
    local img=$top/disk-$mode.img durable=$WORK/snap-durable-$mode.log snaps=$top/snaps-$mode results=$WORK/snap-results-$mode
    mkdir -p "$snaps"; : > "$results"; rm -f "$durable"
    truncate -s "$CRASH_FS_SIZE" "$img"
    crash_mkfs "$img"
    serve_start "$img" --ordering "$mode"
    mount "$DEV" "$mnt"
    "$CRASH_PYTHON" "$CRASH_PY" --snapshots "$img" "$snaps" "$count" "$(( ${CRASH_SECONDS:-8} - 1 ))" "$seed" "$durable.0" > "$WORK/snaps-$mode.list" &
    local snap_pid=$!
    crash_workload "$mnt" "${CRASH_SECONDS:-8}" "$seed" "$durable"
    wait "$snap_pid" || die "taking reflink snapshots failed"
    umount "$mnt"
    serve_stop
    local i=0 path ns t1; t1=$(date +%s)
    # Two checks at a time (2 vCPUs); each snapshot is deleted once checked.
    while read -r path ns; do
      (CRASH_DURABLE=$durable CRASH_RESULTS=$results CRASH_MNT=$mnt "$CRASH_CHECK" "$path" 0 "$ns" "$i" || true; rm -f "$path") &
      i=$((i + 1))
      [ $((i % 2)) = 1 ] || wait
    done < "$WORK/snaps-$mode.list"
    wait
    local avg; avg=$(awk '$1 == "ok" { n++; s += $4 } END { printf "%d", n ? s / n : 0 }' "$results")
    log "$mode: $(crash_phases "$results")"
    echo "snapshots: $mode $i reflink snapshots, $(crash_tally "$results") ($(grep -c '^ok ' "$results" || true) passed; a snapshot checked $avg fsynced files on average; $(( $(date +%s) - t1 )) s)"
    [ "$i" = "$count" ] || { echo "snapshots: $mode: $i of $count snapshots taken"; failed=1; }
    grep -q '^FAIL' "$results" && failed=1
    rm -f "$img"
  done
  umount "$top"
  rm -f "$vol"
  [ "$failed" = 0 ] || die "snapshots failed"
}

TESTS="$TESTS crash_images snapshots"
