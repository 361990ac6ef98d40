"""The fleet report's driver view of one host, from the GpuInfo fact the deploy reads (pure: no host).

What it says is what the deploy itself would decide, with the deploy's own helpers:

* the branch the deploy would install on this host (operations/util/driver_choice.plan_driver:
  NVIDIA's supported-chips lists applied to the host's PCI device ids), or the line it would
  fail the host with;
* a running (or installed) driver whose branch cannot drive a GPU of the host: the real driver
  refuses to load on such a chip, so this is why its nvidia-smi "couldn't communicate";
* "reboot pending", from the reboot guard's reads (installed packages newer than the loaded
  module; people logged in and GPU processes, which the deploy would not cut off unasked);
* a driver other than data ``nvidia_driver_version``, when the fleet pins one.
"""

from __future__ import annotations

from operations.driver import people_on_host
from operations.util.driver_choice import host_pci_ids, plan_driver, running_branch_problem
from operations.util.driver_state import installed_driver_version, reboot_pending


def driver_view(info: dict, config: dict, stack: dict) -> dict:
    """
    What the report shows about a host's driver; every value is None when there is nothing to say.

    + info: the host's GpuInfo fact
    + config: the desired state's data (deploys/desired.py: ``nvidia_driver_*`` keys, ``stack``)
    + stack: the resolved stack of the env that sets the driver's minimum

    **Example:**

    .. code:: python

        driver_view(read(GpuInfo), desired.config, desired.stack)["branch"]  # "470" for a Tesla K80
    """
    view = {"branch": None, "branch_reason": None, "branch_error": None, "branch_problem": None,
            "reboot_pending": None, "version_pin": config.get("nvidia_driver_version") or None,
            "version_differs": None}
    if info.get("wsl"):
        # the Windows driver is the only driver inside WSL2: no branch is chosen or installed
        view["branch_reason"] = "WSL2: the Windows driver is the only driver"
        return view
    if not host_pci_ids(info) and not info.get("gpus"):
        view["branch_reason"] = "no NVIDIA GPU seen"  # the deploy's GPU gate fails such a host first
        return view
    plan = plan_driver(info, str(config.get("nvidia_driver_branch", "auto")), config.get("stack"),
                       config.get("nvidia_driver_kernel_modules", "auto"), view["version_pin"],
                       stack.get("min_driver"))
    if plan.error:
        view["branch_error"] = plan.error
    else:
        view["branch"] = plan.branch + ("-open" if plan.open_modules else "")
        view["branch_reason"] = plan.reason
    view["branch_problem"] = running_branch_problem(info)
    pending, installed, loaded = reboot_pending(info)
    if pending:
        now = f"{loaded} is loaded" if loaded else "no NVIDIA module is loaded"
        people = people_on_host(info)
        view["reboot_pending"] = f"driver {installed} installed, {now}" + (f"; {people}" if people else "")
    pin = view["version_pin"]
    have = info.get("driver_version") or installed_driver_version(info)
    if pin and have != pin:
        view["version_differs"] = f"driver {have or 'none'} differs from nvidia_driver_version={pin}"
    return view


def detail_lines(name: str, view: dict) -> list[str]:
    """The report's lines under the table for one host's driver view."""
    lines = []
    if view.get("branch_error"):
        lines.append(f"{name}: driver branch: the deploy would fail this host: {view['branch_error']}")
    if view.get("branch_problem"):
        lines.append(f"{name}: running driver: {view['branch_problem']} (the real driver refuses to load on it)")
    if view.get("reboot_pending"):
        lines.append(f"{name}: reboot pending: {view['reboot_pending']}")
    if view.get("version_differs"):
        lines.append(f"{name}: {view['version_differs']}")
    return lines
