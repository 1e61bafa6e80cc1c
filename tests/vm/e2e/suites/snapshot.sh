# snapshot.sh - loop-order snapshot on a live device (issue 15, reflink path). Sourced by suite.sh
# after crash.sh (its workload, mkfs and checks are reused).
# shellcheck shell=bash
#
# snapshot_barrier: per mode, ext4 on a device whose backing file lives on btrfs (the snapshots
# test's setup); while the crash workload runs, `loop-order snapshot ID NAME --to PATH` at seeded
# instants. Each snapshot must pass crash-check.sh with every file whose fsync returned before
# the command was issued (mount with journal replay, the files' contents, e2fsck -fn). Prints
# the write hold p50/max. Then bad input while the device serves: a used name, an existing
# path, --kind reflink to a path on another filesystem (EXDEV: exit 69; without --kind it would
# be a copy-on-write store there), an unknown device, delete of an unknown name (66); list shows
# every snapshot.
#
# Knobs: SNAPSHOT_COUNT=6, SNAPSHOT_MODES="drain none", CRASH_SECONDS, CRASH_SEED.

snap_lo() { lo_argv "$E2E_BIN"; "${LO_ARGV[@]}" "$@"; }

# snap_expect CODE WORDS ARGS...: loop-order ARGS exits CODE and says WORDS on stderr.
snap_expect() {
  local want=$1 words=$2 rc=0; shift 2
  snap_lo "$@" > "$WORK/snap-refusal.out" 2> "$WORK/snap-refusal.err" || rc=$?
  [ "$rc" = "$want" ] || { cat "$WORK/snap-refusal.err"; die "loop-order $* exited $rc, expected $want"; }
  grep -qF -- "$words" "$WORK/snap-refusal.err" || { cat "$WORK/snap-refusal.err"; die "loop-order $*: no '$words'"; }
  log "refused ($rc): $*: $(cat "$WORK/snap-refusal.err")"
}

# snap_cbt_check ID LIST: with --track-changes, for each pair of consecutive snapshots in LIST
# (sNNN, in order), every 64 KiB region whose bytes differ between the two snapshot files lies
# inside `loop-order changes ID --since A --to B`: the tracked set is never smaller than what
# changed. Prints how much was tracked against how much changed.
snap_cbt_check() {
  local id=$1 list=$2 prefix=${3:-s} prev="" pname="" path ns held n=0 name
  while read -r path ns held; do
    name=$(printf '%s%03d' "$prefix" "$n")
    if [ -n "$prev" ]; then
      snap_lo changes "$id" --since "$pname" --to "$name" --json > "$WORK/cbt.json" || die "loop-order changes $id --since $pname --to $name failed"
      "$CRASH_PYTHON" - "$prev" "$path" "$WORK/cbt.json" "$pname..$name" <<'PY' || die "changed-block tracking missed a change between $pname and $name"
import json, sys
a, b, extents, label = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3])), sys.argv[4]
region = 64 << 10
changed, missed = 0, []
with open(a, "rb") as fa, open(b, "rb") as fb:
    r = 0
    while True:
        x, y = fa.read(region), fb.read(region)
        if not x and not y:
            break
        if x != y:
            changed += 1
            lo, hi = r * region, r * region + max(len(x), len(y))
            if not any(e["offset"] <= lo and hi <= e["offset"] + e["length"] for e in extents):
                missed.append(lo)
        r += 1
tracked = sum(e["length"] for e in extents) // region
print(f"e2e: changes {label}: {tracked} regions tracked, {changed} differ between the snapshots, {len(missed)} missed")
sys.exit(1 if missed else 0)
PY
    fi
    prev=$path pname=$name n=$((n + 1))
  done < "$list"
}

# snap_workload ID IMG MNT DIR COUNT SEED DURABLE LIST: mounts $DEV on MNT and runs the crash
# workload there while `loop-order snapshot ID sNNN --to DIR/snap-NNN.img` runs COUNT times at
# seeded instants; LIST gets "PATH NANOSECONDS HELD_MS" a snapshot.
snap_workload() {
  local id=$1 img=$2 mnt=$3 dir=$4 count=$5 seed=$6 durable=$7 list=$8
  mount "$DEV" "$mnt"
  lo_argv "$E2E_BIN"
  LOOPORDER_SNAPSHOT="${LO_ARGV[*]} snapshot $id" "$CRASH_PYTHON" "$CRASH_PY" --snapshots "$img" "$dir" "$count" \
    "$(( ${CRASH_SECONDS:-8} - 1 ))" "$seed" "$durable.0" > "$list" &
  local snap_pid=$!
  crash_workload "$mnt" "${CRASH_SECONDS:-8}" "$seed" "$durable"
  wait "$snap_pid" || die "loop-order snapshot failed during the workload"
}

test_snapshot_barrier() {
  local seed=${CRASH_SEED:-7} count=${SNAPSHOT_COUNT:-6} mode failed=0
  local vol=$SCRATCH/snapb.vol top=$WORK/snapb mnt=$WORK/snapb-mnt
  mkdir -p "$mnt"
  btrfs_scratch "$vol" "$top"
  for mode in ${SNAPSHOT_MODES:-drain none}; do
    local img=$top/disk-$mode.img durable=$WORK/snapb-durable-$mode.log snaps=$top/snaps-$mode results=$WORK/snapb-results-$mode
    local list=$WORK/snapb-$mode.list
    mkdir -p "$snaps"; : > "$results"; rm -f "$durable"
    truncate -s "$CRASH_FS_SIZE" "$img"
    crash_mkfs "$img"
    # drain also tracks changes (--track-changes): its snapshots check the tracked set.
    local track=(); [ "$mode" = drain ] && track=(--track-changes)
    serve_start "$img" --ordering "$mode" "${track[@]}"
    local id=${DEV#/dev/ublkb}
    snap_workload "$id" "$img" "$mnt" "$snaps" "$count" "$seed" "$durable" "$list"

    # Bad input while the device serves: each refused, nothing changed.
    snap_expect 64 "already has a snapshot named s000" snapshot "$id" s000
    echo keep > "$WORK/snap-existing"
    snap_expect 64 "exists" snapshot "$id" other --to "$WORK/snap-existing"
    [ "$(cat "$WORK/snap-existing")" = keep ] || die "an existing --to file was changed"
    snap_expect 69 "another filesystem" snapshot "$id" elsewhere --kind reflink --to "$SCRATCH/snap-elsewhere.img"
    [ ! -e "$SCRATCH/snap-elsewhere.img" ] || die "a refused snapshot left $SCRATCH/snap-elsewhere.img"
    snap_expect 64 "no device 99" snapshot 99 x
    snap_expect 66 "no snapshot named nope" snapshot delete "$id" nope
    [ "$(snap_lo snapshot list "$id" --json | grep -o '"name"' | wc -l)" = "$count" ] || die "snapshot list does not show $count snapshots"
    snap_lo snapshot list "$id"

    umount "$mnt"
    [ "$mode" = drain ] && snap_cbt_check "$id" "$list"
    serve_stop
    local i=0 path ns held t1; t1=$(date +%s)
    while read -r path ns held; do
      (CRASH_DURABLE=$durable CRASH_RESULTS=$results CRASH_MNT=$mnt "$CRASH_CHECK" "$path" 0 "$ns" "$i" || true; rm -f "$path") &
      i=$((i + 1))
      [ $((i % 2)) = 1 ] || wait
    done < "$list"
    wait
    local hold; hold=$(awk '{ print $3 }' "$list" | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "p50 %.1f ms, max %.1f ms", v[int((NR + 1) / 2)], v[NR] }')
    log "$mode: $(crash_phases "$results")"
    echo "snapshot_barrier: $mode $i snapshots by loop-order snapshot, $(crash_tally "$results") ($(grep -c '^ok ' "$results" || true) passed; writes held $hold; $(( $(date +%s) - t1 )) s)"
    [ "$i" = "$count" ] || { echo "snapshot_barrier: $mode: $i of $count snapshots taken"; failed=1; }
    grep -q '^FAIL' "$results" && failed=1
    rm -f "$img" "$img.cbt"
  done
  umount "$top"
  rm -f "$vol"
  [ "$failed" = 0 ] || die "snapshot_barrier failed"
}

# snapshot_cow (issue 15, the copy-on-write path): a device over a file on ext4 (the scratch disk:
# no reflink), drain, --track-changes, under the daemon.
# 1. While the crash workload runs on ext4 on the device, `loop-order snapshot` at seeded instants
#    makes copy-on-write snapshots; each is exported while the device serves and checked like a
#    crash image (journal replay, every file fsynced before the command, e2fsck -fn); between
#    consecutive ones, every differing 64 KiB region is inside `loop-order changes`.
# 2. Under fio load on the mounted filesystem, a full backup and 5 increments (qcow2 chain):
#    `qemu-img convert` of each image restores the snapshot's export byte for byte; each
#    increment's changed bytes and image size are printed.
# 3. SIGKILL of the daemon under load, a new daemon recovers the device: a snapshot taken before
#    the kill exports the same bytes after it, and the changes from it to one taken after the
#    recovery cover every region that differs.
# 4. Bad input: --kind reflink on ext4 (69), an export over an existing file (64), --since an
#    unknown or a deleted snapshot (66); nothing written.
# snap_backup_check ID NAME DIR: the chain ending in DIR/NAME.qcow2 restores (qemu-img convert) to
# snapshot NAME's export, byte for byte; prints the manifest's sizes.
snap_backup_check() {
  local id=$1 name=$2 dir=$3
  lo snapshot export "$id" "$name" --to "$dir/$name.raw" > /dev/null || die "export of $name failed"
  qemu-img convert -f qcow2 -O raw "$dir/$name.qcow2" "$dir/$name.restored" || die "qemu-img convert of $name.qcow2 failed"
  cmp -s "$dir/$name.raw" "$dir/$name.restored" || die "the backup chain up to $name does not restore to snapshot $name"
  "$CRASH_PYTHON" - "$WORK/snapc-$name.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
kind = f"since {b['since']}" if b.get("since") else "full"
print(f"e2e: backup {b['snapshot']} ({kind}): {b['changedBytes'] >> 10} KiB changed in {len(b['extents'])} extents, "
      f"qcow2 {b['imageBytes'] >> 10} KiB, writes held {b['writesHeldMs']:.1f} ms, {b['ms']:.0f} ms; restores byte for byte")
PY
  rm -f "$dir/$name.raw" "$dir/$name.restored"
}

TIMEOUT_snapshot_cow=${TIMEOUT_snapshot_cow:-1200}

test_snapshot_cow() {
  local seed=${CRASH_SEED:-11} count=${SNAPSHOT_COUNT:-6} dir=$SCRATCH/snapc mnt=$WORK/snapc-mnt
  local img=$SCRATCH/snapc/disk.img durable=$WORK/snapc-durable.log results=$WORK/snapc-results list=$WORK/snapc.list
  rm -rf "$dir"; mkdir -p "$dir/snaps" "$mnt"; : > "$results"; rm -f "$durable"
  truncate -s "$CRASH_FS_SIZE" "$img"
  crash_mkfs "$img"
  daemon_start
  DEV=$(lo add --file "$img" --ordering drain --track-changes --queues 2) || die "add failed"
  local id=${DEV#/dev/ublkb}
  snap_workload "$id" "$img" "$mnt" "$dir/snaps" "$count" "$seed" "$durable" "$list"
  lo snapshot list "$id"
  [ "$(lo snapshot list "$id" --json | grep -o '"kind":"cow"' | wc -l)" = "$count" ] || die "expected $count copy-on-write snapshots"

  # 1. Exported while the device serves (still mounted), then checked as images.
  local n=0 path ns held name exports=$WORK/snapc-exports.list t0; t0=$(date +%s)
  : > "$exports"
  while read -r path ns held; do
    name=$(printf 's%03d' "$n")
    lo snapshot export "$id" "$name" --to "$path.raw" || die "export of $name failed"
    echo "$path.raw $ns $held" >> "$exports"
    n=$((n + 1))
  done < "$list"
  log "exported $n snapshots in $(( $(date +%s) - t0 )) s"
  snap_cbt_check "$id" "$exports"
  # Checked (below, as images): each store costs the writes a copy of every first touch, so go.
  for ((k = 0; k < n; k++)); do lo snapshot delete "$id" "$(printf 's%03d' "$k")" > /dev/null || die "delete failed"; done
  [ ! -e "$img.cow" ] || die "$img.cow lists stores after every snapshot was deleted"

  # 2. A backup chain under load. As a user would run it: each increment builds on the last
  # backup's snapshot, and the one before it is deleted once checked (its backup stays; the chain
  # needs only the images), so at most two stores are kept at once.
  fio --name=load --filename="$mnt/load" --size=8M --rw=randwrite --bs=4k --ioengine=psync --fsync=8 \
      --rate_iops=50 --time_based --runtime=900 > "$WORK/snapc-fio.out" 2>&1 &
  local fio_pid=$! k since=()
  sleep 1
  for k in 0 1 2 3 4 5; do
    lo backup "$id" "b$k" --to "$dir/b$k.qcow2" "${since[@]}" --json > "$WORK/snapc-b$k.json" || die "backup b$k failed"
    since=(--since "b$k")
    if [ "$k" -gt 0 ]; then
      snap_backup_check "$id" "b$((k - 1))" "$dir"
      lo snapshot delete "$id" "b$((k - 1))" > /dev/null || die "delete of b$((k - 1)) failed"
    fi
    sleep 1
  done
  kill "$fio_pid"; wait "$fio_pid" 2>/dev/null || true
  snap_backup_check "$id" b5 "$dir"
  log "a full backup and 5 increments restored by qemu-img convert to their snapshots, byte for byte"

  # 3. SIGKILL under load: the snapshot before it is intact after it, and changes cover the rest.
  # The same file as phase 2's load: the 32 MiB filesystem holds the crash workload's files too.
  fio --name=load2 --filename="$mnt/load" --size=8M --rw=randwrite --bs=4k --ioengine=psync --fsync=8 \
      --rate_iops=50 --time_based --runtime=900 > "$WORK/snapc-fio2.out" 2>&1 &
  fio_pid=$!
  sleep 1
  lo snapshot "$id" k000 > /dev/null || die "snapshot k000 failed"
  lo snapshot export "$id" k000 --to "$dir/k000.before" > /dev/null || die "export of k000 failed"
  sleep 1
  log "SIGKILL daemon $DMN_PID under load"
  kill -9 "$DMN_PID"; wait "$DMN_PID" 2>/dev/null || true
  daemon_start
  grep -q 'recovered' "$DMN_LOG" || die "the new daemon did not recover the device"
  sleep 1
  lo snapshot "$id" k001 > /dev/null || die "snapshot k001 after the recovery failed"
  if ! kill "$fio_pid" 2>/dev/null; then
    # fio ended on its own: its I/O failed across the kill. What both daemons said:
    cat "$WORK/snapc-fio2.out"; for f in "$WORK"/daemon.*.log; do echo "--- $f"; tail -60 "$f"; done
    die "fio's writes failed across the SIGKILL and recovery"
  fi
  wait "$fio_pid" 2>/dev/null || true
  lo snapshot export "$id" k000 --to "$dir/k000.after" > /dev/null || die "export of k000 after the recovery failed"
  cmp -s "$dir/k000.before" "$dir/k000.after" || die "copy-on-write snapshot k000 changed across a SIGKILL of the daemon"
  lo snapshot export "$id" k001 --to "$dir/k001.raw" > /dev/null || die "export of k001 failed"
  printf '%s 0 0\n%s 0 0\n' "$dir/k000.after" "$dir/k001.raw" > "$WORK/snapc-kill.list"
  snap_cbt_check "$id" "$WORK/snapc-kill.list" k
  log "snapshot k000 exported the same bytes before and after the SIGKILL"

  # 4. Bad input.
  snap_expect 69 "no reflink" snapshot "$id" r1 --kind reflink
  [ ! -e "$img.snap-r1" ] || die "a refused snapshot left $img.snap-r1"
  snap_expect 64 "exists" snapshot export "$id" k001 --to "$dir/k001.raw"
  snap_expect 66 "no snapshot named nope" backup "$id" b9 --to "$dir/b9.qcow2" --since nope
  snap_expect 66 "no snapshot named s000" changes "$id" --since s000
  [ ! -e "$dir/b9.qcow2" ] || die "a refused backup left $dir/b9.qcow2"

  umount "$mnt"
  daemon_stop
  local i=0
  while read -r path ns held; do
    (CRASH_DURABLE=$durable CRASH_RESULTS=$results CRASH_MNT=$mnt "$CRASH_CHECK" "$path" 0 "$ns" "$i" || true; rm -f "$path") &
    i=$((i + 1))
    [ $((i % 2)) = 1 ] || wait
  done < "$exports"
  wait
  local hold; hold=$(awk '{ print $3 }' "$list" | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "p50 %.1f ms, max %.1f ms", v[int((NR + 1) / 2)], v[NR] }')
  echo "snapshot_cow: $i copy-on-write snapshots exported live, $(crash_tally "$results") ($(grep -c '^ok ' "$results" || true) passed; writes held $hold)"
  rm -rf "$dir"
  grep -q '^FAIL' "$results" && die "snapshot_cow: an exported snapshot failed its check"
  [ "$i" = "$count" ] || die "snapshot_cow: $i of $count snapshots exported"
}

TESTS="$TESTS snapshot_barrier snapshot_cow"
