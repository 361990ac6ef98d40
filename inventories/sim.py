"""pyinfra inventory of the running simulated lab (``python -m lab up SPEC`` writes its state).

Hosts are named as in the lab's spec, all in the group ``workstations``; each carries its SSH
data (address, port, user, key, pinned known_hosts) and, as ``lab_*`` data, what the spec says
about it. The lab's subnet exists only inside the controller namespace: run pyinfra there
(``python -m lab run -- pyinfra inventories/sim.py ...``) or, from anywhere else, the hosts are
reached through the ssh config's ProxyCommand, which this inventory then passes to pyinfra.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import network, state  # noqa: E402
from lab.control import NOT_RUNNING  # noqa: E402
from lab.paths import CONTROLLER_NETNS, LabPaths  # noqa: E402


def _workstations():
    current = state.read(LabPaths.default())
    if not current or not network.exists(CONTROLLER_NETNS):
        sys.exit(NOT_RUNNING)
    via_proxy = not network.current_is_controller()
    ssh = current["ssh"]
    hosts = []
    for entry in current["hosts"]:
        data = {
            "ssh_hostname": entry["address"],
            "ssh_port": entry["port"],
            "ssh_user": ssh["user"],
            "ssh_key": ssh["key"],
            "ssh_known_hosts_file": ssh["known_hosts"],
            "ssh_strict_host_key_checking": "yes",
            "lab_sudo_user": ssh["sudo_user"],
            "lab_mirror_url": current["mirror_url"],
            "lab_unreachable": entry["unreachable"],
            "lab_gpus": entry["spec"]["gpus"],
            "lab_driver": entry["spec"]["driver"],
            "lab_conda_prefix": entry["spec"]["conda_prefix"],
        }
        if via_proxy:
            data["ssh_config_file"] = ssh["config"]
        hosts.append((entry["name"], data))
    return hosts


workstations = _workstations()
