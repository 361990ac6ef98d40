"""The last step of a deploy: the layered GPU verification of the env (facts/verification.py
runs it and documents the layers).

It runs only when the state it verified changed (or data asks), never in a dry run; a fresh
verdict is written to the host (a change), an unchanged one is a no-op; a failing layer fails
that host, not the run, with one line naming the layer, what was seen and what to do.
"""

from __future__ import annotations

import json

from pyinfra import host, logger
from pyinfra.api import OperationValueError, operation

from facts.verification import GpuVerification, VerificationState, program_id, verification_program
from facts.workstation import read  # this run's broad read (one remote command per host)

from .util.commands import absolute, fail_host, write_file

VERDICT_RELATIVE_PATH = "etc/gpuws/last-verdict.json"
WHEN = ("changed", "always", "never")


def verification_params(env_prefix: str, stack: dict) -> dict:
    """What the script checks, from the resolved stack. The program does not write the verdict:
    the operation does, atomically, and only outside a dry run."""
    return {
        "tensorflow": stack["tensorflow"],
        "libraries": list(stack.get("libraries") or []),
        "min_cuda_driver": stack["cudatoolkit"],
        "env_prefix": env_prefix,
    }


def failure_line(verdict: dict) -> str:
    layer = verdict.get("failed_layer") or "unknown"
    details = [item.get("detail") for item in verdict.get("layers") or [] if not item.get("ok")]
    detail = (details[-1] if details else None) or "no detail"
    hint = verdict.get("hint") or "run the verification script by hand"
    # one line: a multi-line library error must not spill over the results table
    return " ".join(f"verification failed at layer {layer}: {detail}; hint: {hint}".split())


def success_line(verdict: dict) -> str:
    gpu = verdict.get("gpu") or "a GPU"
    line = f"GPU verified: tf {verdict.get('tensorflow')} sees GPU:0 {gpu}; matmul matches CPU"
    if verdict.get("note"):
        line = f"GPU verified: tf {verdict.get('tensorflow')} sees GPU:0 {gpu}; {verdict['note']}"
    return line


def verdict_text(verdict: dict) -> str:
    """The file kept on the host: the verdict with its fingerprint and time (checked_at)."""
    return json.dumps(verdict, sort_keys=True) + "\n"  # the program stamps checked_at itself


@operation()
def gpu_stack(
    env_prefix: str,
    stack: dict,
    verdict_path: str | None = None,
    when: str = "changed",
    timeout: int = 600,
    busy_wait: int = 0,
    busy: str = "skip",
):
    """
    Verify that the env computes on the GPU when its state changed; fail the host at a broken layer.

    The layers: the driver answers, the CUDA driver API sees a device and runs a PTX kernel, the
    env's CUDA/cuDNN libraries load, TensorFlow lists the GPU and a matrix product on it matches
    the CPU. The verdict is kept on the host with the fingerprint of what it checked (driver and
    boot, conda records, pip distributions, hook files, the program): with ``when="changed"`` a
    host whose fingerprint and last (passing) verdict are unchanged is not verified again, so a
    converged run starts no python there. Outside the execute phase (``--dry``) the program never
    runs: the last verdict is shown instead.

    + env_prefix: the conda env's prefix, e.g. "/opt/miniconda3/envs/tf21"
    + stack: the resolved stack dict (tensorflow, cudatoolkit and libraries are checked)
    + verdict_path: where the host keeps the last verdict (default ENV/etc/gpuws/last-verdict.json)
    + when: "changed" (fingerprint differs or the last verdict failed), "always" or "never"
    + timeout: seconds before the program is stopped (coreutils ``timeout``)
    + busy_wait: seconds to wait while other processes use the GPU
    + busy: "skip": then run without the compute layers and note it; "run": compute anyway

    **Example:**

    .. code:: python

        verify.gpu_stack(
            name="Verify TensorFlow computes on the GPU",
            env_prefix="/opt/miniconda3/envs/tf21", stack=stacks.resolve("tf21"),
        )
    """
    if when not in WHEN:
        raise OperationValueError(f"when must be one of {', '.join(WHEN)}, not {when!r}")
    if busy not in ("skip", "run"):
        raise OperationValueError(f"busy must be 'skip' or 'run', not {busy!r}")
    env_prefix = absolute(env_prefix, "env prefix")
    verdict_path = verdict_path or f"{env_prefix}/{VERDICT_RELATIVE_PATH}"
    params_json = json.dumps(verification_params(env_prefix, stack), sort_keys=True)
    program = program_id(verification_program(), params_json)
    kept = read(VerificationState, env_prefix=env_prefix, verdict_path=verdict_path, program=program)
    last = kept.get("verdict")
    if when == "never":
        seen = f"; last verdict: {'ok' if last.get('ok') else failure_line(last)}" if last else ""
        host.noop(f"verification off (verify_gpu=never){seen}")
        return
    current = bool(last) and last.get("fingerprint") is not None and last.get("fingerprint") == kept.get("fingerprint")
    if when == "changed" and current and last.get("ok"):
        host.noop(f"unchanged since the verdict of {last.get('checked_at') or 'an earlier run'}: {success_line(last)}")
        return
    if not getattr(host.state, "is_executing", True):
        # --dry (or the change detection before a run): say what the run would do, run nothing
        if current and not last.get("ok"):
            yield fail_host(f"{failure_line(last)} (last verdict, same state; not re-run in a dry run)")
            return
        why = "always" if when == "always" else ("state changed since the last verdict" if last else "no verdict yet")
        logger.info(f"{host.name}: would verify ({why})")
        yield write_file(verdict_path, "(the verdict of the run)\n")
        return
    verdict = host.get_fact(
        GpuVerification,
        python=f"{env_prefix}/bin/python",
        env_prefix=env_prefix,
        params_json=params_json,
        timeout=timeout,
        busy_wait=busy_wait,
        busy=busy,
    )
    yield write_file(verdict_path, verdict_text(verdict), inside=env_prefix)
    if not verdict.get("ok"):
        yield fail_host(failure_line(verdict))
