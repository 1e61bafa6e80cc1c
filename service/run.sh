#!/bin/bash
# run.sh - the main job in one command:  sudo service/run.sh --file disk.img --size 4G [serve options]
#
# Builds loop-order (Release) when the sources changed, then:
#  - on a host whose kernel has ublk_drv (/dev/ublk-control exists): runs `loop-order serve` with
#    the arguments, in the foreground: it prints /dev/ublkbN and serves until Ctrl-C / SIGTERM;
#  - on a host without it: boots the bundled VM (tests/vm/run-vm.sh, Debian's 6.12 kernel) and
#    runs a demonstration there: serve a device with the same options on the VM's scratch disk,
#    make ext4 on it, write files and verify their checksums (after dropping the page cache),
#    print `loop-order stats`, unmount, SIGTERM, check no device is left and e2fsck the file.
# Environment: VM_DISK (scratch disk for the demo, default 2G), LOOPORDER_OUT (build output,
# default artifacts/run), other VM_* knobs as for tests/vm/run-vm.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${LOOPORDER_OUT:-$root/artifacts/run}
dll=$out/loop-order.dll

if [ "${1:-}" = "--guest-demo" ]; then
  shift
  exec "$root/service/demo.sh" "$dll" "$@"
fi

if [ ! -f "$dll" ] || [ -n "$(find "$root/service" "$root/ublk" "$root/queues" -newer "$dll" \( -name '*.cs' -o -name '*.csproj' \) -print -quit)" ]; then
  echo "run.sh: building loop-order (Release) into $out" >&2
  # ReadyToRun makes starts fast (it matters under the VM's emulation); without the packages
  # for it, a plain build.
  "$root/tests/vm/publish.sh" "$out" >&2
fi

if [ -c /dev/ublk-control ] || [ -e /dev/ublk-control ]; then
  exec dotnet "$dll" serve "$@"
fi

echo "run.sh: this kernel has no ublk_drv (/dev/ublk-control is missing: 'sudo modprobe ublk_drv' where the module exists)." >&2
echo "run.sh: running the demonstration in the bundled VM (Debian 6.12 kernel) instead." >&2
export VM_DISK=${VM_DISK:-2G}
# the guest starts with a clean environment: it must look for the build where this run put it
export VM_ENV="${VM_ENV:+$VM_ENV }LOOPORDER_OUT=$out"
exec "$root/tests/vm/run-vm.sh" "$root/service/run.sh --guest-demo $*"
