"""Layer "driver": the NVIDIA driver answers, through NVML (pynvml) where importable, else
nvidia-smi. Either one must list at least one GPU."""

import os
import shutil
import subprocess
import warnings

from .base import HINT_DRIVER_UNREACHABLE, HINT_NO_DEVICE, HINT_NO_DRIVER, LayerFailure, text


def driver_via_nvml(pynvml):
    """{"source", "driver_version", "gpus"} from NVML, or None when NVML's library is missing."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        message = text(error)
        if "Library Not Found" in message:
            return None  # no libnvidia-ml.so.1: let nvidia-smi have the last word
        # "Driver Not Loaded", "Driver/library version mismatch", ...
        raise LayerFailure("NVML: " + message, HINT_DRIVER_UNREACHABLE)
    try:
        version = text(pynvml.nvmlSystemGetDriverVersion())
        count = pynvml.nvmlDeviceGetCount()
        names = [
            text(pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(index)))
            for index in range(count)
        ]
    except pynvml.NVMLError as error:
        raise LayerFailure("NVML: " + text(error), HINT_DRIVER_UNREACHABLE)
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # shutting down is best effort: the answer is already read
            pass
    return {"source": "NVML", "driver_version": version, "gpus": names}


# Inside WSL2 the Windows driver's tools live here, not on PATH
# (https://docs.nvidia.com/cuda/wsl-user-guide/index.html).
WSL_SMI = "/usr/lib/wsl/lib/nvidia-smi"


def smi_path():
    """nvidia-smi on PATH, else WSL2's (a plain name when neither is there: the error says so)."""
    found = shutil.which("nvidia-smi")
    if found is None and os.path.exists(WSL_SMI):
        return WSL_SMI
    return found or "nvidia-smi"


def driver_via_smi():
    """{"source", "driver_version", "gpus"} from nvidia-smi's query output."""
    command = [smi_path(), "--query-gpu=index,name,driver_version", "--format=csv,noheader"]
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = text(process.communicate()[0])
    except OSError:
        raise LayerFailure(
            "no NVML library (libnvidia-ml.so.1) and no nvidia-smi on PATH",
            HINT_NO_DRIVER,
        )
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if process.returncode != 0:
        message = lines[0] if lines else "exit status {0}".format(process.returncode)
        if "No devices were found" in output:
            raise LayerFailure("nvidia-smi: " + message, HINT_NO_DEVICE)
        raise LayerFailure("nvidia-smi: " + message, HINT_DRIVER_UNREACHABLE)
    names, version = [], None
    for line in lines:
        fields = [field.strip() for field in line.split(",")]
        if len(fields) >= 3:
            names.append(fields[1])
            version = fields[2]
    return {"source": "nvidia-smi", "driver_version": version, "gpus": names}


def check_driver(params, found):
    """The layer: which driver answered, and with how many GPUs."""
    answer = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the old `pynvml` wheel warns it is deprecated
            import pynvml
    except ImportError:
        pynvml = None
    if pynvml is not None:
        answer = driver_via_nvml(pynvml)
    if answer is None:
        answer = driver_via_smi()
    if not answer["gpus"]:
        raise LayerFailure(
            "{0}: driver {1} lists no GPU".format(answer["source"], answer["driver_version"]),
            HINT_NO_DEVICE,
        )
    found["driver_version"] = answer["driver_version"]
    found["gpu"] = answer["gpus"][0]
    return "{0}: driver {1}, {2} GPU(s): {3}".format(
        answer["source"], answer["driver_version"], len(answer["gpus"]), ", ".join(answer["gpus"])
    )
