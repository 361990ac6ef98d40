"""The reboot guard end to end over SSH (lab/specs/reboot_guard.yaml, issue 11 item 7).

A host whose driver must change, with a person logged in: the deploy installs the new driver but
does not reboot; the host fails with "reboot pending" and keeps running (its uptime goes on).
`nvidia_driver_reboot=force` reboots it and it converges; a second run changes nothing.

STAND-IN login: a lab host has no login daemon and pyinfra's own SSH sessions (exec, no pty) write
no utmp entry, so the test writes one USER_PROCESS record in glibc's real x86-64 `struct utmp`
layout (utmp(5), 384 bytes) into /run/utmp, where the host's real coreutils `who` reads it.
"""

import base64
import socket
import struct
import time

import pytest

from tests.lab.e2e.runner import deploy

HOST = "rg-gtx1080"
SMI_VERSION = "nvidia-smi --query-gpu=driver_version --format=csv,noheader"
USER_PROCESS = 7  # utmp(5): ut_type of a normal login


def utmp_record(user: str, line: str, remote: str, pid: int = 1) -> bytes:
    """One glibc x86-64 `struct utmp`: type, pid, line[32], id[4], user[32], host[256], exit (2 shorts),
    session, tv (2 int32), addr_v6 (4 int32), 20 unused bytes. `who` drops records whose pid is
    gone (kill(pid, 0) fails with ESRCH), so the record names the host's PID 1, alive until a reboot."""
    record = struct.pack(
        "<hxxi32s4s32s256shhiii16s20x",
        USER_PROCESS, pid, line.encode(), line[-4:].encode(), user.encode(), remote.encode(),
        0, 0, 0, int(time.time()), 0, socket.inet_aton(remote).ljust(16, b"\0"),
    )
    assert len(record) == 384
    return record


def uptime(lab) -> float:
    return float(lab.ssh(HOST, "cut -d' ' -f1 /proc/uptime", check=True).stdout)


@pytest.fixture(scope="module")
def lab(lab_for):
    return lab_for("reboot_guard.yaml", fresh=[HOST])


@pytest.fixture(scope="module")
def guarded(lab):
    """A student logged in on pts/0; the default nvidia_driver_reboot=true."""
    record = base64.b64encode(utmp_record("alice", "pts/0", "10.250.0.99")).decode()
    lab.ssh(HOST, f"echo {record} | base64 -d > /run/utmp", check=True)
    assert lab.ssh(HOST, "who", check=True).stdout.split()[:2] == ["alice", "pts/0"]
    before = uptime(lab)
    run = deploy("--limit", HOST)
    return run, before


def test_a_logged_in_user_stops_the_reboot(lab, guarded):
    run, before = guarded
    assert run.rc == 1 and run.failed(HOST), run.output[-3000:]
    assert run.said(HOST, "reboot pending: 1 user logged in; run again with nvidia_driver_reboot=force, or later"), \
        run.output[-3000:]
    # not rebooted: the uptime went on (a reboot starts it at 0), the old module is still loaded
    # (nvidia-smi of the new packages says "Driver/library version mismatch", as a real one does),
    # and the person is still logged in
    assert uptime(lab) >= before
    assert "Kernel Module  410.48 " in lab.ssh(HOST, "cat /proc/driver/nvidia/version", check=True).stdout
    assert lab.ssh(HOST, "who", check=True).stdout.startswith("alice")
    # the new branch is installed, waiting for the reboot
    assert "nvidia-driver-580" in lab.ssh(HOST, "apt-mark showhold", check=True).stdout.split()


@pytest.fixture(scope="module")
def forced(lab, guarded):
    return deploy("--limit", HOST, "--data", "nvidia_driver_reboot=force")


def test_force_reboots_and_converges(lab, forced):
    assert forced.rc == 0, forced.output[-3000:]
    assert not forced.failed(HOST)
    assert uptime(lab) < 600  # booted during this run
    assert lab.ssh(HOST, SMI_VERSION, check=True).stdout.strip() == "580.95.05"
    assert lab.ssh(HOST, "who", check=True).stdout.strip() == ""  # /run/utmp went with the reboot


def test_a_second_run_changes_nothing(lab, forced):
    again = deploy("--limit", HOST)
    assert again.rc == 0, again.output[-3000:]
    assert again.changed(HOST) == [], again.changed(HOST)

