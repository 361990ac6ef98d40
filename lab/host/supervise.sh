#!/bin/bash
# Keeps one lab host running: boots it in new namespaces and boots it again when the host's
# stand-in `reboot` asked for it (a flag on the host's disk), which is what makes a reboot lose
# /run and restart the uptime at 0 (time namespace: pyinfra's server.reboot compares uptime).
# `unshare --fork` ignores SIGTERM: the lab stops a host with SIGKILL on this process group, and
# --kill-child takes the host's namespaces down with it.
#   supervise.sh ROOT NETNS HOSTNAME HOST_DIR
set -u
root=$1 netns=$2 name=$3 host_dir=$4
here=$(cd "$(dirname "$0")" && pwd)
echo $$ > "$host_dir/supervisor.pid"
flag="$root/var/lib/gpuws-lab/reboot-requested"
while :; do
    rm -f "$flag"
    boot_offset=$(cut -d. -f1 /proc/uptime)
    ip netns exec "$netns" unshare --mount --uts --pid --time --boottime "-$boot_offset" \
        --fork --kill-child --propagation private /bin/bash "$here/boot.sh" "$root" "$name" &
    echo $! > "$host_dir/boot.pid"
    wait $!
    [ -e "$flag" ] || break
    echo "gpuws lab: $name rebooting"
done
rm -f "$host_dir/boot.pid"
echo "gpuws lab: $name halted"
