"""Read a fleet without changing it: what each host has, and what the deploy would change.

Two passes over one set of SSH connections, both read-only:

1. facts: the GPU and driver, Miniconda and its envs, the env's conda and pip packages, and the
   last verification verdict the deploy left on the host;
2. a change-detecting dry run of the deploy itself (what `pyinfra ... --dry` does): every
   operation that would yield commands is a drift item, named as the deploy names it. Reusing the
   deploy's own operations means the report and the next run can never disagree about drift.
   The GPU verification is not re-run (it computes on the GPU): the last verdict is read instead.
"""

from __future__ import annotations

import json
import os
import runpy
from dataclasses import dataclass, field

import gevent
import pyinfra
from pyinfra.api import Config, State
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_config, ctx_host, ctx_inventory, ctx_state

# pyinfra has no public API that reads an inventory file; the CLI's own reader keeps the report's
# hosts and data exactly those of `pyinfra INVENTORY ...` (groups, host tuples, @connectors).
from pyinfra_cli.inventory import make_inventory

import stacks
from deploys.desired import desired_state
from facts.conda import CondaInstall, CondaPackages
from facts.files_state import FileContent
from facts.cuda import EnvCudaLibraries, SystemCuda
from facts.gpu import GpuInfo, local_gpu_info
from facts.pip_env import PipPackages
from operations.util.commands import HostFailure
from operations.verify import VERDICT_RELATIVE_PATH


@dataclass
class HostReport:
    name: str
    connected: bool = False
    error: str | None = None
    stack: str | None = None
    gpus: list = field(default_factory=list)
    driver: str | None = None
    min_driver: str | None = None
    driver_ok: bool = False
    driver_error: str | None = None
    conda: str | None = None
    env: str | None = None
    env_python: str | None = None
    cudatoolkit: str | None = None
    cudnn: str | None = None
    tensorflow: str | None = None
    system_cuda: str | None = None                # a toolkit installed outside conda, if any
    missing_libraries: list = field(default_factory=list)  # what TF dlopens and the env lacks
    verdict: dict | None = None
    drift: list = field(default_factory=list)   # [{"step": op name, "kind": "change"|"failure", "detail": str}]
    warnings: list = field(default_factory=list)  # what the deploy leaves alone but may break TensorFlow

    @property
    def converged(self) -> bool:
        verdict_ok = self.verdict is None or bool(self.verdict.get("ok"))
        problems = [item for item in self.drift if item["kind"] != "warning"]
        return self.connected and not self.error and not problems and verdict_ok and not self.missing_libraries

    def as_dict(self) -> dict:
        data = {k: v for k, v in self.__dict__.items()}
        data["converged"] = self.converged
        return data


def collect(inventory_path: str, deploy: str = "deploys/tf21.py", data: dict | None = None) -> list[HostReport]:
    """Connect to every host of the inventory and report on it; unreachable hosts are reported too."""
    override = dict(data or {})
    override["verify_gpu"] = "never"  # never compute on the GPU from a report
    # CLI mode: operations are ordered by their line in the deploy file, as `pyinfra` orders them,
    # so one step has one name on every host even where hosts take different branches.
    pyinfra.is_cli = True
    state = State(check_for_changes=True)
    ctx_state.set(state)
    config = Config(CONNECT_TIMEOUT=10)
    ctx_config.set(config)
    inventory = make_inventory(inventory_path, override_data=override, cwd=os.getcwd())
    ctx_inventory.set(inventory)
    state.init(inventory, config)
    state.set_stage(StateStage.Connect)
    connect_all(state)
    reports = {host.name: HostReport(name=host.name) for host in inventory}
    try:
        state.set_stage(StateStage.Prepare)
        active = list(inventory.get_active_hosts())
        for host in active:
            reports[host.name].connected = True
        # one greenlet per host, as pyinfra itself reads facts: the fleet in parallel
        gevent.joinall([state.pool.spawn(_read_facts, host, reports[host.name]) for host in active], raise_error=True)
        _dry_run(state, deploy, active)
        for host in active:
            reports[host.name].drift = _drift(state, host)
    finally:
        disconnect_all(state)
    for report in reports.values():
        if not report.connected and not report.error:
            report.error = "unreachable (could not connect over SSH)"
    return list(reports.values())


def _read_facts(host, report: HostReport) -> None:
    try:
        desired = desired_state(host.data)
    except PyinfraError as e:  # bad data or stack: the deploy file stops the whole report on it next
        report.error = str(e)
        return
    stack = desired.stack
    report.stack = stack["name"]
    report.min_driver = stack["min_driver"]

    # NVML where it is importable: on the controller itself (facts/gpu.py explains the two paths)
    gpu = local_gpu_info() if host.name == "@local" else host.get_fact(GpuInfo)
    report.gpus = [
        {"name": g.get("name"), "memory_mib": g.get("memory_mib"), "compute_capability": g.get("compute_capability")}
        for g in gpu.get("gpus") or []
    ]
    report.driver = gpu.get("driver_version")
    report.driver_error = gpu.get("error")
    report.driver_ok = stacks.driver_satisfies(report.driver, stack["min_driver"])

    system = host.get_fact(SystemCuda)
    nvcc = system.get("nvcc") or {}
    report.system_cuda = nvcc.get("version") or system.get("version_file")
    for path in system.get("shadowing_paths") or []:
        # Not something the deploy changes (it never edits users' shells), so a warning: a system
        # CUDA first on LD_LIBRARY_PATH is what TF would load instead of the env's libraries.
        report.warnings.append(f"LD_LIBRARY_PATH puts {path} before the env's CUDA libraries")

    install = host.get_fact(CondaInstall, prefix=desired.config["conda_prefix"])
    report.conda = install.get("version") if install.get("present") else None
    env_path = desired.env_prefix
    env = next((e for e in install.get("envs") or [] if e.get("path") == env_path), None)
    if env is None:
        return
    report.env = stack["conda_env"]
    report.env_python = env.get("python")
    packages = host.get_fact(CondaPackages, env_prefix=env_path).get("packages") or {}
    held = set(host.get_fact(EnvCudaLibraries, env_prefix=env_path).get("libraries") or [])
    if stack.get("cuda_libraries_from") == "conda":
        report.missing_libraries = [lib for lib in stack.get("libraries") or [] if lib not in held]
    report.cudatoolkit = _version_build(packages.get("cudatoolkit"))
    report.cudnn = _version_build(packages.get("cudnn"))
    pip = host.get_fact(PipPackages, python=f"{env_path}/bin/python").get("packages") or {}
    tf = pip.get(stack["tensorflow_package"])
    report.tensorflow = f"{stack['tensorflow_package']} {tf}" if tf else None
    verdict_text = host.get_fact(FileContent, path=f"{env_path}/{VERDICT_RELATIVE_PATH}")
    if verdict_text:
        try:
            report.verdict = json.loads(verdict_text)
        except ValueError:
            report.verdict = {"ok": False, "failed_layer": "unknown", "hint": "the last verdict file is not JSON"}


def _version_build(record: dict | None) -> str | None:
    if not record:
        return None
    return f"{record.get('version')} {record.get('build') or ''}".strip()


def _dry_run(state: State, deploy: str, hosts: list) -> None:
    """Run the deploy file once per host, in parallel, as `pyinfra INVENTORY DEPLOY` does. The state
    checks for changes, so each operation only generates its commands: nothing runs on a host."""
    state.current_deploy_filename = state.current_exec_filename = deploy

    def load(host) -> None:
        with ctx_config.use(state.config.copy()), ctx_host.use(host):
            runpy.run_path(deploy)

    gevent.joinall([state.pool.spawn(load, host) for host in hosts], raise_error=True)


def _drift(state: State, host) -> list[dict]:
    """The deploy's operations that would change this host (or fail it), in deploy order."""
    items = []
    for op_hash in state.get_op_order():
        if op_hash not in host.op_hash_order:
            continue
        op_data = state.get_op_data_for_host(host, op_hash)
        with ctx_host.use(host):
            if not op_data.operation_meta.will_change:
                continue
            # The dry run stopped at the first command; ask again for it to tell a change from a failure.
            first = next(iter(op_data.command_generator()), None)
        name = ", ".join(sorted(state.get_op_meta(op_hash).names))
        if isinstance(first, HostFailure):
            items.append({"step": name, "kind": "failure", "detail": first.message})
            break  # a failing step stops the host: later steps would only echo the same cause
        items.append({"step": name, "kind": "change", "detail": "would run commands"})
    return items
