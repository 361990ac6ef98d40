"""read_nvml() against a fake pynvml module (this machine has no NVIDIA driver), and
local_gpu_info()'s choice between NVML and the shell probe."""

import sys
import types

import pytest

from facts import gpu


class _Memory:
    def __init__(self, total):
        self.total = total


class _Pci:
    def __init__(self, bus_id):
        self.busId = bus_id


def fake_pynvml(devices=(), init_error=None, driver=b"418.87.01", cuda=10010):
    """A stand-in for the pynvml module with NVML's API shape: errors are subclasses of
    NVMLError named like pynvml's (NVMLError_DriverNotLoaded, ...); old pynvml returns bytes."""
    module = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    class NVMLError_DriverNotLoaded(NVMLError):
        def __str__(self):
            return "Driver Not Loaded"

    class NVMLError_LibraryNotFound(NVMLError):
        def __str__(self):
            return "NVML Shared Library Not Found"

    module.NVMLError = NVMLError
    module.NVMLError_DriverNotLoaded = NVMLError_DriverNotLoaded
    module.NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    module.calls = []

    def nvmlInit():
        module.calls.append("init")
        if init_error is not None:
            raise getattr(module, init_error)()

    module.nvmlInit = nvmlInit
    module.nvmlShutdown = lambda: module.calls.append("shutdown")
    module.nvmlSystemGetDriverVersion = lambda: driver
    module.nvmlSystemGetCudaDriverVersion = lambda: cuda
    module.nvmlDeviceGetCount = lambda: len(devices)
    module.nvmlDeviceGetHandleByIndex = lambda i: devices[i]
    module.nvmlDeviceGetName = lambda h: h["name"]
    module.nvmlDeviceGetMemoryInfo = lambda h: _Memory(h["bytes"])
    module.nvmlDeviceGetPciInfo = lambda h: _Pci(h["bus"])
    module.nvmlDeviceGetCudaComputeCapability = lambda h: h["cc"]
    return module


RTX_2080_TI = {"name": b"GeForce RTX 2080 Ti", "bytes": 11554717696, "bus": b"00000000:01:00.0",
               "cc": (7, 5)}
A100 = {"name": "NVIDIA A100-SXM4-40GB", "bytes": 42949672960, "bus": "00000000:10:1C.0",
        "cc": (8, 0)}


def test_nvml_success(monkeypatch):
    module = fake_pynvml([RTX_2080_TI, A100])
    monkeypatch.setitem(sys.modules, "pynvml", module)
    assert gpu.read_nvml() == {
        "driver_version": "418.87.01",
        "cuda_version": "10.1",
        "gpus": [
            {"index": 0, "name": "GeForce RTX 2080 Ti", "memory_mib": 11019,
             "compute_capability": "7.5", "pci_bus_id": "00000000:01:00.0"},
            {"index": 1, "name": "NVIDIA A100-SXM4-40GB", "memory_mib": 40960,
             "compute_capability": "8.0", "pci_bus_id": "00000000:10:1C.0"},
        ],
        "error": None,
    }
    assert module.calls == ["init", "shutdown"]


def test_nvml_cuda_12_6(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([A100], driver="560.35.03", cuda=12060))
    assert gpu.read_nvml()["cuda_version"] == "12.6"


@pytest.mark.parametrize("error, message", [
    ("NVMLError_DriverNotLoaded", "Driver Not Loaded"),
    ("NVMLError_LibraryNotFound", "NVML Shared Library Not Found"),
])
def test_nvml_init_errors_are_data(monkeypatch, error, message):
    module = fake_pynvml([RTX_2080_TI], init_error=error)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    assert gpu.read_nvml() == {"driver_version": None, "cuda_version": None, "gpus": [],
                               "error": message}
    assert "shutdown" not in module.calls  # nothing to shut down after a failed init


def test_nvml_no_devices(monkeypatch):
    module = fake_pynvml([])
    monkeypatch.setitem(sys.modules, "pynvml", module)
    result = gpu.read_nvml()
    assert result["gpus"] == [] and result["error"] == "No devices were found"
    assert result["driver_version"] == "418.87.01"
    assert module.calls == ["init", "shutdown"]


def test_nvml_not_importable(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    result = gpu.read_nvml()
    assert result["error"].startswith("pynvml is not importable")


def test_real_pynvml_on_this_machine_is_an_error_not_an_exception():
    """The real pynvml is installed here but there is no NVIDIA library: data, not a crash."""
    pytest.importorskip("pynvml")
    result = gpu.read_nvml()
    if result["error"] is None:  # pragma: no cover - only on a machine with a driver
        assert result["driver_version"]
    else:
        assert result["gpus"] == []


def test_local_gpu_info_prefers_nvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([RTX_2080_TI]))
    info = gpu.local_gpu_info()
    assert info["source"] == "nvml"
    assert info["driver_version"] == "418.87.01"
    assert info["gpus"][0]["compute_capability"] == "7.5"
    assert info["nvml_error"] is None
    # host facts still come from the shell probe
    assert isinstance(info["driver_packages"], dict) and "secure_boot" in info


def test_local_gpu_info_falls_back_to_probe(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml",
                        fake_pynvml([], init_error="NVMLError_LibraryNotFound"))
    info = gpu.local_gpu_info()
    assert info["nvml_error"] == "NVML Shared Library Not Found"
    assert info["source"] in (None, "nvidia-smi", "proc")
