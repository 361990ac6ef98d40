"""Run the real deploy and the fleet report against the simulated lab, and parse what they print.

The run-and-parse part lives in lab/pyinfra_run.py (the benchmark uses it too)."""

from __future__ import annotations

import subprocess
import sys

from lab.pyinfra_run import PYINFRA, ROOT, Run, parse, run_deploy

__all__ = ["PYINFRA", "ROOT", "SPECS", "Run", "deploy", "parse", "report"]

SPECS = ROOT / "lab" / "specs"


def deploy(*args: str, timeout: float = 900) -> Run:
    """Run the deploy on the lab (as a user would, from the project root) and parse it."""
    return run_deploy("inventories/sim.py", "deploys/tf21.py", *args, timeout=timeout)


def report(*args: str) -> subprocess.CompletedProcess:
    """The fleet report (`python -m tools.report inventories/sim.py`)."""
    return subprocess.run(
        [sys.executable, "-m", "tools.report", "inventories/sim.py", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
