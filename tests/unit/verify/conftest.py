"""Fixtures for the verification tests: fakes for the boundaries of facts/verify (NVML,
nvidia-smi, libcuda/ctypes, /proc/self/maps, TensorFlow).

The fakes stand in for what this machine cannot have (a GPU, a driver, a CUDA TensorFlow); the
script's own logic runs for real against them.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from facts.verify import libraries
from tests.unit.verify import standin

# ctypes.CDLL as it is before the `libs` fixture replaces it
REAL_CDLL = ctypes.CDLL

TF21_LIBRARIES = [
    "libcudart.so.10.1", "libcublas.so.10", "libcufft.so.10", "libcurand.so.10",
    "libcusolver.so.10", "libcusparse.so.10", "libcudnn.so.7",
]


def host_has_nvidia_driver() -> bool:
    return bool(shutil.which("nvidia-smi")) or os.path.exists("/proc/driver/nvidia/version")


def pyenv_interpreter(version: str) -> Path:
    """$(pyenv root)/versions/VERSION/bin/pythonX.Y (which may not exist)."""
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    minor = ".".join(version.split(".")[:2])
    return Path(root) / "versions" / version / "bin" / f"python{minor}"


def pyenv_python(version: str = "3.7.16") -> str:
    """The pyenv CPython `version`, or a test failure saying what is missing."""
    path = pyenv_interpreter(version)
    if not path.exists():
        pytest.fail(
            f"CPython {version} is needed to prove the verification script runs on the TF 2.1 "
            f"era's python, and {path} does not exist: `pyenv install {version}`"
        )
    return str(path)


# ------------------------------------------------------------------------------ NVML (pynvml)

def fake_pynvml(init_error=None, driver="440.100", names=("GeForce RTX 2080 Ti",), as_bytes=True):
    """A module with pynvml's API surface used by the script; `as_bytes` mimics old pynvml."""
    module = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    def encode(text):
        return text.encode() if as_bytes else text

    def nvmlInit():
        if init_error:
            raise NVMLError(init_error)

    module.NVMLError = NVMLError
    module.nvmlInit = nvmlInit
    module.nvmlShutdown = lambda: None
    module.nvmlSystemGetDriverVersion = lambda: encode(driver)
    module.nvmlDeviceGetCount = lambda: len(names)
    module.nvmlDeviceGetHandleByIndex = lambda index: index
    module.nvmlDeviceGetName = lambda handle: encode(names[handle])
    return module


@pytest.fixture
def nvml(monkeypatch):
    """nvml(**kwargs) installs a fake pynvml; nvml(None) makes `import pynvml` fail."""

    def install(module="default", **kwargs):
        if module is None:
            monkeypatch.setitem(sys.modules, "pynvml", None)
        else:
            monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(**kwargs))

    return install


@pytest.fixture
def smi(monkeypatch, tmp_path):
    """smi(output, status) puts a fake nvidia-smi first on PATH; smi(None) leaves none on PATH."""

    def install(output=None, status=0):
        bin_dir = tmp_path / "smi-bin"
        bin_dir.mkdir(exist_ok=True)
        if output is None:
            monkeypatch.setenv("PATH", str(bin_dir))  # an empty directory: no nvidia-smi
            return
        script = bin_dir / "nvidia-smi"
        script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\nexit {status}\n")
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")

    return install


# ------------------------------------------------------------------------------ libcuda.so.1

@pytest.fixture(scope="session")
def standin_build(tmp_path_factory):
    """The lab's stand-in libcuda.so.1 (driver 440.100, CUDA 10.2), compiled once."""
    try:
        return standin.build_libcuda(tmp_path_factory.mktemp("standin-libcuda"))
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture
def standin_gpu(monkeypatch, tmp_path, standin_build):
    """standin_gpu(**hardware) loads a fresh copy of the stand-in libcuda (its own contexts and
    memory) answering for one GPU; the keywords are those of standin.driver_environment."""
    copies = []

    def install(**hardware):
        environment = standin.driver_environment(tmp_path / f"standin-{len(copies)}", standin_build,
                                                 **hardware)
        for key in ("GPUWS_LAB_HARDWARE", "GPUWS_LAB_DRIVER_VERSION_FILE", "GPUWS_LAB_MODULE_FILE"):
            monkeypatch.setenv(key, environment[key])
        copy = tmp_path / f"libcuda-{len(copies)}.so"
        shutil.copy(standin_build, copy)
        copies.append(copy)
        return REAL_CDLL(str(copy))

    return install


@pytest.fixture
def libcuda(standin_gpu):
    """The stand-in libcuda with a GeForce RTX 2080 Ti (compute capability 7.5) and its driver loaded."""
    return standin_gpu()



class FakeLibCuda:
    def __init__(self, init=0, version=10020, count=1):
        self.init, self.version, self.count = init, version, count

    def cuInit(self, flags):
        return self.init

    def cuDriverGetVersion(self, ref):
        ref._obj.value = self.version
        return 0

    def cuDeviceGetCount(self, ref):
        ref._obj.value = self.count
        return 0


@pytest.fixture
def libs(monkeypatch):
    """libs({soname: object}) makes ctypes.CDLL load exactly those; others fail like dlopen."""
    loaded = []

    def install(available):
        def cdll(name, *args, **kwargs):
            if name in available:
                loaded.append(name)
                return available[name]
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")

        monkeypatch.setattr(ctypes, "CDLL", cdll)
        return loaded

    return install


@pytest.fixture
def maps(monkeypatch):
    """maps(paths) makes /proc/self/maps show these files mapped."""

    def install(paths):
        monkeypatch.setattr(libraries, "loaded_library_paths", lambda: set(paths))

    return install


# ------------------------------------------------------------------------------ TensorFlow

FAKE_TF = '''
"""Stand-in for tensorflow (tests only): the API surface the verification uses."""
import contextlib, os, sys
CONFIG = {config}
if CONFIG["import_error"]:
    kind, message = CONFIG["import_error"]
    raise {{"ImportError": ImportError, "TypeError": TypeError}}[kind](message)
# Noise on stdout, as real libraries produce: a print and a C-level write to fd 1.
print("tensorflow stand-in: noise on stdout")
sys.stdout.flush()
os.write(1, b"2020-01-01 W dso_loader.cc:55] Could not load dynamic library 'libnvinfer.so.6'\\n")
__version__ = CONFIG["version"]
float32 = "float32"
_placement = ["/job:localhost/replica:0/task:0/device:CPU:0"]

class _Device:
    def __init__(self, name):
        self.name, self.device_type = name, "GPU"

class _Array(list):
    def tolist(self):
        return [list(row) for row in self]

class _Tensor:
    def __init__(self, rows, device):
        self.rows, self.device = rows, device
    def numpy(self):
        return _Array(self.rows)

class test:
    @staticmethod
    def is_built_with_cuda():
        return CONFIG["built_with_cuda"]

class config:
    @staticmethod
    def list_physical_devices(kind):
        return [_Device(name) for name in CONFIG["gpus"]] if kind == "GPU" else []

@contextlib.contextmanager
def device(name):
    _placement.append("/job:localhost/replica:0/task:0/device:" + name.strip("/"))
    try:
        yield
    finally:
        _placement.pop()

def constant(rows, dtype=None):
    return _Tensor(rows, _placement[-1])

def matmul(a, b):
    if CONFIG["matmul"].startswith("raise:"):
        raise RuntimeError(CONFIG["matmul"][len("raise:"):])
    columns = list(zip(*b.rows))
    rows = [[sum(x * y for x, y in zip(row, column)) for column in columns] for row in a.rows]
    if CONFIG["matmul"] == "wrong":
        rows[3][5] += 0.5
    where = _placement[-1] if CONFIG["matmul"] != "cpu" else "/job:localhost/replica:0/task:0/device:CPU:0"
    return _Tensor(rows, where)
'''


@pytest.fixture
def tensorflow(monkeypatch, tmp_path):
    """tensorflow(**config) writes a stand-in tensorflow package and puts it first on sys.path."""
    created = []

    def install(version="2.1.0", built_with_cuda=True, gpus=("/physical_device:GPU:0",),
                import_error=None, matmul="exact"):
        config = {"version": version, "built_with_cuda": built_with_cuda, "gpus": list(gpus),
                  "import_error": list(import_error) if import_error else None, "matmul": matmul}
        root = tmp_path / f"fake-tf-{len(created)}"
        (root / "tensorflow").mkdir(parents=True)
        (root / "tensorflow" / "__init__.py").write_text(
            textwrap.dedent(FAKE_TF).replace("{config}", repr(config)).replace("{{", "{").replace("}}", "}")
        )
        created.append(root)
        monkeypatch.syspath_prepend(str(root))
        sys.modules.pop("tensorflow", None)
        importlib.invalidate_caches()

    yield install
    sys.modules.pop("tensorflow", None)


def working_gpu(nvml, libs, maps, tensorflow, libcuda, env="/env", **tf_config):
    """Every boundary faked as on a healthy tf21 workstation; libcuda is the lab's stand-in."""
    nvml()
    libs({"libcuda.so.1": libcuda, **{name: object() for name in TF21_LIBRARIES}})
    maps([f"{env}/lib/{name}.0" for name in TF21_LIBRARIES] + ["/usr/lib/x86_64-linux-gnu/libcuda.so.450.57"])
    tensorflow(**tf_config)


def params_json(env="/env", verdict_path=None, **extra):
    params = {"tensorflow": "2.1.0", "libraries": TF21_LIBRARIES, "min_cuda_driver": "10.1",
              "env_prefix": env}
    if verdict_path:
        params["verdict_path"] = str(verdict_path)
    params.update(extra)
    return json.dumps(params)
