"""The NVIDIA driver: install or upgrade it when the running one is below the stack's minimum,
reboot to load it (only when it changed and rebooting is allowed), and check it after the reboot.

Two operations, because the second must decide with facts read after the first changed things.
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, OperationValueError, QuoteString, StringCommand, operation
from pyinfra.connectors.local import LocalConnector
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import server

from facts.gpu import GpuInfo
from stacks import driver_satisfies

from .util.commands import fail_host
from .util.driver_packages import DISTRO_DRIVERS, apt_commands, distro_driver_packages, dnf_commands, with_branch
from .util.driver_state import (
    installed_driver_version, newer, reboot_pending, running_driver_problem, secure_boot_message,
)


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
    Install the NVIDIA driver branch when the running driver is absent or below ``min_version``.

    Installs ``packages`` with apt or dnf (lists refreshed only then), blacklists nouveau with an
    initramfs rebuild and holds the packages; loading the new driver is ``driver_running``'s job.
    Secure Boot is checked only when an install would happen: a working driver has nothing to sign.

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
    packages = with_branch(packages or [], branch)

    info = host.get_fact(GpuInfo)
    loaded = info.get("driver_version")
    installed = installed_driver_version(info)
    held = set(info.get("held_packages") or [])

    # Driver packages downgraded below the minimum while a good module is still loaded: the next
    # reboot would load the old driver, so this is drift to correct now, not a satisfied host.
    downgraded = installed is not None and not driver_satisfies(installed, min_version)
    if driver_satisfies(loaded, min_version) and not newer(installed, loaded) and not downgraded:
        if hold and (not packages or package_manager is None):
            # Packages by distro (the deploy's default): without this, a hold removed by hand
            # from a package this deploy installed was never restored. The distro is read only
            # when such a package is installed and not held, so a converged host pays nothing.
            ours = {p for _ids, manager, names in DISTRO_DRIVERS if manager == "apt"
                    for p in with_branch(names, branch)}
            if any(p in (info.get("driver_packages") or {}) and p not in held for p in ours):
                found = distro_driver_packages(host.get_fact(LinuxDistribution))
                if found is not None:
                    package_manager = package_manager or found[0]
                    packages = packages or with_branch(found[1], branch)
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
        packages = packages or with_branch(found[1], branch)

    if info.get("secure_boot") and not secure_boot_ok:
        yield fail_host(secure_boot_message(packages))
        return

    # Holds on any driver package (an older branch included) would make apt refuse the upgrade
    # ("held broken packages"): lift them first, the new packages get held again at the end.
    driver_package_names = set(info.get("driver_packages") or {}) | set(packages)
    unhold = sorted(held & driver_package_names)
    if package_manager == "apt":
        yield from apt_commands(packages, unhold, hold)
    else:
        yield from dnf_commands(packages, unhold, hold)


def is_controller() -> bool:
    """The target is the machine pyinfra runs on (@local)."""
    return host.name == "@local" or getattr(host, "connector_cls", None) is LocalConnector


def check_after_reboot(state, host, min_version: str, stack_name: str) -> bool:
    """FunctionCommand callback run after the reboot: read GpuInfo again (the host is back, with
    the new module loaded or not) and fail this host, with the message `fail_host` would print,
    when the running driver still does not satisfy ``min_version``. Returning False fails the
    host only; raising would print a traceback."""
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
    Reboot when the installed driver is newer than the loaded one, then check the running driver.

    The check after the reboot is a callback that reads GpuInfo again and fails the host when the
    driver still does not answer or is still too old (a failed DKMS build, an unsigned module
    under Secure Boot). The controller (@local) is never rebooted without ``allow_local``.

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
