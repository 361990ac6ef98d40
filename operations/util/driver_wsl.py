"""WSL2: the GPU belongs to the Windows NVIDIA driver (pure: no host).

Inside WSL2 the Windows driver is the only driver: NVIDIA says not to install any Linux display
driver in WSL, the Windows driver is "fully supported" there and maps libcuda and nvidia-smi into
/usr/lib/wsl/lib (https://docs.nvidia.com/cuda/wsl-user-guide/index.html, "Getting Started with
CUDA on WSL 2"). So the deploy installs, holds, blacklists and reboots nothing there; it checks
that the Windows driver is new enough and that the GPU is one CUDA on WSL supports (compute
capability 6.0 and newer: the same guide, "Pascal and later GPU architecture"). Best effort: the
lab tests a WSL2-like host, not a real Windows machine.
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from stacks import driver_satisfies

WSL_MIN_COMPUTE_CAPABILITY = "6.0"


def wsl_driver_problem(info: dict, min_version: str, stack_name: str) -> str | None:
    """One line when the Windows driver seen from WSL2 cannot run the stack, else None.

    + info: the GpuInfo fact of a WSL2 host
    + min_version: the stack's minimum driver on Windows
    + stack_name: for the message
    """
    loaded = info.get("driver_version")
    if not loaded or info.get("error"):
        seen = info.get("error") or "no nvidia-smi in /usr/lib/wsl/lib"
        return (f"WSL2: the Windows NVIDIA driver does not answer ({seen}); install or update the "
                f"Windows NVIDIA driver to >= {min_version} on the Windows side (never a Linux driver inside WSL)")
    if not driver_satisfies(loaded, min_version):
        return (f"WSL2: Windows NVIDIA driver {loaded} < {min_version} required by {stack_name}; update the "
                f"Windows NVIDIA driver to >= {min_version} (on the Windows side, then `wsl --shutdown`)")
    return None


def wsl_gpu_problem(gpus: list[dict]) -> str | None:
    """One line naming a GPU below compute capability 6.0 (CUDA on WSL2 needs Pascal or newer), else None."""
    for gpu in gpus:
        cc = gpu.get("compute_capability")
        try:
            too_old = cc is not None and Version(cc) < Version(WSL_MIN_COMPUTE_CAPABILITY)
        except InvalidVersion:
            too_old = False
        if too_old:
            return (f"WSL2: {gpu.get('name')} (compute capability {cc}) is not supported by CUDA on WSL2, "
                    f"which needs compute capability >= {WSL_MIN_COMPUTE_CAPABILITY} (Pascal or newer); "
                    "use a native Linux install for this GPU")
    return None
