"""Start, stop and reset the lab: the verbs behind ``python -m lab up|down|reset|status``."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import mirror, network, spec as spec_module, ssh_files, state as state_file
from .hosts import Host
from .paths import CONTROLLER_NETNS, LAB_SOURCES, MIRROR_URL, SUDO_USER, LabPaths

NOT_RUNNING = "the simulated lab is not running: start it with `python -m lab up lab/specs/small.yaml`"


def _log(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


def _check_built(paths: LabPaths) -> None:
    if not (paths.base / "etc/os-release").exists() or not (paths.apt_repo / "dists/lab/Release").exists():
        raise SystemExit(f"lab: nothing built in {paths.root}: run `python -m lab build` first")


def _hosts(paths: LabPaths, lab_spec) -> list[Host]:
    return [Host(paths, host, index) for index, host in enumerate(lab_spec.hosts)]


def _wait_for_ssh(hosts: list[Host], timeout: float = 30) -> None:
    if not hosts:
        return
    addresses = [f"{h.address}:22" for h in hosts]
    probe = network.in_controller([sys.executable, str(LAB_SOURCES / "ssh_proxy.py"), "--wait", str(timeout), *addresses])
    result = subprocess.run(probe, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"lab: sshd did not come up: {result.stderr.strip()} (see run/hosts/*/console.log)")


def _host_entry(host: Host) -> dict:
    return {
        "name": host.spec.name, "address": host.address, "port": 22, "netns": host.netns,
        "index": host.index, "unreachable": host.spec.unreachable,
        "known_hosts_line": None if host.spec.unreachable else host.known_hosts_line(),
        "spec": host.spec.as_data(),
    }


def _write_state(paths: LabPaths, lab_spec, hosts: list[Host]) -> dict:
    entries = [_host_entry(h) for h in hosts]
    ssh_files.write(paths, entries)
    current = {
        "spec": str(Path(lab_spec.path).resolve()), "started_at": int(time.time()),
        "mirror_url": MIRROR_URL, "controller_netns": CONTROLLER_NETNS,
        "ssh": {"key": str(paths.client_key), "known_hosts": str(paths.known_hosts),
                "config": str(paths.ssh_config), "user": "root", "sudo_user": SUDO_USER},
        "hosts": entries,
    }
    state_file.write(paths, current)
    return current


def up(spec_path: str, paths: LabPaths | None = None) -> dict:
    """Start every reachable host of the spec, the controller namespace and the mirror."""
    paths = paths or LabPaths.default()
    lab_spec = spec_module.load(spec_path)
    _check_built(paths)
    if state_file.read(paths) or network.lab_namespaces():
        _log("a lab is already up (or left over): taking it down first")
        down(paths)
    started = time.monotonic()
    ssh_files.ensure_client_key(paths)
    paths.hosts.mkdir(parents=True, exist_ok=True)
    network.create_controller()
    mirror.start(paths)
    hosts = _hosts(paths, lab_spec)
    live = [h for h in hosts if not h.spec.unreachable]
    for host in live:
        host.prepare()
        network.create_host(host.spec.name, host.index)
        host.start()
    for host in hosts:
        if host.spec.unreachable:
            host.dir.mkdir(parents=True, exist_ok=True)
    _wait_for_ssh(live)
    current = _write_state(paths, lab_spec, hosts)
    _log(f"up: {len(live)} hosts running, {len(hosts) - len(live)} unreachable by design, "
         f"{time.monotonic() - started:.1f}s; inventory: inventories/sim.py")
    return current


def require_running(paths: LabPaths) -> dict:
    current = state_file.read(paths)
    if not current or not network.exists(CONTROLLER_NETNS):
        raise SystemExit(NOT_RUNNING)
    return current


def _host_from_state(paths: LabPaths, current: dict, name: str) -> Host:
    lab_spec = spec_module.load(current["spec"])
    entry = next((h for h in current["hosts"] if h["name"] == name), None)
    if entry is None:
        raise SystemExit(f"lab: no host {name!r} (hosts: {', '.join(h['name'] for h in current['hosts'])})")
    return Host(paths, lab_spec.host(name), entry["index"])


def reset(name: str, paths: LabPaths | None = None) -> None:
    """Kill host ``name``, drop its disk and start it fresh from the spec (same host key)."""
    paths = paths or LabPaths.default()
    current = require_running(paths)
    host = _host_from_state(paths, current, name)
    if host.spec.unreachable:
        raise SystemExit(f"lab: {name} is unreachable by design; nothing to reset")
    started = time.monotonic()
    host.stop()
    host.unmount_disk()
    shutil.rmtree(host.disk, ignore_errors=True)
    host.prepare()
    if not network.exists(host.netns):
        network.create_host(host.spec.name, host.index)
    host.start()
    _wait_for_ssh([host])
    _log(f"reset {name}: {time.monotonic() - started:.1f}s")


def _lab_mounts(paths: LabPaths) -> list[str]:
    prefix = str(paths.run) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1].replace("\\040", " ") for line in mounts]
    # deepest first, so an overlay is unmounted before the tmpfs holding its upper dir
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)


def down(paths: LabPaths | None = None) -> None:
    """Stop everything the lab started: processes, namespaces, mounts. Idempotent."""
    paths = paths or LabPaths.default()
    started = time.monotonic()
    current = state_file.read(paths)
    if current:
        try:
            lab_spec = spec_module.load(current["spec"])
            for host in _hosts(paths, lab_spec):
                host.stop()
        except (SystemExit, spec_module.SpecError) as error:
            _log(f"down: stopping hosts from the state file failed ({error}); sweeping namespaces")
    # hosts not (or no longer) in the state file: supervisors first, then whatever is in a netns
    if paths.hosts.is_dir():
        for host_dir in paths.hosts.iterdir():
            _kill_pidfile_group(host_dir / "supervisor.pid")
    mirror.stop(paths)
    for netns in network.lab_namespaces():
        pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
    time.sleep(0.05)
    for mount in _lab_mounts(paths):
        if subprocess.run(["umount", mount], capture_output=True).returncode:
            subprocess.run(["umount", "-l", mount], check=False)
    for netns in network.lab_namespaces():
        network.delete(netns)
    shutil.rmtree(paths.run, ignore_errors=True)
    _log(f"down: {time.monotonic() - started:.1f}s")


def _kill_pidfile_group(pidfile: Path) -> None:
    try:
        os.killpg(int(pidfile.read_text()), 9)
    except (OSError, ValueError):
        pass


def status(paths: LabPaths | None = None) -> list[dict]:
    paths = paths or LabPaths.default()
    current = require_running(paths)
    lab_spec = spec_module.load(current["spec"])
    rows = []
    for entry in current["hosts"]:
        host = Host(paths, lab_spec.host(entry["name"]), entry["index"])
        rows.append({"name": entry["name"], "address": entry["address"],
                     "state": "unreachable (by design)" if entry["unreachable"]
                     else ("running" if host.running() else "stopped"),
                     "driver": entry["spec"]["driver"], "gpus": [g["name"] for g in entry["spec"]["gpus"]]})
    return rows


def exec_in_host(name: str, command: list[str], paths: LabPaths | None = None, **run_args) -> subprocess.CompletedProcess:
    """Run ``command`` inside host ``name`` (its namespaces and root), without ssh."""
    paths = paths or LabPaths.default()
    current = require_running(paths)
    host = _host_from_state(paths, current, name)
    return subprocess.run(host.exec_command(command), **run_args)
