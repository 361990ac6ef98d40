"""Read a fleet without changing it: what each host has, and what the deploy would change.

Two passes over one set of SSH connections, both read-only:

1. facts: the GPU and driver, Miniconda and its envs, every env's conda records (with build
   strings) and pip distributions, and the last verification verdict the deploy left in each env;
   read with the deploy's own planned reads (facts/workstation.py): one remote command per host,
   whose values the dry run below reuses;
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
from deploys.desired import DesiredState, desired_states, driver_state
from deploys.workstation import host_reads
from facts import workstation as workstation_state
from facts.conda import CondaInstall, CondaPackages
from facts.config_backups import ConfigBackups
from facts.files_state import FileContent
from facts.cuda import SystemCuda
from facts.gpu import GpuInfo, local_gpu_info
from facts.pip_env import PipPackages
from operations.util.commands import HostFailure, env_prefix_of
from operations.util.takeover import condarc_keys, pip_conf_keys, unmanaged
from operations.verify import VERDICT_RELATIVE_PATH
from tools.report.driver import driver_view
from tools.report.fleet import compare


@dataclass
class EnvReport:
    """One conda env of a host: what it should hold (its stack) and what it holds, exactly."""

    name: str  # the conda env's name, e.g. "tf21"
    stack: str  # the stack's name, e.g. "tf21", "tensorflow-2.15.0.post1"
    spec: str  # the stack spec the data gave, e.g. "tensorflow==2.15.0.post1"
    path: str
    present: bool = False
    python: str | None = None
    cudatoolkit: str | None = None
    cudnn: str | None = None
    tensorflow: str | None = None
    missing_libraries: list = field(default_factory=list)  # what TF dlopens and the env lacks
    verdict: dict | None = None
    conda: dict = field(default_factory=dict)  # every conda record: {name: "version build"}
    pip: dict = field(default_factory=dict)  # every distribution pip sees: {name: version}
    conda_pins: dict = field(default_factory=dict)  # the stack's exact conda pins: {name: "version build"}


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
    # the branch the deploy would choose, the running branch's problem, reboot pending, the version
    # pin (tools/report/driver.py)
    driver_plan: dict = field(default_factory=dict)
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
    # every env of the host (data stacks), in data order; the fields above repeat the first env's
    envs: list = field(default_factory=list)
    # exact versions that differ from the stack's lock or the fleet's majority (tools/report/fleet.py)
    differences: list = field(default_factory=list)

    @property
    def converged(self) -> bool:
        verdicts_ok = all(env.verdict is None or bool(env.verdict.get("ok")) for env in self.envs)
        verdicts_ok = verdicts_ok and (self.verdict is None or bool(self.verdict.get("ok")))
        missing = self.missing_libraries or any(env.missing_libraries for env in self.envs)
        problems = [item for item in self.drift if item["kind"] != "warning"]
        return self.connected and not self.error and not problems and verdicts_ok and not missing

    @property
    def identical(self) -> bool:
        """No exact version differs from the stacks' locks or the fleet's majority."""
        return self.connected and not self.error and not self.differences

    def as_dict(self) -> dict:
        data = {k: v for k, v in self.__dict__.items()}
        data["envs"] = [dict(env.__dict__) for env in self.envs]
        data["converged"] = self.converged
        data["identical"] = self.identical
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
    reports = {host.name: HostReport(name=host.name) for host in inventory}
    try:
        connect_all(state)
    except PyinfraError:
        # pyinfra stops with "No hosts remaining!" when no host could be reached: the report still
        # shows every host, each marked unreachable below
        if list(inventory.get_active_hosts()):
            raise
        disconnect_all(state)
        return _unreachable(reports)
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
    return _unreachable(reports)


def _unreachable(reports: dict) -> list[HostReport]:
    """Every report, those of hosts that never connected marked unreachable, compared as a fleet."""
    for report in reports.values():
        if not report.connected and not report.error:
            report.error = "unreachable (could not connect over SSH)"
    compare(list(reports.values()))
    return list(reports.values())


def _read_facts(host, report: HostReport) -> None:
    try:
        states = desired_states(host.data)
    except PyinfraError as e:  # bad data or stack: the deploy file stops the whole report on it next
        report.error = str(e)
        return
    first = states[0]
    report.stack = first.stack["name"]
    driven = driver_state(states)
    report.min_driver = driven.stack["min_driver"]  # the driver step's minimum
    with ctx_host.use(host):
        # The deploy's planned reads plus the report's own, in one remote command; the dry run
        # that follows is answered from the same values (nothing changes on the host meanwhile).
        verdicts = [(FileContent, {"path": f"{s.env_prefix}/{VERDICT_RELATIVE_PATH}"}) for s in states]
        backups = [(ConfigBackups, {"path": path}) for path, _keys in _taken_over(first, states)]
        workstation_state.plan(host, host_reads(states) + [(SystemCuda, {})] + verdicts + backups)
        read = workstation_state.read
        # NVML where it is importable: on the controller itself (facts/gpu.py explains the two paths)
        gpu = local_gpu_info() if host.name == "@local" else read(GpuInfo)
        report.gpus = [
            {"name": g.get("name"), "memory_mib": g.get("memory_mib"), "compute_capability": g.get("compute_capability")}
            for g in gpu.get("gpus") or []
        ]
        report.driver = gpu.get("driver_version")
        report.driver_error = gpu.get("error")
        report.driver_ok = stacks.driver_satisfies(report.driver, report.min_driver)
        report.driver_plan = driver_view(gpu, driven.config, driven.stack)

        system = read(SystemCuda)
        nvcc = system.get("nvcc") or {}
        report.system_cuda = nvcc.get("version") or system.get("version_file")
        for path in system.get("shadowing_paths") or []:
            # Not something the deploy changes (it never edits users' shells), so a warning: a system
            # CUDA first on LD_LIBRARY_PATH is what TF would load instead of the env's libraries.
            report.warnings.append(f"LD_LIBRARY_PATH puts {path} before the env's CUDA libraries")

        prefix = first.config["conda_prefix"].rstrip("/") or "/"
        install = read(CondaInstall, prefix=prefix)
        report.conda = install.get("version") if install.get("present") else None
        report.envs = [_read_env(read, install, desired, prefix) for desired in states]
        report.warnings += _takeover_lines(read, install, first, states)
    env = report.envs[0]
    if env.present:
        report.env = env.name
        report.env_python, report.cudatoolkit, report.cudnn = env.python, env.cudatoolkit, env.cudnn
        report.tensorflow, report.missing_libraries, report.verdict = env.tensorflow, env.missing_libraries, env.verdict


def _taken_over(first: DesiredState, states: list) -> list:
    """(path, key parser) of the config files the deploy takes over: the prefix's .condarc and
    each env's pip.conf (operations/util/takeover.py)."""
    prefix = first.config["conda_prefix"].rstrip("/") or "/"
    return [(f"{prefix}/.condarc", condarc_keys)] + [(f"{s.env_prefix.rstrip('/')}/pip.conf", pip_conf_keys) for s in states]


def _takeover_lines(read, install: dict, first: DesiredState, states: list) -> list[str]:
    """One line per config file that gpuws took over (its backup's keys, no longer in effect) or
    will take over on the next run (an unmanaged file's keys)."""
    lines = []
    for path, keys_of in _taken_over(first, states):
        name = path.rsplit("/", 1)[-1]
        kept = read(ConfigBackups, path=path)
        if kept.get("backups"):
            keys = ", ".join(keys_of(kept.get("first") or "")) or "none"
            lines.append(f"kept backup of unmanaged {name} (keys: {keys}) at {kept['backups'][0]}: "
                         "its settings are no longer in effect")
            continue
        current = install.get("condarc") if name == ".condarc" else read(FileContent, path=path)
        if unmanaged(current):
            keys = ", ".join(keys_of(current)) or "none"
            lines.append(f"unmanaged {path} (keys: {keys}): a run that replaces it keeps it as {name}.gpuws-backup-<date>")
    return lines


def _read_env(read, install: dict, desired: DesiredState, prefix: str) -> EnvReport:
    """One env's exact contents, from the facts the deploy reads for it (same arguments: same read)."""
    stack, path = desired.stack, desired.env_prefix
    env = EnvReport(name=stack["conda_env"], stack=stack["name"], spec=desired.config["stack"], path=path,
                    conda_pins={p["name"]: f"{p['version']} {p['build']}" for p in stack["conda"] if p.get("build")})
    listed = next((e for e in install.get("envs") or [] if e.get("path") == path), None)
    if listed is None:
        return env
    env.present = True
    env.python = listed.get("python")
    records = read(CondaPackages, env_prefix=env_prefix_of(prefix, stack["conda_env"]), prefix=prefix)
    packages = records.get("packages") or {}
    env.conda = {name: _version_build(record) for name, record in sorted(packages.items())}
    if stack.get("cuda_libraries_from") == "conda":
        held = set(records.get("libraries") or [])
        env.missing_libraries = [lib for lib in stack.get("libraries") or [] if lib not in held]
    env.cudatoolkit = _version_build(packages.get("cudatoolkit"))
    env.cudnn = _version_build(packages.get("cudnn"))
    env.pip = dict(sorted((read(PipPackages, python=f"{path}/bin/python").get("packages") or {}).items()))
    tf = env.pip.get(stack["tensorflow_package"])
    env.tensorflow = f"{stack['tensorflow_package']} {tf}" if tf else None
    verdict_text = read(FileContent, path=f"{path}/{VERDICT_RELATIVE_PATH}")
    if verdict_text:
        try:
            env.verdict = json.loads(verdict_text)
        except ValueError:
            env.verdict = {"ok": False, "failed_layer": "unknown", "hint": "the last verdict file is not JSON"}
    return env


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
