"""This machine only: `pyinfra inventories/local.py deploys/tf21.py` (the same as `@local`).

The deploy never reboots the controller unless `allow_local_reboot` is set.
"""

local = ["@local"]
