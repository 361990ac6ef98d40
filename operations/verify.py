"""The last step of a deploy: the layered GPU verification of the env (facts/verification.py
runs it and documents the layers).

It reads state only, so a converged, working host reports no change; a failing layer fails that
host, not the run, with one line naming the layer, what was seen and what to do.
"""

from __future__ import annotations

import json

from pyinfra import host
from pyinfra.api import operation

from facts.verification import GpuVerification

from .util.commands import fail_host

VERDICT_RELATIVE_PATH = "etc/gpuws/last-verdict.json"


def verification_params(env_prefix: str, stack: dict, verdict_path: str | None) -> dict:
    """What the script checks, from the resolved stack."""
    return {
        "tensorflow": stack["tensorflow"],
        "libraries": list(stack.get("libraries") or []),
        "min_cuda_driver": stack["cudatoolkit"],
        "env_prefix": env_prefix,
        "verdict_path": verdict_path or f"{env_prefix.rstrip('/')}/{VERDICT_RELATIVE_PATH}",
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
    return f"GPU verified: tf {verdict.get('tensorflow')} sees GPU:0 {gpu}; matmul matches CPU"


@operation()
def gpu_stack(env_prefix: str, stack: dict, verdict_path: str | None = None):
    """
    Verify that the env computes on the GPU; fail the host at the first broken layer.

    The layers: the driver answers, the CUDA driver API sees a device, the env's CUDA/cuDNN
    libraries load, TensorFlow lists the GPU and a matrix product on it matches the CPU.

    + env_prefix: the conda env's prefix, e.g. "/opt/miniconda3/envs/tf21"
    + stack: the resolved stack dict (tensorflow, cudatoolkit and libraries are checked)
    + verdict_path: where the host keeps the last verdict for the fleet report
      (default ENV/etc/gpuws/last-verdict.json)

    **Example:**

    .. code:: python

        verify.gpu_stack(
            name="Verify TensorFlow computes on the GPU",
            env_prefix="/opt/miniconda3/envs/tf21", stack=stacks.resolve("tf21"),
        )
    """
    params = verification_params(env_prefix, stack, verdict_path)
    verdict = host.get_fact(
        GpuVerification,
        python=f"{env_prefix.rstrip('/')}/bin/python",
        env_prefix=env_prefix,
        params_json=json.dumps(params, sort_keys=True),
    )
    if verdict.get("ok"):
        host.noop(success_line(verdict))
        return
    yield fail_host(failure_line(verdict))
