#!/bin/bash
# run.sh - LoopOrder against the kernel loop driver, side by side, in one VM run; regenerates
# bench/RESULTS.md and bench/results/ratios.png. The one command:
#
#   bench/fio/run.sh
#
# Builds Release (ReadyToRun) into artifacts/bench, boots the VM (tests/vm/run-vm.sh; VM_KERNEL=6.12
# by default, or 7.3: the report names the guest kernel) with a
# scratch ext4 disk, runs bench/fio/inside.sh there (fio JSON into the shared folder), then
# bench/fio/report.py turns the JSON into bench/RESULTS.md, bench/results/runs.json and the chart.
#
# Knobs (environment; defaults = the full matrix):
#   BENCH_RUNTIME=10        seconds per fio job (after BENCH_RAMP=2 s of ramp)
#   BENCH_REPEATS=3         repeats; the report shows medians
#   BENCH_REPEAT_JOBS=...   jobs run in repeats 2..N (default: all of BENCH_JOBS)
#   BENCH_TARGETS="loop loop-dio lo-drain-q2 lo-strict-q2 lo-none-q2 lo-drain-q1 lo-drain-q2-dio ..."
#                           loop, loop-dio, or lo-MODE-qN[-dio] for MODE in drain strict none;
#                           NBD: nbd-ko-cN (the kernel's nbd.ko via nbd-client, N connections) and
#                           lo-nbd-MODE-cN (LoopOrder --target nbd --connections N --queues 2), both
#                           against one nbdkit file server on the same backing file; an nbd-ko
#                           target makes the VM load nbd.ko (VM_MODULES+=nbd). Not in the default
#                           or BENCH_FULL set:
#                           BENCH_TARGETS="nbd-ko-c1 nbd-ko-c2 lo-nbd-drain-c1 lo-nbd-drain-c2 ..."
#                           RBD: krbd (the kernel's rbd.ko), rbd-nbd (Ceph's rbd-nbd, nbd.ko) and lo-rbd-MODE (LoopOrder
#                           --target rbd --queues 2) on one image in a one-node cluster in the
#                           guest (tests/ceph/cluster.sh); not in the default set either:
#                           BENCH_TARGETS="krbd rbd-nbd lo-rbd-drain lo-rbd-none"
#   BENCH_RBD_MB=512        the RBD rows' image size (the OSD holds it in memory)
#   BENCH_JOBS="randwrite randread fsync32 seqwrite randrw"
#   BENCH_SIZE_MB=1024      backing file size
#   BENCH_WARMUP=10         seconds of unmeasured random writes after each attach (every target),
#                           so a fresh server's background JIT tier-up is not in the first job
#   BENCH_PROFILE=1         perf profile (cpu-clock, system-wide) of each measured job: raw/*.perf.txt
#   BENCH_NO_BUILD=1        reuse artifacts/bench (and artifacts/bench-X of BENCH_BUILDS)
#   BENCH_BUILDS="b:REV ..." also publish git revision REV as build b (a single letter) into
#                           artifacts/bench-b; targets loB-MODE-qN[-dio] are served by it, in the
#                           same VM run as the working tree's lo-* targets: a fair A/B on a noisy host
#   BENCH_ARGS_X="--opt ..." more serve arguments for build X's devices (loX-* targets); with no
#                           build X in BENCH_BUILDS they run the working tree: an A/B of an option
#   BENCH_REPORT_ONLY=1     only regenerate the report from the last run's JSON
#   BENCH_RESULTS=bench     where RESULTS.md and results/ go (a smoke run can point elsewhere)
#   BENCH_NUMJOBS=2         fio jobs per run, QD split between them (2: one per vCPU, pinned; 1: one
#                           unpinned job at QD32, seqwrite QD8)
#   BENCH_SYSCOUNT=1        count io_uring_enter per thread in each job (tracefs hist trigger); 0: off
#   BENCH_PRESET=issue18    issue 18's standard set (defaults only; any knob given wins): targets
#                           loop loop-dio lo-drain-q1 lo-strict-q1 lo-none-q1 lo-drain-q1-dio
#                           lo-mem-drain-q1, jobs randwrite fsync32 seqwrite, 1 job QD32, 3 repeats,
#                           8 s, 768 MiB, on both kernels (VM_KERNELS="6.12 7.3")
#   VM_KERNELS="6.12 7.3"   one VM run per kernel, in turn: RESULTS-<kernel>.md and results/<kernel>/
#                           each (ratios only within one VM run), RESULTS.md the index with the
#                           issue-18 goals side by side. One kernel: VM_KERNEL as for run-vm.sh.
#   VM_CPU="max,-erms"      the guest's CPU model under TCG (run-vm.sh's default is max): without
#                           ERMS the kernel's user copies run as rep movsq, not byte-wise rep movsb,
#                           which TCG emulates a byte per step (see fio/README.md, "Guest CPU model")
#   VM_DISK=6G, VM_TIMEOUT, VM_CPUS, ... as for tests/vm/run-vm.sh
#
# Quick smoke: BENCH_RUNTIME=3 BENCH_RAMP=1 BENCH_REPEATS=1 BENCH_TARGETS="loop lo-drain-q2" \
#              BENCH_JOBS="randwrite fsync32" BENCH_RESULTS=/tmp/bench-smoke bench/fio/run.sh
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
art=$root/artifacts/bench
# The raw results live in this checkout's own cache folder even when VM_CACHE points at another
# checkout's (a shared kernel cache): two checkouts never clear each other's results.
shared=${VM_SHARED:-$root/tests/vm/.cache/shared}
# Under TCG a `rep movsb` costs a translated step per byte while the 8-byte moves of the kernel's
# memcpy run unrolled; with ERMS the guest copies user memory (every ublk server's data copy, and
# its pwrite) byte-wise and the loop driver's in-kernel memcpy not, a gap no real CPU has.
# Measured: bench/results/ab-guest-erms. Tests keep run-vm.sh's `max`.
[ "${VM_ACCEL:-tcg}" = tcg ] && export VM_CPU=${VM_CPU:-max,-erms}
results=${BENCH_RESULTS:-$root/bench}
log() { echo "bench: $*"; }

case ${BENCH_PRESET:-} in
  '') ;;
  issue18)
    # issue 18's standard job set: plain fio (1 job, QD32, O_DIRECT on the device), 1 queue, the
    # loop driver both ways, LoopOrder's three modes buffered, drain direct, and the memory floor
    : "${BENCH_TARGETS:=loop loop-dio lo-drain-q1 lo-strict-q1 lo-none-q1 lo-drain-q1-dio lo-mem-drain-q1}"
    : "${BENCH_JOBS:=randwrite fsync32 seqwrite}"
    : "${BENCH_NUMJOBS:=1}" "${BENCH_REPEATS:=3}" "${BENCH_RUNTIME:=8}" "${BENCH_SIZE_MB:=768}"
    [ -n "${VM_KERNEL:-}" ] || : "${VM_KERNELS:=6.12 7.3}"
    export BENCH_TARGETS BENCH_JOBS BENCH_NUMJOBS BENCH_REPEATS BENCH_RUNTIME BENCH_SIZE_MB ${VM_KERNELS:+VM_KERNELS} ;;
  *) log "BENCH_PRESET=$BENCH_PRESET: the presets are issue18"; exit 2 ;;
esac
# kernels: VM_KERNELS (several: one VM run each, one report each plus an index), else VM_KERNEL
read -r -a kernels <<< "${VM_KERNELS:-}"
multi=0; [ "${#kernels[@]}" -gt 1 ] && multi=1
[ "${#kernels[@]}" = 1 ] && export VM_KERNEL=${kernels[0]}
[ "${#kernels[@]}" = 0 ] && kernels=("${VM_KERNEL:-}")
# raw: the guest's output for kernel $1 (multi: one folder per kernel)
raw_of() { if [ "$multi" = 1 ]; then echo "$shared/bench-fio-$1"; else echo "$shared/bench-fio"; fi; }

full_targets="loop loop-dio file file-dio lo-drain-q1 lo-drain-q2 lo-strict-q1 lo-strict-q2 lo-none-q1 lo-none-q2 lo-drain-q1-dio lo-drain-q2-dio lo-strict-q1-dio lo-strict-q2-dio lo-none-q1-dio lo-none-q2-dio"

if [ "${BENCH_REPORT_ONLY:-0}" != 1 ]; then
  if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    log "building Release (ReadyToRun) into $art"
    "$root/tests/vm/publish.sh" "$art" || { log "build failed"; exit 1; }
  fi
  [ -f "$art/loop-order.dll" ] || { log "$art/loop-order.dll missing"; exit 1; }
  builds_env=() builds_host=()
  for b in ${BENCH_BUILDS:-}; do
    name=${b%%:*} rev=${b#*:}
    [[ $name =~ ^[a-z]$ && -n $rev && $rev != "$b" ]] || { log "BENCH_BUILDS: '$b' is not LETTER:REV"; exit 1; }
    sha=$(git rev-parse --short "$rev^{commit}") || { log "BENCH_BUILDS: no revision $rev"; exit 1; }
    if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
      # A throw-away worktree of REV, built with its own artifacts folder; the output lands in
      # this repository, which the VM sees (host directories under /tmp are hidden from it).
      wt=$(mktemp -d /tmp/bench-build-XXXXXX)
      git worktree add -q --detach "$wt/src" "$sha" || exit 1
      log "building $sha as build $name into $art-$name"
      (cd "$wt/src" && LOOPORDER_ARTIFACTS=$wt/art dotnet publish service/LoopOrder.Service.csproj -c Release -o "$art-$name" \
          -p:PublishReadyToRun=true -nologo -v:q) || { git worktree remove --force "$wt/src"; rm -rf "$wt"; log "build $name failed"; exit 1; }
      git worktree remove --force "$wt/src"; rm -rf "$wt"
    fi
    [ -f "$art-$name/loop-order.dll" ] || { log "$art-$name/loop-order.dll missing"; exit 1; }
    builds_env+=("LOOPORDER_BIN_$name=$art-$name/loop-order.dll")
    builds_host+=("build_$name=$sha $(git log -1 --format=%s "$sha" | cut -c1-80)")
  done
  # a variant of the working tree by its settings only (BENCH_ENV_X, BENCH_ARGS_X, no build X)
  for v in $(compgen -v BENCH_ENV_) $(compgen -v BENCH_ARGS_); do
    name=${v##*_}
    [[ " ${BENCH_BUILDS:-} " == *" $name:"* ]] && continue
    builds_host+=("build_$name=the working tree with ${v}=${!v}")
  done
  command -v fio >/dev/null || "$root/tests/vm/host-deps.sh" fio || exit 1
  mkdir -p "$shared"
  for k in "${kernels[@]}"; do
    raw=$(raw_of "$k")
    [ "$multi" = 1 ] && log "kernel $k: VM run into $raw"
    rm -rf "$raw"; mkdir -p "$raw"
    env_file=$shared/bench-fio${k:+-$k}.env
    {
      echo "LOOPORDER_BIN=$art/loop-order.dll"
      echo "BENCH_OUT=$raw"
      for e in "${builds_env[@]}"; do echo "$e"; done
      for v in BENCH_RUNTIME BENCH_RAMP BENCH_REPEATS BENCH_REPEAT_JOBS BENCH_TARGETS BENCH_JOBS BENCH_SIZE_MB BENCH_RBD_MB BENCH_WARMUP \
               BENCH_PROFILE BENCH_NUMJOBS BENCH_SYSCOUNT BENCH_SCHED BENCH_SETTLE_KB BENCH_SETTLE_S; do
        [ -n "${!v:-}" ] && echo "$v=${!v}"
      done
      # BENCH_ENV_X="NAME=VALUE ...": the environment of build X's servers (loX-* targets); with no
      # build X in BENCH_BUILDS they run the working tree: an A/B of a setting in one VM run
      for v in $(compgen -v BENCH_ENV_) $(compgen -v BENCH_ARGS_) $(compgen -v BENCH_IOSCHED_); do echo "$v=${!v}"; done
      [ "${BENCH_FULL:-0}" = 1 ] && echo "BENCH_TARGETS=$full_targets"
    } > "$env_file"
    {
      echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
      echo "host_cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
      echo "host_cores=$(nproc)"
      echo "host_kernel=$(uname -r)"
      echo "host_load=$(cut -d' ' -f1-3 /proc/loadavg)"
      echo "commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- queues ublk service 2>/dev/null || echo '+uncommitted')"
      echo "vm_accel=${VM_ACCEL:-tcg}"
      echo "vm_cpu=${VM_CPU:-}"
      echo "vm_disk=${VM_DISK:-6G}"
      echo "vm_kernel=${k:-6.12}"
      for e in "${builds_host[@]}"; do echo "$e"; done
    } > "$raw/host.txt"
    # the NBD rows' kernel client is nbd.ko: loaded in the guest only when a target needs it
    vm_modules=${VM_MODULES:-}
    for t in ${BENCH_TARGETS:-}; do
      if [[ $t == nbd-* || $t == rbd-nbd ]]; then vm_modules=${vm_modules:+$vm_modules,}nbd; break; fi
    done
    case " ${BENCH_TARGETS:-} " in *" krbd "*) vm_modules=${vm_modules:+$vm_modules,}rbd ;; esac
    start=$(date +%s)
    # the host's load average every 30 s while the VM runs: under TCG a busy host slows the
    # guest unevenly (a descheduled vCPU's time is charged to whatever the guest ran), so the
    # report shows how loaded the host was, and when
    ( while :; do echo "$(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 30; done ) > "$raw/hostload.txt" 2>/dev/null &
    load_pid=$!
    VM_KERNEL=$k VM_MODULES=$vm_modules VM_SHARED=$shared VM_DISK=${VM_DISK:-6G} VM_ENV_FILE=$env_file \
      VM_TIMEOUT=${VM_TIMEOUT:-5400} "$root/tests/vm/run-vm.sh" "$root/bench/fio/inside.sh"
    rc=$?
    kill "$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null
    echo "vm_seconds=$(( $(date +%s) - start ))" >> "$raw/host.txt"
    echo "host_load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$raw/host.txt"
    log "VM${k:+ ($k)} exited $rc after $(( $(date +%s) - start )) s"
    [ "$rc" = 0 ] || log "WARNING: the guest reported failures; the report shows what ran"
  done
fi

command -v gnuplot >/dev/null || {
  log "installing gnuplot-nox"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox >/dev/null || log "WARNING: no gnuplot; no chart"
}
mkdir -p "$results/results"
if [ "$multi" = 1 ]; then
  for k in "${kernels[@]}"; do
    python3 "$root/bench/fio/report.py" "$(raw_of "$k")" "$results" "$k" || exit 1
  done
  python3 "$root/bench/fio/report.py" --index "$results" "${kernels[@]}" || exit 1
  log "wrote $results/RESULTS.md (index) and RESULTS-{${kernels[*]}}.md, results/{${kernels[*]}}/"
else
  python3 "$root/bench/fio/report.py" "$(raw_of "")" "$results" || exit 1
  log "wrote $results/RESULTS.md and $results/results/ratios.png"
fi
