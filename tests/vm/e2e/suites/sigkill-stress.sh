# sigkill-stress.sh - the long SIGKILL stress (issue 14, item 3), sourced by ../suite.sh inside the
# VM after sigkill.sh's helpers (sk_*). NOT in the default run (it does not add itself to TESTS):
#   VM_CACHE=/work/vmcache-sigkill VM_TIMEOUT=7200 VM_ENV="KILLS=200 SEED=1" \
#     tests/vm/e2e/run.sh sigkill_stress
# (VM_KERNEL=7.3 for the other kernel.)
#
# The daemon serves two devices, as in the report that oopsed 6.12: A with 2 queues (1 before 6.15:
# sk_queues in sigkill.sh says why; SK_QUEUES=2 overrides), B with 1, fio
# 4 KiB randwrite QD16 with crc32c verify and an fsync every 8 writes on both (runs follow each
# other until the kills are done). It is SIGKILLed KILLS times, in every phase of its life:
#   early  any instant of its start (.NET start, waiting for the old queues, inside
#          START..END_USER_RECOVERY, between the two devices' recoveries)
#   fresh  0-300 ms after "ready": requests reissued and queued ones flowing
#   busy   300-2500 ms after "ready", fio in full flow (writes, fsyncs or the verify reads)
# and restarted at once. Every fio run must finish and verify, every daemon that reattached both
# devices counts as a verified recovery (the fio runs across it verify every block), and at the
# end both devices verify once more, then both backing files after a clean stop. The kernel must
# log no WARNING/BUG/Oops; with VM_PANIC_ON_OOPS=1 (the default) an oops ends the VM at once and
# run-vm.sh prints it. Knobs: KILLS (200), SEED (random, printed), SK_FIO_SIZE (8M per job).
# shellcheck shell=bash

# suite.sh's time limit for it: 200 kills took 845 s under emulation (~4.2 s a kill); 10 s a kill
# and 5 min around them.
TIMEOUT_sigkill_stress=$(( ${KILLS:-200} * 10 + 300 ))

# fio on device B, run after run, in the background until $WORK/sks-stop exists; a run that fails
# leaves its output in $WORK/sks-b-failed.
sks_b_loop() {
  local n=0
  while [ ! -e "$WORK/sks-stop" ]; do
    n=$((n + 1))
    if ! sk_fio "$1" --do_verify=1 > "$WORK/sks-b.$n.out" 2>&1 ||
       ! grep -q 'err= 0' "$WORK/sks-b.$n.out"; then
      cp "$WORK/sks-b.$n.out" "$WORK/sks-b-failed"
      return 1
    fi
    echo "$n" > "$WORK/sks-b-runs"
  done
}

# The daemon reattached this many devices (its "recovered:" lines).
sks_recovered() { grep -c 'recovered:' "$DMN_LOG" 2>/dev/null || true; }

test_sigkill_stress() {
  local seed=${SEED:-} kills_wanted=${KILLS:-200}
  [ -n "$seed" ] || seed=$(( $(od -An -N4 -tu4 /dev/urandom) % 1000000 ))
  log "sigkill stress: seed $seed, $kills_wanted kills, kernel $(uname -r) (replay: VM_ENV=\"KILLS=$kills_wanted SEED=$seed\" tests/vm/e2e/run.sh sigkill_stress)"
  RANDOM=$seed
  [ -n "${VM_SHARED:-}" ] && exec > >(tee "$VM_SHARED/sigkill-stress.log") 2>&1
  trap 'touch "$WORK/sks-stop"; [ -n "${SKS_B_PID:-}" ] && kill "$SKS_B_PID" 2>/dev/null; sk_cleanup || true' EXIT
  rm -f "$WORK"/sks-*
  SK_FSYNC=8

  SK_RUNS=0 SK_RUN_KILLS=0
  local kills=0 recoveries=0 partial=0 early=0 fresh=0 busy=0 ready_ms=4000 t0 at delay phase mode n
  local img_b=$SCRATCH/sigkill-b.img dev_b
  t0=$(sk_now)
  sk_spawn
  sk_wait_ready
  local queues; queues=$(sk_queues)
  SK_DEV=$(lo add --file "$SK_IMG" --size 256M --queues "$queues")
  dev_b=$(lo add --file "$img_b" --size 256M --queues 1)
  [ -b "$SK_DEV" ] && [ -b "$dev_b" ] || die "add printed '$SK_DEV' and '$dev_b'"
  log "daemon $DMN_PID serves $SK_DEV ($queues queue(s)) and $dev_b (1 queue); fio on both: 2 jobs x $SK_FIO_SIZE, 4k randwrite QD16, fsync every 8, crc32c verify"
  sk_fio_start
  sks_b_loop "$dev_b" & SKS_B_PID=$!

  while [ "$kills" -lt "$kills_wanted" ]; do
    sk_kill_moment 35 60 "$kills" "$ready_ms"; mode=$SK_MODE
    kill -0 "$SKS_B_PID" 2>/dev/null || { cat "$WORK/sks-b-failed" 2>/dev/null; sk_state; die "fio on $dev_b failed"; }

    at=$(sk_now); delay=$(( at - SK_SPAWNED ))
    if grep -q 'ready:' "$DMN_LOG"; then phase=serving
    elif grep -q 'recovered:' "$DMN_LOG"; then phase=recovering-2nd
    elif grep -q 'daemon starting' "$DMN_LOG"; then phase=recovering
    else phase=starting; fi
    kill -9 "$DMN_PID"
    sk_reap_killed
    kills=$((kills + 1)); SK_RUN_KILLS=$((SK_RUN_KILLS + 1))
    case $mode in early) early=$((early + 1)) ;; fresh) fresh=$((fresh + 1)) ;; busy) busy=$((busy + 1)) ;; esac
    n=$(sks_recovered)
    if [ "$kills" -gt 1 ] && [ "$n" -ge 2 ]; then recoveries=$((recoveries + 1))
    elif [ "$n" = 1 ]; then partial=$((partial + 1)); fi
    log "kill $kills ($mode): ${delay} ms after spawn, phase $phase, $n device(s) reattached by it"
    [ -b "$SK_DEV" ] && [ -b "$dev_b" ] || die "a device vanished with its daemon"
    ! dmesg | grep -qE 'WARNING:|BUG:|Oops|list_add|list_del' || { dmesg | tail -40; die "kernel trouble after kill $kills"; }
    grep -q 'ready:' "$DMN_LOG" && ready_ms=$(( $(sk_stamp 'ready:') - SK_SPAWNED ))
    sk_spawn
  done

  sk_wait_ready
  [ "$(sks_recovered)" -ge 2 ] || { cat "$DMN_LOG"; die "the last daemon did not recover both devices"; }
  recoveries=$((recoveries + 1))
  sk_fio_wait
  sk_fio_reap
  touch "$WORK/sks-stop"
  wait "$SKS_B_PID" || { cat "$WORK/sks-b-failed" 2>/dev/null; die "fio on $dev_b failed"; }
  SKS_B_PID=""
  log "device B: $(cat "$WORK/sks-b-runs" 2>/dev/null || echo 0) fio runs verified"

  sk_fio "$SK_DEV" --verify_only > "$WORK/sks-verify-a.out" 2>&1 || { cat "$WORK/sks-verify-a.out"; die "verify pass through $SK_DEV failed"; }
  sk_fio "$dev_b" --verify_only > "$WORK/sks-verify-b.out" 2>&1 || { cat "$WORK/sks-verify-b.out"; die "verify pass through $dev_b failed"; }
  daemon_stop
  DMN_PID=""
  sk_fio "$SK_IMG" --verify_only > "$WORK/sks-file-a.out" 2>&1 || { cat "$WORK/sks-file-a.out"; die "verify pass over $SK_IMG failed"; }
  sk_fio "$img_b" --verify_only > "$WORK/sks-file-b.out" 2>&1 || { cat "$WORK/sks-file-b.out"; die "verify pass over $img_b failed"; }
  ! dmesg | grep -E 'WARNING:|BUG:|Oops' || die "kernel warnings during the kills"

  log "sigkill stress: $kills kills ($busy busy, $fresh fresh, $early early), $SK_RUNS fio runs on A, $(( ($(sk_now) - t0) / 1000 )) s, kernel $(uname -r)"
  log "sigkill stress: $recoveries recoveries of both devices verified ($partial daemons killed between the two), 0 oopses, seed $seed"
}
