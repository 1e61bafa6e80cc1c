# shellcheck shell=bash
# lib.sh - shared by run-vm.sh and fetch-headers.sh (sourced, not run).
#
# Both scripts fetch Debian packages with `apt-get download` through a private apt state
# under the cache (own sources.list, lists, archives), so the host's apt configuration and
# its installed packages are never touched, and take them from the same suite so that the
# headers match the VM's kernel.

VM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_LIB_DIR/../.." && pwd)
VM_CACHE=${VM_CACHE:-$REPO/tests/vm/.cache}
# Bookworm's own 6.1 kernel has CONFIG_BLK_DEV_UBLK unset; backports carries 6.12.
VM_KERNEL_SUITE=${VM_KERNEL_SUITE:-bookworm-backports}

vm_log() { echo "[${0##*/} $(date +%T)] $*" >&2; }
vm_die() { vm_log "error: $*"; exit "${VM_DIE_RC:-3}"; }

VM_APT_DIR=$VM_CACHE/apt
VM_APT=(-o Dir::Etc::SourceList="$VM_APT_DIR/sources.list" -o Dir::Etc::SourceParts="$VM_APT_DIR/none"
        -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$VM_APT_DIR/none"
        -o Dir::State::Lists="$VM_APT_DIR/lists" -o Dir::Cache="$VM_APT_DIR/cache"
        -o Dir::State::Status=/dev/null -o APT::Sandbox::User=root -q=2)

# Serialise users of one cache: a second run waits instead of clobbering the first's files.
# $1: lock name, fd 8 (apt) or 9 (vm) so that both can be held at once.
vm_lock() {
  local name=$1 fd=$2
  mkdir -p "$VM_CACHE"
  eval "exec $fd>\"\$VM_CACHE/$name.lock\""
  if ! flock -n "$fd"; then
    vm_log "waiting for $VM_CACHE/$name.lock (another run uses this cache)"
    flock "$fd"
  fi
}

# The Debian mirror the host already uses (its main archive), unless VM_MIRROR says otherwise.
vm_mirror() {
  local m=${VM_MIRROR:-}
  [ -n "$m" ] || m=$(sed -n 's/^URIs: *\([^ ]*debian\) *$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  [ -n "$m" ] || m=$(awk '$1=="deb" && $0 !~ /security/ {print ($2 ~ /^\[/ ? $3 : $2); exit}' \
                       /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
  echo "${m:-http://deb.debian.org/debian}"
}

# Make the private apt lists usable: (re)write sources.list and run `apt-get update` when the
# lists are missing, older than VM_APT_MAX_AGE days, or the suite/mirror changed. Caller holds
# the apt lock.
vm_apt_ready() {
  local base src want
  base=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  src=$(vm_mirror)
  want=$(for suite in "$base" "$VM_KERNEL_SUITE"; do
           echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $src $suite main"
         done | sort -u)
  mkdir -p "$VM_APT_DIR/lists/partial" "$VM_APT_DIR/cache/archives/partial" "$VM_APT_DIR/none"
  if [ "$(cat "$VM_APT_DIR/sources.list" 2>/dev/null)" != "$want" ] || [ ! -f "$VM_APT_DIR/updated" ] ||
     [ -n "$(find "$VM_APT_DIR/updated" -mtime "+${VM_APT_MAX_AGE:-7}" 2>/dev/null)" ]; then
    vm_log "apt-get update (private lists in $VM_APT_DIR: $base, $VM_KERNEL_SUITE from $src)"
    rm -f "$VM_APT_DIR/updated"
    echo "$want" > "$VM_APT_DIR/sources.list"
    apt-get "${VM_APT[@]}" update || vm_die "apt-get update of the private lists failed"
    touch "$VM_APT_DIR/updated"
  fi
}

# Version of package $1 offered by suite $2 in the private lists (empty if none).
vm_apt_version() {
  apt-cache "${VM_APT[@]}" madison "$1" | awk -F' *[|] *' -v s=" $2/" '$3 ~ s {print $2; exit}'
}

# `apt-get download` $2... into directory $1 (a package may be given as name=version).
vm_apt_download() {
  local dir=$1; shift
  mkdir -p "$dir"
  (cd "$dir" && apt-get "${VM_APT[@]}" download "$@") || vm_die "apt-get download $* failed"
}
