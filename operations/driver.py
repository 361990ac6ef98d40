"""The NVIDIA driver: install or upgrade it when the running one is below the stack's minimum,
reboot to load it (only when it changed and rebooting is allowed), and check it after the reboot.

Two operations, because the second must decide with facts read after the first changed things:

    nvidia_driver(...)      install/upgrade through the distro's package manager, or noop
    driver_running(...)     reboot when installed packages are newer than the loaded module, then
                            check that the running driver satisfies the minimum (one GpuInfo read
                            when nothing is pending; read again by a callback after a reboot)

Versions are compared with `packaging` (418.96 < 440.100 < 1000.1), never as strings.
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version
from pyinfra import host, logger
from pyinfra.api import FunctionCommand, OperationValueError, QuoteString, StringCommand, operation
from pyinfra.connectors.local import LocalConnector
from pyinfra.operations import server

from pyinfra.facts.server import LinuxDistribution

from facts.gpu import GpuInfo, driver_satisfies
from operations.commands import fail_host

NOUVEAU_BLACKLIST = "/etc/modprobe.d/blacklist-nouveau.conf"
NOUVEAU_LINES = ("blacklist nouveau", "options nouveau modeset=0")

# Texts of a driver that is installed but whose user space and kernel module disagree, or whose
# module is not loaded: a reboot (after an install) is the cure.
_NOT_LOADED_ERRORS = ("mismatch", "couldn't communicate", "driver not loaded")


# ----------------------------------------------------------------------------- reading the fact

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


# The distro's own way to install a driver branch, when data does not name the packages:
# Ubuntu's `nvidia-driver-<branch>` metapackages, Debian's single non-free `nvidia-driver`, and the
# RHEL family's dnf module streams (as NVIDIA's Ansible role installs them).
_DISTRO_DRIVERS = (
    (("ubuntu", "pop", "linuxmint"), "apt", ["nvidia-driver-{branch}"]),
    (("debian",), "apt", ["nvidia-driver"]),
    (("rhel", "centos", "rocky", "almalinux", "fedora", "ol"), "dnf", ["nvidia-driver:{branch}-dkms"]),
)


def distro_driver_packages(distro: dict) -> tuple[str, list[str]] | None:
    """(package manager, packages) for a `server.LinuxDistribution` fact; None when unknown."""
    meta = (distro or {}).get("release_meta") or {}
    ids = [meta.get("ID", "")] + meta.get("ID_LIKE", "").split()
    ids = [i.strip().strip('"').lower() for i in ids if i]
    for names, manager, packages in _DISTRO_DRIVERS:
        if any(i in names for i in ids):
            return manager, list(packages)
    return None


def _newer(a: str | None, b: str | None) -> bool:
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
    return bool(_newer(installed, loaded) or broken or by_driver), installed, loaded


# ----------------------------------------------------------------------------- commands

def _apt_commands(packages: list[str], unhold: list[str], hold: bool):
    if unhold:
        yield StringCommand("apt-mark", "unhold", *[QuoteString(p) for p in unhold])
    yield StringCommand("DEBIAN_FRONTEND=noninteractive", "apt-get", "update", "-qq")
    yield StringCommand(
        "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
        "--no-install-recommends", *[QuoteString(p) for p in packages],
    )
    yield from _nouveau_commands()
    if hold:
        yield StringCommand("apt-mark", "hold", *[QuoteString(p) for p in packages])


def _dnf_name(package: str) -> str:
    return package.split(":", 1)[0]


def _dnf_commands(packages: list[str], unhold: list[str], hold: bool):
    if unhold:
        yield StringCommand("dnf", "versionlock", "delete", *[QuoteString(p) for p in unhold])
    modules = [p for p in packages if ":" in p]  # module streams: "nvidia-driver:535-dkms"
    plain = [p for p in packages if ":" not in p]
    if modules:
        yield StringCommand("dnf", "module", "install", "-y", *[QuoteString(p) for p in modules])
    if plain:
        yield StringCommand("dnf", "install", "-y", *[QuoteString(p) for p in plain])
    yield from _nouveau_commands()
    if hold:
        names = [QuoteString(_dnf_name(p)) for p in packages]
        # versionlock is a plugin (python3-dnf-plugin-versionlock); without it the module stream
        # already pins the branch, so its absence is not an error.
        yield StringCommand(
            "if", "dnf", "versionlock", "--help", ">/dev/null", "2>&1;", "then",
            "dnf", "versionlock", "add", *names, ";", "fi",
        )


def _nouveau_commands():
    """Blacklist nouveau and rebuild the initramfs (nouveau is loaded from it), only if the
    blacklist is not there yet: a re-run never rebuilds the initramfs for nothing. A host with
    neither update-initramfs nor dracut boots without an initramfs: there is nothing to rebuild."""
    path = QuoteString(NOUVEAU_BLACKLIST)
    lines = [QuoteString(line) for line in NOUVEAU_LINES]
    yield StringCommand(
        "if", "!", "grep", "-qsx", QuoteString(NOUVEAU_LINES[0]), path, ";", "then",
        "printf", QuoteString("%s\\n"), *lines, ">", path, "&&",
        "{", "if", "command", "-v", "update-initramfs", ">/dev/null", "2>&1;", "then",
        "update-initramfs", "-u;",
        "elif", "command", "-v", "dracut", ">/dev/null", "2>&1;", "then", "dracut", "-f;", "fi;", "};", "fi",
    )


def _with_branch(packages: list[str], branch: str) -> list[str]:
    return [package.replace("{branch}", str(branch)) for package in packages]


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


# ----------------------------------------------------------------------------- operations

@operation()
def nvidia_driver(
    min_version: str,
    branch: str,
    packages: list[str] | None = None,
    upgrade: bool = True,
    hold: bool = True,
    secure_boot_ok: bool = False,
    stack_name: str = "tf21",
    package_manager: str | None = None,
):
    """
    Make the NVIDIA driver at least ``min_version``: noop when the running driver satisfies it,
    otherwise install ``packages`` through the distro package manager, blacklist nouveau (with
    an initramfs rebuild) and hold the packages. Loading the new driver is `driver_running`'s job.
    The apt package lists are refreshed only when something is installed. Secure Boot is checked
    here, when an install would happen, not in the GPU gate: a host whose driver already works
    has nothing to sign.

    + min_version: the stack's minimum driver, e.g. "418.96"
    + branch: the branch being installed, e.g. "535" (for messages; ``packages`` already name it)
    + packages: the distro packages, e.g. ``["nvidia-driver-535"]`` (apt) or
      ``["nvidia-driver:535-dkms"]`` (a dnf module stream); a ``{branch}`` left in a name is
      replaced by ``branch``; None picks them by distro (read only when an install is needed)
    + upgrade: install when the driver is absent or too old; False fails the host instead
    + hold: ``apt-mark hold`` / ``dnf versionlock`` the packages against silent upgrades
    + secure_boot_ok: install although Secure Boot is on (the DKMS modules are signed)
    + stack_name: the stack's name, for messages
    + package_manager: "apt" or "dnf"; None picks it by distro, like ``packages``

    **Example:**

    .. code:: python

        driver.nvidia_driver(
            name="NVIDIA driver >= 418.96",
            min_version="418.96", branch="535", packages=["nvidia-driver-535"],
        )
    """
    if package_manager not in (None, "apt", "dnf"):
        raise OperationValueError(f"package_manager must be 'apt' or 'dnf', not {package_manager!r}")
    if packages is not None and not packages:
        raise OperationValueError(f"no driver packages given for branch {branch}")
    packages = _with_branch(packages or [], branch)

    info = host.get_fact(GpuInfo)
    loaded = info.get("driver_version")
    installed = installed_driver_version(info)
    held = set(info.get("held_packages") or [])

    # Driver packages downgraded below the minimum while a good module is still loaded: the next
    # reboot would load the old driver, so this is drift to correct now, not a satisfied host.
    downgraded = installed is not None and not driver_satisfies(installed, min_version)
    if driver_satisfies(loaded, min_version) and not _newer(installed, loaded) and not downgraded:
        if hold and (not packages or package_manager is None):
            # Packages by distro (the deploy's default): without this, a hold removed by hand
            # from a package this deploy installed was never restored. The distro is read only
            # when such a package is installed and not held, so a converged host pays nothing.
            ours = {p for _ids, manager, names in _DISTRO_DRIVERS if manager == "apt"
                    for p in _with_branch(names, branch)}
            if any(p in (info.get("driver_packages") or {}) and p not in held for p in ours):
                found = distro_driver_packages(host.get_fact(LinuxDistribution))
                if found is not None:
                    package_manager = package_manager or found[0]
                    packages = packages or _with_branch(found[1], branch)
        to_hold = [p for p in packages if p in (info.get("driver_packages") or {}) and p not in held]
        if hold and to_hold and package_manager == "apt":
            # installed by us but not held (a hold removed by hand): hold it again
            yield StringCommand("apt-mark", "hold", *[QuoteString(p) for p in to_hold])
            return
        host.noop(f"driver {loaded} >= {min_version}")
        return

    if driver_satisfies(installed, min_version):
        # The packages are already there: what is missing is the reboot that loads them.
        now = f"{loaded} is loaded" if loaded else "no NVIDIA module is loaded"
        host.noop(f"driver {installed} installed (>= {min_version}) but {now}: reboot pending")
        return

    current = installed if downgraded else (loaded or installed)
    if not upgrade:
        if current:
            why = f"driver {current} < {min_version} required by {stack_name}"
        else:
            why = f"no NVIDIA driver installed; {stack_name} requires >= {min_version}"
        yield fail_host(
            f"{why}; set nvidia_driver_upgrade=True or upgrade it by hand"
        )
        return

    if not packages or package_manager is None:
        # Only now, when an install is needed, is the distro worth a remote command.
        distro = host.get_fact(LinuxDistribution)
        found = distro_driver_packages(distro)
        if found is None:
            yield fail_host(
                f"no known NVIDIA driver packages for {distro.get('name') or 'this distro'}: "
                "set data nvidia_driver_packages (and the packages' manager is apt or dnf)"
            )
            return
        package_manager = package_manager or found[0]
        packages = packages or _with_branch(found[1], branch)

    if info.get("secure_boot") and not secure_boot_ok:
        yield fail_host(secure_boot_message(packages))
        return

    # Holds on any driver package (an older branch included) would make apt refuse the upgrade
    # ("held broken packages"): lift them first, the new packages get held again at the end.
    driver_package_names = set(info.get("driver_packages") or {}) | set(packages)
    unhold = sorted(held & driver_package_names)
    if package_manager == "apt":
        yield from _apt_commands(packages, unhold, hold)
    else:
        yield from _dnf_commands(packages, unhold, hold)


def is_controller() -> bool:
    """The target is the machine pyinfra runs on (@local)."""
    return host.name == "@local" or getattr(host, "connector_cls", None) is LocalConnector


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


def check_after_reboot(state, host, min_version: str, stack_name: str) -> bool:
    """FunctionCommand callback run after the reboot: read GpuInfo again (the host is back, with
    the new module loaded or not) and fail this host, with the message `fail_host` would print,
    when the running driver still does not satisfy ``min_version``. Returning False fails the
    host only (pyinfra-notes §1.7); raising would print a traceback."""
    problem = running_driver_problem(host.get_fact(GpuInfo), min_version, stack_name)
    if problem is None:
        return True
    host.log(problem, log_func=logger.error)
    return False


@operation(is_idempotent=False)
def driver_running(
    min_version: str,
    allowed: bool,
    allow_local: bool = False,
    delay: int = 60,
    interval: int = 5,
    reboot_timeout: int = 600,
    stack_name: str = "tf21",
):
    """
    Make sure the running driver satisfies the minimum: reboot first when the installed driver is
    newer than the loaded one (or the installed driver is not loaded at all), then check.

    One GpuInfo read decides. No reboot pending: the running driver is checked right away (noop,
    or the host fails with what to look at). Reboot pending and allowed: ``server.reboot``'s
    commands, then a callback that reads GpuInfo again once the host is back and fails the host
    when the new driver still does not answer or is still below the minimum (a DKMS build that
    failed for the running kernel, an unsigned module under Secure Boot). The controller (@local)
    is never rebooted without ``allow_local``.

    + min_version: the stack's minimum driver, e.g. "418.96"
    + allowed: the deploy may reboot (data nvidia_driver_reboot); False fails the host with
      "reboot, then run again" instead
    + allow_local: the deploy may reboot the controller itself when the target is @local
    + delay: seconds between the reboot and the first reconnection attempt; keep it generous,
      pyinfra fails when it reconnects to the old sshd before it is gone
    + interval: seconds between reconnection attempts
    + reboot_timeout: seconds to wait for the host to come back
    + stack_name: the stack's name, for messages

    **Example:**

    .. code:: python

        driver.driver_running(
            name="Running driver (reboot if needed)",
            min_version="418.96", allowed=True, delay=60,
        )
    """
    info = host.get_fact(GpuInfo)
    pending, installed, loaded = reboot_pending(info)
    if not pending:
        problem = running_driver_problem(info, min_version, stack_name)
        if problem is not None:
            yield fail_host(problem)
            return
        host.noop(f"driver {loaded} >= {min_version} is loaded")
        return

    now = f"{loaded} is still loaded" if loaded else "no NVIDIA kernel module is loaded"
    if not allowed:
        yield fail_host(f"driver {installed} installed but {now}; reboot, then run again")
        return
    if is_controller() and not allow_local:
        yield fail_host(
            "the driver was upgraded; reboot this machine to load it "
            "(set allow_local_reboot=True to let the deploy do it)"
        )
        return
    yield from server.reboot._inner(delay=delay, interval=interval, reboot_timeout=reboot_timeout)
    # after the reconnection: the same check as above, on the driver the reboot loaded
    yield FunctionCommand(check_after_reboot, (min_version, stack_name), {})
