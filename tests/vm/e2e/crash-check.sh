#!/bin/bash
# crash-check.sh IMAGE CLOCK NANOSECONDS INDEX - checks one crash (or snapshot) image of an ext4
# filesystem (runs in the VM; loop-order crash-images --check calls it, so does the snapshot test).
#   1. it mounts (ext4 replays its journal on a loop device);
#   2. every file CRASH_DURABLE lists with a time before NANOSECONDS (fsync had returned before
#      the image's instant) is there with its SHA-256;
#   3. after umount, e2fsck -fn finds nothing to fix.
# Appends "ok INDEX" or "FAIL INDEX why" to CRASH_RESULTS; exit 0 good, 1 mount failed,
# 2 a durable file lost or changed, 3 e2fsck found problems. CRASH_MNT.INDEX is the mount point
# (checks may run in parallel).
# An "ok" line also carries the milliseconds spent mounting, checking files, unmounting and in e2fsck.
set -u
image=$1 clock=$2 ns=$3 index=$4
: "${CRASH_DURABLE:?}" "${CRASH_RESULTS:?}" "${CRASH_MNT:?}"
mnt=$CRASH_MNT.$index
mkdir -p "$mnt"

fail() {
  echo "FAIL $index e$clock $1" >> "$CRASH_RESULTS"
  echo "crash-check: image $index (e$clock): $1" >&2
  exit "$2"
}

# Under emulation every exec costs (binaries come over 9p): bash builtins where they do, four
# programs per image (mount, sha256sum, umount, e2fsck).
t0=${EPOCHREALTIME/./}
mount -t ext4 -o loop "$image" "$mnt" 2>"$mnt.err" || fail "mount: $(< "$mnt.err")" 1
t1=${EPOCHREALTIME/./}
expected="" n=0
while read -r when sum path; do
  if [ "$when" -lt "$ns" ]; then
    expected+="$sum  $path"$'\n'
    n=$((n + 1))
  fi
done < "$CRASH_DURABLE"
lost=""
if [ "$n" -gt 0 ]; then
  lost=$(cd "$mnt" && sha256sum --quiet -c - <<<"$expected" 2>&1) || true
fi
t2=${EPOCHREALTIME/./}
umount "$mnt" || fail "umount failed" 1
t3=${EPOCHREALTIME/./}
[ -z "$lost" ] || fail "durable files lost or changed ($n expected): ${lost//$'\n'/ }" 2
if ! out=$(e2fsck -fn "$image" 2>&1); then
  fail "e2fsck -fn: ${out//$'\n'/ }" 3
fi
t4=${EPOCHREALTIME/./}
rmdir "$mnt"
rm -f "$mnt.err"
echo "ok $index e$clock $n $(((t1 - t0) / 1000)) $(((t2 - t1) / 1000)) $(((t3 - t2) / 1000)) $(((t4 - t3) / 1000))" >> "$CRASH_RESULTS"
