"""Fresh lab hosts -> tf21 converged and verified; a second run changes nothing."""

import json

import pytest

from tests.lab.e2e.runner import deploy, report


@pytest.fixture(scope="module")
def lab(lab_for):
    return lab_for("small.yaml", fresh=True)


@pytest.fixture(scope="module")
def first_run(lab):
    return deploy()


def test_fresh_hosts_converge_and_verify(lab, first_run):
    run = first_run
    assert run.rc == 0, run.output[-3000:]
    for host in ("ws-old-driver", "ws-good-driver", "ws-conda"):
        assert not run.failed(host), (host, run.messages.get(host))
        # verified, and its first verdict written to the host (a change)
        assert run.status("Layered GPU verification", host) == "Success"

    # the old driver was upgraded to the branch nvidia_driver_branch=auto picks for a GTX 1080 Ti
    # (580, the last branch for Pascal) and the host rebooted into it
    assert run.status("Driver >= 418.96", "ws-old-driver") == "Success"
    assert run.status("Running driver (reboot if needed)", "ws-old-driver") == "Success"
    smi = lab.ssh("ws-old-driver", "nvidia-smi --query-gpu=driver_version --format=csv,noheader", check=True)
    assert smi.stdout.strip() == "580.95.05"
    uptime = float(lab.ssh("ws-old-driver", "cut -d' ' -f1 /proc/uptime", check=True).stdout)
    assert uptime < run.seconds  # it really rebooted during this run
    held = lab.ssh("ws-old-driver", "apt-mark showhold", check=True).stdout.split()
    assert "nvidia-driver-580" in held
    # the good driver is kept (no install, no reboot); its package is only held against upgrades
    assert run.status("Driver >= 418.96", "ws-good-driver") == "Success"
    assert run.status("Running driver (reboot if needed)", "ws-good-driver") == "No changes"
    smi = lab.ssh("ws-good-driver", "nvidia-smi --query-gpu=driver_version --format=csv,noheader", check=True)
    assert smi.stdout.strip() == "440.100"
    assert "nvidia-driver-440" in lab.ssh("ws-good-driver", "apt-mark showhold", check=True).stdout.split()

    # conda was already on ws-conda: kept; installed on the others
    assert run.status("Miniconda", "ws-conda") == "No changes"
    assert run.status("Miniconda", "ws-good-driver") == "Success"

    # what the env holds, read by the user's own tools
    env = "/opt/miniconda3/envs/tf21"
    listing = lab.ssh("ws-good-driver", f"{env}/bin/python -m pip list --format=json", check=True).stdout
    versions = {p["name"].lower(): p["version"] for p in json.loads(listing)}
    assert versions["tensorflow-gpu"] == "2.1.0"
    assert versions["protobuf"].startswith("3.20") and versions["h5py"] == "2.10.0"
    assert versions["numpy"].startswith("1.19") and versions["scipy"] == "1.4.1"
    conda_meta = lab.ssh("ws-good-driver", f"ls {env}/conda-meta", check=True).stdout.split()
    assert "cudatoolkit-10.1.243-h6bb024c_0.json" in conda_meta
    assert "cudnn-7.6.5-cuda10.1_0.json" in conda_meta
    python = lab.ssh("ws-good-driver", f"{env}/bin/python --version", check=True)
    assert (python.stdout + python.stderr).strip() == "Python 3.7.16"


def test_the_verification_verdict_is_kept_on_the_host(lab, first_run):
    verdict = json.loads(lab.ssh("ws-conda", "cat /opt/miniconda3/envs/tf21/etc/gpuws/last-verdict.json", check=True).stdout)
    assert verdict["ok"] is True and verdict["failed_layer"] is None
    assert [layer["name"] for layer in verdict["layers"]] == ["driver", "cuda_driver", "ptx_compute", "libraries", "tensorflow", "compute"]


def test_a_user_shell_finds_the_envs_cuda_libraries(lab, first_run):
    # `conda activate` runs the hook: TensorFlow then sees the GPU without any export by the user
    out = lab.ssh(
        "ws-good-driver",
        ". /opt/miniconda3/etc/profile.d/conda.sh 2>/dev/null; "
        ". /opt/miniconda3/envs/tf21/etc/conda/activate.d/gpuws-cuda.sh; "
        "/opt/miniconda3/envs/tf21/bin/python -c \"import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))\"",
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "1"


def test_second_run_changes_nothing_and_is_counted(lab, first_run):
    assert first_run.rc == 0
    run = deploy()
    assert run.rc == 0, run.output[-3000:]
    for host in lab.hosts:
        assert run.changed(host) == [], (host, run.changed(host))
        assert not run.failed(host)
    counts = {host: run.commands.get(host, 0) for host in lab.hosts}
    print(f"\nno-op run: {run.seconds:.1f}s wall, remote commands per host: {counts}")
    # the run lock, one broad read, the lock's release: the verification is not re-run (its
    # fingerprint is unchanged), so no python starts on the hosts
    assert all(0 < n <= 4 for n in counts.values()), counts
    for host in lab.hosts:
        assert run.status("Layered GPU verification", host) == "No changes"
        assert lab.ssh(host, "test -e /var/lib/gpuws/run.lock").returncode == 1  # released


def test_report_says_converged(lab, first_run):
    out = report("--json")
    assert out.returncode == 0, out.stdout + out.stderr
    fleet = json.loads(out.stdout)
    assert fleet["converged"] is True
    by_name = {h["name"]: h for h in fleet["hosts"]}
    old = by_name["ws-old-driver"]
    assert old["driver"] == "580.95.05" and old["driver_ok"] is True
    assert old["cudatoolkit"] == "10.1.243 h6bb024c_0" and old["cudnn"] == "7.6.5 cuda10.1_0"
    assert old["tensorflow"] == "tensorflow-gpu 2.1.0" and old["env_python"] == "3.7.16"
    assert old["verdict"]["ok"] is True and old["drift"] == []
