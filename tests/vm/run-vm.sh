#!/bin/bash
# run-vm.sh - run a shell command inside a throw-away qemu VM whose kernel has ublk_drv.
#
# Usage: tests/vm/run-vm.sh 'COMMAND ...'     (run by /bin/sh inside the guest, as root)
#
# The guest's root is the host's / read-only over 9p, so the host's tools, dotnet and the
# repository's build outputs run inside it; /tmp /var/tmp /run /dev/shm are the guest's own
# tmpfs. The command starts in the caller's directory and its exit status becomes this
# script's; 125 means no status came back (panic, timeout, boot failure). See README.md.
#
# Knobs (environment):
#   VM_CACHE=tests/vm/.cache   kernel, modules, initramfs, private apt state, scratch disk
#   VM_SHARED=$VM_CACHE/shared read-write folder shared with the guest, same path inside;
#                              the guest's kernel log lands in $VM_SHARED/.vm/dmesg
#   VM_DISK=                   e.g. 4G: a scratch virtio disk, ext4 at /tmp/scratch in the guest
#                              (fsync costs what it costs on a disk; on tmpfs it is free);
#                              its image, $VM_CACHE/scratch.img, is reused and re-formatted
#   VM_MODULES=                extra modules to load (with dependencies), comma list, e.g.
#                              btrfs,dm-log-writes,dm-thin-pool,dm-snapshot; always loaded:
#                              loop,ublk_drv,virtio_blk,ext4 (+crc32c)
#   VM_ENV="A=1 B"             variables for the command: NAME=VALUE, or NAME to copy the host's
#   VM_ENV_FILE=file           more of them, one NAME=VALUE a line (value taken verbatim)
#   VM_KEEP=/tmp/x,/tmp/y      host dirs under /tmp to show read-only (the repository, the
#                              cache and the current directory are added when under /tmp)
#   VM_LOG=file                also append the guest console to this file
#   VM_TIMEOUT=1800  VM_MEM=4096  VM_CPUS=2  VM_ACCEL=tcg (or kvm)  VM_CPU=max (host for kvm)
#   VM_PANIC_ON_OOPS=1         an oops, a hung task, a soft lockup or an RCU stall panics the
#                              guest: qemu exits at once, the trace is printed, exit 125
#   VM_APPEND=                 extra kernel command line
#   VM_INTERACTIVE=1           give the command the terminal (e.g. run-vm.sh bash)
#   VM_KERNEL=6.12             the guest kernel: 6.12 (bookworm-backports) or 7.3
#                              (trixie-backports), or a Debian suite name; each is cached in
#                              $VM_CACHE/kernel-$VM_KERNEL. VM_KERNEL_SUITE=<suite> (old knob)
#                              still works when VM_KERNEL is unset.
#   VM_MIRROR=<from the host's apt sources>
#   VM_REFRESH=1               fetch the kernel again (newest of its version in the suite)
#   VM_FETCH_ONLY=1            fetch the kernel (if not cached) and exit without booting
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run-vm.sh: needs root" >&2; exit 2; }
# A harness failure must not pass for the command's own status: it gets 125 like a run that
# never reported one.
# shellcheck disable=SC2034 # read by vm_die
VM_DIE_RC=125
trap 'vm_log "error: run-vm.sh failed at line $LINENO"; exit 125' ERR

VM_SHARED=${VM_SHARED:-$VM_CACHE/shared}
VM_DISK=${VM_DISK:-}
VM_MEM=${VM_MEM:-4096}
VM_CPUS=${VM_CPUS:-2}
VM_ACCEL=${VM_ACCEL:-tcg}
VM_TIMEOUT=${VM_TIMEOUT:-1800}
VM_PANIC_ON_OOPS=${VM_PANIC_ON_OOPS:-1}
VM_INTERACTIVE=${VM_INTERACTIVE:-0}
VM_CWD=${VM_CWD:-$PWD}

# a filesystem module is useless in the guest without the host's tools for it
extra=()
case ",${VM_MODULES:-}," in *,btrfs,*) extra+=(btrfs-progs) ;; esac
case ",${VM_MODULES:-}," in *,xfs,*) extra+=(xfsprogs) ;; esac
"$VM_LIB_DIR/host-deps.sh" "${extra[@]}" || exit 125
mkdir -p "$VM_CACHE" "$VM_SHARED"
VM_CACHE=$(cd "$VM_CACHE" && pwd)
VM_SHARED=$(cd "$VM_SHARED" && pwd)
vm_lock vm 9          # one VM per cache at a time: the files below are per cache

# ---------------------------------------------------------------- kernel + busybox
# One dir per kernel ($VM_CACHE/kernel-6.12, kernel-7.3), each with the unpacked packages in
# root/ and busybox (from the host's own suite) in bb/. Debian's 6.12 ships vmlinuz and the
# modules in linux-image-<abi> (/boot, /lib/modules); 7.x makes linux-image-<abi> a stub that
# depends on linux-binary-<abi> (/usr/lib/modules/<ver>/vmlinuz), linux-modules-<abi>
# (/usr/lib/modules/<ver>/kernel) and linux-base-<abi> (config, modules.builtin there too):
# both layouts are found below.
K=$VM_KERNEL_DIR
kernel_paths() {
  local m
  for m in "$K/root/lib/modules" "$K/root/usr/lib/modules"; do
    KVER=$(find "$m" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | head -1)
    [ -n "$KVER" ] && { MODDIR=$m/$KVER; break; }
  done
  [ -n "$KVER" ] || return 1
  VMLINUZ=$K/root/boot/vmlinuz-$KVER
  [ -s "$VMLINUZ" ] || VMLINUZ=$MODDIR/vmlinuz
  KCONFIG=$K/root/boot/config-$KVER
  [ -s "$KCONFIG" ] || KCONFIG=$MODDIR/config
}
kernel_ok() {
  [ "$(cat "$K/ok" 2>/dev/null)" = "$VM_KERNEL_SUITE $VM_KERNEL_PREFIX" ] && kernel_paths &&
    [ -s "$VMLINUZ" ] && [ -d "$MODDIR/kernel" ] && [ -x "$K/bb/bin/busybox" ]
}
if [ "${VM_REFRESH:-0}" = 1 ] || ! kernel_ok; then
  vm_lock apt 8
  [ "${VM_REFRESH:-0}" = 1 ] && rm -f "$VM_APT_DIR/updated"
  vm_log "fetching kernel $VM_KERNEL from $VM_KERNEL_SUITE and busybox-static (apt-get download; nothing is installed)"
  rm -rf "$K"
  vm_apt_ready
  # linux-image-amd64 (meta) -> linux-image-<abi>-amd64 [-> linux-binary-<abi>, linux-modules-<abi>]
  meta=$(vm_apt_version linux-image-amd64 "$VM_KERNEL_SUITE" "$VM_KERNEL_PREFIX")
  if [ -z "$meta" ] && [ -n "$VM_KERNEL_PREFIX" ]; then
    meta=$(vm_apt_version linux-image-amd64 "$VM_KERNEL_SUITE")
    [ -n "$meta" ] && vm_log "WARNING: $VM_KERNEL_SUITE has no ${VM_KERNEL_PREFIX}x kernel any more; taking $meta"
  fi
  [ -n "$meta" ] || vm_die "no linux-image-amd64 in $VM_KERNEL_SUITE"
  deps() {   # the linux-$2-* packages package $1 depends on
    apt-cache "${VM_APT[@]}" show "$1" | sed -n 's/^Depends: //p' | head -1 | tr ',|' '\n\n' |
      sed -n "s/^ *\(linux-$2-[^ ]*\).*/\1/p"
  }
  kpkg=$(deps "linux-image-amd64=$meta" image | head -1)
  [ -n "$kpkg" ] || vm_die "cannot resolve the kernel package of linux-image-amd64 $meta"
  mapfile -t parts < <(deps "$kpkg" '\(binary\|modules\|base\)')
  vm_apt_download "$K/debs" "$kpkg" "${parts[@]}" busybox-static
  mkdir -p "$K/root" "$K/bb"
  for d in "$K"/debs/linux-*.deb; do dpkg-deb -x "$d" "$K/root"; done
  dpkg-deb -x "$K"/debs/busybox-static_*.deb "$K/bb"
  dpkg-deb -f "$K"/debs/"$kpkg"_*.deb Version > "$K/version"   # fetch-headers.sh matches it
  rm -rf "$K/debs"
  echo "$VM_KERNEL_SUITE $VM_KERNEL_PREFIX" > "$K/ok"
  exec 8>&-
  kernel_ok || vm_die "the fetched kernel is incomplete (no vmlinuz or modules under $K/root)"
  vm_log "kernel $KVER ($(cat "$K/version"); ${kpkg}${parts[*]:+ + ${parts[*]}})"
fi
grep -q '^CONFIG_BLK_DEV_UBLK=[my]' "$KCONFIG" 2>/dev/null || vm_log "WARNING: $KVER has no CONFIG_BLK_DEV_UBLK (or no config at $KCONFIG)"
# .ci/run fetches both kernels while it builds, then boots them later.
if [ "${VM_FETCH_ONLY:-0}" = 1 ]; then vm_log "kernel $KVER is in $K (VM_FETCH_ONLY: not booted)"; exit 0; fi

# ---------------------------------------------------------------- initramfs
# Modules in dependency order (modinfo's depends): 9p first, then the defaults and VM_MODULES.
# A module built into this kernel needs nothing; one that is neither a file nor built in kills
# the boot, unless it is optional (a leading ?). crc32c is asked of the crypto API at mount
# time, not a module dependency, so ext4 and btrfs get it by hand: its implementations were
# modules up to 6.12 (crc32c_generic, crc32c-intel, libcrc32c) and are library code built in
# on 7.x, hence optional.
declare -A seen=()
order=()
addmod() {
  local want=$1 opt=0 name f dep
  case $want in '?'*) opt=1 want=${want#?} ;; esac
  name=${want//-/_}
  [ -n "${seen[$name]:-}" ] && return 0
  seen[$name]=1
  f=$(find "$MODDIR/kernel" \( -name "$name.ko*" -o -name "${name//_/-}.ko*" \) | head -1)
  if [ -z "$f" ]; then
    grep -Eq "/(${name}|${name//_/-})\.ko\$" "$MODDIR/modules.builtin" && return 0
    [ "$opt" = 1 ] && return 0
    vm_die "module $want: neither a module nor built in on $KVER"
  fi
  for dep in $(modinfo -F depends "$f" | tr , ' '); do addmod "$dep"; done
  order+=("$f")
}
mods="netfs 9pnet 9pnet_virtio 9p loop ublk_drv virtio_blk ext4 ${VM_MODULES:-}"
mods=${mods//,/ }
case " $mods " in *" ext4 "*|*" btrfs "*) mods="?crc32c_generic ?crc32c-intel ?libcrc32c $mods" ;; esac
for m in $mods; do addmod "$m"; done

key=$( { echo "$KVER"; printf '%s\n' "${order[@]}"; cat "$VM_LIB_DIR/init.sh"; } | sha256sum | cut -c1-16)
INITRD=$K/initramfs-$key.cpio.gz
if [ ! -s "$INITRD" ]; then
  IR=$K/initramfs.d
  rm -rf "$IR" "$K"/initramfs-*.cpio.gz
  mkdir -p "$IR"/{bin,dev,proc,sys,newroot,hosttmp,lib/modules}
  cp "$K/bb/bin/busybox" "$IR/bin/busybox"
  cp "$VM_LIB_DIR/init.sh" "$IR/init"
  chmod 755 "$IR/init"
  for f in "${order[@]}"; do
    b=$(basename "$f"); b=${b%%.ko*}
    case $f in *.xz) xz -dc "$f" ;; *.zst) zstd -qdc "$f" ;; *) cat "$f" ;; esac > "$IR/lib/modules/$b.ko"
    echo "$b" >> "$IR/lib/modules/order"
  done
  (cd "$IR" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$IR"
fi

# ---------------------------------------------------------------- what the guest runs
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }       # single-quote for /bin/sh
CTL=$VM_SHARED/.vm
rm -rf "$CTL"; mkdir -p "$CTL"

keep='' keep_in=${VM_KEEP:-}
for d in ${keep_in//,/ }; do
  case $d in /tmp/?*) [ -e "$d" ] || vm_die "VM_KEEP: $d does not exist" ;;
             *) vm_die "VM_KEEP: $d is not under /tmp (everything else is visible anyway)" ;; esac
  keep="$keep,$d"
done
for d in "$REPO" "$VM_CACHE" "$VM_CWD"; do
  case $d in /tmp/?*) keep="$keep,$d" ;; esac
done
DISK=() disk_dev=
if [ -n "$VM_DISK" ]; then
  img=$VM_CACHE/scratch.img
  # Kept between runs and formatted afresh (without discard): unlinking an image the guest had
  # written at random took 5-20 s here, and blocks the host already allocated make the guest's
  # I/O cost less noisy.
  truncate -s "$VM_DISK" "$img"
  # cache=none (O_DIRECT) so that a guest flush reaches the host's disk; tmpfs may refuse O_DIRECT
  if dd if=/dev/zero of="$img" bs=4096 count=1 oflag=direct conv=notrunc status=none 2>/dev/null; then
    DISK=(-drive "file=$img,if=virtio,format=raw,cache=none,aio=native")
  else
    vm_log "WARNING: $VM_CACHE refuses O_DIRECT; the scratch disk goes through the host page cache"
    DISK=(-drive "file=$img,if=virtio,format=raw,cache=writeback")
  fi
  # Formatted here, fully (no lazy init), so no ext4lazyinit thread writes behind the tests' backs.
  mkfs.ext4 -q -F -L scratch -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$img"
  disk_dev=/dev/vda
fi
{
  echo "VM_SHARED=$(q "$VM_SHARED")"
  echo "VM_KEEP=$(q "${keep#,}")"
  echo "VM_INTERACTIVE=$(q "$VM_INTERACTIVE")"
  echo "VM_DISK_DEV=$disk_dev"
} > "$CTL/config"

dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet 2>/dev/null || echo /usr/share/dotnet/dotnet)")")
{
  echo "# written by run-vm.sh"
  # HOME and the CLI's home on tmpfs: the first run of dotnet writes sentinels there, and the
  # host's root is read-only. No udev in the guest: dmsetup/lvm must not wait for it.
  # TERM=dumb unless interactive: .NET and others emit terminal escapes into the log otherwise
  term=dumb
  [ "$VM_INTERACTIVE" = 1 ] && term=${TERM:-dumb}
  echo "export HOME=/tmp/home DOTNET_CLI_HOME=/tmp/home TMPDIR=/tmp TERM=$term LANG=C.UTF-8"
  echo "export VM_GUEST=1 DOTNET_ROOT=$(q "$dotnet_root") DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1"
  echo "export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE=1"
  echo "export DOTNET_GENERATE_ASPNET_CERTIFICATE=false DOTNET_ADD_GLOBAL_TOOLS_TO_PATH=0 DOTNET_CLI_USE_MSBUILD_SERVER=0"
  echo "export DM_DISABLE_UDEV=1"
  # the host's package cache, read-only, for `dotnet test --no-build` and the like
  nuget=${NUGET_PACKAGES:-$HOME/.nuget/packages}
  [ -d "$nuget" ] && echo "export NUGET_PACKAGES=$(q "$nuget")"
  [ -n "$disk_dev" ] && echo "export VM_SCRATCH=/tmp/scratch"
  for w in ${VM_ENV:-}; do
    case $w in
      *=*) n=${w%%=*}; v=${w#*=} ;;
      *)   n=$w; [ -n "${!w+set}" ] || continue; v=${!w} ;;   # unset on the host: left unset
    esac
    [[ $n =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || vm_die "VM_ENV: bad name '$n'"
    echo "export $n=$(q "$v")"
  done
  if [ -n "${VM_ENV_FILE:-}" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      case $line in ''|'#'*) continue ;; esac
      n=${line%%=*}
      [[ $line == *=* && $n =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || vm_die "VM_ENV_FILE: bad line '$line'"
      echo "export $n=$(q "${line#*=}")"
    done < "$VM_ENV_FILE"
  fi
  # shellcheck disable=SC2016 # expanded in the guest
  echo 'mkdir -p "$HOME"'
  echo "cd $(q "$VM_CWD") 2>/dev/null || cd \"\$VM_SHARED\""
  printf '%s\n' "$*"
} > "$CTL/cmd.sh"

# ---------------------------------------------------------------- run
case $VM_ACCEL in
  kvm) ACC=(-accel kvm -cpu "${VM_CPU:-host}") ;;
  *)   ACC=(-accel "tcg,thread=multi" -cpu "${VM_CPU:-max}") ;;
esac
# qboot (qemu-system-data) boots -kernel ~1.5 s faster than SeaBIOS and prints nothing
BIOS=()
[ -f /usr/share/qemu/qboot.rom ] && BIOS=(-bios /usr/share/qemu/qboot.rom)
# no_timer_check: the kernel's early check that the IO-APIC timer ticks can fail when the host is
# loaded enough to starve the emulated CPU for a moment; it then panics at boot ("IO-APIC + timer
# doesn't work!", seen at host load ~45). A VM's timer is qemu's and works.
append="console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off no_timer_check"
# A kernel in trouble ends the run at once, with its trace on the console, instead of letting the
# suite hang until VM_TIMEOUT: an oops, a task stuck in D state for 120 s (the default
# hung_task_timeout_secs), a soft lockup, an RCU stall all panic (both 6.12 and 7.3 take these
# parameters). The stall and lockup thresholds are raised from 21 s / 20 s to 60 s / 40 s: under
# TCG on a loaded 2-core host a vCPU can lose the host CPU for seconds, and a false panic costs a
# whole suite run; a real stall lasts for good.
[ "$VM_PANIC_ON_OOPS" = 1 ] &&
  append="$append oops=panic hung_task_panic=1 softlockup_panic=1 watchdog_thresh=20 sysctl.kernel.panic_on_rcu_stall=1 rcupdate.rcu_cpu_stall_timeout=60"
append="$append ${VM_APPEND:-}"
console=$VM_CACHE/console.log
: > "$console"
stdin=/dev/null
[ "$VM_INTERACTIVE" = 1 ] && stdin=/dev/tty
echo "$KVER" > "$CTL/kernel"      # for callers that report which kernel ran (e2e/run.sh)
vm_log "booting $KVER (accel=$VM_ACCEL, $VM_CPUS vCPU, $VM_MEM MiB${VM_DISK:+, disk $VM_DISK})"
t0=$(date +%s.%N)
set +e
# -no-reboot with panic=-1: a panic ends qemu at once instead of rebooting the guest
timeout --foreground -k 10 "$VM_TIMEOUT" qemu-system-x86_64 -M q35 "${ACC[@]}" -smp "$VM_CPUS" -m "$VM_MEM" \
  -nographic -no-reboot -nic none "${BIOS[@]}" "${DISK[@]}" \
  -kernel "$VMLINUZ" -initrd "$INITRD" -append "$append" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$VM_SHARED,mount_tag=shared,security_model=none" \
  <"$stdin" 2>&1 | tee -a "$console" ${VM_LOG:+"$VM_LOG"}
qrc=${PIPESTATUS[0]}
set -e
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')

# Kernel trouble short of a panic (WARN, BUG, oops, lockups, hung tasks) is easy to miss in a
# passing run: say so, from the guest's full log when it came back.
klog=$CTL/dmesg
[ -s "$klog" ] || klog=$console
trouble=$(grep -aE 'Kernel panic|BUG:|Oops|WARNING: CPU|soft lockup|hard LOCKUP|rcu_sched self-detected|rcu: INFO|blocked for more than' "$klog" | head -5 || true)
if [ -n "$trouble" ]; then
  vm_log "kernel trouble (full log: $klog):"
  while IFS= read -r l; do echo "    $l"; done <<<"$trouble" >&2
fi

if [ -f "$CTL/rc" ]; then
  rc=$(cat "$CTL/rc")
  vm_log "command exited $rc; VM ran $secs s"
  exit "$rc"
fi
if grep -aq 'Kernel panic' "$console"; then
  # The first report (BUG:, Oops:, a lockup, a stall, a hung task, or the panic itself) and its
  # call trace, through its end marker, bounded; then the panic line if it came later. Also in
  # $CTL/panic, for callers that summarise (e2e/run.sh).
  tr -d '\r' < "$console" | awk '
    !state && /Kernel panic|BUG:|Oops:|INFO: task .* blocked for more than|rcu: INFO: rcu_.* detected|rcu_.* self-detected stall|watchdog: BUG: soft lockup|hard LOCKUP/ { state = 1 }
    state == 1 {
      if (n++ < 80 || /Kernel panic - not syncing/) print
      if (/---\[ end Kernel panic/) exit
      if (/---\[ end trace/) state = 2
      next
    }
    state == 2 && /Kernel panic - not syncing/ { print; exit }' > "$CTL/panic"
  vm_log "*** KERNEL PANIC *** after $secs s (console: $console):"
  sed 's/^/    /' "$CTL/panic" >&2
elif [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  vm_log "*** TIMEOUT *** the VM ran past VM_TIMEOUT=$VM_TIMEOUT s and was killed"
else
  vm_log "*** no exit status came back *** (qemu exited $qrc after $secs s; console: $console)"
fi
exit 125
