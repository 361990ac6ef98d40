"""The driver branch per GPU generation, end to end over SSH (lab/specs/driver_branches.yaml).

The lab's stand-in branches carry NVIDIA's chip lists (lab/image/driver_repo.py) and refuse a chip
their real counterparts refuse, so a wrong branch would show here as a GPU that stops answering.
"""

import time

import pytest

from tests.lab.e2e.runner import deploy

SMI_VERSION = "nvidia-smi --query-gpu=driver_version --format=csv,noheader"


@pytest.fixture(scope="module")
def lab(lab_for):
    return lab_for("driver_branches.yaml", fresh=True)


@pytest.fixture(scope="module")
def explicit_535(lab):
    """nvidia_driver_branch=535 on the fresh K80 host: refused before any change."""
    return deploy("--limit", "br-k80", "--data", "nvidia_driver_branch=535")


@pytest.fixture(scope="module")
def first_run(lab, explicit_535):
    return deploy()


def packages(lab, host: str) -> list[str]:
    """The installed nvidia-driver-* packages and versions (dpkg also lists the virtual name, versionless)."""
    out = lab.ssh(host, "dpkg-query -W -f='${Package} ${Version}\\n' 'nvidia-driver-*'", check=True).stdout
    return [word for line in out.splitlines() if len(line.split()) == 2 for word in line.split()]


def test_explicit_535_on_a_k80_fails_that_host_before_any_change(lab, explicit_535):
    run = explicit_535
    assert run.rc == 1 and run.failed("br-k80")
    assert run.said("br-k80", "driver branch 535 cannot drive Tesla K80 (0x102d): NVIDIA's lists drive it with 390 to 470")
    assert packages(lab, "br-k80") == ["nvidia-driver-418", "418.87.01-0lab1"]
    assert lab.ssh("br-k80", SMI_VERSION, check=True).stdout.strip() == "418.87.01"
    assert run.changed("br-k80") == []


def test_k80_gets_470_gtx1080_gets_580_rtx5090_is_refused_for_tf21(lab, first_run):
    run = first_run
    assert run.rc == 1, run.output[-3000:]  # the RTX 5090 host fails; the others converge
    assert not run.failed("br-k80") and not run.failed("br-gtx1080"), run.output[-3000:]
    assert lab.ssh("br-k80", SMI_VERSION, check=True).stdout.strip() == "470.256.02"
    assert "nvidia-driver-470" in lab.ssh("br-k80", "apt-mark showhold", check=True).stdout.split()
    assert lab.ssh("br-gtx1080", SMI_VERSION, check=True).stdout.strip() == "580.95.05"
    assert run.failed("br-rtx5090")
    assert run.said("br-rtx5090", "compute capability 12.0")
    # refused before any change: the driver it had, nothing installed, no reboot
    assert packages(lab, "br-rtx5090") == ["nvidia-driver-580", "580.95.05-0lab1"]
    assert run.changed("br-rtx5090") == []
    assert lab.ssh("br-rtx5090", "test -d /opt/miniconda3").returncode != 0


def test_a_second_run_changes_nothing(lab, first_run):
    again = deploy("--limit", "br-k80,br-gtx1080")
    assert again.rc == 0, again.output[-3000:]
    for host in ("br-k80", "br-gtx1080"):
        assert again.changed(host) == [], (host, again.changed(host))


def test_the_stand_in_535_refuses_the_k80_as_the_real_driver_does(lab, first_run):
    """Installed by hand (the deploy never would), 535 does not load on Kepler: the real texts."""
    lab.ssh("br-k80", "apt-mark unhold nvidia-driver-470 >/dev/null && DEBIAN_FRONTEND=noninteractive "
            "apt-get install -y -q nvidia-driver-535 >/dev/null", check=True)
    lab.ssh("br-k80", "reboot")
    time.sleep(3)  # the old sshd may still answer for a moment
    lab.wait_for_ssh("br-k80", timeout=60)
    smi = lab.ssh("br-k80", "nvidia-smi")
    assert smi.returncode == 9
    assert smi.stdout.startswith("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                                 "Make sure that the latest NVIDIA driver is installed and running.")
    log = lab.ssh("br-k80", "dmesg", check=True).stdout
    assert "NVRM: The NVIDIA Tesla K80 GPU installed in this system is" in log
    assert "NVRM:  supported through the NVIDIA 470.xx Legacy drivers. Please" in log
