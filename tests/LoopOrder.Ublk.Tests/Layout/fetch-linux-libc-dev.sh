#!/bin/bash
# Fallback for tests/vm/fetch-headers.sh: unpack linux-libc-dev from bookworm-backports (the VM
# kernel's 6.12 line) under tests/vm/.cache/headers-ublk with a private apt state, without
# installing it, and print the gcc flags for it. Idempotent; needs apt-get and dpkg-deb.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
H=$root/tests/vm/.cache/headers-ublk
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
inc=$H/root/usr/include
if ! grep -q UBLK_U_CMD_GET_FEATURES "$inc/linux/ublk_cmd.h" 2>/dev/null; then
  rm -rf "$H"; mkdir -p "$H/lists/partial" "$H/cache/archives/partial" "$H/debs"
  mirror=$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm-backports main" > "$H/sources.list"
  APT=(-o Dir::Etc::SourceList="$H/sources.list" -o Dir::Etc::SourceParts=/nonexistent
       -o Dir::State::Lists="$H/lists" -o Dir::Cache="$H/cache" -o Dir::State::Status=/dev/null
       -o APT::Sandbox::User="$(id -un)" -o Debug::NoLocking=1)
  apt-get "${APT[@]}" update -qq >&2
  (cd "$H/debs" && apt-get "${APT[@]}" download -qq linux-libc-dev/bookworm-backports >&2)
  dpkg-deb -x "$H"/debs/linux-libc-dev_*.deb "$H/root"
fi
echo "-I$inc -I$inc/$arch"
