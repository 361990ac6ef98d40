"""The fleet report's driver view (tools/report/driver.py) on recorded GpuInfo facts: the branch the
deploy would choose, a running branch that cannot drive the host's GPU, reboot pending (with the
people the reboot guard protects) and a driver other than the fleet's pinned version."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

import stacks
from facts.gpu import GpuInfo
from tools.report.collect import HostReport
from tools.report.driver import driver_view
from tools.report.render import as_json, as_table

RECORDED = Path(__file__).resolve().parents[2] / "spec" / "facts" / "gpu.GpuInfo"
TF21 = stacks.resolve("tf21")


def recorded(name: str) -> dict:
    """The GpuInfo fact parsed from a recorded probe output (tests/spec/facts/gpu.GpuInfo)."""
    case = yaml.safe_load((RECORDED / f"{name}.yaml").read_text())
    return GpuInfo().process(case["output"].splitlines())


def config(**data) -> dict:
    return {"stack": "tf21", "nvidia_driver_branch": "auto", "nvidia_driver_kernel_modules": "auto",
            "nvidia_driver_version": None, **data}


def as_k80_on(info: dict, version: str) -> dict:
    """A recorded fact with its GPU swapped for a Tesla K80 (0x102d) running ``version``."""
    info = copy.deepcopy(info)
    info["pci_devices"][0]["device"] = "0x102d"
    info["driver_version"] = version
    for gpu in info["gpus"]:
        gpu.update(name="Tesla K80", driver_version=version, compute_capability="3.7")
    return info


def host(name: str, info: dict, **data) -> HostReport:
    report = HostReport(name=name, connected=True, stack="tf21", driver=info.get("driver_version"),
                        min_driver=TF21["min_driver"], driver_ok=stacks.driver_satisfies(info.get("driver_version"), TF21["min_driver"]))
    report.driver_plan = driver_view(info, config(**data), TF21)
    return report


def test_gtx1080_gets_the_automatic_branch_and_reboot_pending_names_the_people():
    view = driver_view(recorded("reboot_with_people_and_gpu_job"), config(), TF21)
    assert view["branch"] == "580" and "last branch for NVIDIA GeForce GTX 1080" in view["branch_reason"]
    assert view["reboot_pending"] == "driver 580.95.05 installed, 410.48 is loaded; 2 users logged in, 1 GPU process"
    # 410 is in none of the lists known here: no claim about it, rather than a false alarm
    assert view["branch_problem"] is None and view["branch_error"] is None and view["version_differs"] is None


def test_k80_gets_470_and_a_running_535_is_named_as_unable_to_drive_it():
    info = as_k80_on(recorded("driver_418_titan_x_name_lookup"), "535.183.01")
    view = driver_view(info, config(), TF21)
    assert view["branch"] == "470"
    assert view["branch_problem"] == ("driver branch 535 cannot drive Tesla K80 (0x102d): "
                                      "NVIDIA's lists drive it with 390 to 470")
    assert driver_view(as_k80_on(info, "418.87.01"), config(), TF21)["branch_problem"] is None


def test_explicit_branch_that_cannot_drive_the_gpu_shows_what_the_deploy_would_fail_with():
    info = as_k80_on(recorded("driver_418_titan_x_name_lookup"), "418.87.01")
    view = driver_view(info, config(nvidia_driver_branch="535"), TF21)
    assert view["branch"] is None
    assert view["branch_error"].startswith("driver branch 535 cannot drive Tesla K80 (0x102d)")


def test_a_gpu_the_stack_cannot_run_is_refused_and_blackwell_class_gets_open_modules():
    view = driver_view(recorded("driver_470_no_compute_cap_held"), config(), TF21)
    assert view["branch"] is None and "compute capability 8.6 is not supported" in view["branch_error"]
    fresh = driver_view(recorded("fresh_box_nouveau_secure_boot"), config(), TF21)
    assert fresh["branch"] == "580-open"  # RTX 2080 Ti, Turing: NVIDIA's installer prefers the open modules


def test_pinned_version_flags_a_host_with_another_driver():
    info = recorded("driver_418_titan_x_name_lookup")
    view = driver_view(info, config(nvidia_driver_branch="580", nvidia_driver_version="580.95.05"), TF21)
    assert view["branch"] == "580" and view["version_pin"] == "580.95.05"
    assert view["version_differs"] == "driver 418.39 differs from nvidia_driver_version=580.95.05"
    same = dict(info, driver_version="580.95.05")
    assert driver_view(same, config(nvidia_driver_version="580.95.05"), TF21)["version_differs"] is None


@pytest.mark.parametrize("name, reason", [("wsl2_windows_driver", "WSL2"), ("no_gpu_no_driver", "no NVIDIA GPU")])
def test_wsl2_and_gpu_less_hosts_get_no_branch(name, reason):
    view = driver_view(recorded(name), config(), TF21)
    assert view["branch"] is None and view["branch_error"] is None and view["branch_reason"].startswith(reason)


def test_table_and_json_show_branch_problem_reboot_and_pin():
    k80 = as_k80_on(recorded("driver_418_titan_x_name_lookup"), "535.183.01")
    fleet = [host("ws01", k80, nvidia_driver_version="535.183.01"),
             host("ws02", recorded("reboot_with_people_and_gpu_job"), nvidia_driver_version="535.183.01"),
             host("ws03", recorded("wsl2_windows_driver"))]
    table = as_table(fleet)
    header = table.splitlines()[0]
    assert header.split()[:5] == ["host", "gpus", "driver", "branch", "conda"]
    at = header.index("branch")
    branch = {line.split()[0]: line[at:].split()[0] for line in table.splitlines()[2:5]}
    assert branch == {"ws01": "refused", "ws02": "535", "ws03": "WSL2"}  # ws01: a K80 and the pin's 535
    assert "ws01: driver branch: the deploy would fail this host: driver branch 535 cannot drive Tesla K80" in table
    assert ("ws01: running driver: driver branch 535 cannot drive Tesla K80 (0x102d): NVIDIA's lists drive it "
            "with 390 to 470 (the real driver refuses to load on it)") in table
    assert "ws02: reboot pending: driver 580.95.05 installed, 410.48 is loaded; 2 users logged in, 1 GPU process" in table
    assert "ws02: driver 410.48 differs from nvidia_driver_version=535.183.01" in table
    assert "ws01: driver 535.183.01 differs" not in table
    hosts = {h["name"]: h for h in json.loads(as_json(fleet))["hosts"]}
    assert hosts["ws02"]["driver_plan"]["branch"] == "535" and hosts["ws02"]["driver_plan"]["version_pin"] == "535.183.01"
    assert hosts["ws01"]["driver_plan"]["branch_problem"].startswith("driver branch 535 cannot drive Tesla K80")
