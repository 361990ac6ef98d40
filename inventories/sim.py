"""The running simulated lab: `pyinfra inventories/sim.py deploys/tf21.py -y` (as root, from the
project root, or from anywhere with `pyinfra --chdir ROOT ...`: pyinfra puts the working directory
on sys.path); `python -m lab up lab/specs/small.yaml` starts a lab.

Hosts are named as in the lab's spec, all in the group ``workstations``; lab/inventory.py reads
the lab's state, moves pyinfra into the lab's network namespace and returns hosts and data.
"""

from lab.inventory import workstations as _lab_workstations

workstations = _lab_workstations()
