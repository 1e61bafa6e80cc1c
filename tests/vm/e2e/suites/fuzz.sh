# fuzz.sh - malformed requests and a backing file cut while served (issue 7, item 5), through the
# real kernel (sourced by ../suite.sh inside the VM, after lib.sh). The random descriptor fuzz
# runs on the host (tests/LoopOrder.Ublk.Tests/Protocol/DescriptorFuzzTests.cs): from user space
# the block layer lets only well-formed requests through, which the first half here shows.
# shellcheck shell=bash

# The backing file is truncated from outside while served (as a careless `truncate -s` would):
# reads and writes past the cut fail with EIO and never re-extend the file, the device then
# fails closed (EIO below the cut too) with one log line (event 205), the bytes below the cut are
# intact in the file, and the server still stops and deletes the device (exit 74: its final
# fdatasync reports the failure rather than pretending the file is whole).
test_truncate_eio() {
  # 4 MiB (1024 blocks of 4 KiB), cut to 2 MiB (block 512): small, since the VM emulates every instruction.
  local f=$SCRATCH/trunc.img mib=1048576 t0=$SECONDS
  rm -f "$f"
  serve_start "$f" --size 4M --block-size 4096
  log "served after $((SECONDS - t0)) s"
  dd if=/dev/urandom of="$WORK/tpat" bs=1M count=4 status=none
  dd if="$WORK/tpat" of="$DEV" bs=1M oflag=direct conv=fsync status=none
  cmp "$f" "$WORK/tpat" || die "the file lacks what was written through $DEV"

  # What the block layer turns away before it reaches the server: past the end, and direct I/O
  # not on whole 4096-byte blocks. Neither may change the file.
  if dd if="$WORK/tpat" of="$DEV" bs=4k count=1 seek=1024 oflag=direct status=none 2>"$WORK/t.err"; then
    die "a write past the device's end succeeded"
  fi
  log "write past the end: $(tail -1 "$WORK/t.err")"
  if dd if="$WORK/tpat" of="$DEV" bs=512 count=1 seek=3 oflag=direct status=none 2>"$WORK/t.err"; then
    die "a 512-byte direct write on a 4096-byte block device succeeded"
  fi
  log "512-byte direct write: $(tail -1 "$WORK/t.err")"
  [ "$(stat -c %s "$f")" = $((4 * mib)) ] || die "the file is $(stat -c %s "$f") bytes, not 4 MiB"
  cmp "$f" "$WORK/tpat" || die "refused requests changed the file"

  truncate -s 2M "$f"
  log "truncated $f to 2 MiB behind the server ($((SECONDS - t0)) s)"

  # Nothing has looked past the cut yet: below it the device still serves.
  cmp <(dd if="$DEV" bs=1M count=2 iflag=direct status=none) <(head -c $((2 * mib)) "$WORK/tpat") ||
    die "data below the cut reads back different before anything reached past it"

  if dd if="$DEV" of=/dev/null bs=4k count=1 skip=700 iflag=direct status=none 2>"$WORK/t.err"; then
    die "a read past the cut succeeded"
  fi
  grep -q 'Input/output error' "$WORK/t.err" || die "a read past the cut failed with '$(cat "$WORK/t.err")', not EIO"
  local at
  for at in 512 700 1023; do
    if dd if="$WORK/tpat" of="$DEV" bs=4k count=1 seek=$at oflag=direct status=none 2>"$WORK/t.err"; then
      die "a write past the cut (block $at) succeeded"
    fi
    grep -q 'Input/output error' "$WORK/t.err" || die "a write past the cut failed with '$(cat "$WORK/t.err")', not EIO"
  done
  [ "$(stat -c %s "$f")" = $((2 * mib)) ] || die "the file grew back to $(stat -c %s "$f") bytes"

  # Closed: below the cut too, and through the page cache (the kernel's own write-back sees EIO).
  if dd if="$DEV" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null; then
    die "a read below the cut succeeded after the cut was seen (the device should fail closed)"
  fi
  if dd if=/dev/zero of="$DEV" bs=4k count=1 conv=fsync status=none 2>/dev/null; then
    die "a buffered write + fsync succeeded after the cut was seen"
  fi
  [ "$(stat -c %s "$f")" = $((2 * mib)) ] || die "the file grew back to $(stat -c %s "$f") bytes"
  cmp "$f" <(head -c $((2 * mib)) "$WORK/tpat") || die "the bytes below the cut changed"
  grep -q 'truncated to 2097152 bytes' "$SRV_LOG" || { cat "$SRV_LOG" >&2; die "no truncation log line"; }
  [ "$(grep -c 'truncated to' "$SRV_LOG")" = 1 ] || die "the truncation was logged more than once"
  log "$(grep -o 'the backing file .* EIO' "$SRV_LOG" | head -1)"

  log "stopping ($((SECONDS - t0)) s)"
  # exit 74: its final fdatasync fails on the cut file
  serve_stop TERM 74 60
  log "stopped ($((SECONDS - t0)) s)"
  [ "$(stat -c %s "$f")" = $((2 * mib)) ] || die "the file is $(stat -c %s "$f") bytes after the stop"
  cmp "$f" <(head -c $((2 * mib)) "$WORK/tpat") || die "the bytes below the cut changed at the stop"
}

TESTS="$TESTS truncate_eio"
