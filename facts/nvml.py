"""NVML through pynvml, where it is importable: the controller for `@local` hosts (see
facts.gpu.local_gpu_info). Same shape as the nvidia-smi-derived part of the GpuInfo fact:
driver_version, cuda_version, gpus (with compute_capability), error. (The verification program
asks pynvml itself: it runs under the env's python, without this project.)
"""

from __future__ import annotations

import warnings
from typing import Any

def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_nvml() -> dict:
    """
    Read the local driver and GPUs through NVML (``pynvml``), in the shape of the nvidia-smi part
    of `GpuInfo`: ``{"driver_version", "cuda_version", "gpus": [{"index", "name", "memory_mib",
    "compute_capability", "pci_bus_id"}], "error"}``. Never raises: no pynvml, no library, no
    driver or no device all come back as ``error`` (NVML's own words).

    **Example:**

    .. code:: python

        info = read_nvml()
        if info["error"] is None: print(info["gpus"][0]["compute_capability"])
    """
    result: dict[str, Any] = {"driver_version": None, "cuda_version": None, "gpus": [], "error": None}
    try:
        with warnings.catch_warnings():
            # the "pynvml" distribution warns that it is deprecated in favour of nvidia-ml-py,
            # which provides the same module; either is fine here.
            warnings.simplefilter("ignore", FutureWarning)
            import pynvml
    except ImportError as exc:
        result["error"] = f"pynvml is not importable: {exc}"
        return result

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        result["error"] = str(exc)  # "Driver Not Loaded", "NVML Shared Library Not Found", ...
        return result
    try:
        result["driver_version"] = _text(pynvml.nvmlSystemGetDriverVersion())
        try:
            cuda = pynvml.nvmlSystemGetCudaDriverVersion()  # 1000*major + 10*minor
            result["cuda_version"] = f"{cuda // 1000}.{cuda % 1000 // 10}"
        except pynvml.NVMLError:
            pass  # drivers before 418 do not know it; not a failure
        count = pynvml.nvmlDeviceGetCount()
        for index in range(count):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            result["gpus"].append({
                "index": index,
                "name": _text(pynvml.nvmlDeviceGetName(handle)),
                "memory_mib": int(pynvml.nvmlDeviceGetMemoryInfo(handle).total) // (1024 * 1024),
                "compute_capability": f"{major}.{minor}",
                "pci_bus_id": _text(pynvml.nvmlDeviceGetPciInfo(handle).busId),
            })
        if count == 0:
            result["error"] = "No devices were found"  # nvidia-smi's words for the same state
    except pynvml.NVMLError as exc:
        result["error"] = str(exc)
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass
    return result


