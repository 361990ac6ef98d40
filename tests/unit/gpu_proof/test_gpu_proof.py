"""`./dev gpu-proof` (tools/gpu_proof.py), run for real: on this machine as it is, then on the
lab's STAND-IN driver (nvidia-smi and libcuda.so.1 from lab/standins/driver, found through PATH
and the loader path) playing an H200 on driver 570, which is what the proof is made for."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from facts.gpu import parse_smi_table
from tests.unit.verify import standin
from tests.unit.verify.conftest import host_has_nvidia_driver
from tools import gpu_proof

ROOT = Path(__file__).resolve().parents[3]
SAVED = {"pyinfra-facts.json", "gpu-probe.txt", "nvml.json", "gate-tf21.txt",
         "gate-tensorflow-2.15.0.post1.txt", "dry-run.json", "dry-run.log", "verification.log",
         "verdict.json", "gpu-proof.json"}


def proof(tmp_path: Path, env: dict | None = None) -> tuple[int, dict]:
    save = tmp_path / "proof"
    done = subprocess.run([str(ROOT / "dev"), "gpu-proof", "--save", str(save)], capture_output=True,
                          text=True, timeout=600, env=env, cwd=tmp_path)
    document = json.loads(done.stdout)
    assert document["saved"] == str(save)
    assert SAVED <= {path.name for path in save.iterdir()}
    assert json.loads((save / "gpu-proof.json").read_text()) == document
    return done.returncode, document


def test_on_this_machine(tmp_path):
    status, document = proof(tmp_path)
    assert document["facts"]["ok"] is True
    facts = document["facts"]["pyinfra"]
    assert set(facts) == {"facts.gpu.GpuInfo", "facts.cuda.SystemCuda", "facts.host.FreeDisk",
                          "facts.conda.CondaInstall", "facts.conda.CondaPackages",
                          "facts.cuda.EnvCudaLibraries", "facts.pip_env.PipPackages",
                          "facts.files_state.FileTexts"}
    dry_run = document["dry_run"]
    assert dry_run["ok"] is True and dry_run["operations"] >= 1
    assert dry_run["would_change"][0] == "GPU workstation | GPU can run tf21"
    # pyinfra exits non-zero exactly when the deploy says a host would fail
    assert dry_run["exit_status"] == (1 if dry_run["would_fail"] else 0)
    if host_has_nvidia_driver():
        assert document["verification"]["layers"][0]["ok"] is True
        return
    assert status == 3 and document["exit_status"] == 3
    assert document["verification"]["failed_layer"] == "driver"
    assert document["verification"]["layers"] == [{
        "name": "driver", "ok": False,
        "detail": "no NVML library (libnvidia-ml.so.1) and no nvidia-smi on PATH",
    }]
    assert facts["facts.gpu.GpuInfo"]["gpus"] == [] and document["facts"]["nvml"]["error"]
    assert "verification" in document["failed"]
    assert [gate["accepted"] for gate in document["gates"]] == [False, False]
    assert document["gates"][0]["message"].startswith("no NVIDIA GPU found on this host")


@pytest.fixture(scope="module")
def h200(tmp_path_factory):
    """The environment of a machine with one H200 on driver 570.124.06 (CUDA 12.8): stand-ins."""
    base = tmp_path_factory.mktemp("h200")
    libcuda = standin.build_libcuda(base / "lib", driver="570.124.06", cuda_version=12080)
    env = standin.driver_environment(base / "driver", libcuda, driver="570.124.06", name="NVIDIA H200",
                                     compute_capability="9.0", memory_mib=143771)
    return dict(os.environ, **env, PATH=f"{env['STANDIN_BIN']}:{os.environ['PATH']}",
                LD_LIBRARY_PATH=env["STANDIN_LIB"])


def test_on_a_stand_in_h200(tmp_path, h200):
    status, document = proof(tmp_path, h200)
    assert (status, document["exit_status"], document["failed"], document["ok"]) == (0, 0, [], True)

    gpu = document["facts"]["pyinfra"]["facts.gpu.GpuInfo"]
    assert gpu["driver_version"] == "570.124.06"
    assert [(g["name"], g["compute_capability"], g["memory_mib"]) for g in gpu["gpus"]] == [
        ("NVIDIA H200", "9.0", 143771)]
    # the raw text is kept as the parser read it: a real machine's becomes a fixture as it is
    table = (Path(document["saved"]) / "nvidia-smi-table.txt").read_text()
    assert parse_smi_table(table)["gpus"][0]["name"] == "NVIDIA H200"

    tf21, cuda12 = document["gates"]
    assert tf21 == {"stack": "tf21", "cuda": "10.1", "accepted": False, "exit_status": 1, "ok": True,
                    "message": "NVIDIA H200 (compute capability 9.0) cannot run tf21 (CUDA 10.1 builds "
                               "stop at 7.x); use tensorflow==2.12.0 or later"}
    assert cuda12 == {"stack": "tensorflow==2.15.0.post1", "cuda": "12.2", "accepted": True,
                      "exit_status": 0, "ok": True,
                      "message": "GPU 0: NVIDIA H200 (9.0) is supported by tensorflow-2.15.0.post1"}

    dry_run = document["dry_run"]
    assert dry_run["ok"] is True
    assert dry_run["exit_status"] == (1 if dry_run["would_fail"] else 0)
    assert all("NVIDIA H200 (compute capability 9.0) cannot run tf21" in line for line in dry_run["would_fail"])
    verdict = document["verification"]
    assert verdict["ok"] is True and verdict["driver_version"] == "570.124.06"
    assert verdict["cuda_driver"] == "12.8"
    assert [layer["name"] for layer in verdict["layers"]] == ["driver", "cuda_driver", "ptx_compute"]
    assert verdict["layers"][2]["detail"] == (
        "vector add of 4096 floats on NVIDIA H200 (cc 9.0), PTX sm_30 JIT-compiled: matches the CPU")


def test_a_driver_installed_but_not_loaded_is_no_working_driver(tmp_path, h200, monkeypatch):
    """Exit 3 is about a working driver, not an installed one: before the reboot, nvidia-smi
    cannot talk to the driver and the verification stops at its first layer."""
    Path(h200["GPUWS_LAB_MODULE_FILE"]).write_text("")
    try:
        for key in ("PATH", "LD_LIBRARY_PATH", "GPUWS_LAB_HARDWARE", "GPUWS_LAB_DRIVER_VERSION_FILE",
                    "GPUWS_LAB_MODULE_FILE"):
            monkeypatch.setenv(key, h200[key])
        verdict = gpu_proof.verify(tmp_path, timeout=120)
    finally:
        Path(h200["GPUWS_LAB_MODULE_FILE"]).write_text("570.124.06\n")
    assert verdict["failed_layer"] == "driver"
    assert verdict["layers"][0]["detail"].startswith("nvidia-smi: NVIDIA-SMI has failed because it couldn't communicate")


def test_bad_arguments_stop_before_anything_runs(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for args, message in ((["--timeout", "0"], "--timeout must be a positive number of seconds"),
                          (["--save", str(blocker)], f"--save {blocker} is a file")):
        done = subprocess.run([str(ROOT / "dev"), "gpu-proof", *args], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 2 and done.stdout == ""
        assert message in done.stderr.splitlines()[-1]
