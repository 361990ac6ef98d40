"""The GpuInfo probe script, run for real: on this machine (no NVIDIA GPU), through pyinfra's
@local connector, and with stand-in tools (nvidia-smi, mokutil, dpkg-query, apt-mark) put first
on PATH to walk the script's branches (compute_cap retry, broken driver, Secure Boot, packages)."""

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from facts.gpu import GPU_PROBE_SCRIPT, GpuInfo, compute_capability_for

SHELLS = [shell for shell in ("sh", "dash", "bash", "busybox") if shutil.which(shell)]


def run_probe(shell="sh", env=None):
    argv = [shell, "sh", "-c", GPU_PROBE_SCRIPT] if shell == "busybox" else [shell, "-c", GPU_PROBE_SCRIPT]
    completed = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    return completed


def nvidia_display_devices_in_sysfs():
    """What this machine has, read independently of the probe."""
    found = []
    for device in glob.glob("/sys/bus/pci/devices/*"):
        try:
            vendor = Path(device, "vendor").read_text().strip()
            pci_class = Path(device, "class").read_text().strip()
        except OSError:
            continue
        if vendor == "0x10de" and pci_class.startswith("0x03"):
            found.append(os.path.basename(device))
    return found


@pytest.mark.parametrize("shell", SHELLS)
def test_probe_on_this_machine(shell):
    completed = run_probe(shell)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().endswith("@@end")
    info = GpuInfo().process(completed.stdout.splitlines())
    has_smi = shutil.which("nvidia-smi") is not None
    if has_smi or nvidia_display_devices_in_sysfs():  # pragma: no cover - a GPU machine
        pytest.skip("this machine has an NVIDIA GPU or nvidia-smi; the no-GPU case needs neither")
    assert info["smi"] is None
    assert info["query"] == []
    assert info["gpus"] == []
    assert info["pci_devices"] == []
    assert info["driver_version"] is None
    assert info["error"] is None
    assert info["source"] is None
    assert info["proc_version"] is None  # no /proc/driver/nvidia here
    assert info["reboot_required"] == (
        os.path.exists("/run/reboot-required") or os.path.exists("/var/run/reboot-required")
    )
    assert isinstance(info["nouveau_loaded"], bool) and isinstance(info["driver_packages"], dict)


def test_probe_through_pyinfra_local_connector():
    """The same fact through pyinfra itself (command wrapping, quoting, process())."""
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all, disconnect_all
    from pyinfra.api.facts import get_facts

    inventory = Inventory((["@local"], {}))
    state = State(inventory=inventory, config=Config())
    connect_all(state)
    try:
        facts = get_facts(state, GpuInfo)
    finally:
        disconnect_all(state)
    (info,) = facts.values()
    assert not state.failed_hosts
    assert info == GpuInfo().process(run_probe().stdout.splitlines())


def test_probe_is_posix_sh():
    for shell in ("dash", "sh"):
        if shutil.which(shell):
            check = subprocess.run([shell, "-n", "-c", GPU_PROBE_SCRIPT], capture_output=True,
                                   text=True)
            assert check.returncode == 0, check.stderr
    assert "[[" not in GPU_PROBE_SCRIPT and "local " not in GPU_PROBE_SCRIPT
    assert "function " not in GPU_PROBE_SCRIPT and "<<<" not in GPU_PROBE_SCRIPT


# --- stand-in tools on PATH -------------------------------------------------------------------

def write_tool(bin_dir: Path, name: str, body: str):
    path = bin_dir / name
    path.write_text("#!/bin/sh\n# STAND-IN for tests\n" + body)
    path.chmod(0o755)


@pytest.fixture
def standin_env(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    return bin_dir, env


def test_probe_retries_query_without_compute_cap(standin_env, fixture_text, tmp_path):
    """A 440/470-era nvidia-smi rejects compute_cap with exit 2: the probe asks again without it
    and the capability comes from the name lookup."""
    bin_dir, env = standin_env
    table = tmp_path / "table.txt"
    table.write_text(fixture_text("smi_standin_440.100.txt"))
    write_tool(bin_dir, "nvidia-smi", f"""
case "$*" in
    *compute_cap*) echo 'Field "compute_cap" is not a valid field to query.'; echo; exit 2 ;;
    *--query-gpu*) echo '0, GeForce RTX 2080 Ti, 440.100, 11019, 00000000:01:00.0'; exit 0 ;;
    *) cat '{table}' ;;
esac
""")
    write_tool(bin_dir, "mokutil", 'echo "SecureBoot enabled"\n')
    calls = tmp_path / "dpkg-query.calls"
    # as the real one answers `dpkg-query -W -f='${Status} ${Package} ${Version}\n'` with no
    # patterns: every package dpkg knows (a package without a version ends with the space)
    write_tool(bin_dir, "dpkg-query", f"""
echo started >> '{calls}'
echo "install ok installed bash 5.2.15-2+b2"
echo "hold ok installed nvidia-driver-440 440.100-0ubuntu0.18.04.1"
echo "hold ok installed nvidia-utils-440 440.100-0ubuntu0.18.04.1"
echo "install ok installed nvidia-settings 440.64-0ubuntu1"
echo "install ok installed xserver-xorg-video-nvidia-440 440.100-0ubuntu0.18.04.1"
echo "install ok installed nvidia-tesla-470-driver 470.256.02-1"
echo "install ok installed nvidia-driver 470.256.02-1"
echo "deinstall ok config-files libnvidia-compute-430 430.50-0ubuntu0.18.04.2"
echo "hold ok not-installed cuda-drivers "
""")
    write_tool(bin_dir, "apt-mark", 'echo "apt-mark must not be started" >&2; exit 1\n')

    completed = run_probe(env=env)
    assert completed.returncode == 0
    assert "@@section smi_query_nocc rc=0" in completed.stdout
    assert "smi_table" not in completed.stdout  # the query answered: no third nvidia-smi start
    info = GpuInfo().process(completed.stdout.splitlines())
    assert info["driver_version"] == "440.100" and info["source"] == "nvidia-smi"
    assert info["smi"] is None and info["cuda_version"] is None
    assert info["gpus"] == [{
        "index": 0, "name": "GeForce RTX 2080 Ti", "memory_mib": 11019,
        "compute_capability": compute_capability_for("GeForce RTX 2080 Ti"),
        "pci_bus_id": "00000000:01:00.0",
    }]
    assert info["error"] is None
    assert info["secure_boot"] is True
    # the driver packages by dpkg's patterns (nvidia-driver-*, nvidia-utils-*, libnvidia-compute-*,
    # nvidia-driver, nvidia-tesla-*-driver), installed ones only; the holds from the same one call
    assert info["driver_packages"] == {
        "nvidia-driver-440": "440.100-0ubuntu0.18.04.1",
        "nvidia-utils-440": "440.100-0ubuntu0.18.04.1",
        "nvidia-tesla-470-driver": "470.256.02-1",
        "nvidia-driver": "470.256.02-1",
    }
    assert info["held_packages"] == ["nvidia-driver-440", "nvidia-utils-440", "cuda-drivers"]
    assert calls.read_text() == "started\n"


def test_probe_with_driver_that_cannot_be_reached(standin_env, fixture_text, tmp_path):
    bin_dir, env = standin_env
    message = fixture_text("smi_f1_no_driver.txt").strip()
    (tmp_path / "f1.txt").write_text(message + "\n\n")
    write_tool(bin_dir, "nvidia-smi", f"cat '{tmp_path / 'f1.txt'}'\nexit 9\n")
    write_tool(bin_dir, "mokutil", 'echo "SecureBoot disabled"\n')
    completed = run_probe(env=env)
    assert completed.returncode == 0
    assert "smi_query_nocc" not in completed.stdout  # exit 9 is not "unknown field"
    info = GpuInfo().process(completed.stdout.splitlines())
    assert info["smi"]["error"] == message and info["error"] == message
    assert info["gpus"] == [] and info["query"] == []
    assert info["secure_boot"] is False


def test_probe_with_compute_cap_capable_driver(standin_env):
    bin_dir, env = standin_env
    write_tool(bin_dir, "nvidia-smi", """
case "$*" in
    *--query-gpu*) echo '0, NVIDIA A100-SXM4-40GB, 580.126.09, 40960, 00000000:10:1C.0, 8.0' ;;
    *) echo '| NVIDIA-SMI 580.126.09   Driver Version: 580.126.09     CUDA Version: 13.0     |' ;;
esac
""")
    completed = run_probe(env=env)
    assert "smi_query_nocc" not in completed.stdout
    info = GpuInfo().process(completed.stdout.splitlines())
    assert info["gpus"] == [{"index": 0, "name": "NVIDIA A100-SXM4-40GB", "memory_mib": 40960,
                             "compute_capability": "8.0", "pci_bus_id": "00000000:10:1C.0"}]
