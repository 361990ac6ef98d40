"""@deploy functions that converge a GPU workstation to any stack, chosen by data.

The order is the order of dependence, and each step fails only its host:

1. the GPU gate: no NVIDIA GPU, or one the stack cannot run, stops the host before any change;
2. the NVIDIA driver (install/upgrade, then reboot when it changed and that is allowed, and check
   the running driver);
3. Miniconda, its `.condarc`, the env with the stack's python and conda packages (cudatoolkit,
   cudnn: created in one conda call), the env's pip config;
4. the stack's pip requirements, the CUDA activation hook;
5. the layered GPU verification.

Every operation reads its facts when it runs, so a step sees what the steps before it changed.
"""

from __future__ import annotations

from dataclasses import replace

from pyinfra import host
from pyinfra.api import deploy

from deploys import offline, settings
from deploys.desired import DesiredState, desired_state
from operations import bundle, driver, gpu_gate, hooks, pip, verify
from operations import conda as conda_ops  # `conda` is this module's @deploy step
from operations.util.condarc import condarc_preset


@deploy("NVIDIA driver")
def nvidia_driver(desired: DesiredState):
    """A driver at or above the stack's minimum, running (rebooted into when it changed and allowed).

    + desired: the host's desired state (deploys/desired.py)
    """
    cfg, stack = desired.config, desired.stack
    driver.nvidia_driver(
        name=f"Driver >= {stack['min_driver']}",
        min_version=stack["min_driver"],
        branch=cfg["nvidia_driver_branch"],
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
    bundle.synced(
        name="Bundle on the host",
        src=cfg["bundle"],
        dest=cfg["bundle_dest"],
        files=held["files"],
        fingerprint=held["manifest"]["fingerprint"],
    )


@deploy("Conda")
def conda(desired: DesiredState):
    """Miniconda, its `.condarc`, and the stack's env with its python and conda packages.

    + desired: the host's desired state (deploys/desired.py)
    """
    cfg, stack = desired.config, desired.stack
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
    )
    preset = condarc_preset(cfg["conda_channel_preset"], cfg["conda_mirror_url"])
    conda_ops.condarc(
        name="Conda channels (.condarc)",
        prefix=prefix,
        extra=cfg["condarc_extra"],
        **preset,
    )
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
    """The env's pip config, the stack's pip requirements and the CUDA activation hook.

    + desired: the host's desired state (deploys/desired.py)
    """
    cfg, stack, env = desired.config, desired.stack, desired.env_prefix
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
    hooks.cuda_activation(name="CUDA activation hook", env_prefix=env)


@deploy("GPU verification")
def gpu_verification(desired: DesiredState):
    """The layered GPU verification of the env; the host keeps its verdict for the fleet report.

    + desired: the host's desired state (deploys/desired.py)
    """
    verify.gpu_stack(name="Layered GPU verification", env_prefix=desired.env_prefix, stack=desired.stack)


@deploy("GPU workstation", data_defaults=settings.defaults())
def gpu_workstation():
    """Converge this host to the stack named by data `stack` (default: the settings table's).

    Data is validated and the stack resolved before any operation is added, so bad input stops the
    run with one line while nothing has run on any host.

    .. code:: python

        gpu_workstation()  # in a deploy file: pyinfra INVENTORY deploys/tf21.py
    """
    desired = desired_state(host.data)
    stack = desired.stack
    gpu_gate.gpu_supported(name=f"GPU can run {stack['name']}", stack=stack)
    nvidia_driver(desired)
    if desired.config["bundle"]:
        held = offline.load(desired.config["bundle"], stack["name"])
        offline_bundle(desired.config, held)
        # from here on every installer reads the host's copy of the bundle
        desired = replace(desired, config=offline.settings_for(desired.config, held))
    conda(desired)
    stack_packages(desired)
    if desired.config["verify_gpu"]:
        gpu_verification(desired)
