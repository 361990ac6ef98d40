"""The controller's side of SSH to the lab: client key, pinned known_hosts, an ssh config.

The client key lives in ``ssh/`` under the state dir and survives ``down``; known_hosts and the
ssh config are rewritten by every ``up``/``reset`` from the hosts' own keys, so host keys are
checked strictly (no trust on first use).
"""

import subprocess
import sys

from . import network
from .paths import LAB_SOURCES, LabPaths


def ensure_client_key(paths: LabPaths) -> None:
    paths.ssh.mkdir(parents=True, exist_ok=True)
    paths.ssh.chmod(0o700)
    if not paths.client_key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gpuws-lab-controller",
                        "-f", str(paths.client_key)], check=True)


def write(paths: LabPaths, hosts: list[dict]) -> None:
    """known_hosts and ssh config for ``hosts`` (state entries: name, address, host_key_line)."""
    reachable = [h for h in hosts if h.get("known_hosts_line")]
    paths.known_hosts.write_text("".join(h["known_hosts_line"] + "\n" for h in reachable))
    proxy = " ".join(network.in_controller([sys.executable, str(LAB_SOURCES / "ssh_proxy.py"), "%h", "%p"]))
    blocks = ["# gpuws lab (written by `python -m lab up`): `ssh -F THIS_FILE HOST` from anywhere;\n"
              "# outside the controller namespace the connection goes through ProxyCommand.\n"]
    for host in hosts:
        blocks.append(
            f"Host {host['name']} {host['address']}\n"
            f"    HostName {host['address']}\n"
            "    User root\n"
            f"    IdentityFile {paths.client_key}\n"
            "    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {paths.known_hosts}\n"
            "    StrictHostKeyChecking yes\n"
            "    ConnectTimeout 5\n"
            f"    ProxyCommand {proxy}\n")
    paths.ssh_config.write_text("\n".join(blocks))
