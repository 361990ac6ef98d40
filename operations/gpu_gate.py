"""The gate before any change: does this host have an NVIDIA GPU the stack can run?

Runs first in the deploy, so a CPU-only box or an Ampere card meant for tf21 is stopped with one
clear line before a driver or a conda env is installed on it. It stops a host
the one way operations may (operations.util.commands.fail_host): raising would abort every host.
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version
from pyinfra import host, logger
from pyinfra.api import operation

from facts.workstation import read  # this run's broad read (one remote command per host)
from facts.gpu import GpuInfo, compute_capability_for
from stacks import gpu_support

from .util.commands import fail_host
from .util.driver_wsl import wsl_gpu_problem

NVIDIA_VENDOR = "0x10de"



def has_nvidia_gpu(info: dict) -> bool:
    """A PCI display device from NVIDIA, or a GPU nvidia-smi lists (sysfs may be hidden)."""
    pci = [device for device in info.get("pci_devices") or [] if device.get("vendor") == NVIDIA_VENDOR]
    return bool(pci or info.get("gpus"))


def pci_model_name(device: dict) -> str | None:
    """The marketing name inside lspci's device text ("GA102 [GeForce RTX 3090]" -> "GeForce RTX
    3090"), or the whole text; None when only the PCI id is known (sysfs without lspci)."""
    text = device.get("name") or ""
    inner = re.search(r"\[(.+?)\]", text)
    return (inner.group(1) if inner else text) or None


def unsupported_message(stack: dict, gpu_name: str, cc: str, suggestion: str | None) -> str:
    """One line: the GPU, its compute capability, why the stack cannot run it, what would."""
    cuda = f"CUDA {stack.get('cudatoolkit')} builds"
    lowest = stack.get("min_compute_capability")
    try:
        too_old = bool(lowest) and Version(cc) < Version(lowest)
    except InvalidVersion:  # gpu_support already said no; never crash the run over the wording
        too_old = False
    if too_old:
        why = f"{cuda} start at {lowest}"
        instead = f"use {suggestion} or earlier" if suggestion else "use a newer GPU"
    else:
        highest = str(stack.get("max_compute_capability") or "?").split(".")[0]
        why = f"{cuda} stop at {highest}.x"
        instead = f"use {suggestion} or later" if suggestion else "use a stack built for it"
    return f"{gpu_name} (compute capability {cc}) cannot run {stack['name']} ({why}); {instead}"


@operation()
def gpu_supported(stack: dict):
    """
    Stop this host before anything is installed when it has no NVIDIA GPU or one the stack cannot run.

    + stack: the resolved stack dict (`stacks.resolve`); `stacks.gpu_support(stack, cc)` decides
      and suggests a stack that runs the GPU

    A GPU whose compute capability is unknown (a driver too old to report it and a name not in
    the table) is let through with a warning: the verification at the end will tell.

    **Example:**

    .. code:: python

        gpu_gate.gpu_supported(name="Check the GPU can run tf21", stack=stacks.resolve("tf21"))
    """
    info = read(GpuInfo)
    name = stack["name"]

    if not has_nvidia_gpu(info) and info.get("wsl"):
        yield fail_host(
            "WSL2: no NVIDIA GPU visible (nvidia-smi in /usr/lib/wsl/lib lists none); install the Windows "
            f"NVIDIA driver on the Windows side (never a Linux driver inside WSL); the {name} stack needs a GPU"
        )
        return
    if not has_nvidia_gpu(info):
        yield fail_host(
            "no NVIDIA GPU found on this host (no PCI device with vendor 0x10de, nvidia-smi lists "
            f"none); the {name} stack needs one — remove the host from the inventory or check the card"
        )
        return

    gpus = info.get("gpus") or []
    if not gpus:
        # A card on the bus but no driver to report it yet: judge it by the model lspci names
        # ("TU102 [GeForce RTX 2080 Ti Rev. A]"), so an Ampere card is stopped before a driver goes
        # in; a card known only by its PCI id is let through, and the verification checks it.
        gpus = [
            {"index": i, "name": pci_model_name(device), "compute_capability": None}
            for i, device in enumerate(info.get("pci_devices") or [])
        ]
        if not any(compute_capability_for(gpu["name"]) for gpu in gpus):
            slots = ", ".join(
                f"{device.get('name') or device.get('device')} at {device.get('slot')}"
                for device in info.get("pci_devices") or []
            )
            message = (
                f"NVIDIA GPU {slots} found, no driver loaded to report its compute capability; "
                "the verification checks it after the driver install"
            )
            logger.warning(f"{host.name}: {message}")
            host.noop(message)
            return

    if info.get("wsl"):
        # CUDA on WSL2 needs compute capability >= 6.0 (operations/util/driver_wsl.py)
        problem = wsl_gpu_problem([
            {**gpu, "compute_capability": gpu.get("compute_capability") or compute_capability_for(gpu.get("name"))}
            for gpu in gpus
        ])
        if problem:
            yield fail_host(problem)
            return

    supported, unknown = [], []
    for gpu in gpus:
        cc = gpu.get("compute_capability") or compute_capability_for(gpu.get("name"))
        label = f"GPU {gpu.get('index')}: {gpu.get('name')}"
        if cc is None:
            unknown.append(label)
            continue
        ok, _message, suggestion = gpu_support(stack, cc)
        if not ok:
            yield fail_host(unsupported_message(stack, gpu.get("name"), cc, suggestion))
            return
        supported.append(f"{label} ({cc})")

    if unknown:
        message = (
            f"{', '.join(unknown)}: compute capability unknown (driver too old to report it, name "
            f"not in the table); not stopping, the verification will tell"
        )
        logger.warning(f"{host.name}: {message}")
        if supported:
            message = f"{'; '.join(supported)} supported by {name}; {message}"
        host.noop(message)
        return

    verb = "is" if len(supported) == 1 else "are"
    host.noop(f"{'; '.join(supported)} {verb} supported by {name}")
