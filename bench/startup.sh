#!/bin/bash
# startup.sh [RUNS] - `loop-order serve` from exec to ready (log event 101, "ready:"), on the host,
# for each build: JIT (tests/vm/publish.sh's ReadyToRun publish, run as `dotnet loop-order.dll`),
# JIT without ReadyToRun, and the native AOT binary (service/packaging/publish-native.sh).
# Prints each run and the median per build, in milliseconds.
#
# The host needs no ublk_drv: each run is in a private mount namespace (unshare -m, root) whose
# /dev is a tmpfs holding /dev/null, /dev/zero, /dev/(u)random and an empty file at
# /dev/ublk-control, so serve passes its "is ublk there" check and, with no device to add and no
# records to recover, is ready once the host has started and the control socket listens. That is
# the fixed cost of every start (runtime, host, configuration, logging, socket); a device adds its
# own ADD_DEV/START_DEV work on top. The host's own /dev is never touched.
#
# Time: the launch is stamped (date, ms) just before exec, and the daemon stamps its ready line
# (the console log's HH:mm:ss.fff, same clock): no polling in the figure.
set -euo pipefail
runs=${1:-10}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "startup.sh: needs root (unshare -m)" >&2; exit 1; }
work=${STARTUP_WORK:-$root/artifacts/startup}
mkdir -p "$work"

if [ "${STARTUP_NO_BUILD:-0}" != 1 ]; then
  "$root/tests/vm/publish.sh" "$work/r2r" >/dev/null
  dotnet publish "$root/service/LoopOrder.Service.csproj" -c Release -o "$work/jit" -nologo -v:q >/dev/null
  "$root/service/packaging/publish-native.sh" "$work/native" >/dev/null
fi

# one_run CMD...: ms from exec to "ready:"
one_run() {
  local log=$work/run.log
  rm -rf "$work/rt"; : > "$log"
  unshare -m --propagation private bash -c '
    set -e
    real=$1; shift; log=$1; shift
    mkdir -p "$real"; mount --bind /dev "$real"; mount -t tmpfs none /dev
    for n in null zero urandom random; do touch /dev/$n; mount --bind "$real/$n" /dev/$n; done
    touch /dev/ublk-control
    cd "$(dirname "$log")"
    start=$(date +%H:%M:%S.%3N)
    echo "start $start" > "$log.start"
    exec env LOOP_ORDER_RUNTIME_DIR="$(dirname "$log")/rt" DOTNET_NOLOGO=1 "$@" serve 2>"$log"
  ' _ "$work/realdev" "$log" "$@" &
  local pid=$! i
  for i in $(seq 1 600); do grep -q 'ready:' "$log" 2>/dev/null && break; sleep 0.05; done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local s r
  s=$(awk '{print $2}' "$log.start")
  r=$(grep -m1 'ready:' "$log" | awk '{print $1}')
  [ -n "$r" ] || { echo "startup.sh: no ready line:" >&2; cat "$log" >&2; return 1; }
  awk -v s="$s" -v r="$r" 'function ms(t, a) { split(t, a, ":"); return (a[1] * 3600 + a[2] * 60 + a[3]) * 1000 }
    BEGIN { d = ms(r) - ms(s); if (d < 0) d += 86400000; printf "%.0f\n", d }'
}

median() { sort -n | awk '{a[NR] = $1} END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

for build in native r2r jit; do
  case $build in
    native) cmd=("$work/native/loop-order") ;;
    *) cmd=(dotnet "$work/$build/loop-order.dll") ;;
  esac
  one_run "${cmd[@]}" >/dev/null   # warm the page cache: every figure is a warm start
  times=()
  for _ in $(seq 1 "$runs"); do times+=("$(one_run "${cmd[@]}")"); done
  echo "$build: ${times[*]} ms; median $(printf '%s\n' "${times[@]}" | median) ms"
done
