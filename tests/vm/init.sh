#!/bin/busybox sh
# shellcheck shell=sh
# init.sh - PID 1 of the VM's initramfs (busybox): load the modules, assemble the guest's view
# of the host, run the command, save its status and the kernel log, power off.
# run-vm.sh copies this to /init; everything the run needs comes from the shared folder's
# .vm/config, which is read before /tmp is covered, so any path (even one under /tmp) works.

/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

log() { echo "[vm-init $(cut -d' ' -f1 /proc/uptime)s] $*"; }
# No status file is written on the way out, so the host reports 125 and says why.
die() { log "FATAL: $*"; poweroff -f; sleep 5; echo o > /proc/sysrq-trigger; }

# The guest cannot modprobe (no /lib/modules of this kernel on the host's root): everything
# was resolved on the host and is loaded here, dependencies first.
while read -r m; do
  insmod "/lib/modules/$m.ko" || [ -d "/sys/module/$(echo "$m" | tr - _)" ] ||
    log "WARNING: insmod $m failed"
done < /lib/modules/order

P9="trans=virtio,version=9p2000.L,msize=512000"
mkdir -p /shared
mount -t 9p -o "$P9,cache=none" shared /shared || die "cannot mount the shared folder"
[ -f /shared/.vm/config ] || die "no .vm/config in the shared folder"
VM_SHARED='' VM_KEEP='' VM_INTERACTIVE=0 VM_DISK_DEV=''
# shellcheck source=/dev/null
. /shared/.vm/config

# cache=loose: the host root is read-only for the run, so cached pages and dentries stay valid.
mount -t 9p -o "$P9,cache=loose,ro" hostroot /newroot || die "cannot mount the host root over 9p"
mount -o bind /newroot/tmp /hosttmp               # host /tmp, kept before tmpfs covers it
R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev                 # creates /dev/ublkcN, /dev/ublkbN, loopN without udev
# what udev or systemd would add: bash's <(...) needs /dev/fd
ln -sf /proc/self/fd $R/dev/fd
ln -sf /proc/self/fd/0 $R/dev/stdin
ln -sf /proc/self/fd/1 $R/dev/stdout
ln -sf /proc/self/fd/2 $R/dev/stderr
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
mount -t tmpfs -o mode=1777 tmpfs $R/var/tmp
mount -t tmpfs -o mode=755 tmpfs $R/run
[ -d $R/sys/kernel/debug ] && mount -t debugfs debugfs $R/sys/kernel/debug 2>/dev/null
for k in $(echo "$VM_KEEP" | tr , ' '); do        # host dirs under /tmp, read-only, same path
  case $k in
    /tmp/*) if ! { mkdir -p "$R$k" && mount -o bind "/hosttmp/${k#/tmp/}" "$R$k"; }; then log "WARNING: keep $k failed"; fi ;;
  esac
done
mkdir -p "$R$VM_SHARED" 2>/dev/null
mount -o bind /shared "$R$VM_SHARED" || die "cannot bind the shared folder at $VM_SHARED"
if [ -n "$VM_DISK_DEV" ]; then                    # formatted on the host; virtio_blk probes at insmod
  n=0
  while [ ! -b "$VM_DISK_DEV" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
  mkdir -p $R/tmp/scratch
  mount -t ext4 "$VM_DISK_DEV" $R/tmp/scratch || die "cannot mount $VM_DISK_DEV at /tmp/scratch"
fi
hostname vm
# No NIC, but loopback must be up: vstest talks to its testhost over 127.0.0.1, and so may
# other tools; without it they time out instead of failing.
ip link set lo up || log "WARNING: cannot bring up lo"

# A clean environment: cmd.sh (written by run-vm.sh) sets the rest.
guest() {
  chroot $R /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    VM_SHARED="$VM_SHARED" "$@"
}
if [ "$VM_INTERACTIVE" = 1 ]; then
  # a controlling terminal, so that ^C and job control work
  guest /usr/bin/setsid -w -c /bin/sh "$VM_SHARED/.vm/cmd.sh" <>/dev/ttyS0 >&0 2>&1
else
  guest /bin/sh "$VM_SHARED/.vm/cmd.sh" </dev/null
fi
rc=$?
dmesg > /shared/.vm/dmesg 2>/dev/null
echo $rc > /shared/.vm/rc
sync
poweroff -f
sleep 5
echo o > /proc/sysrq-trigger
