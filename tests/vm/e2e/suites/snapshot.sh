# snapshot.sh - loop-order snapshot on a live device (issue 15, reflink path). Sourced by suite.sh
# after crash.sh (its workload, mkfs and checks are reused).
# shellcheck shell=bash
#
# snapshot_barrier: per mode, ext4 on a device whose backing file lives on btrfs (the snapshots
# test's setup); while the crash workload runs, `loop-order snapshot ID NAME --to PATH` at seeded
# instants. Each snapshot must pass crash-check.sh with every file whose fsync returned before
# the command was issued (mount with journal replay, the files' contents, e2fsck -fn). Prints
# the write hold p50/max. Then bad input while the device serves: a used name, an existing
# path, a path on another filesystem (EXDEV: exit 69), an unknown device, delete of an unknown
# name (66); list shows every snapshot.
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
  local id=$1 list=$2 prev="" pname="" path ns held n=0 name
  while read -r path ns held; do
    name=$(printf 's%03d' "$n")
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
    mount "$DEV" "$mnt"
    lo_argv "$E2E_BIN"
    LOOPORDER_SNAPSHOT="${LO_ARGV[*]} snapshot $id" "$CRASH_PYTHON" "$CRASH_PY" --snapshots "$img" "$snaps" "$count" \
      "$(( ${CRASH_SECONDS:-8} - 1 ))" "$seed" "$durable.0" > "$list" &
    local snap_pid=$!
    crash_workload "$mnt" "${CRASH_SECONDS:-8}" "$seed" "$durable"
    wait "$snap_pid" || die "loop-order snapshot failed during the workload"

    # Bad input while the device serves: each refused, nothing changed.
    snap_expect 64 "already has a snapshot named s000" snapshot "$id" s000
    echo keep > "$WORK/snap-existing"
    snap_expect 64 "exists" snapshot "$id" other --to "$WORK/snap-existing"
    [ "$(cat "$WORK/snap-existing")" = keep ] || die "an existing --to file was changed"
    snap_expect 69 "another filesystem" snapshot "$id" elsewhere --to "$SCRATCH/snap-elsewhere.img"
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

TESTS="$TESTS snapshot_barrier"
