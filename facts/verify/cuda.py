"""Layer "cuda_driver": the CUDA driver API (libcuda.so.1, shipped with the driver) initialises,
sees a device and supports the CUDA version the env's toolkit needs.

Error codes are CUresult values; their names come from the driver itself (cuGetErrorName), with
the table below for a library too broken to answer (values from cuda.h, see
https://docs.nvidia.com/cuda/cuda-driver-api/group__CUDA__TYPES.html).
"""

import ctypes

from .base import (
    HINT_DRIVER_UNREACHABLE,
    HINT_NO_DEVICE,
    LayerFailure,
    cuda_version_number,
    cuda_version_text,
)

CUDA_ERRORS = {
    1: "CUDA_ERROR_INVALID_VALUE",
    2: "CUDA_ERROR_OUT_OF_MEMORY",
    3: "CUDA_ERROR_NOT_INITIALIZED",
    34: "CUDA_ERROR_STUB_LIBRARY",
    46: "CUDA_ERROR_DEVICE_UNAVAILABLE",
    100: "CUDA_ERROR_NO_DEVICE",
    101: "CUDA_ERROR_INVALID_DEVICE",
    201: "CUDA_ERROR_INVALID_CONTEXT",
    209: "CUDA_ERROR_NO_BINARY_FOR_GPU",
    218: "CUDA_ERROR_INVALID_PTX",
    222: "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
    303: "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED",
    304: "CUDA_ERROR_OPERATING_SYSTEM",
    500: "CUDA_ERROR_NOT_FOUND",
    719: "CUDA_ERROR_LAUNCH_FAILED",
    803: "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
    804: "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
    999: "CUDA_ERROR_UNKNOWN",
}

HINT_NO_LIBCUDA = (
    "the driver's CUDA library libcuda.so.1 is missing: reinstall the NVIDIA driver packages "
    "(they ship it, e.g. libnvidia-compute-<branch>)"
)
HINT_MODULE_MISMATCH = "the kernel module and libcuda.so.1 disagree: reboot to load the installed driver"
HINT_STUB = (
    "libcuda.so.1 is the CUDA toolkit's stub, not the driver's library: remove its directory "
    "(.../lib64/stubs) from LD_LIBRARY_PATH"
)


def load_libcuda():
    """The driver's CUDA library, or a LayerFailure saying it is missing."""
    try:
        return ctypes.CDLL("libcuda.so.1")
    except OSError as error:
        raise LayerFailure("libcuda.so.1 cannot be loaded: {0}".format(error), HINT_NO_LIBCUDA)


def cuda_error(code, libcuda=None):
    """"100 (CUDA_ERROR_NO_DEVICE)": the code and its name, asked from the driver first."""
    name = None
    if libcuda is not None:
        try:
            text = ctypes.c_char_p()
            if libcuda.cuGetErrorName(code, ctypes.byref(text)) == 0 and text.value:
                name = text.value.decode("ascii", "replace")
        except AttributeError:  # a library without cuGetErrorName (older than CUDA 6.0)
            pass
    return "{0} ({1})".format(code, name or CUDA_ERRORS.get(code, "see cuda.h"))


def check_cuda_driver(params, found):
    """The layer: cuInit, the driver's CUDA version against the toolkit's, the device count."""
    libcuda = load_libcuda()
    code = libcuda.cuInit(0)
    if code != 0:
        hint = {100: HINT_NO_DEVICE, 803: HINT_MODULE_MISMATCH, 34: HINT_STUB}.get(
            code, HINT_DRIVER_UNREACHABLE)
        raise LayerFailure("cuInit(0) returned {0}".format(cuda_error(code, libcuda)), hint)
    version, count = ctypes.c_int(0), ctypes.c_int(0)
    code = libcuda.cuDriverGetVersion(ctypes.byref(version))
    if code != 0:
        raise LayerFailure("cuDriverGetVersion returned {0}".format(cuda_error(code, libcuda)),
                           HINT_DRIVER_UNREACHABLE)
    code = libcuda.cuDeviceGetCount(ctypes.byref(count))
    if code != 0 or count.value < 1:
        raise LayerFailure(
            "cuDeviceGetCount returned {0}, {1} device(s)".format(cuda_error(code, libcuda),
                                                                  count.value),
            HINT_NO_DEVICE,
        )
    needed = cuda_version_number(params.get("min_cuda_driver"))
    if needed is not None and version.value < needed:
        raise LayerFailure(
            "the driver supports CUDA {0} but the env's cudatoolkit needs CUDA {1}".format(
                cuda_version_text(version.value), cuda_version_text(needed)),
            "upgrade the NVIDIA driver (re-run the deploy with nvidia_driver_upgrade=True) and reboot",
        )
    found["cuda_driver"] = cuda_version_text(version.value)
    return "libcuda.so.1: CUDA {0}, {1} device(s)".format(cuda_version_text(version.value),
                                                         count.value)
