# shellcheck shell=bash
# guest-lib.sh - serving a device inside the VM, written once for every guest-side script: the
# e2e suite (tests/vm/e2e/lib.sh and suites/), the benchmark (bench/fio/inside.sh) and the demo
# (service/demo.sh). Sourced, never run; plain bash, no globals but the LO_* results below, and
# safe under `set -e` (a function's failure is its return status, for the caller to judge).
#
#   lo_argv BIN                               the command line that runs BIN: LO_ARGV = (dotnet
#                                             BIN) for loop-order.dll, (BIN) for the native binary
#   lo_serve BIN OUT ERR [serve options...]   start `BIN serve ...` (as lo_argv) in the background,
#                                             stdout appended to OUT, stderr to ERR; LO_PID
#   lo_wait_device PID OUT [SECONDS]          its block device, printed on OUT's first line: LO_DEV
#   lo_wait_ready PID LOG [SECONDS]           its "ready:" log line (a daemon's, event 101)
#   lo_stop PID [SIGNAL] [SECONDS]            signal it and reap it: LO_RC = its exit status
#
# Waits poll every 0.1 s; SECONDS defaults to 120, long enough for a start under TCG emulation
# on a loaded host.

# Background jobs of a non-interactive shell start with SIGINT ignored, and .NET keeps an ignored
# SIGINT ignored: the server gets the default disposition, as a terminal would give it.
lo_argv() {
  case $1 in
    *.dll) LO_ARGV=(dotnet "$1") ;;
    *) LO_ARGV=("$1") ;;
  esac
}

lo_serve() {
  local bin=$1 out=$2 err=$3
  shift 3
  lo_argv "$bin"
  env --default-signal=INT "${LO_ARGV[@]}" serve "$@" >>"$out" 2>"$err" &
  LO_PID=$!
}

# lo_wait_for PID FILE PATTERN SECONDS: until FILE has a line matching PATTERN (grep -E).
# 0: found; 1: PID exited first (reaped: LO_RC); 2: not within SECONDS.
lo_wait_for() {
  local pid=$1 file=$2 pattern=$3 secs=$4 _
  for _ in $(seq 1 $((secs * 10))); do
    grep -qE "$pattern" "$file" 2>/dev/null && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      grep -qE "$pattern" "$file" 2>/dev/null && return 0
      LO_RC=0; wait "$pid" || LO_RC=$?
      return 1
    fi
    sleep 0.1
  done
  return 2
}

# lo_wait_device PID OUT [SECONDS]: the server prints its block device first thing on stdout.
# 0: LO_DEV is a block device; 1: the server exited first (LO_RC); 2: nothing within SECONDS;
# 3: it printed LO_DEV, which is not a block device.
lo_wait_device() {
  local rc=0
  LO_DEV=''
  lo_wait_for "$1" "$2" . "${3:-120}" || rc=$?
  [ "$rc" = 0 ] || return "$rc"
  LO_DEV=$(head -1 "$2")
  [ -b "$LO_DEV" ] || return 3
}

# lo_wait_ready PID LOG [SECONDS]: a daemon logs "ready:" once its recorded devices are back and
# its control socket is open. Returns as lo_wait_for.
lo_wait_ready() { lo_wait_for "$1" "$2" 'ready:' "${3:-120}"; }

# lo_stop PID [SIGNAL] [SECONDS]: SIGNAL (TERM) and wait for the exit. 0: it exited, LO_RC is its
# status; 1: still running after SECONDS (120): not killed, so the caller can look at it first.
lo_stop() {
  local pid=$1 sig=${2:-TERM} secs=${3:-120} _
  kill -"$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((secs * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && return 1
  LO_RC=0; wait "$pid" 2>/dev/null || LO_RC=$?
  return 0
}
