#!/bin/bash
# cluster.sh - a one-node Ceph cluster for tests: one monitor and one OSD on 127.0.0.1, cephx,
# every file under one directory. Used by the host tests (tests/LoopOrder.Queues.Tests/Rbd), the
# VM suite (tests/vm/e2e/suites/rbd.sh) and bench/fio's rbd rows.
#
# Usage:
#   tests/ceph/cluster.sh start DIR [POOL]   make DIR (must not exist, or be empty), start the
#                                            cluster in it, create POOL (default rbd) with
#                                            size 1; prints CEPH_CONF=... and CEPH_KEYRING=...
#   tests/ceph/cluster.sh stop DIR           stop the daemons and delete DIR
#   tests/ceph/cluster.sh osd-stop DIR       stop the OSD cleanly (memstore saves its objects)
#   tests/ceph/cluster.sh osd-start DIR [POOL]  start it again (it loads them back); returns
#                                            once POOL (default rbd) takes writes again
#   tests/ceph/cluster.sh osd-pause DIR      SIGSTOP the OSD: it holds every op without failing
#   tests/ceph/cluster.sh osd-resume DIR     SIGCONT it
#   tests/ceph/cluster.sh env DIR            print CEPH_CONF=... and CEPH_KEYRING=... again
#
# Clients: `rbd -c DIR/ceph.conf ...` (the conf names DIR/keyring, client.admin's key) or
# `--conf DIR/ceph.conf --keyring DIR/keyring` for loop-order. Needs root? No: everything lives
# in DIR (run dir, admin sockets, logs, pid files, the monitor's store, the OSD's data), so any
# user can run it; the daemons run in the background with pid files in DIR/run.
#
# Why these choices. The OSD stores objects in memory (memstore: no disk format, mkfs in a
# blink); memstore writes them to DIR/osd on a clean stop and reads them back on start, so
# osd-stop/osd-start keep the data (a SIGKILLed OSD would lose it: don't). No ceph-mgr: pool
# creation, `rbd` and librbd work without one in Pacific (health says HEALTH_WARN; nothing here
# reads it). cephx is on, so wrong credentials can be tested; a cluster takes 2-4 s to start.
# osd_client_watch_timeout is 10 s (Ceph's default 30): a SIGKILLed librbd client's watch, and
# so its exclusive lock, is broken that much sooner, which is what a restarted daemon waits for.
# Packages (Debian): ceph-mon ceph-osd ceph-common (tests/vm/host-deps.sh installs them).
set -euo pipefail
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

die() { echo "cluster.sh: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pid_of() { cat "$1/run/$2.pid" 2>/dev/null || true; }

# wait_gone PID: up to 20 s for a process to end.
wait_gone() {
  for _ in $(seq 1 200); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}

print_env() {
  echo "CEPH_CONF=$1/ceph.conf"
  echo "CEPH_KEYRING=$1/keyring"
}

ceph_() { timeout 60 ceph -c "$dir/ceph.conf" "$@"; }

osd_start() {
  ceph-osd -c "$dir/ceph.conf" -i 0 2>>"$dir/log/osd.0.stderr" || die "ceph-osd did not start; see $dir/log/osd.0.log"
}

# pool_ready: the pool's placement groups are active once an object can be written (rados is
# C++; every `ceph` command is a Python start, seconds each under emulation).
pool_ready() {
  timeout 60 rados -c "$dir/ceph.conf" -p "$pool" put cluster.sh.ready /dev/null ||
    { tail -20 "$dir/log/osd.0.log" >&2 || true; die "pool $pool did not become writable within 60 s"; }
  rados -c "$dir/ceph.conf" -p "$pool" rm cluster.sh.ready
}

osd_stop() {
  local pid; pid=$(pid_of "$dir" osd.0)
  [ -n "$pid" ] || return 0
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" || die "osd.0 (pid $pid) did not stop within 20 s"
  rm -f "$dir/run/osd.0.pid"
}

# osd_pause: SIGSTOP, and back only once every thread of the OSD has stopped (a signal is
# delivered to each thread on its own; a thread still running could answer one more request).
osd_pause() {
  local pid t state line; pid=$(pid_of "$dir" osd.0)
  [ -n "$pid" ] || die "no osd.0 running in $dir"
  kill -STOP "$pid"
  for _ in $(seq 1 200); do
    state=stopped
    for t in /proc/"$pid"/task/*/stat; do
      # the state follows the thread name's closing parenthesis (a name may hold spaces)
      read -r line < "$t" 2>/dev/null || continue
      line=${line##*) }
      [ "${line%% *}" = T ] || { state=running; break; }
    done
    [ $state = stopped ] && return 0
    sleep 0.05
  done
  die "osd.0 (pid $pid) did not stop within 10 s of SIGSTOP"
}

start() {
  command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null && command -v ceph >/dev/null ||
    die "ceph-mon, ceph-osd and ceph are needed: apt-get install ceph-mon ceph-osd ceph-common"
  if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then die "$dir exists and is not empty"; fi
  mkdir -p "$dir"/{run,log,mon,osd/ceph-0,crash}
  dir=$(cd "$dir" && pwd)
  local fsid v2 v1 osd_uuid osd_key
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  v2=$(free_port); v1=$(free_port)
  [ "$v1" != "$v2" ] || v1=$(free_port)
  cat > "$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$v2,v1:127.0.0.1:$v1]
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.\$pid.asok
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
crash dir = $dir/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd client watch timeout = 10
[mon]
mon data = $dir/mon/\$name
keyring = $dir/keyring
mon cluster log file = $dir/log/cluster.log
[osd]
osd data = $dir/osd/ceph-\$id
keyring = $dir/osd/ceph-\$id/keyring
osd objectstore = memstore
memstore device bytes = 1073741824
osd max object name len = 460
osd max object namespace len = 64
osd crush update on start = true
osd fast shutdown = false
EOF
  # the monitor's and client.admin's keys in one keyring
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$v2,v1:127.0.0.1:$v1]" "$dir/monmap" >/dev/null
  ceph-mon -c "$dir/ceph.conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" ||
    die "ceph-mon --mkfs failed"
  ceph-mon -c "$dir/ceph.conf" -i a || die "ceph-mon did not start; see $dir/log/mon.a.log"
  # the OSD: registered with its own key, made, started
  osd_key=$(ceph-authtool --gen-print-key)
  echo "{\"cephx_secret\": \"$osd_key\"}" | ceph_ osd new "$osd_uuid" -i - >/dev/null ||
    die "ceph osd new failed; see $dir/log/mon.a.log"
  ceph-authtool --create-keyring "$dir/osd/ceph-0/keyring" -n osd.0 --add-key "$osd_key" >/dev/null
  ceph-osd -c "$dir/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$dir/log/osd-mkfs.log" 2>&1 ||
    { cat "$dir/log/osd-mkfs.log" >&2; die "ceph-osd --mkfs failed"; }
  osd_start
  # Created before the OSD is up (the monitor alone); `rbd pool init` tags it for RBD.
  ceph_ osd pool create "$pool" 8 8 >/dev/null 2>&1 || die "ceph osd pool create $pool failed"
  rbd -c "$dir/ceph.conf" pool init "$pool" || die "rbd pool init $pool failed"
  pool_ready
  print_env "$dir"
}

stop() {
  [ -d "$dir" ] || return 0
  [ -f "$dir/ceph.conf" ] || die "$dir holds no cluster (no ceph.conf); not deleting it"
  osd_stop || true
  local pid; pid=$(pid_of "$dir" mon.a)
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}

[ $# -ge 2 ] || { sed -n '2,/^set /p' "$0" | sed 's/^# \{0,1\}//;$d' >&2; exit 64; }
cmd=$1 dir=$2 pool=${3:-rbd}
case $cmd in
  start) start ;;
  stop) stop ;;
  env) print_env "$(cd "$dir" && pwd)" ;;
  osd-stop) osd_stop ;;
  osd-start) osd_start; pool_ready ;;
  osd-pause) osd_pause ;;
  osd-resume) kill -CONT "$(pid_of "$dir" osd.0)" ;;
  *) die "unknown command $cmd (start, stop, env, osd-stop, osd-start, osd-pause, osd-resume)" ;;
esac
