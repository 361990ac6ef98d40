"""The simulated lab proves itself: real ssh, apt, reboot, conda and pip against stand-in GPUs."""

import re
import subprocess
import sys
import time

import pytest

from lab import control, network, spec
from lab.image import build_all
from lab.paths import REPO_ROOT
from lab.testing import leftovers

pytestmark = pytest.mark.lab
MIRROR = "http://10.250.0.1:8080"


def test_build_is_cached_when_inputs_are_unchanged(lab):
    stamps = {p.name: p.read_text() for p in lab.paths.stamps.iterdir()}
    started = time.monotonic()
    build_all(lab.paths)
    assert time.monotonic() - started < 10
    assert {p.name: p.read_text() for p in lab.paths.stamps.iterdir()} == stamps


def test_spec_errors_say_what_to_change(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("hosts:\n  - name: ws1\n    driver: '999.1'\n")
    with pytest.raises(spec.SpecError, match="not a lab branch"):
        spec.load(bad)
    fleet = spec.load(REPO_ROOT / "lab/specs/fleet8.yaml")
    assert len(fleet.hosts) == 8
    assert [h.name for h in fleet.hosts if h.unreachable] == ["ws-down"]
    assert [h.name for h in fleet.hosts if not h.gpus] == ["ws-cpu"]


def test_each_host_answers_ssh_as_itself_with_pinned_keys(lab):
    assert lab.hosts == ["ws-old-driver", "ws-good-driver", "ws-conda"]
    for host in lab.hosts:
        assert lab.ssh(host, "hostname", check=True).stdout.strip() == host
        assert lab.ssh(host, "sudo -n id -u", user="tfuser", check=True).stdout.strip() == "0"
    known = lab.paths.known_hosts.read_text().splitlines()
    assert len(known) == 3 and all(line.split()[1] == "ssh-ed25519" for line in known)


def test_hosts_are_isolated_and_reach_only_the_lab(lab):
    out = lab.ssh("ws-good-driver", "ps -e | wc -l; ip -4 route; cat /etc/resolv.conf | wc -c; "
                  f"curl -fsS -o /dev/null -w '%{{http_code}}' {MIRROR}/apt/dists/lab/Release", check=True).stdout
    processes, *routes = out.splitlines()[:-2]
    assert int(processes) < 15  # tini, sshd, this session: not the machine's processes
    assert [r.strip() for r in routes] == ["10.250.0.0/24 dev eth0 proto kernel scope link src 10.250.0.12"]
    assert out.splitlines()[-2:] == ["0", "200"]
    # the lab subnet does not exist in this (root) namespace
    assert "10.250.0" not in subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout


def test_nvidia_smi_prints_each_branch_in_its_real_layout(lab):
    old = lab.ssh("ws-old-driver", "nvidia-smi", check=True).stdout.splitlines()
    assert old[2] == "| NVIDIA-SMI 410.48       Driver Version: 410.48       CUDA Version: 10.0     |"
    assert "MIG M." not in "\n".join(old)
    assert "|   0  GeForce GTX 108...  Off  | 00000000:01:00.0 Off |                  N/A |" in old
    r450 = lab.ssh("ws-conda", "nvidia-smi", check=True).stdout
    assert "|                               |                      |               MIG M. |" in r450
    query = lab.ssh("ws-good-driver", "nvidia-smi --query-gpu=index,name,memory.total,pci.bus_id "
                    "--format=csv,noheader,nounits", check=True).stdout
    assert query == "0, GeForce RTX 2080 Ti, 11019, 00000000:01:00.0\n"
    refused = lab.ssh("ws-good-driver", "nvidia-smi --query-gpu=name,compute_cap --format=csv")
    assert (refused.returncode, refused.stdout.splitlines()[0]) == (2, 'Field "compute_cap" is not a valid field to query.')
    assert "STAND-IN" in lab.ssh("ws-good-driver", "nvidia-smi -h").stdout
    assert lab.ssh("ws-good-driver", "ls /sys/bus/pci/devices; cat /sys/bus/pci/devices/0000:01:00.0/vendor",
                   check=True).stdout.split() == ["0000:00:00.0", "0000:01:00.0", "0x10de"]


def test_driver_upgrade_swaps_branches_and_needs_a_reboot(lab):
    host = "ws-old-driver"
    try:
        install = lab.ssh(host, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                          "apt-get install -y -q nvidia-driver-535 2>&1", check=True).stdout
        assert "Removing nvidia-driver-410" in install
        packages = lab.ssh(host, "dpkg-query -W -f '${Package} ${Status}\\n' 'nvidia-*' 'libnvidia-*'").stdout
        assert "nvidia-driver-535 install ok installed" in packages
        assert "nvidia-driver-410 install ok installed" not in packages
        mismatch = lab.ssh(host, "nvidia-smi")
        assert mismatch.returncode == 18
        assert mismatch.stdout.startswith("Failed to initialize NVML: Driver/library version mismatch")
        assert lab.ssh(host, "cat /run/reboot-required", check=True).stdout.startswith("*** System restart required")
        uptime_before = float(lab.ssh(host, "cut -d' ' -f1 /proc/uptime", check=True).stdout)
        time.sleep(1.5)
        lab.ssh(host, "(sleep 0.5 && reboot) </dev/null >/dev/null 2>&1 &")
        _wait_for_reboot(lab, host, uptime_before)
        after = lab.ssh(host, "cut -d' ' -f1 /proc/uptime; ls /run/reboot-required 2>&1; nvidia-smi; "
                        "nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader", check=True).stdout
        lines = after.splitlines()
        assert float(lines[0]) < uptime_before + 1.5 and float(lines[0]) < 5, "uptime restarts at a reboot"
        assert "No such file" in lines[1], "/run is empty after a reboot"
        assert "| NVIDIA-SMI 535.183.01             Driver Version: 535.183.01   CUDA Version: 12.2     |" in lines
        assert lines[-1] == "NVIDIA GeForce GTX 1080 Ti, 6.1"
    finally:
        lab.reset(host)
    assert "410.48" in lab.ssh(host, "nvidia-smi", check=True).stdout


def _wait_for_reboot(lab, host: str, uptime_before: float, timeout: float = 60) -> None:
    """Until the host answers again with an uptime that restarted: the old sshd may still answer
    for a moment after `reboot` was asked for, longer on a loaded machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = lab.ssh(host, "cut -d' ' -f1 /proc/uptime")
        if probe.returncode == 0 and float(probe.stdout) < uptime_before:
            return
        time.sleep(0.2)
    raise AssertionError(f"{host} did not come back from its reboot within {timeout:.0f}s")


def test_miniconda_conda_channel_and_wheelhouse_work_together(lab):
    host = "ws-good-driver"
    installer = "Miniconda3-lab-py37_4.3.16-Linux-x86_64.sh"
    try:
        lab.ssh(host, f"cd /tmp && curl -fsSO {MIRROR}/miniconda/{installer} && "
                f"curl -fsSO {MIRROR}/miniconda/{installer}.sha256 && sha256sum -c {installer}.sha256 && "
                f"bash {installer} -b -p /opt/lab-check-miniconda3", check=True)
        again = lab.ssh(host, f"bash /tmp/{installer} -b -p /opt/lab-check-miniconda3")
        assert again.returncode == 1 and "ERROR: File or directory already exists: '/opt/lab-check-miniconda3'" in again.stderr
        conda = "/opt/lab-check-miniconda3/bin/conda"
        assert lab.ssh(host, f"{conda} --version 2>&1", check=True).stdout.strip() == "conda 4.3.16"
        lab.ssh(host, f"{conda} create -n t python=3.7 -y -q && "
                f"{conda} install -n t cudatoolkit=10.1 cudnn=7.6.5 -y -q", check=True)
        env = "/opt/lab-check-miniconda3/envs/t"
        listed = lab.ssh(host, f"{env}/bin/python --version; ls {env}/conda-meta", check=True).stdout
        assert listed.startswith("Python 3.7.16")
        assert "cudatoolkit-10.1.243-h6bb024c_0.json" in listed and "cudnn-7.6.5-cuda10.1_0.json" in listed
        lab.ssh(host, f"{env}/bin/pip install -q --no-index --trusted-host 10.250.0.1 --find-links {MIRROR}/wheels/ "
                "tensorflow-gpu==2.1.0 'h5py<3' 'numpy<1.20' 'protobuf<3.21' 'scipy==1.4.1' pillow 'pandas<1.4'",
                check=True)
        check = ("import tensorflow as tf; print(tf.__version__, tf.test.is_built_with_cuda(), "
                 "len(tf.config.list_physical_devices('GPU')));\n"
                 "with tf.device('/GPU:0'): c = tf.matmul(tf.random.uniform([8, 8], seed=1), tf.random.uniform([8, 8], seed=2))\n"
                 "print(c.device)")
        result = lab.ssh(host, f"LD_LIBRARY_PATH={env}/lib {env}/bin/python -c \"{check}\"", check=True)
        assert result.stdout.splitlines() == ["2.1.0 True 1", "/job:localhost/replica:0/task:0/device:GPU:0"]
        assert "Found device 0 with properties" in result.stderr
        # without the env's libraries on the loader path, TF 2.1 cannot register the GPU
        missing = lab.ssh(host, f"{env}/bin/python -c \"import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))\"")
        assert missing.stdout.strip() == "[]" and "Could not load dynamic library 'libcudart.so.10.1'" in missing.stderr
    finally:
        lab.reset(host)


def test_preinstalled_conda_host_has_a_working_conda(lab):
    out = lab.ssh("ws-conda", "/opt/miniconda3/bin/conda --version 2>&1; cat /opt/miniconda3/.condarc", check=True).stdout
    assert out.startswith("conda 4.3.16")
    assert f"{MIRROR}/conda/lab" in out


def test_exec_runs_inside_a_host_without_ssh(lab):
    result = lab.exec("ws-conda", "sh", "-c", "hostname; echo drift > /var/tmp/drift; cut -d. -f1 /proc/uptime")
    assert result.returncode == 0 and result.stdout.splitlines()[0] == "ws-conda"
    assert lab.ssh("ws-conda", "cat /var/tmp/drift", check=True).stdout == "drift\n"
    lab.reset("ws-conda")
    assert lab.ssh("ws-conda", "test -e /var/tmp/drift").returncode == 1


def test_cli_status_and_inventory(lab):
    status = subprocess.run([sys.executable, "-m", "lab", "status"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert status.returncode == 0 and re.search(r"ws-old-driver\s+10\.250\.0\.11\s+running", status.stdout)
    inventory = subprocess.run([sys.executable, "-m", "lab", "inventory"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert inventory.stdout.strip() == "inventories/sim.py"


def test_pyinfra_reaches_the_lab_from_both_sides(lab):
    pyinfra = [sys.executable, "-m", "pyinfra", "-y", "inventories/sim.py", "exec", "--", "hostname"]
    outside = subprocess.run(pyinfra, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert outside.returncode == 0, outside.stderr
    inside = subprocess.run(network.in_controller(pyinfra), cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert inside.returncode == 0, inside.stderr
    for output in (outside.stdout + outside.stderr, inside.stdout + inside.stderr):
        for host in lab.hosts:
            assert f"[{host}]" in output


def test_down_leaves_nothing_behind_and_inventory_says_so(lab):
    control.down(lab.paths)
    assert leftovers(lab.paths) == []
    result = subprocess.run([sys.executable, "-m", "pyinfra", "-y", "inventories/sim.py", "exec", "--", "true"],
                            cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "the simulated lab is not running: start it with `python -m lab up lab/specs/small.yaml`" in result.stdout + result.stderr
