"""GPU discovery, in TF 2.1's order and with its log lines (stream_executor / gpu_device)."""
import ctypes
import datetime
import glob
import os
import sys

from . import _build

# the sonames this TensorFlow version dlopens, the CUDA runtime first (_build.py: written per wheel)
CUDA_LIBRARIES = _build.CUDA_LIBRARIES
CU_ERRORS = {100: "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected",
             803: "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: system has unsupported display driver / cuda driver combination"}
CUDART_ERRORS = {35: "CUDA driver version is insufficient for CUDA runtime version",
                 100: "no CUDA-capable device is detected",
                 803: "system has unsupported display driver / cuda driver combination"}


def log(level, source, message):
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
    print("%s: %s tensorflow/%s] %s" % (stamp, level, source, message), file=sys.stderr)


# Where the real TF's dlopen looks: LD_LIBRARY_PATH, then the system directories. Not the
# interpreter's RUNPATH: the real call comes from _pywrap_tensorflow_internal.so, whose RUNPATH
# does not name the env's lib/. That is why TF 2.1 in a conda env needs LD_LIBRARY_PATH (or an
# activation hook), and the stand-in must not find the env's libraries through ctypes' RUNPATH.
SYSTEM_DIRS = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"]


def _configured_dirs():
    """The directories /etc/ld.so.conf.d/*.conf adds to the loader's cache (as WSL2's ld.wsl.conf
    adds /usr/lib/wsl/lib); `include` lines and comments are skipped."""
    dirs = []
    for conf in sorted(glob.glob("/etc/ld.so.conf.d/*.conf")):
        with open(conf) as handle:
            dirs += [line.strip() for line in handle if line.strip().startswith("/")]
    return dirs


def _locate(name):
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d] + _configured_dirs() + SYSTEM_DIRS
    for directory in dirs:
        candidate = os.path.join(directory, name)
        if os.path.exists(candidate):
            return candidate
    return None


def _dlopen(name):
    path = _locate(name)
    try:
        if path is None:
            raise OSError("%s: cannot open shared object file: No such file or directory" % name)
        library = ctypes.CDLL(path)
    except OSError as error:
        log("W", "stream_executor/platform/default/dso_loader.cc:55",
            "Could not load dynamic library '%s'; dlerror: %s" % (name, error))
        return None
    log("I", "stream_executor/platform/default/dso_loader.cc:44", "Successfully opened dynamic library %s" % name)
    return library


_devices = None


def devices():
    """[(index, name, (major, minor), pci_bus_id)] of the GPUs TF would register."""
    global _devices
    if _devices is None:
        _devices = _discover()
    return _devices


def _discover():
    cuda = _dlopen("libcuda.so.1")
    if cuda is None:
        log("E", "stream_executor/cuda/cuda_driver.cc:351", "failed call to cuInit: UNKNOWN ERROR (303)")
        log("I", "stream_executor/cuda/cuda_diagnostics.cc:156",
            "kernel driver does not appear to be running on this host: /proc/driver/nvidia/version does not exist")
        return []
    rc = cuda.cuInit(0)
    if rc != 0:
        log("E", "stream_executor/cuda/cuda_driver.cc:351", "failed call to cuInit: %s" % CU_ERRORS.get(rc, "UNKNOWN ERROR (%d)" % rc))
        return []
    count = ctypes.c_int(0)
    cuda.cuDeviceGetCount(ctypes.byref(count))
    found = []
    for index in range(count.value):
        name = ctypes.create_string_buffer(256)
        major, minor, memory = ctypes.c_int(), ctypes.c_int(), ctypes.c_size_t()
        cuda.cuDeviceGetName(name, 256, index)
        cuda.cuDeviceComputeCapability(ctypes.byref(major), ctypes.byref(minor), index)
        cuda.cuDeviceTotalMem_v2(ctypes.byref(memory), index)
        log("I", "core/common_runtime/gpu/gpu_device.cc:1555",
            "Found device %d with properties: \npciBusID: 0000:%02x:00.0 name: %s computeCapability: %d.%d\n"
            "coreClock: 1.545GHz coreCount: 68 deviceMemorySize: %.2fGiB deviceMemoryBandwidth: 573.69GiB/s"
            % (index, index + 1, name.value.decode(), major.value, minor.value, memory.value / 2 ** 30))
        found.append((index, name.value.decode(), (major.value, minor.value), "0000:%02x:00.0" % (index + 1)))
    libraries = {name: _dlopen(name) for name in CUDA_LIBRARIES}
    if not all(libraries.values()):
        log("W", "core/common_runtime/gpu/gpu_device.cc:1592",
            "Cannot dlopen some GPU libraries. Please make sure the missing libraries mentioned above are "
            "installed properly if you would like to use GPU. Follow the guide at "
            "https://www.tensorflow.org/install/gpu for how to download and setup the required libraries "
            "for your platform.\nSkipping registering GPU devices...")
        return []
    runtime_count = ctypes.c_int(0)
    rc = libraries[CUDA_LIBRARIES[0]].cudaGetDeviceCount(ctypes.byref(runtime_count))
    if rc != 0:
        log("E", "core/common_runtime/gpu/gpu_device.cc:1306",
            "CUDA runtime implicit initialization on GPU:0 failed. Status: %s" % CUDART_ERRORS.get(rc, rc))
        return []
    log("I", "core/common_runtime/gpu/gpu_device.cc:1697", "Adding visible gpu devices: "
        + ", ".join(str(d[0]) for d in found))
    return found
