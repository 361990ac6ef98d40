"""The lab's private network: a controller namespace with a bridge, one namespace per host.

10.250.0.0/24 exists only inside namespaces the lab creates: the controller namespace
(``gpuws-ctl``) holds the bridge at 10.250.0.1 and the mirror; each host namespace has one veth
into the bridge and no route anywhere else. No address outside these namespaces is ever used.
"""

import os
import subprocess
from pathlib import Path

from .paths import BRIDGE, CONTROLLER_NETNS, FIRST_HOST_OCTET, HOST_NETNS_PREFIX, MIRROR_ADDRESS, SUBNET_PREFIX

NETNS_DIR = Path("/run/netns")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def host_netns(name: str) -> str:
    return HOST_NETNS_PREFIX + name


def host_address(index: int) -> str:
    return f"{SUBNET_PREFIX}.{FIRST_HOST_OCTET + index}"


def lab_namespaces() -> list[str]:
    """Every namespace the lab owns, running or left over."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(n for n in os.listdir(NETNS_DIR) if n == CONTROLLER_NETNS or n.startswith(HOST_NETNS_PREFIX))


def exists(netns: str) -> bool:
    return (NETNS_DIR / netns).exists()


def create_controller() -> None:
    _ip("netns", "add", CONTROLLER_NETNS)
    _ip("-n", CONTROLLER_NETNS, "link", "set", "lo", "up")
    _ip("-n", CONTROLLER_NETNS, "link", "add", BRIDGE, "type", "bridge")
    _ip("-n", CONTROLLER_NETNS, "addr", "add", f"{MIRROR_ADDRESS}/24", "dev", BRIDGE)
    _ip("-n", CONTROLLER_NETNS, "link", "set", BRIDGE, "up")


def create_host(name: str, index: int) -> str:
    """Namespace for host ``name`` with eth0 = its lab address; returns the address."""
    netns, address = host_netns(name), host_address(index)
    veth = f"gv{index}"  # the controller-side end; interface names are limited to 15 characters
    _ip("netns", "add", netns)
    _ip("-n", netns, "link", "set", "lo", "up")
    _ip("link", "add", veth, "netns", CONTROLLER_NETNS, "type", "veth", "peer", "name", "eth0", "netns", netns)
    _ip("-n", CONTROLLER_NETNS, "link", "set", veth, "master", BRIDGE, "up")
    _ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
    _ip("-n", netns, "link", "set", "eth0", "up")
    return address


def delete(netns: str) -> None:
    # deleting a host namespace destroys its veth pair too
    _ip("netns", "delete", netns, check=False)


def current_is_controller() -> bool:
    """True when this process already runs inside the controller namespace."""
    try:
        mine, lab = os.stat("/proc/self/ns/net"), os.stat(NETNS_DIR / CONTROLLER_NETNS)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (lab.st_dev, lab.st_ino)


def in_controller(command: list[str]) -> list[str]:
    """``command`` run inside the controller namespace."""
    return ["ip", "netns", "exec", CONTROLLER_NETNS, *command]


def enter_controller() -> None:
    """Move this process (its calling thread, and threads it starts later) into the controller
    namespace, so its sockets reach the lab subnet. Needs root, like the rest of the lab."""
    import ctypes

    clone_newnet = 0x40000000
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(NETNS_DIR / CONTROLLER_NETNS, os.O_RDONLY)
    try:
        if libc.setns(fd, clone_newnet) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns into {CONTROLLER_NETNS}: {os.strerror(error)}")
    finally:
        os.close(fd)
