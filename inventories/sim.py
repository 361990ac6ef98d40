"""pyinfra inventory of the running simulated lab (``python -m lab up SPEC`` writes its state).

Hosts are named as in the lab's spec, all in the group ``workstations``; each carries its SSH
data (address, port, user, key, pinned known_hosts) and, as ``lab_*`` data, what the spec says
about it. The lab's subnet exists only inside the controller namespace: run pyinfra there
(``python -m lab run -- pyinfra inventories/sim.py ...``), or plainly (``pyinfra inventories/sim.py
...`` as root), in which case loading this inventory moves the pyinfra process into that
namespace first (setns), before it opens any connection.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import network, state  # noqa: E402
from lab.control import NOT_RUNNING  # noqa: E402
from lab.paths import CONTROLLER_NETNS, LabPaths  # noqa: E402


def _deploy_data(mirror_url: str) -> dict:
    """The deploy's data for the lab: every package source is the lab mirror (the hosts have no
    route out), driver packages are named Ubuntu-style as the lab's apt repository names them, and
    a lab reboot is quick."""
    installer = next(LabPaths.default().miniconda_dir.glob("*.sh.sha256"))
    sha256, name = installer.read_text().split()
    return {
        "nvidia_driver_packages": ["nvidia-driver-{branch}"],
        "nvidia_driver_package_manager": "apt",
        "reboot_delay": 5,
        "reboot_timeout": 120,
        "miniconda_url": f"{mirror_url}/miniconda/{name}",
        "miniconda_sha256": sha256,
        "conda_channel_preset": "mirror",
        "conda_mirror_url": f"{mirror_url}/conda/lab",
        "pip_find_links": [f"{mirror_url}/wheels/"],
        "pip_no_index": True,
        # pip 20 ignores an http:// find-links location unless its host is trusted
        "pip_trusted_hosts": [mirror_url.split("//", 1)[1].split(":", 1)[0]],
    }


def _running_lab() -> dict:
    current = state.read(LabPaths.default())
    if not current or not network.exists(CONTROLLER_NETNS):
        sys.exit(NOT_RUNNING)
    return current


def _workstations(current: dict) -> list:
    if not network.current_is_controller():
        network.enter_controller()
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
        hosts.append((entry["name"], data))
    return hosts


_lab = _running_lab()
workstations = (_workstations(_lab), _deploy_data(_lab["mirror_url"]))
