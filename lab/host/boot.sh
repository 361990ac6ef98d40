#!/bin/bash
# Boots one lab host. Runs as PID 1 of a fresh pid namespace, inside fresh mount, uts and time
# namespaces (made by supervise.sh) and the host's network namespace. Mounts the pseudo
# filesystems into the host's overlay root, shows the stand-in hardware, "loads the driver"
# when one is installed, then becomes tini -> sshd inside the root. No systemd: sshd is the
# only service a lab host runs.
#   boot.sh ROOT HOSTNAME
set -euo pipefail
root=$1 name=$2

mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
# /run is a tmpfs, as on a real boot: whatever lived there (the loaded-module state, a pending
# /run/reboot-required) is gone after a reboot.
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mkdir -p "$root/run/sshd" "$root/run/gpuws-lab"
# /proc/driver/nvidia/version appears only while the stand-in module is "loaded".
mount -t tmpfs -o mode=755,size=1m tmpfs "$root/proc/driver"

# STAND-IN PCI bus: the machine's own devices are hidden; the host shows the spec's GPUs.
PCI_DEVICES=""
# shellcheck disable=SC1091
. "$root/etc/gpuws-lab/hardware.conf"
mount -t tmpfs -o mode=755,size=1m tmpfs "$root/sys/bus/pci/devices"
for device in $PCI_DEVICES; do
    IFS=, read -r slot vendor id class <<< "$device"
    mkdir -p "$root/sys/bus/pci/devices/$slot"
    echo "$vendor" > "$root/sys/bus/pci/devices/$slot/vendor"
    echo "$id" > "$root/sys/bus/pci/devices/$slot/device"
    echo "$class" > "$root/sys/bus/pci/devices/$slot/class"
done

hostname "$name"
echo "gpuws lab: boot $name at $(date +%T)"
if [ -x "$root/usr/lib/gpuws-lab/modprobe-nvidia" ]; then
    chroot "$root" /usr/lib/gpuws-lab/modprobe-nvidia || true
fi
exec chroot "$root" /usr/bin/tini -s -- /usr/sbin/sshd -D -e
