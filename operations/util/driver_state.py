"""What the GpuInfo fact says about the installed and the running driver (pure: no host).

Versions are compared with `packaging` (418.96 < 440.100 < 1000.1), never as strings.
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from stacks import driver_satisfies

# Texts of a driver that is installed but whose user space and kernel module disagree, or whose
# module is not loaded: a reboot (after an install) is the cure.
_NOT_LOADED_ERRORS = ("mismatch", "couldn't communicate", "driver not loaded")


def upstream_version(package_version: str) -> str | None:
    """The driver version inside a distro package version: "1:535.183.01-0ubuntu0.22.04.1" ->
    "535.183.01", "535.183.01-1.el9" -> "535.183.01"; None when it is not a version."""
    text = package_version.split(":", 1)[-1].split("-", 1)[0]
    text = text.split("~", 1)[0].split("+", 1)[0]
    try:
        Version(text)
    except InvalidVersion:
        return None
    return text


def installed_driver_version(info: dict) -> str | None:
    """The newest driver version among the installed driver packages (dpkg/rpm)."""
    versions = [upstream_version(v) for v in (info.get("driver_packages") or {}).values()]
    versions = [v for v in versions if v]
    return max(versions, key=Version) if versions else None


def newer(a: str | None, b: str | None) -> bool:
    if not a:
        return False
    if not b:
        return True
    return Version(a) > Version(b)


def driver_not_answering(info: dict) -> bool:
    error = (info.get("error") or "").lower()
    return any(text in error for text in _NOT_LOADED_ERRORS)


def reboot_pending(info: dict) -> tuple[bool, str | None, str | None]:
    """(a reboot would load a newer driver, installed version, loaded version).

    Pending when the installed packages are newer than the loaded module, or when packages are
    installed and the driver does not answer (NVML mismatch, module not loaded), or when
    /run/reboot-required.pkgs names a driver package. A /run/reboot-required for other packages (a
    kernel or libc update, the GPU working) is not enough: rebooting someone's workstation for
    that is their call, not this deploy's.
    """
    installed = installed_driver_version(info)
    loaded = info.get("driver_version")
    if installed is None:
        return False, None, loaded
    broken = driver_not_answering(info) or loaded is None
    # /run/reboot-required.pkgs naming a driver package: the distro itself asks for the reboot
    by_driver = info.get("reboot_required") and any(
        "nvidia" in package for package in info.get("reboot_required_packages") or []
    )
    return bool(newer(installed, loaded) or broken or by_driver), installed, loaded


def running_driver_problem(info: dict, min_version: str, stack_name: str) -> str | None:
    """What is wrong with the running driver for this stack (the message a host fails with), or
    None when it answers and satisfies ``min_version``."""
    loaded = info.get("driver_version")
    if driver_satisfies(loaded, min_version) and not driver_not_answering(info):
        return None
    if loaded and not driver_not_answering(info):
        return (
            f"driver {loaded} is loaded, below {min_version} required by {stack_name}; "
            "if a newer one was installed, check `dkms status` for the running kernel and "
            "`dmesg | grep -i nvidia`"
        )
    seen = info.get("error") or "nvidia-smi absent"
    hint = "check `dkms status` for the running kernel and `dmesg | grep -i nvidia`"
    if info.get("secure_boot"):
        hint = (
            "Secure Boot is on: the module is probably unsigned — enrol its MOK key "
            "(`mokutil --import`, reboot into MokManager) or disable Secure Boot"
        )
    return f"the NVIDIA driver does not answer ({seen}); {stack_name} requires >= {min_version}; {hint}"


def secure_boot_message(packages: list[str]) -> str:
    # Modelled on ubuntu-drivers (UbuntuDrivers/kerneldetection.py): refuse DKMS under Secure
    # Boot and explain the MOK enrolment.
    return (
        f"Secure Boot is enabled and {' '.join(packages)} builds unsigned DKMS kernel modules, "
        "which the kernel refuses to load. Either enrol a Machine Owner Key "
        "(`sudo mokutil --import /var/lib/shim-signed/mok/MOK.der`, then reboot and confirm it "
        "in MokManager) or disable Secure Boot in the firmware setup; if your modules are signed, "
        "set data nvidia_driver_secure_boot_ok=True"
    )
