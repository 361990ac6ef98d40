"""The layered GPU verification, read as a fact.

Why a fact and not a command of the verify operation: the verification only reads state, so a
converged host must report zero changes. The operation reads this fact and either noops with the
verdict or fails the host with it.

The program (the modules of facts/verify/, joined by `verification_program`) travels inside the
command as a quoted here-document, so nothing is uploaded and nothing is left on the target. It runs
under the env's python after the env's CUDA activation hook, exactly as a user's `conda activate`d
shell would see the libraries. The command always exits 0: a failed layer, a missing python or a
crashing program are all data, turned into a verdict by `process()`.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from pyinfra.api import FactBase

from facts.verify import MODULES

VERIFY_DIR = Path(__file__).resolve().parent / "verify"
# The env's CUDA activation hook, relative to the env prefix: operations/hooks.py writes it, the
# verification sources it first. conda sources every ENV/etc/conda/activate.d/*.sh on activation.
CUDA_ACTIVATION_HOOK = "etc/conda/activate.d/gpuws-cuda.sh"

NO_PYTHON_MARKER = "@@gpuws-verify no-python"
EXIT_MARKER = "@@gpuws-verify rc="
HEREDOC_END = "GPUWS_VERIFY_SCRIPT_END"

# Loads the modules from their sources into one in-memory package, then runs its main(). Plain
# python 3.5 syntax: this runs under whatever python the env has.
_LOADER = '''\
import sys, types


def _load(package, sources):
    root = types.ModuleType(package)
    root.__path__ = []
    sys.modules[package] = root
    for name, source in sources:
        module = types.ModuleType(package + "." + name)
        module.__package__ = package
        sys.modules[module.__name__] = module
        setattr(root, name, module)
        exec(compile(source, "<{0}>/{1}.py".format(package, name), "exec"), module.__dict__)
    return root


sys.exit(_load("gpuws_verify", SOURCES).verdict.main())
'''


def verification_program() -> str:
    """The verification as ONE python program for ``python - ARGS``: the facts/verify modules,
    loaded in memory as the package ``gpuws_verify``, then its ``verdict.main()``."""
    sources = [(name, (VERIFY_DIR / f"{name}.py").read_text()) for name in MODULES]
    return "SOURCES = " + repr(sources) + "\n" + _LOADER


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
    q_hook = shlex.quote(f"{env_prefix.rstrip('/')}/{CUDA_ACTIVATION_HOOK}")
    return "\n".join([
        f"if [ ! -x {q_python} ]; then echo {shlex.quote(NO_PYTHON_MARKER)}; exit 0; fi",
        f"CONDA_PREFIX={shlex.quote(env_prefix)}; export CONDA_PREFIX",
        # `.` of a missing file would end a POSIX sh: test first. No hook is itself drift, which
        # the libraries layer then reports.
        f"if [ -f {q_hook} ]; then . {q_hook}; fi",
        f"{q_python} -I - --params-json {shlex.quote(params_json)} <<'{HEREDOC_END}'",
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
        "run the verification by hand to see its error: `python -m facts.verify > verify_gpu.py` "
        "in the project, then ENV/bin/python verify_gpu.py on the host",
    )


class GpuVerification(FactBase):
    """
    Runs the layered GPU verification with the env's python and returns its verdict.

    + python: the env's interpreter (ENV/bin/python)
    + env_prefix: the env's prefix (its activation hook is sourced first)
    + params_json: the program's parameters as JSON (tensorflow, libraries, min_cuda_driver,
      verdict_path, env_prefix)

    **Example:**

    .. code:: python

        verdict = host.get_fact(GpuVerification, python="/opt/miniconda3/envs/tf21/bin/python",
                                env_prefix="/opt/miniconda3/envs/tf21", params_json="{}")
        verdict["failed_layer"]  # None, or "driver", "cuda_driver", ... "environment"
    """

    @staticmethod
    def default() -> dict:
        return environment_verdict(
            "the verification command printed nothing",
            "check that the host runs a POSIX sh and the deploy user can read the env",
        )

    def command(self, python: str, env_prefix: str, params_json: str) -> str:
        return verification_command(python, env_prefix, params_json, verification_program())

    def process(self, output: list[str]) -> dict:
        return parse_verdict(output)
