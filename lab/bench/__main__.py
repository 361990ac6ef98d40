"""``python -m lab.bench [--repeat N] [--json]``: the deploy's cost, measured side by side.

Starts the simulated lab (root; ``python -m lab``) and measures, in one run:

1. lab/specs/bench1.yaml (one fresh workstation, driver 440.100 on an RTX 2080 Ti: no driver
   change, no reboot): the tf21 converge (wall, remote commands; median of N), and after the
   first one the converged no-op run (median of N);
2. the floor on the same host: the deploy's package commands typed directly over ssh (one ssh
   connection, one session per command; lab/bench/floor.py; median of N), alternated with the
   converges round by round, the host reset before each;
3. lab/specs/bench8.yaml (eight such workstations): the converge of all 8, then the no-op run
   on all 8 and on one of them alone (--limit), alternated (median of N each: their ratio is
   measured side by side);
4. on that lab, one host reset and converged from the tf21 offline bundle with the REAL
   tensorflow-gpu 2.1.0 wheel (lab/bench/realtf.py; data ``bundle``), beside a stand-in host:
   the no-op of each alone (``--limit``), alternated, median of N each;
5. lab/specs/bench16.yaml (sixteen such workstations): converged 4 at a time (memory; not in the
   table), then the no-op run on all 16 at once and on one alone, alternated (median of N each).

It prints one table, the ratios and issue 11's targets (each with its measured value and met or
not), or the figures as JSON with --json, and takes the lab down at the end. Figures, not a test:
wall times depend on the machine and on what else it runs, so nothing here fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

from lab.bench.figures import Scenario, ratios, render, repeats_note, targets
from lab.bench.floor import floor_steps, lab_desired, verbatim_in_deploy
from lab.bench.realtf import SEEDED_NOTE, build_bundle, seed_passing_verdict
from operations.verify import VERDICT_RELATIVE_PATH
from lab.pyinfra_run import ROOT, Run, run_deploy

SPEC1 = ROOT / "lab/specs/bench1.yaml"
SPEC8 = ROOT / "lab/specs/bench8.yaml"
SPEC16 = ROOT / "lab/specs/bench16.yaml"
FLOOR_TRANSPORT = "one ssh connection (OpenSSH ControlMaster), one ssh session per command"


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _deploy(*args: str, debug: bool = True) -> Run:
    return run_deploy("inventories/sim.py", "deploys/tf21.py", *args, timeout=1800, debug=debug)


def _converged(run: Run, hosts: list[str], what: str) -> Run:
    failed = {h: run.failed(h) for h in hosts if run.failed(h)}
    if run.rc != 0 or failed:
        raise SystemExit(f"bench: the {what} failed (rc {run.rc}, failed: {failed}):\n{run.output[-3000:]}")
    return run


def _noop(hosts: list[str], *args: str, debug: bool = False) -> Run:
    """A converged no-op, timed as an admin runs it (no --debug: its logging is the benchmark's
    instrument, not the deploy's work); ``debug`` for the one untimed run that counts commands."""
    run = _converged(_deploy(*args, debug=debug), hosts, "no-op run")
    changed = {h: run.changed(h) for h in hosts if run.changed(h)}
    if changed:
        raise SystemExit(f"bench: the no-op run changed something: {changed}")
    return run


def _row(key: str, name: str, size: int, runs: list[Run], counted: Run, note: str = "") -> Scenario:
    """A no-op row: the wall times of its runs (median), the remote commands of one more --debug
    run, the CPU split of the median run."""
    seconds = [r.seconds for r in runs]
    return Scenario(key, name, size, seconds, counted.commands,
                    "; ".join(filter(None, [note, repeats_note(seconds)])) or "one run", _cpu(_nearest_median(runs)))


def _noop_scenario(key: str, hosts: list[str], repeat: int) -> Scenario:
    runs = []
    for i in range(repeat):
        runs.append(_noop(hosts))
        _say(f"no-op run {i + 1}/{repeat} on {len(hosts)} host(s): {runs[-1].seconds:.2f}s")
    return _row(key, "no-op (converged)", len(hosts), runs, _noop(hosts, debug=True))


def _alternated(runners: dict, repeat: int) -> dict[str, list[Run]]:
    """Each runner N times, round by round, the order swapped each round: side by side, so all
    see the same machine load. {label: runs}"""
    labels = list(runners)
    runs: dict[str, list[Run]] = {label: [] for label in labels}
    for i in range(repeat):
        for label in labels if i % 2 == 0 else reversed(labels):
            runs[label].append(runners[label]())
            _say(f"no-op run {i + 1}/{repeat} on {label}: {runs[label][-1].seconds:.2f}s")
    return runs


def _fleet_noops(hosts: list[str], repeat: int) -> list[Scenario]:
    """The no-op on every host of a lab, and on one of its hosts alone (--limit), alternated: the
    ratio of the two is measured side by side, under the same load, on the same lab."""
    one, n = hosts[0], len(hosts)
    every, alone = f"all {n} hosts", f"{one} alone"
    runs = _alternated({alone: lambda: _noop([one], "--limit", one), every: lambda: _noop(hosts)}, repeat)
    return [_row(f"noop{n}", "no-op (converged)", n, runs[every], _noop(hosts, debug=True)),
            _row(f"noop{n}_1", f"no-op, 1 host of the {n}", 1, runs[alone], _noop([one], "--limit", one, debug=True),
                 f"--limit {one}, alternated with the row above")]


def _cpu(run: Run) -> list[float]:
    """[controller, hosts] CPU seconds of a run: the hosts' share is the machine's other busy time."""
    return [run.controller_cpu, max(run.machine_cpu - run.controller_cpu, 0.0)]


def _nearest_median(items: list, seconds=lambda run: run.seconds):
    """The item (a run, a floor's timings) whose wall time is nearest the median of all: the one
    whose commands and CPU a median row shows."""
    median = statistics.median(seconds(item) for item in items)
    return min(items, key=lambda item: abs(seconds(item) - median))


def _paired_noops(standin: str, real: str, bundle: str, repeat: int) -> list[Scenario]:
    """The no-op of the stand-in host and of the real-TF host, each alone (--limit), alternated."""
    args = {standin: ("--limit", standin), real: ("--limit", real, "--data", f"bundle={bundle}")}
    runs = _alternated({host: (lambda host=host: _noop([host], *args[host])) for host in (standin, real)}, repeat)
    return [_row("noop_si", "no-op, stand-in TF host", 1, runs[standin], _noop([standin], *args[standin], debug=True),
                 "stand-in TF wheel (lab mirror); alone, alternated with the next row"),
            _row("noop_tf", "no-op, real TF host", 1, runs[real], _noop([real], *args[real], debug=True),
                 "REAL tensorflow-gpu 2.1.0 (tools.bundle, data bundle; seeded pass); alone")]


def _fleet(spec, paths, repeat: int, parallel: int | None = None) -> list[Scenario]:
    """A lab of identical fresh hosts: the converge of all of them in one run, then the no-op.
    With ``parallel``, the converge goes that many hosts at a time (pyinfra --parallel) and is
    left out of the table: it only prepares the no-op, which always runs on every host at once."""
    from lab import control

    hosts = _hosts(control.up(str(spec), paths))
    _say(f"{len(hosts)} hosts: fresh converge" + (f", {parallel} at a time" if parallel else ""))
    fresh = _converged(_deploy(*(("--parallel", str(parallel)) if parallel else ())), hosts,
                       f"{len(hosts)}-host converge")
    _say(f"{len(hosts)}-host converge: {fresh.seconds:.2f}s")
    noops = _fleet_noops(hosts, repeat)
    if parallel:
        return noops
    return [Scenario(f"fresh{len(hosts)}", "fresh converge", len(hosts), [fresh.seconds], fresh.commands,
                     "all hosts in one run", _cpu(fresh)), *noops]


def _hosts(lab_state: dict) -> list[str]:
    return [h["name"] for h in lab_state["hosts"] if not h["unreachable"]]


def _ssh(paths, control_path: str, host: str, *extra: str, command: str | None = None,
         capture: bool = True) -> subprocess.CompletedProcess:
    args = ["ssh", "-F", str(paths.ssh_config), "-o", "BatchMode=yes", "-o", f"ControlPath={control_path}",
            *extra, "-l", "root", host]
    if command is not None:
        args.append(command)
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.run(args, stdout=out, stderr=out, text=True, stdin=subprocess.DEVNULL, timeout=1800)


def run_floor(paths, host: str, steps: list[tuple[str, str]]) -> list[dict]:
    """Each step as its own ssh session over one connection (opened first, and timed)."""
    timings = []
    with tempfile.TemporaryDirectory(prefix="gpuws-bench-") as tmp:
        control_path = os.path.join(tmp, "cm")
        started = time.monotonic()
        opened = _ssh(paths, control_path, host, "-o", "ControlMaster=yes", "-o", "ControlPersist=yes",
                      "-f", "-N", capture=False)
        if opened.returncode:
            raise SystemExit(f"bench: could not open an ssh connection to {host}")
        timings.append({"label": "ssh connection", "seconds": time.monotonic() - started, "command": None})
        try:
            for label, command in steps:
                started = time.monotonic()
                result = _ssh(paths, control_path, host, "-o", "ControlMaster=no", command=command)
                timings.append({"label": label, "seconds": time.monotonic() - started, "command": command})
                if result.returncode:
                    raise SystemExit(f"bench: floor step {label!r} failed on {host} (exit {result.returncode}):\n"
                                     f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        finally:
            _ssh(paths, control_path, host, "-O", "exit", capture=True)
    return timings


def _floor_seconds(timings: list[dict]) -> float:
    return sum(t["seconds"] for t in timings)


def run_floor_checked(paths, host: str, steps: list[tuple[str, str]], desired) -> list[dict]:
    """`run_floor`, then (untimed) proof that the floor really installed the stack."""
    timings = run_floor(paths, host, steps)
    check = subprocess.run(
        ["ssh", "-F", str(paths.ssh_config), "-o", "BatchMode=yes", "-l", "root", host,
         shlex.join([f"{desired.env_prefix}/bin/python", "-m", "pip", "show", "-q",
                     desired.stack["tensorflow_package"]])],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    if check.returncode:
        raise SystemExit(f"bench: after the floor, {desired.stack['tensorflow_package']} is not in the env: "
                         f"{check.stderr}")
    return timings


def measure(repeat: int) -> dict:
    from lab import control, state
    from lab.image import build_all
    from lab.paths import LabPaths

    load_at_start = round(os.getloadavg()[0], 2)  # what else the machine was doing
    paths = LabPaths.default()
    scenarios: list[Scenario] = []
    try:
        build_all(paths)
        _say("the real-TF bundle (tools.bundle; downloads only what its cache lacks)")
        bundle = build_bundle(paths)
        # 1 host: the fresh converge and the floor, N times each, alternated round by round (which
        # goes first swaps each round) on the same host, reset before each, so both see the same
        # machine load; one pip install alone varies by more than a second. The converged no-op
        # runs follow the first converge.
        hosts = _hosts(control.up(str(SPEC1), paths))
        host = hosts[0]
        desired = lab_desired()  # reads the installer checksum the lab image build wrote
        steps = floor_steps(desired)
        fresh_runs: list[Run] = []
        floors: list[list[dict]] = []
        noop1 = None
        for i in range(repeat):
            for kind in ("fresh", "floor") if i % 2 == 0 else ("floor", "fresh"):
                if fresh_runs or floors:
                    control.reset(host, paths)
                if kind == "fresh":
                    _say(f"1 host ({host}): fresh converge {i + 1}/{repeat}")
                    fresh_runs.append(_converged(_deploy(), hosts, "fresh converge"))
                    _say(f"fresh converge: {fresh_runs[-1].seconds:.2f}s")
                    if noop1 is None:
                        noop1 = _noop_scenario("noop1", hosts, repeat)
                else:
                    _say(f"floor on {host} {i + 1}/{repeat}: {len(steps)} commands over ssh")
                    floors.append(run_floor_checked(paths, host, steps, desired))
                    _say(f"floor: {_floor_seconds(floors[-1]):.2f}s")
        fresh = _nearest_median(fresh_runs)
        timings = _nearest_median(floors, _floor_seconds)
        same = verbatim_in_deploy(steps, fresh_runs[0].output)
        note = "driver 440.100 kept (no install, no reboot): Miniconda, env, pip + checks, hooks, GPU verification"
        seconds = [r.seconds for r in fresh_runs]
        scenarios.append(Scenario("fresh1", "fresh converge", 1, seconds, fresh.commands,
                                  "; ".join(filter(None, [note, repeats_note(seconds)])), _cpu(fresh)))
        seconds = [_floor_seconds(t) for t in floors]
        scenarios.append(Scenario("floor1", "floor (typed over ssh)", 1, seconds, {host: len(steps)},
                                  "; ".join(filter(None, ["same package commands, same mirror; no checks",
                                                          repeats_note(seconds)]))))
        scenarios.append(noop1)

        # 8 hosts: converge all, then the no-op runs
        scenarios += _fleet(SPEC8, paths, repeat)

        # the real TensorFlow beside the stand-in: two hosts of the converged 8-host lab
        standin, real = _hosts(state.read(paths))[0], _hosts(state.read(paths))[-1]
        control.reset(real, paths)
        _say(f"{real} (reset): converge from the real-TF bundle {bundle}")
        fresh_tf = _deploy("--limit", real, "--data", f"bundle={bundle}")
        _say(f"real-TF converge: {fresh_tf.seconds:.2f}s")
        # everything converges; only the verification fails (the lab's CUDA stand-ins abort the real
        # TF), and its verdict is then seeded as a pass, fingerprint kept (lab/bench/realtf.py)
        failed = fresh_tf.failed(real)
        if not all("GPU verification" in op for op in failed) or not fresh_tf.said(real, "verification failed"):
            raise SystemExit(f"bench: the real-TF converge failed before the verification: {failed}\n"
                             f"{fresh_tf.output[-3000:]}")
        seed_passing_verdict(paths, real, f"{lab_desired().env_prefix}/{VERDICT_RELATIVE_PATH}")
        scenarios += _paired_noops(standin, real, str(bundle), repeat)

        # 16 hosts: converge them 4 at a time (16 pip installs at once ran a shared 24 GiB machine
        # out of memory), then the no-op runs on all 16 at once (the 8-host lab goes down first)
        scenarios += _fleet(SPEC16, paths, repeat, parallel=4)
    finally:
        control.down(paths)

    return {
        "repeat": repeat,
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_start": load_at_start},
        "scenarios": [s.as_json() for s in scenarios],
        "ratios": {label: None if v is None else round(v, 3) for label, v in ratios(scenarios).items()},
        "targets": [t.as_json() for t in targets(scenarios)],
        "floor": {"transport": FLOOR_TRANSPORT, "host": host,
                  "steps": [{**t, "seconds": round(t["seconds"], 3)} for t in timings],
                  "deploy_runs_the_same_commands": same},
        "_scenarios": scenarios,
    }


def text_report(result: dict) -> str:
    floor = result["floor"]
    steps = ", ".join(f"{t['label']} {t['seconds']:.2f}" for t in floor["steps"])
    same = ", ".join(f"{label} {'yes' if ok else 'NO'}" for label, ok in floor["deploy_runs_the_same_commands"].items())
    lines = [
        "",
        f"floor steps (s): {steps}",
        f"floor transport: {floor['transport']}",
        f"floor command = the deploy's command (byte for byte, in the fresh converge): {same}",
        f"real-TF host's verdict: {SEEDED_NOTE}; its fingerprint is the deploy's",
        f"no-op runs: median of {result['repeat']}; machine: {result['machine']['cpus']} CPUs, "
        f"load {result['machine']['load_avg_1m_at_start']} before the lab started (wall times are noisy)",
    ]
    return render(result["_scenarios"], lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="no-op runs per lab size (median; default 3)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if os.geteuid() != 0:
        print("bench: the simulated lab needs root (network namespaces, overlay mounts, chroot)", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    result = measure(args.repeat)
    scenarios = result.pop("_scenarios")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(text_report({**result, "_scenarios": scenarios}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
