"""The verification (facts/verify), layer by layer, with its boundaries faked (see conftest.py),
then for real on this machine as the one program the fact sends: with this python, CPython 3.7
and CPython 3.6."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from facts.verification import verification_program
from facts.verify import base, framework, libraries, verdict as verdict_module
from tests.unit.verify.conftest import (
    TF21_LIBRARIES,
    FakeLibCuda,
    host_has_nvidia_driver,
    params_json,
    pyenv_python,
    working_gpu,
)


def run(capfd, *argv):
    """main() in-process; returns (exit status, the stdout lines, the verdict)."""
    status = verdict_module.main(list(argv))
    out = capfd.readouterr().out
    lines = out.splitlines()
    return status, lines, json.loads(lines[-1]) if lines else None


def layer(verdict, name):
    return next(item for item in verdict["layers"] if item["name"] == name)


# ---------------------------------------------------------------------------- all layers pass

def test_all_layers_pass_one_json_line_and_the_verdict_file(capfd, nvml, libs, maps, tensorflow, tmp_path, libcuda):
    working_gpu(nvml, libs, maps, tensorflow, libcuda)
    verdict_path = tmp_path / "state" / "last-verdict.json"

    status, lines, verdict = run(capfd, "--params-json", params_json(verdict_path=verdict_path))

    assert status == 0
    # the stand-in TF prints on stdout (Python and fd 1): none of it may reach stdout
    assert len(lines) == 1
    assert verdict["ok"] is True and verdict["failed_layer"] is None and verdict["hint"] is None
    assert [item["name"] for item in verdict["layers"]] == list(verdict_module.LAYERS)
    assert all(item["ok"] for item in verdict["layers"])
    assert verdict["tensorflow"] == "2.1.0"
    assert verdict["gpu"] == "GeForce RTX 2080 Ti"
    assert verdict["driver_version"] == "440.100"
    assert verdict["cuda_driver"] == "10.2"
    assert layer(verdict, "compute")["detail"].startswith("128x128 matmul on /job:localhost/replica:0/task:0/device:GPU:0")
    assert json.loads(verdict_path.read_text()) == verdict


def test_flags_override_params_json(capfd, nvml, libs, maps, tensorflow, libcuda):
    working_gpu(nvml, libs, maps, tensorflow, libcuda, version="2.3.0")
    status, _, verdict = run(capfd, "--params-json", params_json(), "--tensorflow", "2.3.0",
                             "--library", "libcudart.so.10.1")
    assert status == 0
    assert verdict["tensorflow_expected"] == "2.3.0"
    assert layer(verdict, "libraries")["detail"] == "loaded: libcudart.so.10.1 (env)"


# ---------------------------------------------------------------------------- layer 1: driver

def test_driver_nvml_version_mismatch(capfd, nvml):
    nvml(init_error="Driver/library version mismatch")
    status, lines, verdict = run(capfd, "--params-json", params_json())
    assert status == 3 and len(lines) == 1
    assert verdict["failed_layer"] == "driver"
    assert verdict["layers"] == [
        {"name": "driver", "ok": False, "detail": "NVML: Driver/library version mismatch"}
    ]
    assert verdict["hint"] == (
        "nvidia-smi cannot talk to the driver: reboot if the driver was just upgraded, or reinstall it"
    )


def test_driver_nvml_lists_no_gpu(capfd, nvml):
    nvml(names=(), as_bytes=False)
    status, _, verdict = run(capfd, "--params-json", params_json())
    assert status == 3
    assert layer(verdict, "driver")["detail"] == "NVML: driver 440.100 lists no GPU"
    assert verdict["hint"] == base.HINT_NO_DEVICE


def test_driver_nvml_library_missing_falls_back_to_nvidia_smi(capfd, nvml, smi, libs):
    nvml(init_error="NVML Shared Library Not Found")
    smi("0, TITAN X (Pascal), 418.39")
    libs({})  # stop at the next layer
    status, _, verdict = run(capfd, "--params-json", params_json())
    assert layer(verdict, "driver") == {
        "name": "driver", "ok": True, "detail": "nvidia-smi: driver 418.39, 1 GPU(s): TITAN X (Pascal)"
    }
    assert verdict["failed_layer"] == "cuda_driver"


def test_driver_no_pynvml_and_no_nvidia_smi(capfd, nvml, smi):
    nvml(None)
    smi(None)
    status, _, verdict = run(capfd, "--params-json", params_json())
    assert status == 3
    assert verdict["failed_layer"] == "driver"
    assert layer(verdict, "driver")["detail"] == "no NVML library (libnvidia-ml.so.1) and no nvidia-smi on PATH"
    assert verdict["hint"] == base.HINT_NO_DRIVER


def test_driver_nvidia_smi_cannot_communicate(capfd, nvml, smi):
    nvml(None)
    smi("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running.", status=9)
    status, _, verdict = run(capfd, "--params-json", params_json())
    assert status == 3
    assert layer(verdict, "driver")["detail"].startswith("nvidia-smi: NVIDIA-SMI has failed because it couldn't")
    assert verdict["hint"] == base.HINT_DRIVER_UNREACHABLE


def test_driver_nvidia_smi_no_devices(capfd, nvml, smi):
    nvml(None)
    smi("No devices were found", status=6)
    _, _, verdict = run(capfd, "--params-json", params_json())
    assert layer(verdict, "driver")["detail"] == "nvidia-smi: No devices were found"
    assert verdict["hint"] == base.HINT_NO_DEVICE


# ---------------------------------------------------------------------------- layer 2: CUDA driver API

def test_cuda_driver_libcuda_missing(capfd, nvml, libs):
    nvml()
    libs({})
    status, _, verdict = run(capfd, "--params-json", params_json())
    assert status == 3
    assert verdict["failed_layer"] == "cuda_driver"
    assert layer(verdict, "cuda_driver")["detail"] == (
        "libcuda.so.1 cannot be loaded: libcuda.so.1: cannot open shared object file: No such file or directory"
    )
    assert "reinstall the NVIDIA driver packages" in verdict["hint"]


@pytest.mark.parametrize(
    "code, detail, hint_start",
    [
        (100, "cuInit(0) returned 100 (CUDA_ERROR_NO_DEVICE)", "the driver sees no GPU"),
        (803, "cuInit(0) returned 803 (CUDA_ERROR_SYSTEM_DRIVER_MISMATCH)", "the kernel module and libcuda.so.1 disagree"),
        (999, "cuInit(0) returned 999 (CUDA_ERROR_UNKNOWN)", "nvidia-smi cannot talk to the driver"),
    ],
)
def test_cuda_driver_cuinit_fails(capfd, nvml, libs, code, detail, hint_start):
    nvml()
    libs({"libcuda.so.1": FakeLibCuda(init=code)})
    _, _, verdict = run(capfd, "--params-json", params_json())
    assert layer(verdict, "cuda_driver")["detail"] == detail
    assert verdict["hint"].startswith(hint_start)


def test_cuda_driver_too_old_for_the_toolkit(capfd, nvml, libs):
    nvml()
    libs({"libcuda.so.1": FakeLibCuda(version=10000)})
    _, _, verdict = run(capfd, "--params-json", params_json())
    assert layer(verdict, "cuda_driver")["detail"] == (
        "the driver supports CUDA 10.0 but the env's cudatoolkit needs CUDA 10.1"
    )
    assert verdict["hint"].startswith("upgrade the NVIDIA driver")


def test_cuda_driver_sees_no_device(capfd, nvml, libs):
    nvml()
    libs({"libcuda.so.1": FakeLibCuda(count=0)})
    _, _, verdict = run(capfd, "--params-json", params_json())
    assert layer(verdict, "cuda_driver")["detail"] == "cuDeviceGetCount returned 0 (see cuda.h), 0 device(s)"
    assert verdict["hint"] == base.HINT_NO_DEVICE


# ---------------------------------------------------------------------------- layer 3: libraries

def test_libraries_cudnn_missing_names_the_library_and_the_conda_package(capfd, nvml, libs, maps, libcuda):
    nvml()
    available = {"libcuda.so.1": libcuda, **{n: object() for n in TF21_LIBRARIES if n != "libcudnn.so.7"}}
    libs(available)
    maps([f"/env/lib/{n}.0" for n in TF21_LIBRARIES if n != "libcudnn.so.7"])
    status, _, verdict = run(capfd, "--params-json", params_json())
    assert status == 3
    assert verdict["failed_layer"] == "libraries"
    assert layer(verdict, "libraries")["detail"] == (
        "libcudnn.so.7 does not load: libcudnn.so.7: cannot open shared object file: No such file or directory"
    )
    assert verdict["hint"] == (
        "libcudnn.so.7 not found in the env: re-run the deploy (conda package cudnn) or check "
        "LD_LIBRARY_PATH shadowing by /usr/local/cuda (the env's libraries are in /env/lib)"
    )


def test_libraries_cudart_missing_points_at_cudatoolkit(capfd, nvml, libs, maps, libcuda):
    nvml()
    libs({"libcuda.so.1": libcuda})
    maps([])
    _, _, verdict = run(capfd, "--params-json", params_json())
    assert verdict["hint"].startswith("libcudart.so.10.1 not found in the env: re-run the deploy (conda package cudatoolkit)")


def test_libraries_from_outside_the_env_are_reported(capfd, nvml, libs, maps, tensorflow, libcuda):
    working_gpu(nvml, libs, maps, tensorflow, libcuda)
    maps(["/env/lib/libcudart.so.10.1.243", "/usr/local/cuda-10.1/lib64/libcudnn.so.7.6.5"])
    _, _, verdict = run(capfd, "--params-json", params_json(), "--library", "libcudart.so.10.1",
                        "--library", "libcudnn.so.7")
    assert layer(verdict, "libraries")["detail"] == (
        "loaded: libcudart.so.10.1 (env), libcudnn.so.7 from "
        "/usr/local/cuda-10.1/lib64/libcudnn.so.7.6.5 (outside the env)"
    )


def test_library_origin_reads_the_real_proc_self_maps():
    paths = libraries.loaded_library_paths()
    libc = libraries.library_origin("libc.so.6", paths)
    assert libc is not None and os.path.basename(libc).startswith("libc")
    assert libraries.library_origin("libcudnn.so.7", {"/e/lib/libcudnn.so.7.6.5", "/e/lib/libcudnn.so.70"}) == "/e/lib/libcudnn.so.7.6.5"


# ---------------------------------------------------------------------------- layer 4: TensorFlow

def _up_to_tensorflow(nvml, libs, maps, libcuda):
    nvml()
    libs({"libcuda.so.1": libcuda, **{name: object() for name in TF21_LIBRARIES}})
    maps([f"/env/lib/{name}.0" for name in TF21_LIBRARIES])


def test_tensorflow_import_fails_on_a_too_new_protobuf(capfd, nvml, libs, maps, tensorflow, libcuda):
    _up_to_tensorflow(nvml, libs, maps, libcuda)
    tensorflow(import_error=("TypeError", "Descriptors cannot not be created directly."))
    status, lines, verdict = run(capfd, "--params-json", params_json())
    assert status == 3 and len(lines) == 1
    assert verdict["failed_layer"] == "tensorflow"
    assert layer(verdict, "tensorflow")["detail"] == (
        "import tensorflow failed: TypeError: Descriptors cannot not be created directly."
    )
    assert verdict["hint"] == "protobuf is too new for this TensorFlow: pin protobuf<3.21 (re-run the deploy)"


def test_tensorflow_not_installed(capfd, nvml, libs, maps, libcuda):
    # this test venv has no tensorflow: the real import machinery fails
    assert importlib.util.find_spec("tensorflow") is None
    _up_to_tensorflow(nvml, libs, maps, libcuda)
    _, _, verdict = run(capfd, "--params-json", params_json())
    assert layer(verdict, "tensorflow")["detail"] == (
        "import tensorflow failed: ModuleNotFoundError: No module named 'tensorflow'"
    )
    assert verdict["hint"] == (
        "tensorflow is not installed in this env: re-run the deploy (pip requirements of the stack)"
    )


def test_tensorflow_import_fails_on_a_missing_library(capfd, nvml, libs, maps, tensorflow, libcuda):
    _up_to_tensorflow(nvml, libs, maps, libcuda)
    tensorflow(import_error=("ImportError", "libcublas.so.10: cannot open shared object file: No such file or directory"))
    _, _, verdict = run(capfd, "--params-json", params_json())
    assert verdict["hint"] == "a shared library TensorFlow links against is missing: re-run the deploy"


def test_tensorflow_wrong_version(capfd, nvml, libs, maps, tensorflow, libcuda):
    _up_to_tensorflow(nvml, libs, maps, libcuda)
    tensorflow(version="2.2.0")
    _, _, verdict = run(capfd, "--params-json", params_json())
    assert layer(verdict, "tensorflow")["detail"] == "tensorflow 2.2.0 imported, the stack wants 2.1.0"
    assert verdict["tensorflow"] == "2.2.0"


def test_a_post_release_is_the_build_it_repackages(capfd, nvml, libs, maps, tensorflow, libcuda):
    # tensorflow 2.15.0.post1 reports 2.15.0 (only the wheel's dependencies changed); 2.15.1 is
    # another build and still fails the layer
    _up_to_tensorflow(nvml, libs, maps, libcuda)
    tensorflow(version="2.15.0")
    _, _, verdict = run(capfd, "--params-json", params_json(tensorflow="2.15.0.post1"))
    assert layer(verdict, "tensorflow")["ok"] is True
    tensorflow(version="2.15.1")
    _, _, verdict = run(capfd, "--params-json", params_json(tensorflow="2.15.0.post1"))
    assert layer(verdict, "tensorflow")["detail"] == "tensorflow 2.15.1 imported, the stack wants 2.15.0.post1"


def test_tensorflow_cpu_only_build(capfd, nvml, libs, maps, tensorflow, libcuda):
    _up_to_tensorflow(nvml, libs, maps, libcuda)
    tensorflow(built_with_cuda=False)
    _, _, verdict = run(capfd, "--params-json", params_json())
    assert layer(verdict, "tensorflow")["detail"] == "tensorflow 2.1.0 is not built with CUDA"
    assert verdict["hint"] == "this is a CPU-only TensorFlow: install tensorflow-gpu==2.1.0 (re-run the deploy)"


def test_tensorflow_lists_no_gpu(capfd, nvml, libs, maps, tensorflow, libcuda):
    _up_to_tensorflow(nvml, libs, maps, libcuda)
    tensorflow(gpus=())
    _, _, verdict = run(capfd, "--params-json", params_json())
    assert layer(verdict, "tensorflow")["detail"] == "tensorflow 2.1.0 lists no GPU"
    assert "libnvinfer/TensorRT ones are harmless" in verdict["hint"]


# ---------------------------------------------------------------------------- layer 5: compute

def test_compute_result_differs_from_the_cpu(capfd, nvml, libs, maps, tensorflow, libcuda):
    working_gpu(nvml, libs, maps, tensorflow, libcuda, matmul="wrong")
    status, _, verdict = run(capfd, "--params-json", params_json())
    assert status == 3
    assert verdict["failed_layer"] == "compute"
    assert layer(verdict, "compute")["detail"] == "GPU matmul differs from the CPU result (max abs diff 0.5)"
    assert verdict["hint"].startswith("the GPU computes wrong results")


def test_compute_kernel_image_invalid_on_ampere(capfd, nvml, libs, maps, tensorflow, libcuda):
    working_gpu(nvml, libs, maps, tensorflow, libcuda,
                matmul="raise:CUDA runtime implicit initialization on GPU:0 failed. Status: device kernel image is invalid")
    _, _, verdict = run(capfd, "--params-json", params_json())
    assert layer(verdict, "compute")["detail"] == (
        "matmul on /GPU:0 failed: RuntimeError: CUDA runtime implicit initialization on GPU:0 failed. "
        "Status: device kernel image is invalid"
    )
    assert "tensorflow==2.5.0 or later for Ampere" in verdict["hint"]


def test_compute_placed_on_the_cpu(capfd, nvml, libs, maps, tensorflow, libcuda):
    working_gpu(nvml, libs, maps, tensorflow, libcuda, matmul="cpu")
    _, _, verdict = run(capfd, "--params-json", params_json())
    assert layer(verdict, "compute")["detail"] == (
        "the matmul ran on '/job:localhost/replica:0/task:0/device:CPU:0', not on the GPU"
    )


def test_allclose_rule_matches_numpy():
    assert framework.max_difference([[1.0, 100.0]], [[1.0005, 100.09]]) == (True, pytest.approx(0.09))
    assert framework.max_difference([[1.0, 100.0]], [[1.003, 100.0]])[0] is False
    assert framework.max_difference([[float("nan")]], [[1.0]])[0] is False


def test_a_crashing_check_still_ends_in_a_verdict(capfd):
    def broken(params, found):
        raise KeyError("oops")

    status = verdict_module.main(["--params-json", params_json()], checks=(("driver", broken),))
    verdict = json.loads(capfd.readouterr().out)
    assert status == 3
    assert verdict["layers"] == [{"name": "driver", "ok": False, "detail": "unexpected KeyError: 'oops'"}]


def test_an_unwritable_verdict_path_does_not_change_the_verdict(capfd, nvml, smi, tmp_path):
    nvml(None)
    smi(None)
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, lines, verdict = run(capfd, "--params-json", params_json(verdict_path=blocker / "v.json"))
    assert status == 3 and len(lines) == 1 and verdict["failed_layer"] == "driver"


# ---------------------------------------------------------------------------- real runs, no fakes

def _expect_real_verdict(completed, verdict_path=None):
    lines = completed.stdout.splitlines()
    assert len(lines) == 1, completed.stdout
    verdict = json.loads(lines[0])
    if host_has_nvidia_driver():
        assert layer(verdict, "driver")["ok"] is True, verdict
        return verdict
    assert completed.returncode == 3
    assert verdict["ok"] is False
    assert verdict["failed_layer"] == "driver"
    assert len(verdict["layers"]) == 1
    assert verdict["hint"] == (
        "no NVIDIA driver answers on this host (neither NVML nor nvidia-smi): install it "
        "(re-run the deploy with nvidia_driver_upgrade=True) and reboot"
    )
    if verdict_path is not None:
        assert json.loads(verdict_path.read_text()) == verdict
    return verdict


def test_real_run_with_this_python(tmp_path, libcuda):
    program = tmp_path / "verify_gpu.py"
    program.write_text(verification_program())
    verdict_path = tmp_path / "verdict.json"
    completed = subprocess.run(
        [sys.executable, str(program), "--tensorflow", "2.1.0", "--library", "libcudart.so.10.1",
         "--min-cuda-driver", "10.1", "--verdict-path", str(verdict_path)],
        capture_output=True, text=True, timeout=120,
    )
    verdict = _expect_real_verdict(completed, verdict_path)
    assert verdict["python"] == "{}.{}.{}".format(*sys.version_info[:3])


@pytest.mark.parametrize("version", ["3.7.16", "3.6.15"])
def test_real_run_from_stdin_with_the_tf21_era_pythons(tmp_path, version):
    """3.7 is the tf21 env's python; 3.6 the oldest a TF 2.x-era env may have."""
    python = pyenv_python(version)
    verdict_path = tmp_path / "verdict.json"
    completed = subprocess.run(
        [python, "-", "--params-json", params_json(env=str(tmp_path), verdict_path=verdict_path)],
        input=verification_program(), capture_output=True, text=True, timeout=120,
    )
    verdict = _expect_real_verdict(completed, verdict_path)
    assert verdict["python"] == version


def test_a_layer_that_crashes_inside_the_shipped_program_still_ends_in_a_verdict():
    # the sources travel as python string literals: "\\n" is a new line of driver.py
    program = verification_program().replace("def check_driver(params, found):",
                                              "def check_driver(params, found):\\n    1 / 0", 1)
    completed = subprocess.run([sys.executable, "-", "--params-json", params_json()],
                               input=program, capture_output=True, text=True, timeout=60)
    verdict = json.loads(completed.stdout)
    assert verdict["layers"] == [{"name": "driver", "ok": False,
                                  "detail": "unexpected ZeroDivisionError: division by zero"}]


def test_inside_wsl2_nvidia_smi_is_found_beside_the_windows_driver(monkeypatch):
    # WSL2 keeps the Windows driver's nvidia-smi in /usr/lib/wsl/lib, off PATH
    from facts.verify import driver

    monkeypatch.setattr(driver.shutil, "which", lambda name: None)
    monkeypatch.setattr(driver.os.path, "exists", lambda path: path == "/usr/lib/wsl/lib/nvidia-smi")
    assert driver.smi_path() == "/usr/lib/wsl/lib/nvidia-smi"
    monkeypatch.setattr(driver.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    assert driver.smi_path() == "/usr/bin/nvidia-smi"
    monkeypatch.setattr(driver.shutil, "which", lambda name: None)
    monkeypatch.setattr(driver.os.path, "exists", lambda path: False)
    assert driver.smi_path() == "nvidia-smi"  # the OSError then says "no nvidia-smi on PATH"
