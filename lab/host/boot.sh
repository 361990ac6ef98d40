#!/bin/bash
# Boots one lab host. Runs as PID 1 of a fresh pid namespace, inside fresh mount, uts and time
# namespaces (made by supervise.sh) and the host's network namespace. Mounts the pseudo
# filesystems into the host's overlay root, shows the stand-in hardware, "loads the driver"
# when one is installed, then becomes tini -> sshd inside the root. No systemd: sshd is the
# only service a lab host runs.
#   boot.sh ROOT HOSTNAME
set -euo pipefail
root=$1 name=$2

PCI_DEVICES="" WSL2=0 KERNEL_RELEASE="" WINDOWS_DRIVER=""
# shellcheck disable=SC1091
. "$root/etc/gpuws-lab/hardware.conf"

if [ "$WSL2" = 1 ]; then
    # STAND-IN WSL2: a /dev of its own (the machine's /dev must not gain a file) with the nodes a
    # host uses, plus /dev/dxg, the device through which WSL2 reaches the Windows GPU driver (a
    # plain file here: the deploy only tests that it exists).
    mount -t tmpfs -o mode=755,size=1m tmpfs "$root/dev"
    for node in null zero full random urandom tty ptmx; do
        : > "$root/dev/$node"
        mount --bind "/dev/$node" "$root/dev/$node"
    done
    for dir in pts shm; do
        mkdir -p "$root/dev/$dir"
        mount --rbind "/dev/$dir" "$root/dev/$dir"
    done
    ln -s /proc/self/fd "$root/dev/fd"
    ln -s /proc/self/fd/0 "$root/dev/stdin"; ln -s /proc/self/fd/1 "$root/dev/stdout"; ln -s /proc/self/fd/2 "$root/dev/stderr"
    : > "$root/dev/dxg"
else
    mount --rbind /dev "$root/dev"
fi
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
# /run is a tmpfs, as on a real boot: whatever lived there (the loaded-module state, a pending
# /run/reboot-required) is gone after a reboot.
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mkdir -p "$root/run/sshd" "$root/run/gpuws-lab"
# /proc/driver/nvidia/version appears only while the stand-in module is "loaded".
mount -t tmpfs -o mode=755,size=1m tmpfs "$root/proc/driver"

# STAND-IN PCI bus: the machine's own devices are hidden; the host shows the spec's GPUs.
mount -t tmpfs -o mode=755,size=1m tmpfs "$root/sys/bus/pci/devices"
for device in $PCI_DEVICES; do
    IFS=, read -r slot vendor id class <<< "$device"
    mkdir -p "$root/sys/bus/pci/devices/$slot"
    echo "$vendor" > "$root/sys/bus/pci/devices/$slot/vendor"
    echo "$id" > "$root/sys/bus/pci/devices/$slot/device"
    echo "$class" > "$root/sys/bus/pci/devices/$slot/class"
done

if [ "$WSL2" = 1 ]; then
    # STAND-IN WSL2 kernel: the release a WSL2 kernel reports (the machine's kernel is shared, so
    # /proc/sys/kernel/osrelease is covered by a file and `uname` is a wrapper, see lab/host/uname),
    # and the Windows driver, "loaded" from boot on (read by the stand-in libcuda.so.1).
    echo "$KERNEL_RELEASE" > "$root/run/gpuws-lab/osrelease"
    mount --bind "$root/run/gpuws-lab/osrelease" "$root/proc/sys/kernel/osrelease"
    echo "$WINDOWS_DRIVER" > "$root/run/gpuws-lab/nvidia-module"
fi
hostname "$name"
echo "gpuws lab: boot $name at $(date +%T)"
if [ -x "$root/usr/lib/gpuws-lab/modprobe-nvidia" ]; then
    chroot "$root" /usr/lib/gpuws-lab/modprobe-nvidia || true
fi
exec chroot "$root" /usr/bin/tini -s -- /usr/sbin/sshd -D -e
