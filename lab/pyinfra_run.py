"""Run a pyinfra deploy as a user would (from the project root) and parse what it prints.

Shared by the lab end-to-end tests (tests/lab/e2e/runner.py) and the benchmark (lab/bench): the
deploy runs with ``--debug``, so every remote command pyinfra runs prints one
"Running command on HOST:" line, which is how remote commands are counted per host.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYINFRA = str(Path(sys.executable).parent / "pyinfra")

_OP = re.compile(r"^--> Starting operation: (?P<name>.*?)\s*$")
_STATUS = re.compile(r"^\s+\[(?P<host>[^\]]+)\]\s+(?P<status>Success|No changes|Error)\b")
_MESSAGE = re.compile(r"^\s+\[(?P<host>[^\]]+)\]\s+(?P<text>.+?)\s*$")
_COMMAND = re.compile(r"Running command on (?P<host>[^:]+):")


@dataclass
class Run:
    """One `pyinfra INVENTORY DEPLOY -y --debug` run, parsed from its output."""

    rc: int
    output: str
    seconds: float
    ops: dict = field(default_factory=dict)       # op name -> {host: "Success" | "No changes" | "Error"}
    messages: dict = field(default_factory=dict)  # host -> lines it printed (failure messages)
    commands: dict = field(default_factory=dict)  # host -> remote shell commands run
    # CPU seconds during the run: the controller (pyinfra and its children) and the whole machine,
    # whose other busy time is the lab's hosts (sshd, the commands); the lab shares one machine
    controller_cpu: float = 0.0
    machine_cpu: float = 0.0

    def changed(self, host: str) -> list[str]:
        return [op for op, hosts in self.ops.items() if hosts.get(host) == "Success"]

    def failed(self, host: str) -> list[str]:
        return [op for op, hosts in self.ops.items() if hosts.get(host) == "Error"]

    def status(self, op_part: str, host: str) -> str | None:
        matches = [hosts.get(host) for op, hosts in self.ops.items() if op_part in op]
        assert len(matches) == 1, f"{op_part!r} names {len(matches)} operations: {list(self.ops)}"
        return matches[0]

    def said(self, host: str, text: str) -> bool:
        return any(text in line for line in self.messages.get(host, []))


def parse(rc: int, output: str, seconds: float) -> Run:
    run = Run(rc=rc, output=output, seconds=seconds)
    op = None
    for line in output.splitlines():
        if command := _COMMAND.search(line):
            run.commands[command["host"]] = run.commands.get(command["host"], 0) + 1
            continue
        if "[pyinfra" in line:  # a debug log line, not an operation result
            continue
        if started := _OP.match(line):
            op = started["name"]
            run.ops.setdefault(op, {})
        elif op and (status := _STATUS.match(line)):
            run.ops[op][status["host"]] = status["status"]
        elif message := _MESSAGE.match(line):
            run.messages.setdefault(message["host"], []).append(message["text"])
    return run


def run_deploy(inventory: str, deploy: str, *args: str, timeout: float = 900, debug: bool = True) -> Run:
    """`pyinfra -y --debug INVENTORY DEPLOY ARGS...` from the project root, timed (wall clock
    around the whole process: start-up, inventory, facts, operations) and parsed. Without
    ``debug`` the run is what an admin types (no commands counted: `Run.commands` stays empty)."""
    children, busy = resource.getrusage(resource.RUSAGE_CHILDREN), machine_busy_seconds()
    started = time.monotonic()
    proc = subprocess.run(
        [PYINFRA, "-y", *(["--debug"] if debug else []), inventory, deploy, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )
    run = parse(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    run.controller_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    run.machine_cpu = machine_busy_seconds() - busy
    return run


def machine_busy_seconds() -> float:
    """CPU seconds every CPU of the machine spent busy since boot (/proc/stat: all but idle and
    iowait), 0.0 where there is no /proc/stat."""
    try:
        with open("/proc/stat") as handle:
            ticks = [int(value) for value in handle.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (ticks + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
