"""The layered GPU verification, read as a fact.

Why a fact and not a command of the verify operation: the verification only reads state, so a
converged host must report zero changes. The operation reads this fact and either noops with the
verdict or fails the host with it.

The script (operations/scripts/verify_gpu.py, read here on the controller) travels inside the
command as a quoted here-document, so nothing is uploaded and nothing is left on the target. It runs
under the env's python after the env's CUDA activation hook, exactly as a user's `conda activate`d
shell would see the libraries. The command always exits 0: a failed layer, a missing python or a
crashing script are all data, turned into a verdict by `process()`.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from pyinfra.api import FactBase

SCRIPT_PATH = Path(__file__).resolve().parent.parent / "operations" / "scripts" / "verify_gpu.py"
HOOK_RELATIVE_PATH = "etc/conda/activate.d/gpuws-cuda.sh"

NO_PYTHON_MARKER = "@@gpuws-verify no-python"
EXIT_MARKER = "@@gpuws-verify rc="
HEREDOC_END = "GPUWS_VERIFY_SCRIPT_END"


def environment_verdict(detail: str, hint: str) -> dict:
    """A verdict for a host where the verification could not even run (layer "environment")."""
    return {
        "ok": False,
        "failed_layer": "environment",
        "hint": hint,
        "layers": [{"name": "environment", "ok": False, "detail": detail}],
        "host": None,
        "tensorflow": None,
    }


def verification_command(python: str, env_prefix: str, params_json: str, script: str) -> str:
    """The sh command that runs `script` from stdin under `python` inside the env's hook."""
    if any(line.strip() == HEREDOC_END for line in script.splitlines()):
        raise ValueError(f"the verification script must not contain a line {HEREDOC_END}")
    q_python = shlex.quote(python)
    q_hook = shlex.quote(f"{env_prefix.rstrip('/')}/{HOOK_RELATIVE_PATH}")
    return "\n".join([
        f"if [ ! -x {q_python} ]; then echo {shlex.quote(NO_PYTHON_MARKER)}; exit 0; fi",
        f"CONDA_PREFIX={shlex.quote(env_prefix)}; export CONDA_PREFIX",
        # `.` of a missing file would end a POSIX sh: test first. No hook is itself drift, which
        # the libraries layer then reports.
        f"if [ -f {q_hook} ]; then . {q_hook}; fi",
        f"{q_python} - --params-json {shlex.quote(params_json)} <<'{HEREDOC_END}'",
        script.rstrip("\n"),
        HEREDOC_END,
        f'echo "{EXIT_MARKER}$?"',
        "exit 0",
    ])


def parse_verdict(lines: list[str]) -> dict:
    """The verdict in the command's stdout, or an "environment" verdict saying why there is none."""
    exit_status = None
    verdict = None
    for line in lines:
        text = line.strip()
        if text == NO_PYTHON_MARKER:
            return environment_verdict(
                "the env's python is missing",
                "the conda env is absent or broken: re-run the deploy to create it",
            )
        if text.startswith(EXIT_MARKER):
            exit_status = text[len(EXIT_MARKER):]
        elif text.startswith("{"):
            try:
                candidate = json.loads(text)
            except ValueError:
                continue
            if isinstance(candidate, dict) and "ok" in candidate and "layers" in candidate:
                verdict = candidate
    if verdict is not None:
        return verdict
    return environment_verdict(
        f"the verification script printed no verdict (exit status {exit_status or 'unknown'})",
        "run operations/scripts/verify_gpu.py with the env's python by hand to see its error",
    )


class GpuVerification(FactBase):
    """
    Runs the layered GPU verification with the env's python and returns its verdict.

    + python: the env's interpreter (ENV/bin/python)
    + env_prefix: the env's prefix (its activation hook is sourced first)
    + params_json: the script's parameters as JSON (tensorflow, libraries, min_cuda_driver,
      verdict_path, env_prefix)

    .. code:: python

        {"ok": False, "failed_layer": "driver", "hint": "...",
         "layers": [{"name": "driver", "ok": False, "detail": "..."}], "host": "ws01",
         "tensorflow": None, ...}
    """

    @staticmethod
    def default() -> dict:
        return environment_verdict(
            "the verification command printed nothing",
            "check that the host runs a POSIX sh and the deploy user can read the env",
        )

    def command(self, python: str, env_prefix: str, params_json: str) -> str:
        return verification_command(python, env_prefix, params_json, SCRIPT_PATH.read_text())

    def process(self, output: list[str]) -> dict:
        return parse_verdict(output)
