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

# The kernels the tests run on: VM_KERNEL=6.12 (default) or 7.3, or a Debian suite name.
# Bookworm's own 6.1 kernel has CONFIG_BLK_DEV_UBLK unset; bookworm-backports carries 6.12, and
# trixie-backports 7.3 (packaged split: see run-vm.sh). VM_KERNEL_SUITE alone (the old knob)
# still picks the suite. VM_KERNEL_KEY names the kernel's cache dir and the headers' dir;
# VM_KERNEL_PREFIX is the version wanted from the suite (empty: its newest).
VM_KERNELS="6.12 7.3"      # what tests/run-all.sh runs the VM suite on
vm_kernel_select() {
  local k=${VM_KERNEL:-}
  if [ -z "$k" ]; then
    case ${VM_KERNEL_SUITE:-bookworm-backports} in
      bookworm-backports) k=6.12 ;;
      trixie-backports) k=7.3 ;;
      *) k=$VM_KERNEL_SUITE ;;
    esac
  fi
  case $k in
    6.12) VM_KERNEL_SUITE=bookworm-backports VM_KERNEL_PREFIX=6.12. ;;
    7.3) VM_KERNEL_SUITE=trixie-backports VM_KERNEL_PREFIX=7.3. ;;
    [0-9]*) vm_die "VM_KERNEL=$k: known kernels are $VM_KERNELS (or give a Debian suite name)" ;;
    *) VM_KERNEL_SUITE=$k VM_KERNEL_PREFIX='' ;;
  esac
  VM_KERNEL=$k
  VM_KERNEL_KEY=${k//[^A-Za-z0-9.-]/_}
  VM_KERNEL_DIR=$VM_CACHE/kernel-$VM_KERNEL_KEY
}

vm_log() { echo "[${0##*/} $(date +%T)] $*" >&2; }
vm_die() { vm_log "error: $*"; exit "${VM_DIE_RC:-3}"; }
vm_kernel_select

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
  # every kernel's suite at once, so that switching VM_KERNEL does not update the lists again
  want=$(for suite in "$base" bookworm-backports trixie-backports "$VM_KERNEL_SUITE"; do
           echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $src $suite main"
         done | sort -u)
  mkdir -p "$VM_APT_DIR/lists/partial" "$VM_APT_DIR/cache/archives/partial" "$VM_APT_DIR/none"
  if [ "$(cat "$VM_APT_DIR/sources.list" 2>/dev/null)" != "$want" ] || [ ! -f "$VM_APT_DIR/updated" ] ||
     [ -n "$(find "$VM_APT_DIR/updated" -mtime "+${VM_APT_MAX_AGE:-7}" 2>/dev/null)" ]; then
    vm_log "apt-get update (private lists in $VM_APT_DIR: $(echo "$want" | awk '{print $4}' | tr '\n' ' ')from $src)"
    rm -f "$VM_APT_DIR/updated"
    echo "$want" > "$VM_APT_DIR/sources.list"
    apt-get "${VM_APT[@]}" update || vm_die "apt-get update of the private lists failed"
    touch "$VM_APT_DIR/updated"
  fi
}

# Version of package $1 offered by suite $2 in the private lists (empty if none): the newest
# one that starts with $3 when given, else the newest.
vm_apt_version() {
  apt-cache "${VM_APT[@]}" madison "$1" |
    awk -F' *[|] *' -v s=" $2/" -v p="${3:-}" '$3 ~ s && index($2, p) == 1 {print $2; exit}'
}

# `apt-get download` $2... into directory $1 (a package may be given as name=version).
vm_apt_download() {
  local dir=$1; shift
  mkdir -p "$dir"
  (cd "$dir" && apt-get "${VM_APT[@]}" download "$@") || vm_die "apt-get download $* failed"
}
