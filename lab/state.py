"""The running lab's state file (``run/lab.json``): what ``up`` started, for ``inventories/sim.py``,
``status``, ``reset``, ``exec`` and ``down``. JSON, stable keys:

  {"spec": path, "started_at": epoch seconds, "mirror_url": ..., "controller_netns": ...,
   "ssh": {"key": path, "known_hosts": path, "config": path, "user": "root", "sudo_user": ...},
   "hosts": [{"name", "address", "port", "netns", "index", "unreachable", "known_hosts_line",
              "spec": {gpus, driver, conda_prefix, unreachable, disk_mib, secure_boot}}]}
"""

import json

from .paths import LabPaths


def read(paths: LabPaths) -> dict | None:
    try:
        return json.loads(paths.state_file.read_text())
    except (OSError, ValueError):
        return None


def write(paths: LabPaths, state: dict) -> None:
    paths.state_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = paths.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(paths.state_file)
