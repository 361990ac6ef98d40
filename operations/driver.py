"""The NVIDIA driver: install or upgrade it when the running one is below the stack's minimum,
reboot to load it (only when it changed and rebooting is allowed), and check it after the reboot.

Two operations, because the second must decide with facts read after the first changed things.
"""

from __future__ import annotations

import functools

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, OperationValueError, QuoteString, StringCommand, operation
from pyinfra.connectors.local import LocalConnector
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import server

from facts.workstation import read  # this run's broad read (one remote command per host)
from facts.gpu import GpuInfo
from stacks import driver_satisfies

from .util.commands import fail_host
from .util.driver_choice import installed_branch_problem, plan_driver
from .util.driver_packages import apt_commands, branch_packages, distro_driver_packages, dnf_commands, with_branch
from .util.driver_state import (
    installed_driver_version, newer, reboot_pending, running_driver_problem, secure_boot_message,
)
from .util.driver_wsl import wsl_driver_problem


def _our_apt_packages(branch: str) -> set[str]:
    """The apt packages the deploy installs for ``branch`` on any apt distro (both module flavours)."""
    return {p for family in ("ubuntu", "debian") for flavour in (False, True)
            for p in branch_packages(family, branch, flavour)}


@operation()
def nvidia_driver(
    min_version: str,
    branch: str = "auto",
    packages: list[str] | None = None,
    upgrade: bool = True,
    hold: bool = True,
    secure_boot_ok: bool = False,
    stack_name: str = "tf21",
    package_manager: str | None = None,
    stack_spec: str | None = None,
    kernel_modules: str = "auto",
    version: str | None = None,
    wsl_min_version: str | None = None,
):
    """
    Install the NVIDIA driver branch for this host's GPUs when the running driver is absent or too old.

    A running driver at or above ``min_version`` is never replaced (unless ``version`` pins another
    one). When an install is needed, the branch is chosen from the host's PCI device ids and
    NVIDIA's supported-chips lists (``branch="auto"``), or the given branch is checked against them:
    a branch that cannot drive a GPU of the host fails the host before any change. Installs with apt
    or dnf (lists refreshed only then), blacklists nouveau with an initramfs rebuild and holds the
    packages; loading the new driver is ``driver_running``'s job. Secure Boot is checked only when
    an install would happen. Inside WSL2 nothing is installed: the Windows driver is the only driver.

    + min_version: the stack's minimum driver, e.g. "418.96"
    + branch: "auto" (chosen per host) or a branch, e.g. "470"
    + packages: the distro packages, e.g. ``["nvidia-driver-{branch}"]``; ``{branch}`` is filled in;
      None picks them by distro and module flavour (read only when an install is needed)
    + upgrade: install when the driver is absent or too old; False fails the host instead
    + hold: ``apt-mark hold`` / ``dnf versionlock`` the packages against silent upgrades
    + secure_boot_ok: install although Secure Boot is on (the DKMS modules are signed)
    + stack_name: the stack's name, for messages
    + package_manager: "apt" or "dnf"; None picks it by distro, like ``packages``
    + stack_spec: the stack the chosen branch must run ("tf21"), for ``branch="auto"``
    + kernel_modules: "auto" (open where the GPU needs them or NVIDIA's installer prefers them),
      "open" or "proprietary"
    + version: one exact driver version for the fleet ("535.183.01"); a host running another is drift
    + wsl_min_version: the Windows driver's minimum for the stack (WSL2 hosts), default ``min_version``

    **Example:**

    .. code:: python

        driver.nvidia_driver(
            name="NVIDIA driver >= 418.96",
            min_version="418.96", branch="auto", stack_spec="tf21",
        )
    """
    if package_manager not in (None, "apt", "dnf"):
        raise OperationValueError(f"package_manager must be 'apt' or 'dnf', not {package_manager!r}")
    if packages is not None and not packages:
        raise OperationValueError(f"no driver packages given for branch {branch}")

    info = read(GpuInfo)
    if info.get("wsl"):
        problem = wsl_driver_problem(info, wsl_min_version or min_version, stack_name)
        if problem:
            yield fail_host(problem)
            return
        host.noop(f"WSL2: Windows driver {info.get('driver_version')} >= {wsl_min_version or min_version} "
                  "(the Windows driver is the only driver; nothing installed inside WSL)")
        return
    loaded = info.get("driver_version")
    installed = installed_driver_version(info)
    held = set(info.get("held_packages") or [])

    # Driver packages downgraded below the minimum while a good module is still loaded: the next
    # reboot would load the old driver, so this is drift to correct now, not a satisfied host.
    downgraded = installed is not None and not driver_satisfies(installed, min_version)
    satisfied = driver_satisfies(loaded, min_version) and not newer(installed, loaded) and not downgraded
    if satisfied and (not version or loaded == version):
        running = loaded.split(".")[0]
        ours = set(with_branch(packages, running)) if packages else _our_apt_packages(running)
        to_hold = sorted(p for p in ours if p in (info.get("driver_packages") or {}) and p not in held)
        if hold and to_hold and package_manager in (None, "apt") and ":" not in "".join(to_hold):
            # installed by us but not held (a hold removed by hand): hold it again
            yield StringCommand("apt-mark", "hold", "--", *[QuoteString(p) for p in to_hold])
            return
        host.noop(f"driver {loaded} >= {min_version}" + (" (the pinned version)" if version else ""))
        return

    # Installed packages of a branch that cannot drive this host's GPUs never load: a reboot would
    # only end in "driver does not answer", so they are replaced like a missing driver.
    wrong_branch = installed_branch_problem(info)
    if driver_satisfies(installed, min_version) and (not version or installed == version) and not wrong_branch:
        # The packages are already there: what is missing is the reboot that loads them.
        now = f"{loaded} is loaded" if loaded else "no NVIDIA module is loaded"
        host.noop(f"driver {installed} installed (>= {min_version}) but {now}: reboot pending")
        return

    current = installed if downgraded else (loaded or installed)
    if not upgrade:
        if wrong_branch:
            why = f"the installed {wrong_branch}"
        elif current and not driver_satisfies(current, min_version):
            why = f"driver {current} < {min_version} required by {stack_name}"
        elif current:
            why = f"driver {current} runs, not the pinned nvidia_driver_version={version}"
        else:
            why = f"no NVIDIA driver installed; {stack_name} requires >= {min_version}"
        yield fail_host(f"{why}; set nvidia_driver_upgrade=True or upgrade it by hand")
        return

    # Only now, when an install is needed, is the branch decided (and the distro read).
    plan = plan_driver(info, branch, stack_spec, kernel_modules, version, min_version)
    if plan.error:
        yield fail_host(plan.error)
        return
    if packages:
        packages = with_branch(packages, plan.branch)
    if not packages or package_manager is None:
        distro = host.get_fact(LinuxDistribution)
        found = distro_driver_packages(distro, plan.branch, plan.open_modules)
        if found is None:
            yield fail_host(
                f"no known NVIDIA driver packages for {distro.get('name') or 'this distro'}: "
                "set data nvidia_driver_packages (and the packages' manager is apt or dnf)"
            )
            return
        package_manager = package_manager or found[0]
        packages = packages or found[1]

    if info.get("secure_boot") and not secure_boot_ok:
        yield fail_host(secure_boot_message(packages))
        return

    replaces = f"; replaces the installed packages ({wrong_branch})" if wrong_branch else ""
    logger.info(f"{host.name}: driver {plan.branch} ({', '.join(packages)}): {plan.reason}{replaces}")
    # Holds on any driver package (an older branch included) would make apt refuse the upgrade
    # ("held broken packages"): lift them first, the new packages get held again at the end.
    driver_package_names = set(info.get("driver_packages") or {}) | set(packages)
    unhold = sorted(held & driver_package_names)
    if package_manager == "apt":
        yield from apt_commands(packages, unhold, hold, version)
    else:
        yield from dnf_commands(packages, unhold, hold, version)


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


def people_on_host(info: dict) -> str | None:
    """ "2 users logged in, 1 GPU process" when people or GPU jobs would be cut off by a reboot, else None."""
    users = len(info.get("users") or [])
    processes = len(info.get("gpu_processes") or [])
    parts = []
    if users:
        parts.append(f"{users} user{'s' if users != 1 else ''} logged in")
    if processes:
        parts.append(f"{processes} GPU process{'es' if processes != 1 else ''}")
    return ", ".join(parts) or None


def _one_line_on_error(function):
    """Wrap a reboot callback of `server.reboot` so that a host that does not come back fails with
    one line instead of pyinfra's traceback for an exception in a callback ("Server did not reboot
    in time" is raised by server.reboot's wait_and_reconnect)."""

    @functools.wraps(function)
    def call(state, host, *args, **kwargs):
        try:
            return function(state, host, *args, **kwargs)
        except Exception as e:  # the callback's own failure: this host only
            host.log(f"the host did not come back from the reboot: {e}; check its console, then run again",
                     log_func=logger.error)
            return False

    return call


def _reboot(delay: int, interval: int, reboot_timeout: int):
    for command in server.reboot._inner(delay=delay, interval=interval, reboot_timeout=reboot_timeout):
        if isinstance(command, FunctionCommand):
            command = FunctionCommand(_one_line_on_error(command.function), command.args, command.kwargs)
        yield command


@operation(is_idempotent=False)
def driver_running(
    min_version: str,
    allowed: bool | str,
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
    + allowed: data nvidia_driver_reboot: True reboots when nobody is logged in and no GPU process
      runs (else the host fails with "reboot pending: ..."), "force" reboots anyway, False fails
      the host with "reboot, then run again"
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
    info = read(GpuInfo)
    if info.get("wsl"):
        host.noop("WSL2: the Windows driver is the only driver; nothing to reboot inside WSL")
        return
    pending, installed, loaded = reboot_pending(info)
    if not pending:
        problem = running_driver_problem(info, min_version, stack_name)
        if problem is not None:
            yield fail_host(problem)
            return
        host.noop(f"driver {loaded} >= {min_version} is loaded")
        return

    now = f"{loaded} is still loaded" if loaded else "no NVIDIA kernel module is loaded"
    if allowed not in (True, "force"):
        yield fail_host(f"driver {installed} installed but {now}; reboot, then run again")
        return
    if is_controller() and not allow_local:
        yield fail_host(
            "the driver was upgraded; reboot this machine to load it "
            "(set allow_local_reboot=True to let the deploy do it)"
        )
        return
    people = people_on_host(info)
    if people and allowed != "force":
        yield fail_host(f"reboot pending: {people}; run again with nvidia_driver_reboot=force, or later")
        return
    yield from _reboot(delay, interval, reboot_timeout)
    # after the reconnection: the same check as above, on the driver the reboot loaded
    yield FunctionCommand(check_after_reboot, (min_version, stack_name), {})
