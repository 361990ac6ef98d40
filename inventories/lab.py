"""The real lab: hosts and groups come from a YAML host list that admins edit.

    pyinfra inventories/lab.py deploys/tf21.py            # converge every workstation
    pyinfra inventories/lab.py deploys/tf21.py --dry      # drift preview: what would change

The host list is inventories/lab.yaml (edit it), or the file named
by the environment variable GPUWS_HOSTS. Format: see inventories/hostlist.py.
"""

import os
from pathlib import Path

from inventories.hostlist import load_groups

_path = os.environ.get("GPUWS_HOSTS") or str(Path(__file__).parent / "lab.yaml")

for _group, _body in load_groups(_path).items():
    globals()[_group] = _body
