#!/bin/bash
# check-deb.sh [DEB] - the package works as a system tool on this host: builds it (build-deb.sh)
# unless DEB is given, checks its file list, installs it with dpkg -i, runs `loop-order --version`,
# `man loop-order` and the bash completion, then purges it (dpkg -P, so the conffile goes too).
# Root; refuses to run where loop-order is already installed (it would remove that one).
# Prints "check-deb: ok" and exits 0, or says what failed and exits 1.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
if dpkg-query -W -f='${Status}' loop-order 2>/dev/null | grep -q installed; then
  fail "loop-order is already installed here; not touching it"
fi
[ ! -e /etc/loop-order ] || fail "/etc/loop-order exists; not touching it"

deb=${1:-$("$here/build-deb.sh" "$root/artifacts/deb/out")}
echo "check-deb: $deb"

list=$(dpkg-deb -c "$deb")
for f in ./usr/sbin/loop-order ./lib/systemd/system/loop-order.service ./etc/loop-order/appsettings.json \
         ./usr/share/man/man8/loop-order.8.gz ./usr/share/bash-completion/completions/loop-order; do
  grep -q " $f\$" <<<"$list" || fail "$f is not in the package"
done
[ "$(dpkg-deb -f "$deb" Package)" = loop-order ] || fail "package name"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/loop-order/appsettings.json || fail "appsettings.json is no conffile"
grep -q '^Type=notify$' <(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/loop-order.service) || fail "the unit lost Type=notify"
echo "check-deb: contents ok"

trap 'dpkg -P loop-order >/dev/null 2>&1 || true' EXIT
dpkg -i "$deb" >/dev/null || fail "dpkg -i"
[ "$(command -v loop-order)" = /usr/sbin/loop-order ] || fail "loop-order is not /usr/sbin/loop-order on PATH"
file_type=$(head -c 4 /usr/sbin/loop-order | od -An -c | tr -d ' ')
[ "$file_type" = '177ELF' ] || fail "/usr/sbin/loop-order is no ELF executable"
version=$(loop-order --version) || fail "loop-order --version"
echo "check-deb: loop-order --version: $version"
MANPAGER=cat MANWIDTH=80 man loop-order 2>/dev/null | grep -q 'loop-order serve' || fail "man loop-order"
echo "check-deb: man loop-order: ok"
# The completion asks the binary: "loop-order se<TAB>" must offer serve.
got=$(bash -c '. /usr/share/bash-completion/completions/loop-order
  COMP_LINE="loop-order se"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(loop-order se); COMP_CWORD=1
  _loop_order; printf "%s\n" "${COMPREPLY[@]}"')
[ "$got" = serve ] || fail "completion of 'loop-order se' gave '$got'"
got=$(bash -c '. /usr/share/bash-completion/completions/loop-order
  COMP_LINE="loop-order serve --ord"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(loop-order serve --ord); COMP_CWORD=2
  _loop_order; printf "%s\n" "${COMPREPLY[@]}"')
[ "$got" = --ordering ] || fail "completion of 'loop-order serve --ord' gave '$got'"
echo "check-deb: bash completion: ok"
# No daemon here: the client says so in plain words.
rc=0; msg=$(LOOP_ORDER_RUNTIME_DIR=/nonexistent/run loop-order stats 0 2>&1) || rc=$?
[ "$rc" = 69 ] && grep -q 'no loop-order daemon at /nonexistent/run/control.sock (no such socket)' <<<"$msg" || fail "stats without a daemon: $rc $msg"
dpkg -P loop-order >/dev/null || fail "dpkg -P"
trap - EXIT
[ ! -e /usr/sbin/loop-order ] && [ ! -e /etc/loop-order ] || fail "files left after dpkg -P"
echo "check-deb: ok"
