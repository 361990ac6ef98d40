"""Jupyter kernelspecs: each conda env of the workstation as a kernel every user's Jupyter lists.

A kernelspec is a folder with a kernel.json (https://jupyter-client.readthedocs.io/en/stable/kernels.html#kernel-specs)
in a kernels directory Jupyter searches for every user (its data path: /usr/local/share/jupyter/kernels
by default). The kernel runs the env's own python by absolute path, and the CUDA libraries are found
through kernel.json's `env` (LD_LIBRARY_PATH = ENV/lib, CONDA_PREFIX = ENV), which jupyter_client sets
for the kernel process: declarative, no shell in between, the same for Notebook, Lab and VS Code. A
wrapper argv (`sh -c '. activate ...; exec python ...'`) would also work but runs a shell per kernel
start and depends on conda's activation scripts, which conda envs of older condas do not all carry.
"""

from __future__ import annotations

import json
import posixpath

from pyinfra import host, logger
from pyinfra.api import operation

from facts.files_state import FileContent
from facts.pip_env import PipPackages
from facts.workstation import read

from .util.commands import log_diff, same_text, write_file


def display_name(stack: dict) -> str:
    """The name people see in Jupyter's launcher: "TensorFlow 2.1 (GPU, CUDA 10.1)"."""
    major_minor = ".".join(str(stack.get("tensorflow", "")).split(".")[:2])
    cuda = stack.get("cudatoolkit") or stack.get("cuda")
    return f"TensorFlow {major_minor} (GPU, CUDA {cuda})" if cuda else f"TensorFlow {major_minor}"


def kernel_json(env_prefix: str, display: str) -> str:
    """kernel.json's text: the env's python running ipykernel, with the env's libraries first."""
    env_prefix = env_prefix.rstrip("/")
    spec = {
        "argv": [f"{env_prefix}/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display,
        "language": "python",
        "env": {"CONDA_PREFIX": env_prefix, "LD_LIBRARY_PATH": f"{env_prefix}/lib"},
        "metadata": {"managed_by": "gpuws"},
    }
    return json.dumps(spec, indent=1, sort_keys=True) + "\n"


@operation()
def kernelspec(env_prefix: str, kernel_name: str, display_name: str,
               kernels_dir: str = "/usr/local/share/jupyter/kernels"):
    """
    Write the Jupyter kernelspec of a conda env (KERNELS_DIR/NAME/kernel.json).

    + env_prefix: the env's prefix, e.g. ``/opt/miniconda3/envs/tf21``
    + kernel_name: the kernelspec's folder name (the env's name)
    + display_name: what Jupyter shows, e.g. ``TensorFlow 2.1 (GPU, CUDA 10.1)``
    + kernels_dir: the shared kernels directory

    The kernel needs ipykernel in the env: without it the spec is still written and a warning says
    what to install.

    **Example:**

    .. code:: python

        jupyter.kernelspec(name="Kernel tf21", env_prefix="/opt/miniconda3/envs/tf21",
                           kernel_name="tf21", display_name="TensorFlow 2.1 (GPU, CUDA 10.1)")
    """
    path = posixpath.join(kernels_dir, kernel_name, "kernel.json")
    wanted = kernel_json(env_prefix, display_name)
    packages = (read(PipPackages, python=f"{env_prefix.rstrip('/')}/bin/python") or {}).get("packages") or {}
    if "ipykernel" not in packages:
        logger.warning(f"{host.name}: kernel {kernel_name} needs ipykernel in {env_prefix} "
                       f"({env_prefix}/bin/python -m pip install ipykernel)")
    current = read(FileContent, path=path)
    if same_text(current, wanted):
        host.noop(f"kernelspec {path} up to date")
        return
    log_diff(host, path, current, wanted)
    yield write_file(path, wanted)
