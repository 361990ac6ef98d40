"""Eight hosts in one run: one unreachable, one without a GPU, one Ampere; the other five converge
and each failure is one clear line naming its host."""

import json

import pytest

from tests.lab.e2e.runner import deploy, report

GOOD = ("ws1", "ws2", "ws3", "ws4", "ws5")


@pytest.fixture(scope="module")
def run(lab_for):
    lab_for("fleet8.yaml")
    return deploy()


def test_the_five_good_hosts_converge(run):
    assert run.rc == 1  # some hosts failed, as designed
    for host in GOOD:
        assert not run.failed(host), (host, run.messages.get(host))
        # a fresh converge verifies its new state once (the verdict is a change, kept with its fingerprint)
        assert run.status("Layered GPU verification", host) == "Success", host


def test_each_failure_is_one_clear_line(run):
    down = run.messages["ws-down"]
    assert len(down) == 1 and down[0].startswith("Could not connect"), down
    cpu = [line for line in run.messages["ws-cpu"] if "NVIDIA" in line]
    assert cpu == [
        "no NVIDIA GPU found on this host (no PCI device with vendor 0x10de, nvidia-smi lists none); "
        "the tf21 stack needs one — remove the host from the inventory or check the card"
    ]
    ampere = [line for line in run.messages["ws-ampere"] if "compute capability" in line]
    assert len(ampere) == 1
    assert "RTX 3090" in ampere[0] and "8.6" in ampere[0] and "tensorflow==2.5.0" in ampere[0]
    # the Ampere host was stopped before any change: nothing after the gate ran on it
    assert run.failed("ws-ampere") == ["GPU workstation | GPU can run tf21"]
    assert run.changed("ws-ampere") == []


def test_parallel_run_and_report(run):
    print(f"\n8-host run: {run.seconds:.1f}s wall")
    out = report("--json")
    assert out.returncode == 1
    hosts = {h["name"]: h for h in json.loads(out.stdout)["hosts"]}
    assert all(hosts[name]["converged"] for name in GOOD)
    assert hosts["ws-down"]["connected"] is False
    assert hosts["ws-cpu"]["drift"][0]["kind"] == "failure"
    assert "8.6" in hosts["ws-ampere"]["drift"][0]["detail"]
