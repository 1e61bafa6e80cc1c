#!/bin/bash
# crash-check.sh IMAGE CLOCK NANOSECONDS INDEX - checks one crash (or snapshot) image of an ext4
# filesystem (runs in the VM; loop-order crash-images --check calls it, so does the snapshot test).
#   1. it mounts (ext4 replays its journal on a loop device);
#   2. every file CRASH_DURABLE lists with a time before NANOSECONDS (fsync had returned before
#      the image's instant) is there with its SHA-256;
#   3. after umount, e2fsck -fn finds nothing to fix.
# Appends "ok INDEX" or "FAIL INDEX why" to CRASH_RESULTS; exit 0 good, 1 mount failed,
# 2 a durable file lost or changed, 3 e2fsck found problems. CRASH_MNT is the mount point.
set -u
image=$1 clock=$2 ns=$3 index=$4
: "${CRASH_DURABLE:?}" "${CRASH_RESULTS:?}" "${CRASH_MNT:?}"

fail() {
  echo "FAIL $index e$clock $1" >> "$CRASH_RESULTS"
  echo "crash-check: image $index (e$clock): $1" >&2
  exit "$2"
}

mount -t ext4 -o loop "$image" "$CRASH_MNT" 2>"$CRASH_MNT.err" || fail "mount: $(tr '\n' ' ' < "$CRASH_MNT.err")" 1
expected=$(awk -v ns="$ns" '$1 < ns { print $2 "  " $3 }' "$CRASH_DURABLE")
lost=""
if [ -n "$expected" ]; then
  lost=$(cd "$CRASH_MNT" && sha256sum --quiet -c - <<<"$expected" 2>&1 | head -3 | tr '\n' ' ') || true
fi
n=$(grep -c . <<<"$expected" || true)
umount "$CRASH_MNT" || fail "umount failed" 1
[ -z "$lost" ] || fail "durable files lost or changed ($n expected): $lost" 2
if ! out=$(e2fsck -fn "$image" 2>&1); then
  fail "e2fsck -fn: $(grep -v '^e2fsck\|^Pass\|^$' <<<"$out" | head -4 | tr '\n' ' ')" 3
fi
echo "ok $index e$clock $n" >> "$CRASH_RESULTS"
