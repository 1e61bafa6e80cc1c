#!/bin/bash
# build-deb.sh OUTDIR - the Debian package: OUTDIR/loop-order_VERSION_amd64.deb, built with
# dpkg-deb from this tree alone (no network beyond the NuGet feed the build itself uses):
#   /usr/sbin/loop-order                               the native binary (publish-native.sh)
#   /lib/systemd/system/loop-order.service             the unit (service/loop-order.service)
#   /etc/loop-order/appsettings.json                   a conffile: no devices, information logs
#   /usr/share/man/man8/loop-order.8.gz                the man page (service/packaging/loop-order.8)
#   /usr/share/bash-completion/completions/loop-order  completion through System.CommandLine's [suggest]
#   /usr/share/doc/loop-order/README.md
# VERSION is the binary's own (`loop-order --version`, without its +commit), or $DEB_VERSION.
# LOOPORDER_NATIVE=DIR takes the binary from DIR instead of publishing it again.
# Prints the package's path.
set -euo pipefail
[ $# = 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v dpkg-deb >/dev/null || { echo "build-deb.sh: dpkg-deb is missing (apt-get install dpkg)" >&2; exit 69; }

native=${LOOPORDER_NATIVE:-$root/artifacts/deb/native}
if [ -z "${LOOPORDER_NATIVE:-}" ]; then
  "$here/publish-native.sh" "$native" >/dev/null
fi
bin=$native/loop-order
[ -x "$bin" ] || { echo "build-deb.sh: $bin missing" >&2; exit 1; }
version=${DEB_VERSION:-$("$bin" --version)}
version=${version%%+*}

pkg=$root/artifacts/deb/pkg
rm -rf "$pkg"
install -D -m 0755 "$bin" "$pkg/usr/sbin/loop-order"
install -D -m 0644 "$root/service/loop-order.service" "$pkg/lib/systemd/system/loop-order.service"
install -D -m 0644 "$here/appsettings.json" "$pkg/etc/loop-order/appsettings.json"
install -d "$pkg/usr/share/man/man8"
gzip -9n < "$here/loop-order.8" > "$pkg/usr/share/man/man8/loop-order.8.gz"
chmod 0644 "$pkg/usr/share/man/man8/loop-order.8.gz"
install -D -m 0644 "$here/loop-order.bash-completion" "$pkg/usr/share/bash-completion/completions/loop-order"
install -D -m 0644 "$root/README.md" "$pkg/usr/share/doc/loop-order/README.md"

install -d "$pkg/DEBIAN"
echo /etc/loop-order/appsettings.json > "$pkg/DEBIAN/conffiles"
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: loop-order
Version: $version
Architecture: amd64
Maintainer: LoopOrder developers <loop-order@localhost>
Depends: libc6 (>= 2.34)
Recommends: kmod
Suggests: qemu-utils, librbd1
Section: admin
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
Description: ublk block devices backed by files, with ordered flushes
 LoopOrder serves /dev/ublkbN from a file (as the loop driver does) or from
 memory through the kernel's ublk_drv, and gives flushes a promise the loop
 driver does not: a flush's fdatasync starts only after every write received
 before it, on every queue, has landed in the file. A snapshot of the live
 backing file is an image a journaling filesystem can replay.
 .
 One native executable (no .NET runtime needed), a systemd unit (Type=notify,
 not enabled on install: systemctl enable --now loop-order), a man page and
 bash completion.
CONTROL
# The unit is new or changed: let a running systemd see it (nothing is enabled or started).
cat > "$pkg/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
SCRIPT
cat > "$pkg/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
SCRIPT
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/postrm"

mkdir -p "$out"
deb=$out/loop-order_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
