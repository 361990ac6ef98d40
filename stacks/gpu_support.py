"""Whether a resolved stack runs on a GPU of a given compute capability, and what would instead.

NVIDIA's rules (CUDA C++ Programming Guide, "Binary Compatibility" and "Application
Compatibility", https://docs.nvidia.com/cuda/cuda-c-programming-guide/index.html#binary-compatibility):
a cubin (SASS) for compute capability X.y runs on X.z with z >= y only; PTX for X.y is JIT-compiled
by the driver for any capability >= X.y. The capabilities of each release come from its wheel
(stacks/data/cuda_arch.yaml); the toolkit's CUDA libraries bound the newest GPU it runs.
"""

from __future__ import annotations

from packaging.version import Version

from . import knowledge as kb
from .errors import StackError
from .versions import parse_cc


def gpu_support(stack: dict, cc) -> tuple[bool, str | None, str | None]:
    """Whether a resolved stack runs on a GPU of compute capability `cc`, without raising.

    + stack: a dict returned by resolve()
    + cc: "X.Y" as reported by the GPU (None: unknown, not a reason to fail)

    Returns (ok, message, suggestion): message is one line naming the capability and the oldest
    TensorFlow release that runs it; suggestion is that release as a spec ("tensorflow==2.5.0"),
    or None when no pip release runs it. Operations use this to fail one host, never the run.

    **Example:**

    .. code:: python

        gpu_support(resolve("tf21"), "8.6")
        # (False, "tf21: GPU compute capability 8.6 is not supported ... use tensorflow==2.5.0 ...", "tensorflow==2.5.0")
    """
    if cc is None:
        return True, None, None
    try:
        parse_cc(cc, "GPU compute capability")
    except StackError as error:
        return False, str(error), None
    if cc in kb.jetson_only()["cc"]:
        return False, (f"{stack['spec']}: compute capability {cc} is a Jetson (Tegra, aarch64) GPU; the "
                       f"TensorFlow pip wheels this stack installs are x86-64 desktop builds: use NVIDIA's "
                       f"JetPack TensorFlow builds on Jetson"), None
    if kb.runs_on(cc, stack["compute_capabilities"], stack["compute_capabilities_ptx"],
                  stack["min_compute_capability"], stack["max_compute_capability"]):
        return True, None, None
    label = stack["spec"]
    runs = (f"{label} ({stack['tensorflow_package']} {stack['tensorflow']}, CUDA {stack['cuda']}) "
            f"runs compute capability {stack['min_compute_capability']} to {stack['max_compute_capability']}")
    if parse_cc(cc) < parse_cc(stack["min_compute_capability"]):
        # Older than the stack: only an OLDER TensorFlow (older CUDA) can still run it.
        older = [row for row in kb.installable_builds(stack["os"]) if kb.build_runs_on(row, cc)
                 and Version(row["tensorflow"]) < Version(stack["tensorflow"])]
        if not older:
            return False, (f"{label}: GPU compute capability {cc} is too old; {runs}; no TensorFlow pip "
                           f"release runs it (they need {kb.tensorflow_min_cc()} or higher): use a newer GPU or build "
                           f"TensorFlow from source"), None
        suggestion = f"tensorflow=={kb.installable_release(older[-1])}"
        return False, (f"{label}: GPU compute capability {cc} is too old; {runs}; use {suggestion} "
                       f"(CUDA {older[-1]['cuda']}) or earlier"), suggestion
    build = kb.oldest_build(stack["os"], lambda row: kb.build_runs_on(row, cc))
    where = ""
    if build is None and stack["os"] == "windows":
        build = kb.oldest_build("linux", lambda row: kb.build_runs_on(row, cc))
        where = f" on Linux/WSL2 (native Windows GPU builds end at {kb.windows_gpu_last()['last']})"
    if build is None:
        return False, (f"{label}: GPU compute capability {cc} is not supported; {runs}; no TensorFlow "
                       f"release in the tested-build table runs it"), None
    suggestion = f"tensorflow=={kb.installable_release(build)}"
    return False, (f"{label}: GPU compute capability {cc} is not supported; {runs}; use {suggestion} "
                   f"(CUDA {build['cuda']}) or later{where}"), suggestion
