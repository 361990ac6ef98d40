"""The driver branch and module flavour per host (operations/util/driver_choice.py), the distro
packages per branch (driver_packages.py), WSL2 (driver_wsl.py) and the reboot guard's wording."""

import pytest

from operations.driver import people_on_host
from operations.util.driver_choice import plan_driver, running_branch_problem
from operations.util.driver_packages import branch_packages, pinned
from operations.util.driver_wsl import wsl_driver_problem, wsl_gpu_problem


def host(*ids, **extra):
    return {"pci_devices": [{"vendor": "0x10de", "device": i} for i in ids], **extra}


@pytest.mark.parametrize("ids, stack, branch, open_modules", [
    (["0x102d"], "tf21", "470", False),        # Tesla K80: NVIDIA's 470 legacy branch
    (["0x1b80"], "tf21", "580", False),        # GTX 1080 (Pascal): 580, proprietary only
    (["0x2b85"], None, "580", True),           # RTX 5090 (Blackwell): open modules required
    (["0x20b0"], None, "580", True),           # A100: open preferred from 560 on
])
def test_auto_branch_per_host(ids, stack, branch, open_modules):
    plan = plan_driver(host(*ids), "auto", stack)
    assert (plan.branch, plan.open_modules, plan.error) == (branch, open_modules, None)


def test_explicit_branch_that_cannot_drive_the_gpu_fails_naming_it():
    plan = plan_driver(host("0x102d"), "535", "tf21", min_version="418.96")
    assert plan.branch is None
    assert plan.error.startswith("driver branch 535 cannot drive Tesla K80 (0x102d): NVIDIA's lists drive it with")
    assert "470" in plan.error


def test_pinned_version_fixes_the_branch_and_is_checked():
    assert plan_driver(host("0x1b80"), "auto", version="535.183.01").branch == "535"
    assert "cannot drive Tesla K80" in plan_driver(host("0x102d"), "auto", version="535.183.01").error


@pytest.mark.parametrize("modules, ids, needle", [
    ("proprietary", ["0x2b85"], "runs only on NVIDIA's open kernel modules"),
    ("open", ["0x1b80"], "open kernel modules do not drive NVIDIA GeForce GTX 1080"),
])
def test_module_flavour_conflicts_fail_the_host(modules, ids, needle):
    assert needle in plan_driver(host(*ids), "auto", None, modules).error


def test_no_pci_ids_and_mixed_generations_fail_with_one_line():
    assert "set data nvidia_driver_branch" in plan_driver(host(), "auto").error
    assert plan_driver(host("0x102d", "0x2684"), "auto").error.startswith("no driver branch drives all these GPUs")


def test_running_branch_that_cannot_drive_a_gpu_is_named():
    assert "535 cannot drive Tesla K80" in running_branch_problem(host("0x102d", driver_version="535.183.01"))
    assert running_branch_problem(host("0x102d", driver_version="470.256.02")) is None


@pytest.mark.parametrize("family, branch, open_modules, packages", [
    ("ubuntu", "470", False, ["nvidia-driver-470"]),
    ("ubuntu", "580", True, ["nvidia-driver-580-open"]),
    ("debian", "470", False, ["nvidia-tesla-470-driver"]),
    ("debian", "535", False, ["nvidia-driver"]),
    ("debian", "550", True, ["nvidia-open-kernel-dkms", "nvidia-driver"]),
    ("rhel", "535", False, ["nvidia-driver:535-dkms"]),
    ("rhel", "580", True, ["nvidia-driver:580-open"]),
])
def test_packages_per_distro(family, branch, open_modules, packages):
    assert branch_packages(family, branch, open_modules) == packages


def test_version_pin_per_package_manager():
    assert pinned(["nvidia-driver-535"], "apt", "535.183.01") == ["nvidia-driver-535=535.183.01-*"]
    assert pinned(["nvidia-driver"], "apt", "535.261.03-1") == ["nvidia-driver=535.261.03-1"]
    assert pinned(["nvidia-driver:535-dkms"], "dnf", "535.183.01") == ["nvidia-driver:535-dkms", "nvidia-driver-535.183.01"]
    assert pinned(["nvidia-driver-535"], "apt", None) == ["nvidia-driver-535"]


def test_reboot_guard_counts_people_and_gpu_processes():
    assert people_on_host({"users": ["alice", "bob"], "gpu_processes": [{"pid": 1, "name": "python"}]}) == (
        "2 users logged in, 1 GPU process")
    assert people_on_host({"users": [], "gpu_processes": None}) is None


def test_wsl_driver_and_gpu_checks():
    assert wsl_driver_problem({"driver_version": "551.86"}, "418.96", "tf21") is None
    old = wsl_driver_problem({"driver_version": "411.31"}, "418.96", "tf21")
    assert "update the Windows NVIDIA driver to >= 418.96" in old
    assert "compute capability >= 6.0" in wsl_gpu_problem([{"name": "GeForce GTX 980", "compute_capability": "5.2"}])
    assert wsl_gpu_problem([{"name": "GeForce GTX 1080", "compute_capability": "6.1"}]) is None
