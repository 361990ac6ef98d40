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

import hashlib
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
FINGERPRINT_MARKER = "@@gpuws-verify fingerprint="
BUSY_MARKER = "@@gpuws-verify busy="
# The layers that compute on the GPU (a CUDA context, memory): skipped while a user's job runs
COMPUTE_LAYERS = ("ptx_compute", "compute")
QUIET_LAYERS = "driver,cuda_driver,libraries,tensorflow"

# What a verdict was taken of, with shell tools only (no python start): the loaded driver and the
# boot, the env's conda records and pip distributions (names, inodes, sizes, times), the CUDA hook files,
# and the verification program's own hash ($2). POSIX sh; cksum is in every coreutils/busybox.
FINGERPRINT_SH = r"""
gpuws_fingerprint() {
    _prog=$2
    # the env's conda records and pip distributions that exist (a glob that matches nothing is
    # left out here, so one `ls` lists them all)
    _env=$1; set --
    for _p in "$_env"/conda-meta/* "$_env"/lib/python*/site-packages/*.dist-info "$_env"/lib/python*/site-packages/*.egg-info; do
        if [ -e "$_p" ]; then set -- "$@" "$_p"; fi
    done
    _sum=$( {
        # inode numbers and full timestamps: a package removed and put back within the same minute
        # is a new state (GNU ls; elsewhere the plain long listing)
        if [ $# -gt 0 ]; then ls -dlni --full-time -- "$@" || ls -dlni -- "$@"; fi
        # the driver, the boot and the hooks in one cat (it goes on past a file that is missing)
        cat /proc/driver/nvidia/version /proc/sys/kernel/random/boot_id \
            "$_env/etc/conda/activate.d/gpuws-cuda.sh" "$_env/etc/conda/deactivate.d/gpuws-cuda.sh"
        printf '%s\n' "$_prog"
    } 2>/dev/null | cksum )
    _crc=${_sum%% *}; _size=${_sum#* }; _size=${_size%% *}
    printf '%s-%s\n' "$_crc" "$_size"
}
"""
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


def program_id(script: str, params_json: str) -> str:
    """The hash that stands for the verification program and what it checks, in fingerprints."""
    return hashlib.sha256((script + "\0" + params_json).encode()).hexdigest()[:16]


def verification_command(
    python: str, env_prefix: str, params_json: str, script: str,
    timeout: int = 600, busy_wait: int = 0, busy: str = "skip",
) -> str:
    """The sh command that runs `script` from stdin under `python` inside the env's hook.

    It prints the state's fingerprint first (FINGERPRINT_SH), then runs the program with
    TensorFlow's memory growth on (TF_FORCE_GPU_ALLOW_GROWTH: never grab all free GPU memory)
    under coreutils' `timeout`. While other processes use the GPU (nvidia-smi's compute apps) it
    waits up to `busy_wait` seconds; if they are still there it runs only the layers that create
    no work on the GPU (`busy="skip"`) and says so (BUSY_MARKER), or runs all (`busy="run"`).
    """
    if any(line.strip() == HEREDOC_END for line in script.splitlines()):
        raise ValueError(f"the verification script must not contain a line {HEREDOC_END}")
    q_python = shlex.quote(python)
    q_env = shlex.quote(env_prefix.rstrip("/") or "/")
    q_hook = shlex.quote(f"{env_prefix.rstrip('/')}/{CUDA_ACTIVATION_HOOK}")
    busy_apps = "nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null | grep -c '[0-9]'"
    return "\n".join([
        f"if [ ! -x {q_python} ]; then echo {shlex.quote(NO_PYTHON_MARKER)}; exit 0; fi",
        FINGERPRINT_SH.strip("\n"),
        f'echo "{FINGERPRINT_MARKER}$(gpuws_fingerprint {q_env} {shlex.quote(program_id(script, params_json))})"',
        f"_waited=0; _busy=$({busy_apps})",
        f'while [ "${{_busy:-0}}" -gt 0 ] && [ "$_waited" -lt {int(busy_wait)} ]; do',
        f"    sleep 5; _waited=$((_waited + 5)); _busy=$({busy_apps})",
        "done",
        '_layers=""',
        f'if [ "${{_busy:-0}}" -gt 0 ]; then echo "{BUSY_MARKER}$_busy"; '
        + (f"_layers='--layers {QUIET_LAYERS}'; " if busy == "skip" else "")
        + "fi",
        f"CONDA_PREFIX={shlex.quote(env_prefix)}; export CONDA_PREFIX",
        "TF_FORCE_GPU_ALLOW_GROWTH=true; export TF_FORCE_GPU_ALLOW_GROWTH",
        # `.` of a missing file would end a POSIX sh: test first. No hook is itself drift, which
        # the libraries layer then reports.
        f"if [ -f {q_hook} ]; then . {q_hook}; fi",
        # no `timeout` (busybox without it): run without one rather than not at all
        f"_timeout=''; if command -v timeout >/dev/null 2>&1; then _timeout='timeout -k 10 {int(timeout)}'; fi",
        f"$_timeout {q_python} -I - --params-json {shlex.quote(params_json)} $_layers <<'{HEREDOC_END}'",
        script.rstrip("\n"),
        HEREDOC_END,
        f'echo "{EXIT_MARKER}$?"',
        "exit 0",
    ])


def parse_verdict(lines: list[str]) -> dict:
    """The verdict in the command's stdout, or an "environment" verdict saying why there is none;
    with the state's ``fingerprint`` and, when a user's job kept the GPU busy, a ``note``."""
    exit_status = verdict = fingerprint = busy = None
    for line in lines:
        text = line.strip()
        if text == NO_PYTHON_MARKER:
            return environment_verdict(
                "the env's python is missing",
                "the conda env is absent or broken: re-run the deploy to create it",
            )
        if text.startswith(EXIT_MARKER):
            exit_status = text[len(EXIT_MARKER):]
        elif text.startswith(FINGERPRINT_MARKER):
            fingerprint = text[len(FINGERPRINT_MARKER):] or None
        elif text.startswith(BUSY_MARKER):
            busy = text[len(BUSY_MARKER):]
        elif text.startswith("{"):
            try:
                candidate = json.loads(text)
            except ValueError:
                continue
            if isinstance(candidate, dict) and "ok" in candidate and "layers" in candidate:
                verdict = candidate
    if verdict is None and exit_status in ("124", "137"):
        verdict = environment_verdict(
            "the verification did not finish in time (killed by timeout)",
            "a hung driver or a GPU stuck in a job: check nvidia-smi on the host, or raise verify_timeout",
        )
    elif verdict is None:
        verdict = environment_verdict(
            f"the verification script printed no verdict (exit status {exit_status or 'unknown'})",
            "run the verification by hand to see its error: `python -m facts.verify > verify_gpu.py` "
            "in the project, then ENV/bin/python verify_gpu.py on the host",
        )
    verdict["fingerprint"] = fingerprint
    if busy and not any(layer.get("name") in COMPUTE_LAYERS for layer in verdict.get("layers") or []):
        verdict["note"] = (
            f"{busy} process(es) were using the GPU: the compute layers ({', '.join(COMPUTE_LAYERS)}) "
            "were skipped, not failed"
        )
    return verdict


class VerificationState(FactBase):
    """
    The fingerprint of what a verification would check now, and the last verdict kept on the host.

    Shell tools only (no python): a converged host is judged by comparing the two fingerprints.

    + env_prefix: the conda env whose state is fingerprinted
    + verdict_path: where the last verdict is kept
    + program: `program_id` of the verification program and its parameters

    **Example:**

    .. code:: python

        state = host.get_fact(VerificationState, env_prefix="/opt/miniconda3/envs/tf21",
                              verdict_path="/opt/miniconda3/envs/tf21/etc/gpuws/last-verdict.json",
                              program="0123abcd4567ef89")
        state["fingerprint"], state["verdict"]  # "1234-5678", {"ok": True, ...} or None
    """

    @staticmethod
    def default() -> dict:
        return {"fingerprint": None, "verdict": None}

    def command(self, env_prefix: str, verdict_path: str, program: str) -> str:
        return "\n".join([
            FINGERPRINT_SH.strip("\n"),
            f'echo "{FINGERPRINT_MARKER}$(gpuws_fingerprint {shlex.quote(env_prefix.rstrip("/") or "/")} {shlex.quote(program)})"',
            f"cat {shlex.quote(verdict_path)} 2>/dev/null",
            "exit 0",
        ])

    def process(self, output: list[str]) -> dict:
        fingerprint, verdict = None, None
        for line in output:
            text = line.strip()
            if text.startswith(FINGERPRINT_MARKER):
                fingerprint = text[len(FINGERPRINT_MARKER):] or None
            elif text.startswith("{"):
                try:
                    candidate = json.loads(text)
                except ValueError:
                    continue
                if isinstance(candidate, dict) and "ok" in candidate:
                    verdict = candidate
        return {"fingerprint": fingerprint, "verdict": verdict}


class GpuVerification(FactBase):
    """
    Runs the layered GPU verification with the env's python and returns its verdict.

    + python: the env's interpreter (ENV/bin/python)
    + env_prefix: the env's prefix (its activation hook is sourced first)
    + params_json: the program's parameters as JSON (tensorflow, libraries, min_cuda_driver,
      env_prefix)
    + timeout: seconds before coreutils' ``timeout`` stops the program
    + busy_wait: seconds to wait while other processes use the GPU
    + busy: "skip" (the compute layers, with a note) or "run" when the GPU stays busy

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

    def command(self, python: str, env_prefix: str, params_json: str, timeout: int = 600,
                busy_wait: int = 0, busy: str = "skip") -> str:
        return verification_command(
            python, env_prefix, params_json, verification_program(), timeout, busy_wait, busy,
        )

    def process(self, output: list[str]) -> dict:
        return parse_verdict(output)
