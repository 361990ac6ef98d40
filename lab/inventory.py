"""The running simulated lab as a pyinfra inventory group: its hosts, their SSH data, the deploy's data.

``inventories/sim.py`` hands ``workstations()`` to pyinfra. The lab's subnet exists only inside
the controller namespace, so asking for the hosts first moves this process there (setns; the lab
needs root anyway), before pyinfra opens any connection. Under ``python -m lab run -- ...`` the
process is already there and nothing moves.
"""

from __future__ import annotations

import sys

from . import network, state
from .control import NOT_RUNNING
from .paths import CONTROLLER_NETNS, LabPaths


def workstations(paths: LabPaths | None = None) -> tuple[list, dict]:
    """The lab's hosts and the group data for pyinfra; exits with one line when the lab is not running.

    + paths: the lab's state directory (default ``.simlab/`` or ``$GPUWS_LAB_DIR``)

    .. code:: python

        # inventories/sim.py
        workstations = lab.inventory.workstations()
    """
    paths = paths or LabPaths.default()
    current = state.read(paths)
    if not current or not network.exists(CONTROLLER_NETNS):
        sys.exit(NOT_RUNNING)
    if not network.current_is_controller():
        network.enter_controller()
    return [(entry["name"], host_data(entry, current)) for entry in current["hosts"]], deploy_data(
        current["mirror_url"], paths
    )


def host_data(entry: dict, current: dict) -> dict:
    """One host's SSH data (address, port, user, key, pinned known_hosts) and, as ``lab_*`` data,
    what the spec says about it."""
    ssh = current["ssh"]
    return {
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


def deploy_data(mirror_url: str, paths: LabPaths) -> dict:
    """The deploy's data for the lab: every package source is the lab mirror (the hosts have no
    route out), driver packages are named Ubuntu-style as the lab's apt repository names them, and
    a lab reboot is quick."""
    installer = next(paths.miniconda_dir.glob("*.sh.sha256"))
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
        # the lab mirror serves plain http inside the lab's own network namespace
        "conda_mirror_allow_http": True,
        "pip_find_links": [f"{mirror_url}/wheels/"],
        "pip_no_index": True,
        # pip 20 ignores an http:// find-links location unless its host is trusted
        "pip_trusted_hosts": [mirror_url.split("//", 1)[1].split(":", 1)[0]],
    }
