"""@deploy functions that converge a GPU workstation to any stack, chosen by data.

The order is the order of dependence, and each step fails only its host:

1. the GPU gate: no NVIDIA GPU, or one the stack cannot run, stops the host before any change;
2. the NVIDIA driver (install/upgrade, then reboot when it changed and that is allowed, and check
   the running driver);
3. Miniconda, its `.condarc`, the env with the stack's python and conda packages (cudatoolkit,
   cudnn: created in one conda call), the env's pip config;
4. the stack's pip requirements, the CUDA activation hook;
5. the layered GPU verification, when the state it verified changed.

Before any operation, the deploy plans the facts its operations read (`planned_reads`): the first
read runs them all in one remote command per host (facts/workstation.py).

Every operation reads its facts when it runs, so a step sees what the steps before it changed.
"""

from __future__ import annotations

import json
from dataclasses import replace

from pyinfra import host, logger
from pyinfra.api import deploy
from packaging.version import InvalidVersion, Version
from pyinfra.api.exceptions import PyinfraError

from deploys import controller_speed, offline, settings
from facts import workstation as workstation_state
from facts.bundle import BundleFiles
from facts.conda import CondaInstall, CondaPackages
from facts.files_state import FileContent, FileTexts
from facts.gpu import GpuInfo, compute_capability_for
from facts.pip_env import PipPackages
from facts.verification import VerificationState, program_id, verification_program
from deploys.desired import DesiredState, desired_states, driver_state, resolve_stack
from operations import bundle, driver, gpu_gate, hooks, jupyter, lock, pip, steps, verify
from operations import conda as conda_ops  # `conda` is this module's @deploy step
from operations.util.commands import env_prefix_of
from operations.util.condarc import condarc_preset
from stacks import gpu_support
from operations.util.miniconda import PROFILE_HOOK_PATH

controller_speed.apply()  # pyinfra's per-operation bookkeeping, cheaper (deploys/controller_speed.py)


def windows_min_driver(cfg: dict) -> str | None:
    """The stack's minimum Windows driver (NVIDIA's Table 3 Windows column), for WSL2 hosts."""
    try:
        return resolve_stack(cfg["stack"], "windows", cfg["conda_channel_family"])["min_driver"]
    except PyinfraError:  # a stack without a Windows row: the Linux minimum is checked instead
        return None


@deploy("NVIDIA driver")
def nvidia_driver(desired: DesiredState):
    """A driver at or above the stack's minimum, running (rebooted into when it changed and allowed).

    + desired: the host's desired state (deploys/desired.py)
    """
    cfg, stack = desired.config, desired.stack
    driver.nvidia_driver(
        name=f"Driver >= {stack['min_driver']}",
        min_version=stack["min_driver"],
        branch=str(cfg["nvidia_driver_branch"]),  # "auto": chosen per host from its GPUs
        stack_spec=cfg["stack"],
        kernel_modules=cfg["nvidia_driver_kernel_modules"],
        version=cfg["nvidia_driver_version"],
        # inside WSL2 the Windows driver answers: the stack's Windows minimum applies
        wsl_min_version=windows_min_driver(cfg),
        packages=cfg["nvidia_driver_packages"],  # "{branch}" in a name is filled in by the operation
        package_manager=cfg["nvidia_driver_package_manager"],
        upgrade=cfg["nvidia_driver_upgrade"],
        hold=cfg["nvidia_driver_hold"],
        secure_boot_ok=cfg["nvidia_driver_secure_boot_ok"],
        stack_name=stack["name"],
    )
    driver.driver_running(
        name="Running driver (reboot if needed)",
        min_version=stack["min_driver"],
        allowed=cfg["nvidia_driver_reboot"],
        allow_local=cfg["allow_local_reboot"],
        delay=cfg["reboot_delay"],
        reboot_timeout=cfg["reboot_timeout"],
        stack_name=stack["name"],
    )


@deploy("Offline bundle")
def offline_bundle(cfg: dict, held: dict):
    """The controller's offline bundle on the host (only the files it does not hold yet travel).

    + cfg: the validated data (`bundle`, `bundle_dest`)
    + held: deploys/offline.load(): the bundle's manifest and the files a host must hold
    """
    # what the host holds of it is read in the run's one broad read, with the other planned facts
    fingerprint = held["manifest"]["fingerprint"]
    workstation_state.plan(host, [(BundleFiles, bundle.held_files_read(cfg["bundle_dest"], fingerprint))])
    bundle.synced(
        name="Bundle on the host",
        src=cfg["bundle"],
        dest=cfg["bundle_dest"],
        files=held["files"],
        fingerprint=fingerprint,
    )


@deploy("Conda")
def conda(desired: DesiredState, install: bool = True):
    """Miniconda, its `.condarc` (steps `conda`), and the stack's env with its python and conda
    packages (step `env`).

    + desired: the host's desired state of one env (deploys/desired.py)
    + install: also Miniconda and its `.condarc` (the first env of the host only)
    """
    if install and "conda" in desired.steps:
        conda_base(desired.config)
    if "env" in desired.steps:
        conda_env(desired)


def conda_base(cfg: dict):
    prefix = cfg["conda_prefix"]
    conda_ops.miniconda(
        name="Miniconda",
        prefix=prefix,
        installer_url=cfg["miniconda_url"],
        installer_sha256=cfg["miniconda_sha256"],
        installer_file=cfg["miniconda_file"],
        allow_unverified=cfg["miniconda_allow_unverified"],
        min_free_mib=cfg["min_free_mib"],
        profile_hook=cfg["conda_profile_hook"],
        download_connect_timeout=cfg["download_connect_timeout"],
        download_timeout=cfg["download_timeout"],
    )
    preset = condarc_preset(cfg["conda_channel_preset"], cfg["conda_mirror_url"])
    conda_ops.condarc(
        name="Conda channels (.condarc)",
        prefix=prefix,
        extra=cfg["condarc_extra"],
        **preset,
    )


def conda_env(desired: DesiredState):
    cfg, stack, prefix = desired.config, desired.stack, desired.config["conda_prefix"]
    others = [p["name"] for p in stack["conda"] if p["name"] != "python"]
    # One operation, one fact read, one conda solve: the env with its python and the stack's
    # conda packages (cudatoolkit, cudnn).
    conda_ops.env(
        name=f"Env {stack['conda_env']} (" + ", ".join([f"python {desired.python}", *others]) + ")",
        prefix=prefix,
        env_name=stack["conda_env"],
        python=desired.python,
        packages=stack["conda"],
        recreate=cfg["conda_env_recreate"],
        local_files=cfg["conda_local_files"] or None,
        min_free_mib=cfg["min_free_mib"],
        # a CUDA library deleted by hand (conda-meta still lists its package) is put back
        libraries=stack["libraries"] if stack.get("cuda_libraries_from") == "conda" else None,
    )


@deploy("Stack packages")
def stack_packages(desired: DesiredState):
    """The env's pip config and the stack's pip requirements (step `packages`), the CUDA activation
    hook (step `hook`).

    + desired: the host's desired state of one env (deploys/desired.py)
    """
    cfg, stack, env = desired.config, desired.stack, desired.env_prefix
    if "packages" in desired.steps:
        pip.config(
            name="Env pip config",
            env_prefix=env,
            index_url=cfg["pip_index_url"],
            extra_index_urls=cfg["pip_extra_index_urls"],
            find_links=cfg["pip_find_links"],
            trusted_hosts=cfg["pip_trusted_hosts"],
            no_index=cfg["pip_no_index"],
        )
        pip.requirements(
            name="Pip requirements",
            python=f"{env}/bin/python",
            requirements=stack["pip"],
            constraints=stack["pip_constraints"],
            conflicts=list(desired.conflicts),
        )
    if "hook" in desired.steps:
        hooks.cuda_activation(name="CUDA activation hook", env_prefix=env,
                              pip_libraries=hooks.pip_libraries(stack))


@deploy("GPU verification")
def gpu_verification(desired: DesiredState):
    """The layered GPU verification of the env when its state changed (data verify_gpu); the host
    keeps its verdict, with the state's fingerprint, for the next run and the fleet report.

    + desired: the host's desired state (deploys/desired.py)
    """
    cfg = desired.config
    verify.gpu_stack(
        name="Layered GPU verification",
        env_prefix=desired.env_prefix,
        stack=desired.stack,
        when=cfg["verify_gpu"],
        timeout=cfg["verify_timeout"],
        busy_wait=cfg["verify_busy_gpu"],
    )


def planned_reads(desired: DesiredState) -> list:
    """The facts (class, kwargs) the operations below read on a converged host, with the very
    arguments they pass: facts.workstation reads them all in one remote command per host."""
    cfg, env = desired.config, desired.env_prefix.rstrip("/")
    prefix = cfg["conda_prefix"].rstrip("/") or "/"
    reads = [
        (GpuInfo, {}),
        (CondaInstall, {"prefix": prefix}),
        (CondaPackages, {"env_prefix": env_prefix_of(prefix, desired.stack["conda_env"]), "prefix": prefix}),
        (FileContent, {"path": f"{env}/pip.conf"}),
        (PipPackages, {"python": f"{env}/bin/python"}),
        (FileTexts, {"paths": list(hooks.hook_paths(env))}),
    ]
    if cfg["conda_profile_hook"]:
        reads.append((FileContent, {"path": PROFILE_HOOK_PATH}))
    if cfg["verify_gpu"] != "never":
        params = json.dumps(verify.verification_params(env, desired.stack), sort_keys=True)
        reads.append((VerificationState, {
            "env_prefix": env, "verdict_path": f"{env}/{verify.VERDICT_RELATIVE_PATH}",
            "program": program_id(verification_program(), params),
        }))
    return reads


def host_reads(states: list[DesiredState]) -> list:
    """`planned_reads` of every env of the host, each read once (the fleet report plans the same)."""
    reads, seen = [], set()
    for state in states:
        for fact, kwargs in planned_reads(state):
            key = (fact, json.dumps(kwargs, sort_keys=True))
            if key not in seen:
                seen.add(key)
                reads.append((fact, kwargs))
    return reads


@deploy("GPU workstation", data_defaults=settings.defaults())
def gpu_workstation():
    """Converge this host to the stacks named by data `stacks` (or the one `stack`), one env each.

    Data is validated and the stacks resolved before any operation is added, so bad input stops the
    run with one line while nothing has run on any host. Data `only` / `skip` choose the steps
    (driver, conda, env, packages, hook, verify); their order is kept.

    .. code:: python

        gpu_workstation()  # in a deploy file: pyinfra INVENTORY deploys/tf21.py
    """
    states = desired_states(host.data)
    cfg = states[0].config
    # nothing runs here: the first operation's read fetches all of these in one remote command
    workstation_state.plan(host, host_reads(states))
    # one gpuws run per host at a time, from here to the host's last operation (operations/lock.py)
    lock.held(name="One gpuws run at a time", wait=cfg["lock_wait"], stale_after=cfg["lock_stale_after"])
    states = runnable(states)
    if not states:
        return
    if any(set(state.steps) - {"driver"} for state in states):
        # before any change: conda, the env's python and its hooks run as root from this prefix
        conda_ops.prefix_trusted(name="Conda prefix ownership", prefix=cfg["conda_prefix"])
    driven = driver_state(states)
    if "driver" in driven.steps:
        nvidia_driver(driven)
    else:
        warn_skipped_driver(driven)
    if cfg["bundle"]:
        if len(states) > 1:
            raise PyinfraError("data bundle: an offline bundle serves one stack; give one stack (or one bundle run per stack)")
        held = offline.load(cfg["bundle"], states[0].stack["name"])
        offline_bundle(cfg, held)
        # from here on every installer reads the host's copy of the bundle
        states = [replace(states[0], config=offline.settings_for(states[0].config, held))]
    for index, desired in enumerate(states):
        conda(desired, install=index == 0)
        needing = [step for step in ("packages", "hook", "verify") if step in desired.steps]
        if needing and "env" not in desired.steps:
            # only/skip left the env step out: a host without the env stops here with one line
            steps.env_installed(name=f"Env {desired.stack['conda_env']} installed", prefix=cfg["conda_prefix"],
                                env_name=desired.stack["conda_env"], steps=needing)
        stack_packages(desired)
        if cfg["jupyter_kernels"] and "env" in desired.steps:
            jupyter.kernelspec(
                name=f"Jupyter kernel {desired.stack['conda_env']}",
                env_prefix=desired.env_prefix,
                kernel_name=desired.stack["conda_env"],
                display_name=jupyter.display_name(desired.stack),
                kernels_dir=cfg["jupyter_kernels_dir"],
            )
        if "verify" in desired.steps:
            gpu_verification(desired)  # a no-op that says so when verify_gpu is "never"


def runnable(states: list[DesiredState]) -> list[DesiredState]:
    """The envs this host's GPU can run. A single stack, or data stack_unsupported=fail_host: the GPU
    gate of each stack (it fails the host, with one line, before any change). Several stacks with
    stack_unsupported=skip_env: an env the GPU cannot run is left out with one warning line, the
    others converge; the gate of the remaining ones still stops a host without an NVIDIA GPU."""
    if len(states) > 1 and states[0].config["stack_unsupported"] == "skip_env":
        kept = []
        for state in states:
            reason = unsupported_reason(workstation_state.read(GpuInfo) or {}, state.stack)
            if reason:
                logger.warning(f"{host.name}: env {state.stack['conda_env']} not converged: {reason}")
            else:
                kept.append(state)
        if not kept:  # nothing to run: the gate of the first stack fails the host with its line
            kept = states[:1]
        states = kept
    for state in states:
        gpu_gate.gpu_supported(name=f"GPU can run {state.stack['name']}", stack=state.stack)
    return states


def unsupported_reason(info: dict, stack: dict) -> str | None:
    """gpu_gate's line for a GPU of this host the stack cannot run, or None (no verdict: no GPU or an
    unknown compute capability is left to the gate and the verification)."""
    for gpu in info.get("gpus") or []:
        cc = gpu.get("compute_capability") or compute_capability_for(gpu.get("name"))
        if cc:
            ok, _message, suggestion = gpu_support(stack, cc)
            if not ok:
                return gpu_gate.unsupported_message(stack, gpu.get("name"), cc, suggestion)
    return None


def warn_skipped_driver(desired: DesiredState) -> None:
    """Step `driver` skipped: say when the running driver is below a stack's minimum (the envs are
    still converged, as asked, but their CUDA cannot run until the driver is updated)."""
    running = (workstation_state.read(GpuInfo) or {}).get("driver_version")
    minimum = str(desired.stack["min_driver"])
    try:
        below = not running or Version(str(running)) < Version(minimum)
    except InvalidVersion:
        below = True
    if below:
        logger.warning(
            f"{host.name}: step driver skipped, running driver {running or 'none'} is below "
            f"{minimum} that {desired.stack['name']} needs: its env will not run on the GPU until the driver is updated")
