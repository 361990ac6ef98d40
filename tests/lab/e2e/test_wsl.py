"""WSL2 end to end over SSH (lab/specs/wsl.yaml, issue 13 item 7).

STAND-IN WSL2: the lab's WSL2-like hosts have /dev/dxg (a plain file), a Microsoft kernel release
("5.15.153.1-microsoft-standard-WSL2", through a `uname` wrapper and /proc/sys/kernel/osrelease),
the Windows driver's nvidia-smi and libcuda.so.1 in /usr/lib/wsl/lib and no Linux driver
(lab/hosts.py install_wsl_driver, lab/host/boot.sh). Inside WSL the Windows driver is the only
driver: the deploy installs, holds, blacklists and reboots nothing for it.
"""

import json

import pytest

from tests.lab.e2e.runner import deploy

NEW, OLD = "wsl-new", "wsl-old"
NOTHING_DRIVER_RELATED = ("dpkg-query -W -f='${Package}\\n' '*nvidia*' 2>/dev/null; apt-mark showhold; "
                          "ls /etc/modprobe.d/ | grep -i nouveau; ls /run/reboot-required 2>/dev/null; true")


def uptime(lab, host: str) -> float:
    return float(lab.ssh(host, "cut -d' ' -f1 /proc/uptime", check=True).stdout)


@pytest.fixture(scope="module")
def lab(lab_for):
    return lab_for("wsl.yaml", fresh=True)


@pytest.fixture(scope="module")
def first_run(lab):
    before = {host: uptime(lab, host) for host in (NEW, OLD)}
    return deploy("-v"), before  # -v: pyinfra prints the operations' noop lines


def test_the_lab_host_looks_like_wsl2(lab):
    assert lab.ssh(NEW, "uname -r", check=True).stdout.strip() == "5.15.153.1-microsoft-standard-WSL2"
    assert lab.ssh(NEW, "cat /proc/sys/kernel/osrelease", check=True).stdout.strip() == "5.15.153.1-microsoft-standard-WSL2"
    assert lab.ssh(NEW, "test -e /dev/dxg && test ! -e /proc/driver/nvidia/version").returncode == 0
    assert lab.ssh(NEW, "command -v nvidia-smi").returncode != 0  # not on PATH, as in WSL
    smi = lab.ssh(NEW, "/usr/lib/wsl/lib/nvidia-smi --query-gpu=driver_version --format=csv,noheader", check=True)
    assert smi.stdout.strip() == "551.61"


def test_a_new_enough_windows_driver_converges_with_nothing_driver_related(lab, first_run):
    run, before = first_run
    assert not run.failed(NEW), run.output[-3000:]
    assert run.said(NEW, "WSL2: Windows driver 551.61 >= 418.96"), run.output[-3000:]
    assert lab.ssh(NEW, NOTHING_DRIVER_RELATED, check=True).stdout.strip() == ""
    assert uptime(lab, NEW) >= before[NEW]  # not rebooted
    assert run.status("Layered GPU verification", NEW) == "Success"
    verdict = json.loads(lab.ssh(NEW, "cat /opt/miniconda3/envs/tf21/etc/gpuws/last-verdict.json", check=True).stdout)
    assert verdict["ok"] is True, verdict


def test_a_too_old_windows_driver_fails_with_the_update_line(lab, first_run):
    run, before = first_run
    assert run.rc == 1 and run.failed(OLD)
    assert run.said(OLD, "update the Windows NVIDIA driver to >= 418.96"), run.output[-3000:]
    assert lab.ssh(OLD, NOTHING_DRIVER_RELATED, check=True).stdout.strip() == ""
    assert uptime(lab, OLD) >= before[OLD]


def test_a_second_run_changes_nothing(lab, first_run):
    again = deploy("--limit", NEW)
    assert again.rc == 0, again.output[-3000:]
    assert again.changed(NEW) == [], again.changed(NEW)
