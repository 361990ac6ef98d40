"""The framework-free compute layer (facts/verify/ptx.py) against the lab's STAND-IN libcuda
(lab/standins/driver/libcuda.c, compiled here with gcc): the PTX is parsed and the kernel's
operation computed on the CPU by the stand-in, every refusal is a real CUresult code. Then the
stand-in's own answers to calls the layer never makes wrong."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess

import pytest

from facts.verification import verification_program
from facts.verify import base, ptx
from tests.unit.verify import standin
from tests.unit.verify.conftest import pyenv_python


@pytest.fixture
def use(monkeypatch):
    """use(lib): ctypes.CDLL("libcuda.so.1") returns that library."""

    def install(lib):
        real = ctypes.CDLL
        monkeypatch.setattr(ctypes, "CDLL", lambda name, *a, **k: lib if name == "libcuda.so.1" else real(name, *a, **k))
        return lib

    return install


def run_layer():
    found = {}
    return ptx.check_ptx_compute({}, found), found


def no_context_left(lib) -> bool:
    """The layer destroyed its context: the stand-in has no current one any more."""
    return lib.cuCtxSynchronize() == 201  # CUDA_ERROR_INVALID_CONTEXT


def test_the_vector_add_runs_and_matches_the_cpu(use, libcuda):
    use(libcuda)
    detail, found = run_layer()
    assert detail == ("vector add of 4096 floats on GeForce RTX 2080 Ti (cc 7.5), PTX sm_30 "
                      "JIT-compiled: matches the CPU")
    assert found == {"ptx_target": "sm_30"}
    assert no_context_left(libcuda)


def test_a_refused_ptx_version_falls_back_to_the_next_target(use, libcuda, monkeypatch):
    # a PTX ISA newer than this driver's CUDA 10.2 knows: CUDA_ERROR_UNSUPPORTED_PTX_VERSION
    monkeypatch.setattr(ptx, "PTX_TARGETS", (("sm_30", "9.9"), ("sm_50", "4.0")))
    use(libcuda)
    detail, found = run_layer()
    assert found == {"ptx_target": "sm_50"}
    assert detail.endswith("PTX sm_50 JIT-compiled: matches the CPU")


def test_every_target_refused_names_each_refusal(use, libcuda, monkeypatch):
    monkeypatch.setattr(ptx, "PTX_TARGETS", (("sm_30", "9.9"), ("sm_50", "9.9")))
    use(libcuda)
    with pytest.raises(base.LayerFailure) as failure:
        run_layer()
    assert failure.value.detail == (
        "cuModuleLoadData refused the PTX (sm_30: 222 (CUDA_ERROR_UNSUPPORTED_PTX_VERSION); "
        "sm_50: 222 (CUDA_ERROR_UNSUPPORTED_PTX_VERSION))"
    )
    assert failure.value.hint == ptx.HINT_JIT
    assert no_context_left(libcuda)


def test_targets_above_the_gpu_are_not_tried(use, standin_gpu, monkeypatch):
    monkeypatch.setattr(ptx, "PTX_TARGETS", (("sm_50", "4.0"), ("sm_70", "6.0")))
    use(standin_gpu(name="Tesla K80", compute_capability="3.7"))
    with pytest.raises(base.LayerFailure) as failure:
        run_layer()
    assert failure.value.detail == "cuModuleLoadData refused the PTX (no target at or below the GPU's)"


def test_a_kepler_gpu_gets_the_sm_30_kernel(use, standin_gpu):
    use(standin_gpu(name="Tesla K80", compute_capability="3.7"))
    assert run_layer()[1] == {"ptx_target": "sm_30"}


def test_a_gpu_held_by_another_process_is_reported_not_failed(use, standin_gpu):
    lib = use(standin_gpu(extra="GPU0_FREE_MIB=10\n"))
    detail, found = run_layer()
    assert detail == ("not run: no context on GeForce RTX 2080 Ti (cuCtxCreate_v2 returned 2 "
                      "(CUDA_ERROR_OUT_OF_MEMORY)); the GPU is held by another process")
    assert found == {}
    assert no_context_left(lib)


def test_a_gpu_that_computes_wrong_fails_the_layer(use, standin_gpu):
    lib = use(standin_gpu(extra="GPU0_FAULT=miscompute\n"))
    with pytest.raises(base.LayerFailure) as failure:
        run_layer()
    assert failure.value.detail == (
        "vector add on GeForce RTX 2080 Ti differs from the CPU at 1 of 4096 elements (first: index 2048)"
    )
    assert failure.value.hint == ptx.HINT_WRONG
    assert no_context_left(lib)


def test_the_stand_in_computes_what_the_ptx_says(use, libcuda, monkeypatch):
    """A kernel that multiplies is run as a multiplication: the stand-in reads the PTX."""
    monkeypatch.setattr(ptx, "PTX_TEMPLATE", ptx.PTX_TEMPLATE.replace("add.rn.f32", "mul.rn.f32"))
    use(libcuda)
    with pytest.raises(base.LayerFailure) as failure:
        run_layer()
    assert failure.value.detail.startswith("vector add on GeForce RTX 2080 Ti differs from the CPU at 4096 of 4096")


def test_a_missing_kernel_is_the_drivers_not_found(use, libcuda, monkeypatch):
    monkeypatch.setattr(ptx, "KERNEL", b"gpuws_other_kernel")
    use(libcuda)
    with pytest.raises(base.LayerFailure) as failure:
        run_layer()
    assert failure.value.detail == "cuModuleGetFunction returned 500 (CUDA_ERROR_NOT_FOUND)"
    assert failure.value.hint == ptx.HINT_BROKEN
    assert no_context_left(libcuda)


def test_no_loaded_driver_module_fails_at_cuinit(use, standin_gpu):
    use(standin_gpu(loaded=False))
    with pytest.raises(base.LayerFailure) as failure:
        run_layer()
    assert failure.value.detail == "cuInit returned 100 (CUDA_ERROR_NO_DEVICE)"


# ------------------------------------------------------------------ the stand-in's own refusals

def _load(lib, source: str) -> int:
    module = ctypes.c_void_p()
    return lib.cuModuleLoadData(ctypes.byref(module), ctypes.create_string_buffer(source.encode()))


def _context(lib):
    context, device = ctypes.c_void_p(), ctypes.c_int(0)
    assert lib.cuInit(0) == 0 and lib.cuDeviceGet(ctypes.byref(device), 0) == 0
    assert lib.cuCtxCreate_v2(ctypes.byref(context), 0, device) == 0
    return context


def test_the_stand_in_refuses_what_a_real_driver_refuses(libcuda):
    lib = libcuda
    assert lib.cuCtxSynchronize() == 201  # no context yet: CUDA_ERROR_INVALID_CONTEXT
    memory = ctypes.c_uint64()
    assert lib.cuMemAlloc_v2(ctypes.byref(memory), ctypes.c_size_t(16)) == 201
    context = _context(lib)
    good = ptx.ptx_source("sm_30", "4.0").decode().rstrip("\0")
    assert _load(lib, good) == 0
    assert _load(lib, good.replace(".target sm_30", ".target sm_90")) == 218  # above the GPU: INVALID_PTX
    assert _load(lib, good.replace("add.rn.f32", "fma.rn.f32")) == 218      # a kernel it cannot run
    assert _load(lib, "garbage") == 218
    assert lib.cuMemFree_v2(ctypes.c_uint64(12345)) == 1                     # INVALID_VALUE
    name = ctypes.c_char_p()
    assert lib.cuGetErrorName(222, ctypes.byref(name)) == 0 and name.value == b"CUDA_ERROR_UNSUPPORTED_PTX_VERSION"
    assert lib.cuGetErrorName(12345, ctypes.byref(name)) == 1               # unknown code
    assert lib.cuCtxDestroy_v2(context) == 0 and lib.cuCtxDestroy_v2(context) == 201


def test_the_stand_in_reports_a_kernel_outside_its_buffers_at_synchronize(libcuda):
    lib = libcuda
    _context(lib)
    module, function = ctypes.c_void_p(), ctypes.c_void_p()
    assert lib.cuModuleLoadData(ctypes.byref(module), ctypes.create_string_buffer(ptx.ptx_source("sm_30", "4.0"))) == 0
    assert lib.cuModuleGetFunction(ctypes.byref(function), module, ptx.KERNEL) == 0
    small = ctypes.c_uint64()
    assert lib.cuMemAlloc_v2(ctypes.byref(small), ctypes.c_size_t(8)) == 0
    count = ctypes.c_uint32(1024)  # 4 KiB read from 8-byte buffers
    params = (ctypes.c_void_p * 4)(*[ctypes.addressof(v) for v in (small, small, small, count)])
    assert lib.cuLaunchKernel(function, 4, 1, 1, 256, 1, 1, 0, None, params, None) == 0
    assert lib.cuCtxSynchronize() == 700  # CUDA_ERROR_ILLEGAL_ADDRESS, as a GPU reports it
    assert lib.cuCtxSynchronize() == 0


# ------------------------------------------------------------------ the whole program, for real

def test_the_program_under_python37_computes_on_the_stand_in_driver(tmp_path, standin_build):
    """What the fact runs on a lab host: CPython 3.7, the stand-in nvidia-smi and libcuda found
    the way a real driver's are (PATH, the loader path)."""
    env = standin.driver_environment(tmp_path / "driver", standin_build)
    environ = dict(os.environ, **env, PATH=f"{env['STANDIN_BIN']}:/usr/bin:/bin",
                   LD_LIBRARY_PATH=env["STANDIN_LIB"])
    completed = subprocess.run(
        [pyenv_python("3.7.16"), "-", "--params-json", json.dumps({"min_cuda_driver": "10.1"})],
        input=verification_program(), capture_output=True, text=True, timeout=120, env=environ,
    )
    verdict = json.loads(completed.stdout)
    assert [(item["name"], item["ok"]) for item in verdict["layers"][:4]] == [
        ("driver", True), ("cuda_driver", True), ("ptx_compute", True), ("libraries", True)]
    assert verdict["layers"][2]["detail"] == (
        "vector add of 4096 floats on GeForce RTX 2080 Ti (cc 7.5), PTX sm_30 JIT-compiled: matches the CPU")
    assert verdict["failed_layer"] == "tensorflow"  # no TensorFlow in a bare CPython 3.7
