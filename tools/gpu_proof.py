"""`./dev gpu-proof`: what this machine's GPU says to the project, as ONE JSON document.

Made for a machine with a real NVIDIA GPU and no internet: it uses only the repository and its
virtualenv, changes nothing, and keeps every raw output it parsed (under --save) so that they can
become the parsers' test fixtures. In order:

1. facts: every fact the deploy reads, through ``pyinfra @local fact`` (GpuInfo reads nvidia-smi),
   NVML read directly (pynvml), and the GPU probe's raw output, section by section;
2. gates: the deploy's GPU gate (``operations.gpu_gate.gpu_supported``, run by pyinfra on @local;
   it only reads) for tf21 and for a CUDA 12 TensorFlow: a GPU a stack cannot run is refused,
   naming a stack that can;
3. the main job's dry run: ``pyinfra @local deploys/tf21.py --dry`` (its plan, and what it says
   would fail);
4. the verification's framework-free layers (driver, cuda_driver, ptx_compute), by the same
   program the deploy runs on a host, under this virtualenv's python.

Exit status: 0 when everything it ran passed, 3 when no NVIDIA driver works (the verification's
failing layer is ``driver``), 1 when something else failed (listed in ``failed``).

    python -m tools.gpu_proof [--save DIR] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import stacks
from deploys.desired import desired_state
from facts._sections import parse_sections
from facts.gpu import GPU_PROBE_SCRIPT
from facts.nvml import read_nvml
from facts.verification import CUDA_ACTIVATION_HOOK, verification_program

ROOT = Path(__file__).resolve().parent.parent
GATE_STACKS = ("tf21", "tensorflow==2.15.0.post1")  # CUDA 10.1 (stops at 7.x) and CUDA 12.2
FRAMEWORK_FREE_LAYERS = "driver,cuda_driver,ptx_compute"
EXIT_OK, EXIT_FAILED, EXIT_NO_DRIVER = 0, 1, 3
# pyinfra's own per-host lines that are not an operation's message
_PYINFRA_CHATTER = ("Connected", "Ready:", "Loaded fact", "No changes", "Error:", "Success")


def run(command: list[str], save: Path, timeout: float) -> dict:
    """Run a command in the save folder (where pyinfra leaves its pyinfra-debug.log, if any) with
    the repository importable; its exit status and output, or the timeout."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    try:
        done = subprocess.run(command, cwd=save, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"exit_status": None, "stdout": "", "stderr": f"timed out after {timeout:.0f} s"}
    return {"exit_status": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def pyinfra(*args: str) -> list[str]:
    return [sys.executable, "-m", "pyinfra", *args]


def fact_arguments() -> list[str]:
    """`pyinfra @local fact` arguments for every fact the tf21 deploy reads, at its default paths."""
    desired = desired_state({})
    conda, env = desired.config["conda_prefix"], desired.env_prefix
    return [
        "facts.gpu.GpuInfo", "facts.cuda.SystemCuda",
        "facts.host.FreeDisk", f"path={conda}",
        "facts.conda.CondaInstall", f"prefix={conda}",
        "facts.conda.CondaPackages", f"env_prefix={env}", f"prefix={conda}",
        "facts.cuda.EnvCudaLibraries", f"env_prefix={env}",
        "facts.pip_env.PipPackages", f"python={env}/bin/python",
        "facts.files_state.FileTexts", "paths=" + json.dumps([f"{env}/{CUDA_ACTIVATION_HOOK}"]),
    ]


def read_facts(save: Path, timeout: float) -> dict:
    """The facts through pyinfra, NVML directly, and the probe's raw text kept section by section."""
    result = run(pyinfra("--json", "@local", "fact", *fact_arguments()), save, timeout)
    (save / "pyinfra-facts.json").write_text(result["stdout"])
    try:
        facts = {name.split(" ")[0]: value.get("@local") for name, value in json.loads(result["stdout"]).items()}
    except ValueError:
        facts = None
    probe = run(["sh", "-c", GPU_PROBE_SCRIPT], save, timeout)["stdout"]
    (save / "gpu-probe.txt").write_text(probe)
    for name, section in parse_sections(probe.splitlines()).items():
        (save / f"gpu-probe-{name}.txt").write_text(f"# rc={section.rc}\n{section.text}\n")
    # the probe reads the table only when the query fails: a real machine's table is kept apart,
    # as a fixture for the table parser
    table = run(["sh", "-c", "nvidia-smi"], save, timeout)
    (save / "nvidia-smi-table.txt").write_text(f"# rc={table['exit_status']}\n{table['stdout']}")
    nvml = read_nvml()
    (save / "nvml.json").write_text(json.dumps(nvml, indent=2) + "\n")
    return {"ok": result["exit_status"] == 0 and facts is not None, "exit_status": result["exit_status"],
            "pyinfra": facts, "nvml": nvml, "error": None if facts is not None else result["stderr"][-2000:]}


def gate(spec: str, save: Path, timeout: float) -> dict:
    """The deploy's GPU gate for one stack, run by pyinfra on @local (-y: it only reads)."""
    try:
        stack = stacks.resolve(spec)
    except stacks.StackError as error:
        return {"stack": spec, "cuda": None, "accepted": False, "message": str(error),
                "exit_status": None, "ok": False}
    result = run(pyinfra("-y", "-v", "@local", "operations.gpu_gate.gpu_supported",
                         "stack=" + json.dumps(stack)), save, timeout)
    text = result["stdout"] + result["stderr"]
    (save / f"gate-{stack['name']}.txt").write_text(text)
    messages = []
    for line in text.splitlines():
        said = re.match(r"^\s*\[@local\] (.*)$", line)
        if said and not said.group(1).startswith(_PYINFRA_CHATTER):
            messages.append(said.group(1).removeprefix("noop: "))
    accepted = result["exit_status"] == 0
    message = "; ".join(messages) or result["stderr"].strip()[-500:]
    # A refusal is a pass when it names a stack that works: that is the gate doing its job.
    return {"stack": spec, "cuda": stack["cudatoolkit"], "accepted": accepted, "message": message,
            "exit_status": result["exit_status"], "ok": accepted or "use tensorflow==" in message}


def dry_run(save: Path, timeout: float) -> dict:
    """The main job, planned and not run: `pyinfra @local deploys/tf21.py --dry`."""
    result = run(pyinfra("--json", "@local", str(ROOT / "deploys" / "tf21.py"), "--dry"), save, timeout)
    (save / "dry-run.json").write_text(result["stdout"])
    (save / "dry-run.log").write_text(result["stderr"])
    try:
        plan = json.loads(result["stdout"])["plan"]
    except (ValueError, KeyError, TypeError):
        plan = None
    # A host the deploy would stop (the gate refusing tf21 on a Hopper GPU) makes the dry run exit
    # non-zero: that is the deploy's answer, reported, not a failure of the proof.
    return {
        "command": "pyinfra @local deploys/tf21.py --dry",
        "exit_status": result["exit_status"],
        "operations": len(plan) if plan is not None else None,
        "would_change": [op["name"] for op in plan or [] if op.get("hosts_with_change")],
        "would_fail": re.findall(r"\[@local\] would fail: (.*)", result["stderr"]),
        "error": None if plan is not None else result["stderr"].strip()[-2000:],
        "ok": plan is not None,
    }


def verify(save: Path, timeout: float) -> dict:
    """The framework-free layers, by the program the deploy sends to a host."""
    try:
        done = subprocess.run([sys.executable, "-", "--layers", FRAMEWORK_FREE_LAYERS],
                              input=verification_program(), cwd=save, capture_output=True, text=True,
                              timeout=timeout)
        output, log = done.stdout, done.stderr
    except subprocess.TimeoutExpired:
        output, log = "", f"timed out after {timeout:.0f} s (a wedged driver?)"
    (save / "verification.log").write_text(log)
    try:
        verdict = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        verdict = {"ok": False, "failed_layer": "environment", "layers": [],
                   "hint": "the verification printed no verdict: see verification.log",
                   "detail": log.strip()[-2000:]}
    (save / "verdict.json").write_text(json.dumps(verdict, indent=2) + "\n")
    return verdict


def prove(save: Path, timeout: float) -> dict:
    """Every check, in order; the document with its verdict and exit status."""
    save.mkdir(parents=True, exist_ok=True)
    document = {"tool": "gpuws gpu-proof", "host": socket.gethostname(), "saved": str(save),
                "facts": read_facts(save, timeout),
                "gates": [gate(spec, save, timeout) for spec in GATE_STACKS],
                "dry_run": dry_run(save, timeout),
                "verification": verify(save, timeout)}
    failed = [name for name in ("facts", "dry_run", "verification") if not document[name]["ok"]]
    failed += [f"gate {item['stack']}" for item in document["gates"] if not item["ok"]]
    if document["verification"].get("failed_layer") == "driver":
        status = EXIT_NO_DRIVER
    else:
        status = EXIT_FAILED if failed else EXIT_OK
    document.update(ok=not failed, failed=failed, exit_status=status)
    (save / "gpu-proof.json").write_text(json.dumps(document, indent=2) + "\n")
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev gpu-proof", description=__doc__.split("\n\n")[0])
    parser.add_argument("--save", type=Path, default=None,
                        help="folder for the raw outputs (default: a new temporary folder)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per step (default 300)")
    options = parser.parse_args(argv)
    if options.timeout <= 0:
        parser.error("--timeout must be a positive number of seconds")
    if options.save is not None and options.save.exists() and not options.save.is_dir():
        parser.error(f"--save {options.save} is a file; give a folder (created if missing)")
    save = options.save.resolve() if options.save else Path(tempfile.mkdtemp(prefix="gpuws-gpu-proof-"))
    document = prove(save, options.timeout)
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return document["exit_status"]


if __name__ == "__main__":
    sys.exit(main())
