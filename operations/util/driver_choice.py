"""Which driver branch and kernel-module flavour a host gets, from its PCI device ids (pure: no host).

The knowledge is NVIDIA's own supported-chips lists (stacks/driver_branch.py,
docs/knowledge/driver-branches.md); this module applies it to what the GpuInfo fact read:

* ``auto``: `stacks.driver_branch.choose` picks the newest long-term branch that drives every GPU
  in the host and meets the stack's minimum (470 for a Tesla K80, 580 for a GTX 1080 or an RTX 5090);
* an explicit branch that cannot drive a GPU of the host is refused, naming the GPU and the
  branches that would work, so the host fails before anything is installed;
* a pinned version (data ``nvidia_driver_version``) fixes the branch to its major number.

Open kernel modules: NVIDIA requires them for Blackwell and Grace Hopper ("the open flavor of
kernel modules is required" for those, https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/
"Kernel Modules"), and its installer prefers them for Turing and newer since 560
(https://developer.nvidia.com/blog/nvidia-transitions-fully-towards-open-source-gpu-kernel-modules/).
Pre-Turing GPUs have only the proprietary modules (the lists' ``kernelopen`` feature says which).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stacks import StackError, driver_satisfies
from stacks import nvidia_chips as chips
from stacks.driver_branch import choose, describe_gpu, explain_unsupported
from stacks.nvidia_lists import branch_key

from .driver_state import installed_driver_version

NVIDIA_VENDOR = "0x10de"
OPEN_SINCE = "515"  # the first branch with the open kernel modules (R515, May 2022)
OPEN_DEFAULT_SINCE = "560"  # NVIDIA's installer defaults to the open modules from R560 on
KERNEL_MODULES = ("auto", "open", "proprietary")


@dataclass(frozen=True)
class DriverPlan:
    """The branch to install and why, or the one line the host fails with.

    + branch: the branch ("470"), or None when the host must fail
    + open_modules: install the open kernel modules
    + reason: why this branch (for the noop/log line and the report)
    + error: the line the host fails with, or None
    + gpus: what NVIDIA's lists say about each GPU (stacks.driver_branch.describe_gpu)
    """

    branch: str | None
    open_modules: bool = False
    reason: str = ""
    error: str | None = None
    gpus: list = field(default_factory=list)


def host_pci_ids(info: dict) -> list[str]:
    """The NVIDIA PCI device ids the GpuInfo fact read from sysfs/lspci ("0x102d"), in bus order."""
    return [device["device"] for device in info.get("pci_devices") or []
            if device.get("vendor") == NVIDIA_VENDOR and device.get("device")]


def needs_open_modules(gpu: dict) -> bool:
    """Blackwell (compute capability 10.x and 12.x) and Grace Hopper (GH200) run only on the open modules."""
    cc = gpu.get("compute_capability") or ""
    major = int(cc.split(".")[0]) if cc.split(".")[0].isdigit() else 0
    return major >= 10 or "GH200" in (gpu.get("name") or "")


def _describe(ids: list[str]) -> list[dict]:
    gpus = []
    for pci_id in ids:
        try:
            gpus.append(describe_gpu(pci_id))
        except StackError:  # an id no list knows: judged by the verification, not here
            continue
    return gpus


def _flavour(kernel_modules: str, branch: str, gpus: list[dict]) -> tuple[bool, str | None]:
    """(open modules?, error line or None) for the data ``nvidia_driver_kernel_modules``."""
    needs = [gpu["name"] for gpu in gpus if needs_open_modules(gpu)]
    closed_only = [gpu["name"] for gpu in gpus if not gpu.get("kernelopen")]
    if kernel_modules == "proprietary":
        if needs:
            return False, (f"{', '.join(needs)} runs only on NVIDIA's open kernel modules (Blackwell, Grace "
                           "Hopper); set nvidia_driver_kernel_modules=auto or open")
        return False, None
    if kernel_modules == "open":
        if closed_only:
            return True, (f"NVIDIA's open kernel modules do not drive {', '.join(closed_only)} (Turing and "
                          "newer only); set nvidia_driver_kernel_modules=auto or proprietary")
        if branch_key(branch) < branch_key(OPEN_SINCE):
            return True, f"driver branch {branch} has no open kernel modules ({OPEN_SINCE} and newer have)"
        return True, None
    if needs:
        return True, None
    prefers = bool(gpus) and not closed_only and branch_key(branch) >= branch_key(OPEN_DEFAULT_SINCE)
    return prefers, None


def plan_driver(info: dict, requested: str = "auto", stack_spec: str | None = None,
                kernel_modules: str = "auto", version: str | None = None,
                min_version: str | None = None) -> DriverPlan:
    """
    Decide the branch and module flavour for one host; never raises for a host's state.

    + info: the GpuInfo fact
    + requested: data nvidia_driver_branch: "auto" or a branch ("470")
    + stack_spec: the stack the driver must run ("tf21"), or None
    + kernel_modules: data nvidia_driver_kernel_modules: auto, open or proprietary
    + version: data nvidia_driver_version: one exact version for the fleet, or None
    + min_version: the stack's minimum driver ("418.96"), checked against an explicit branch

    **Example:**

    .. code:: python

        plan_driver({"pci_devices": [{"vendor": "0x10de", "device": "0x102d"}]}, "auto", "tf21").branch  # "470"
    """
    ids = host_pci_ids(info)
    requested = str(requested)
    if version:
        requested = version.split(".")[0]
    if requested == "auto":
        if not ids:
            return DriverPlan(None, error=(
                "the host's NVIDIA PCI device ids could not be read (no /sys/bus/pci, no lspci), so the "
                "driver branch cannot be chosen: set data nvidia_driver_branch (e.g. 580)"))
        try:
            choice = choose(ids, stack=stack_spec)
        except StackError as e:
            return DriverPlan(None, error=str(e))
        branch, reason, gpus = choice.branch, choice.reason, choice.gpus
    else:
        branch, gpus = requested, _describe(ids)
        try:
            problem = explain_unsupported(branch, [gpu["pci_id"] for gpu in gpus])
        except StackError as e:
            problem = str(e)
        if problem:
            why = f"pinned by nvidia_driver_version={version}" if version else "set by nvidia_driver_branch"
            return DriverPlan(None, error=f"{problem} (branch {why}); use nvidia_driver_branch=auto or one of those",
                              gpus=gpus)
        reason = f"branch {branch} " + ("pinned by nvidia_driver_version" if version else "set by data")
        if min_version and (version or branch in chips.known_branches()):
            newest = version or chips.branch_info(branch)["version"]
            if not driver_satisfies(newest, min_version):
                return DriverPlan(None, error=(
                    f"driver branch {branch} ({newest}) is below {min_version} required by "
                    f"{stack_spec or 'the stack'}; use nvidia_driver_branch=auto"), gpus=gpus)
    open_modules, error = _flavour(kernel_modules, branch, gpus)
    if error:
        return DriverPlan(None, open_modules, reason, error, gpus)
    return DriverPlan(branch, open_modules, reason, None, gpus)


def running_branch_problem(info: dict) -> str | None:
    """One line when the loaded driver's branch cannot drive a GPU of the host (NVIDIA's lists), else None.

    The real driver refuses to load on such a chip, so this is what a report says about a host
    whose nvidia-smi "couldn't communicate with the NVIDIA driver" after a wrong branch went in.
    """
    return _branch_problem(info.get("driver_version") or _installed(info), info)


def installed_branch_problem(info: dict) -> str | None:
    """One line when the installed driver packages' branch cannot drive a GPU of the host, else None.

    Such packages never load (a student's `apt install nvidia-driver-535` on a Tesla K80 host), so
    a reboot would not cure the host: the deploy replaces them with a branch that drives the GPU.
    """
    return _branch_problem(_installed(info), info)


def _branch_problem(version: str | None, info: dict) -> str | None:
    ids = host_pci_ids(info)
    if not version or not ids or version.split(".")[0] not in chips.known_branches():
        return None  # a branch no list here knows (410): nothing to say, rather than a false alarm
    try:
        return explain_unsupported(version.split(".")[0], ids)
    except StackError:
        return None


def _installed(info: dict) -> str | None:
    return installed_driver_version(info)
