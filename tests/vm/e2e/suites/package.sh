# package.sh - the Debian package, installed in the guest and run as its unit runs it (issue 19),
# sourced by ../suite.sh inside the VM after lib.sh and daemon.sh. run.sh builds the package
# from the native binary under test (service/packaging/build-deb.sh) and passes it as E2E_DEB.
#
# The guest's root is the host's, read-only: the test lays tmpfs overlays over /usr, /etc and
# /var (overlayfs, loaded up front by run.sh), so that `dpkg -i` really installs, maintainer
# scripts and triggers included, and `dpkg -P` really removes; the overlays go at the end.
# No systemd runs in the guest, so the test does what the unit asks of it: ExecStart and
# WorkingDirectory read from the installed unit, the runtime directory created, NOTIFY_SOCKET
# set, and the daemon's parent named "systemd" (Microsoft.Extensions.Hosting.Systemd turns its
# lifetime on only for a child of systemd). The notifications are checked as systemd would use
# them: READY=1 only once the configured device serves, STOPPING=1 on SIGTERM, exit 0.
# shellcheck shell=bash

PKG_LAYERS="/usr /etc /var"

pkg_overlays_up() {
  local d
  for d in $PKG_LAYERS; do
    mkdir -p "$WORK/overlay$d/upper" "$WORK/overlay$d/work"
    mount -t overlay overlay -o "lowerdir=$d,upperdir=$WORK/overlay$d/upper,workdir=$WORK/overlay$d/work" "$d" ||
      die "cannot lay an overlay over $d (is overlay.ko loaded?)"
  done
}

pkg_overlays_down() {
  local d
  for d in $PKG_LAYERS; do
    if mountpoint -q "$d" && [ "$(findmnt -n -o FSTYPE "$d")" = overlay ]; then umount -l "$d"; fi
  done
  rm -rf "$WORK/overlay"
}

# The value of KEY= in the [Service] section of the installed unit.
pkg_unit_value() { sed -n "s/^$1=//p" /lib/systemd/system/loop-order.service | head -1; }

test_package() {
  [ -n "${E2E_DEB:-}" ] && [ -f "$E2E_DEB" ] || die "no package to install: E2E_DEB='${E2E_DEB:-}' (run.sh builds it from a native LOOPORDER_BIN)"
  export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin   # dpkg runs ldconfig and friends
  command -v dpkg >/dev/null || die "dpkg not found in the guest"
  ! command -v loop-order >/dev/null || die "loop-order is on PATH before the install: $(command -v loop-order)"
  trap pkg_overlays_down EXIT
  pkg_overlays_up

  # man-db's trigger would rebuild the index of every man page on the host's root over 9p (a
  # minute under emulation); what the package puts in place is what is tested, not man-db.
  rm -f /var/lib/man-db/auto-update
  local t0=$SECONDS
  dpkg -i "$E2E_DEB" > "$WORK/dpkg-i.out" 2>&1 || { cat "$WORK/dpkg-i.out"; die "dpkg -i $E2E_DEB failed"; }
  log "installed $(dpkg-query -W -f='${Package} ${Version} (${Status})' loop-order) in $((SECONDS - t0)) s"
  [ "$(command -v loop-order)" = /usr/sbin/loop-order ] || die "loop-order is not /usr/sbin/loop-order on PATH"
  loop-order --version
  local exec_start workdir; exec_start=$(pkg_unit_value ExecStart) workdir=$(pkg_unit_value WorkingDirectory)
  [ "$(pkg_unit_value Type)" = notify ] || die "the installed unit is not Type=notify"
  [ -n "$exec_start" ] && [ -d "$workdir" ] || die "the unit's ExecStart '$exec_start' or WorkingDirectory '$workdir' is unusable"
  log "unit: ExecStart=$exec_start WorkingDirectory=$workdir"

  # The administrator's step: a device in the conffile.
  local img=$SCRATCH/pkg.img mnt=$WORK/mnt
  mkdir -p "$mnt"
  cat > /etc/loop-order/appsettings.json <<JSON
{"LoopOrder": {"Devices": [{"File": "$img", "Size": "128M", "Queues": 2}]}}
JSON

  # systemd's part: the runtime directory (RuntimeDirectory=loop-order, mode 0700), the notify
  # socket, a parent called systemd.
  rm -rf /run/loop-order; mkdir -m 0700 /run/loop-order
  local sock=$WORK/notify.sock notes=$WORK/notify.log
  : > "$notes"
  python3 -u -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    for line in s.recv(4096).decode().splitlines():
        print(line, flush=True)
' "$sock" >> "$notes" 2>&1 &
  local listener=$!
  for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || die "the notify listener did not bind $sock"
  mkdir -p "$WORK/sd"; cp "$(command -v bash)" "$WORK/sd/systemd"
  ( cd "$workdir" && NOTIFY_SOCKET=$sock exec "$WORK/sd/systemd" -c "$exec_start & echo \$! > $WORK/pkg.pid; wait \$!; echo \$? > $WORK/pkg.rc" ) \
    > "$WORK/pkg-daemon.log" 2>&1 &
  local parent=$!
  for _ in $(seq 1 600); do grep -qx 'READY=1' "$notes" && break; kill -0 "$parent" 2>/dev/null || break; sleep 0.1; done
  local pid; pid=$(cat "$WORK/pkg.pid" 2>/dev/null || true)
  [ -n "$pid" ] && echo "$pid" > "$SRV_PIDFILE"
  grep -qx 'READY=1' "$notes" || { cat "$WORK/pkg-daemon.log"; die "no READY=1 from the daemon within 60 s"; }
  # READY=1 means served: the configured device must be up the moment it arrives.
  [ -b /dev/ublkb0 ] || die "READY=1 arrived before /dev/ublkb0 existed"
  [ "$(blockdev --getsize64 /dev/ublkb0)" = $((128 << 20)) ] || die "/dev/ublkb0 is not the configured 128 MiB"
  log "READY=1 from pid $pid (parent $(cat /proc/"$pid"/status | sed -n 's/^PPid:\t*//p'), $(tr '\n' ' ' < "$notes"))"
  grep -q '^<6>' "$WORK/pkg-daemon.log" || die "the daemon under systemd does not log in the journal's format"
  loop-order list

  mkfs.ext4 -q -F /dev/ublkb0
  mount /dev/ublkb0 "$mnt"
  head -c $((4 << 20)) /dev/urandom > "$mnt/blob"
  local sum; sum=$(sha256sum < "$mnt/blob")
  umount "$mnt"

  # systemctl stop: KillSignal=SIGTERM, a clean exit within TimeoutStopSec.
  kill -TERM "$pid"
  for _ in $(seq 1 1200); do [ -s "$WORK/pkg.rc" ] && break; sleep 0.1; done
  [ -s "$WORK/pkg.rc" ] || die "the daemon did not exit within 120 s of SIGTERM"
  wait "$parent" 2>/dev/null || true
  rm -f "$SRV_PIDFILE"
  [ "$(cat "$WORK/pkg.rc")" = 0 ] || { cat "$WORK/pkg-daemon.log"; die "the daemon exited $(cat "$WORK/pkg.rc") after SIGTERM"; }
  grep -qx 'STOPPING=1' "$notes" || die "no STOPPING=1 on SIGTERM: $(tr '\n' ' ' < "$notes")"
  kill "$listener" 2>/dev/null; wait "$listener" 2>/dev/null || true
  [ ! -e /dev/ublkb0 ] || die "/dev/ublkb0 left after the stop"
  e2fsck -fn "$img" > /dev/null || die "e2fsck found problems in $img after the service stopped"
  local back=$WORK/back; mkdir -p "$back"
  mount -o ro,loop "$img" "$back"
  [ "$(sha256sum < "$back/blob")" = "$sum" ] || { umount "$back"; die "the file written through the service differs in the backing file"; }
  umount "$back"

  dpkg -P loop-order > "$WORK/dpkg-p.out" 2>&1 || { cat "$WORK/dpkg-p.out"; die "dpkg -P loop-order failed"; }
  [ ! -e /usr/sbin/loop-order ] && [ ! -e /etc/loop-order ] && [ ! -e /lib/systemd/system/loop-order.service ] ||
    die "files left after dpkg -P"
  log "purged: no loop-order files left"
}

if [ -n "${E2E_DEB:-}" ]; then
  TESTS="$TESTS package"
else
  [ -n "${E2E_ONLY:-}" ] || log "package: not run (no E2E_DEB: the suite runs a JIT loop-order, and the package holds the native one)"
fi
