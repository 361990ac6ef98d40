"""Two stacks on one lab host: tf21 (CUDA 10.1 from conda) and tensorflow==2.15.0.post1 (CUDA 12
from the nvidia-*-cu12 pip wheels), each in its own env: converged, both verified, a second run
changes nothing, and the fleet report finds both envs identical to their locks."""

import json

import pytest

import stacks
from tests.lab.e2e.runner import deploy, report

HOST = "ws-two-envs"
STACKS = ["tf21", "tensorflow==2.15.0.post1"]
DATA = ["--data", "stacks=" + json.dumps(STACKS)]
TF21_ENV = "/opt/miniconda3/envs/tf21"
CU12_ENV = "/opt/miniconda3/envs/tf-2.15.0.post1"


@pytest.fixture(scope="module")
def lab(lab_for):
    return lab_for("multi_env.yaml", fresh=[HOST])


@pytest.fixture(scope="module")
def first_run(lab):
    return deploy(*DATA)


def _verdict(lab, env):
    return json.loads(lab.ssh(HOST, f"cat {env}/etc/gpuws/last-verdict.json", check=True).stdout)


def test_both_stacks_converge_and_verify(lab, first_run):
    run = first_run
    assert run.rc == 0, run.output[-4000:]
    assert not run.failed(HOST), run.messages.get(HOST)
    # the driver 440 could run tf21 but not CUDA 12: raised for both, with a reboot
    smi = lab.ssh(HOST, "nvidia-smi --query-gpu=driver_version --format=csv,noheader", check=True).stdout.strip()
    assert stacks.driver_satisfies(smi, stacks.resolve("tensorflow==2.15.0.post1")["min_driver_os_table"]), smi
    for env in (TF21_ENV, CU12_ENV):
        verdict = _verdict(lab, env)
        assert verdict["ok"] is True and verdict["failed_layer"] is None, (env, verdict)
    assert _verdict(lab, TF21_ENV)["tensorflow"] == "2.1.0"
    assert _verdict(lab, CU12_ENV)["tensorflow"] == "2.15.0"  # the real wheel says 2.15.0 too


def test_each_env_holds_its_own_python_and_cuda(lab, first_run):
    assert first_run.rc == 0
    python = lab.ssh(HOST, f"{CU12_ENV}/bin/python --version", check=True)
    assert (python.stdout + python.stderr).strip() == "Python 3.11.7"
    python = lab.ssh(HOST, f"{TF21_ENV}/bin/python --version", check=True)
    assert (python.stdout + python.stderr).strip() == "Python 3.7.16"
    listing = lab.ssh(HOST, f"{CU12_ENV}/bin/python -m pip list --format=json", check=True).stdout
    versions = {p["name"].lower(): p["version"] for p in json.loads(listing)}
    lock = stacks.lock_for("tensorflow==2.15.0.post1")
    for name in ("tensorflow", "numpy", "protobuf", "keras", "nvidia-cudnn-cu12", "nvidia-cuda-runtime-cu12"):
        assert versions[name] == lock["packages"][name], name
    # CUDA 12 comes from the wheels, not conda: no cudatoolkit record in that env
    records = lab.ssh(HOST, f"ls {CU12_ENV}/conda-meta", check=True).stdout.split()
    assert not [r for r in records if r.startswith(("cudatoolkit-", "cudnn-"))], records
    assert "cudatoolkit-10.1.243-h6bb024c_0.json" in lab.ssh(HOST, f"ls {TF21_ENV}/conda-meta", check=True).stdout


def test_a_user_shell_finds_the_wheels_cuda_libraries(lab, first_run):
    # the CUDA 12 env's hook puts site-packages/nvidia/*/lib on LD_LIBRARY_PATH: TF sees the GPU
    out = lab.ssh(
        HOST,
        f". {CU12_ENV}/etc/conda/activate.d/gpuws-cuda.sh; "
        f"{CU12_ENV}/bin/python -c \"import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))\"",
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "1"
    # without the hook the wheels' libraries are not found (as with the real TF 2.15 wheel): no GPU
    bare = lab.ssh(HOST, f"{CU12_ENV}/bin/python -c \"import tensorflow as tf; "
                         "print(len(tf.config.list_physical_devices('GPU')))\"", check=True)
    assert bare.stdout.strip().splitlines()[-1] == "0"
    assert "libcudart.so.12" in bare.stderr


def test_second_run_changes_nothing(lab, first_run):
    assert first_run.rc == 0
    again = deploy(*DATA)
    assert again.rc == 0, again.output[-3000:]
    assert again.changed(HOST) == [], again.changed(HOST)
    assert not again.failed(HOST)


def test_the_report_shows_both_envs_identical_to_their_locks(lab, first_run):
    assert first_run.rc == 0
    out = report("--json", *DATA)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    (host,) = [h for h in json.loads(out.stdout)["hosts"] if h["name"] == HOST]
    assert host["converged"] is True and host["identical"] is True, host["differences"]
    envs = {env["name"]: env for env in host["envs"]}
    assert set(envs) == {"tf21", "tf-2.15.0.post1"}
    assert envs["tf-2.15.0.post1"]["python"] == "3.11.7"
    assert envs["tf-2.15.0.post1"]["pip"]["tensorflow"] == "2.15.0.post1"
    assert all(env["verdict"]["ok"] for env in envs.values())
