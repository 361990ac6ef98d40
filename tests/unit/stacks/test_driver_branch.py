"""The driver-branch resolver: every decision, and `python -m stacks driver-branch` as a user runs it.

Device ids are NVIDIA's (stacks/data/nvidia_supported_gpus.json): 0x102d Tesla K80, 0x103a Quadro K6000,
0x1380 GTX 750 Ti, 0x1b80 GTX 1080, 0x1e04 RTX 2080 Ti, 0x20b0 A100, 0x2330 H100, 0x2335 H200,
0x2684 RTX 4090, 0x2b85 RTX 5090, 0x06c0 GTX 480 (Fermi).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.driver_branch import choose, describe_gpu, explain_unsupported
from stacks.errors import StackError

ROOT = Path(__file__).resolve().parents[3]

# The closing table of issue 9: device id -> (branch without a stack, branch with tf21 or None when refused).
EXPECTED = {
    "0x102d": ("470", "470"),   # Kepler: NVIDIA's 470 legacy branch (long-term)
    "0x103a": ("470", "470"),
    "0x1380": ("580", "580"),   # Maxwell: 580 is the last branch
    "0x1b80": ("580", "580"),   # Pascal
    "0x1e04": ("580", "580"),   # Turing: newest long-term branch
    "0x20b0": ("580", None),    # Ampere: tf21's CUDA 10.1 stops at 7.5
    "0x2330": ("580", None),    # Hopper
    "0x2335": ("580", None),
    "0x2684": ("580", None),    # Ada
    "0x2b85": ("580", None),    # Blackwell: 570 and newer, 580 is long-term
}


@pytest.mark.parametrize("pci_id", sorted(EXPECTED))
def test_branch_per_gpu_without_and_with_tf21(pci_id):
    plain, with_tf21 = EXPECTED[pci_id]
    assert choose([pci_id]).branch == plain
    if with_tf21 is None:
        with pytest.raises(StackError, match=r"tf21: GPU compute capability \d+\.\d is not supported"):
            choose([pci_id], stack="tf21")
    else:
        assert choose([pci_id], stack="tf21").branch == with_tf21


def test_kepler_choice_names_the_legacy_branch_and_every_candidate():
    choice = choose(["0x102d"])
    assert choice.candidates == ["470", "460", "450", "418"]  # newest first; 390 is older than anything installed
    assert choice.reason.startswith("470 (470.256.02) is the newest long-term branch")
    assert "NVIDIA's last branch for Tesla K80" in choice.reason
    assert choice.gpus == [{"pci_id": "0x102d", "name": "Tesla K80", "compute_capability": "3.7",
                            "branches": ["390", "418", "450", "460", "470"], "legacy": "470", "kernelopen": False}]


def test_long_term_branch_wins_over_a_newer_one():
    choice = choose(["0x2b85"])
    assert choice.candidates == ["595", "590", "580", "575", "570"]
    assert choice.branch == "580"
    assert "(end of life: 2028-08)" in choice.reason


def test_several_gpus_get_the_newest_branch_that_drives_them_all():
    assert choose(["0x1b80", "0x1e04"]).branch == "580"
    assert choose(["0x102d", "0x1b80"]).branch == "470"   # Kepler beside Pascal: 470 drives both
    assert choose(["0x102d", "0x102d"]).gpus == choose(["0x102d"]).gpus  # duplicates count once


def test_no_long_term_branch_picks_the_newest(monkeypatch):
    from stacks import nvidia_chips
    monkeypatch.setattr(nvidia_chips, "is_long_term", lambda branch: False)
    assert choose(["0x2b85"]).branch == "595"


def test_kepler_and_ada_in_one_box_is_refused_naming_both():
    with pytest.raises(StackError) as error:
        choose(["0x102d", "0x2684"])
    assert str(error.value) == ("no driver branch drives all these GPUs (Tesla K80 (0x102d): 418 to 470; "
                                "NVIDIA GeForce RTX 4090 (0x2684): 525 to 595): put them in different hosts")


def test_fermi_is_refused_it_has_only_the_390_legacy_branch():
    with pytest.raises(StackError, match=r"GeForce GTX 480 \(0x06c0\) is driven only by NVIDIA's 390.xx legacy "
                                         r"driver, older than any branch installed here \(418 and newer\)"):
        choose(["0x06c0"])


def test_unknown_device_id_is_refused_with_how_to_fix():
    with pytest.raises(StackError, match=r"0xffff is in none of NVIDIA's supported-chips lists known here "
                                         r"\(newest: 595\.45\.04\).*refresh-driver-table"):
        choose(["0xffff"])


@pytest.mark.parametrize("ids, message", [([], "no GPU given"), (None, "no GPU given"),
                                          (["0x12345"], "malformed PCI device id"),
                                          (["1002:67df"], "not an NVIDIA device")])
def test_bad_input_is_one_line(ids, message):
    with pytest.raises(StackError, match=message):
        choose(ids)


def test_stack_minimum_driver_removes_branches_too_old(monkeypatch):
    import stacks.driver_branch as module
    real = module.resolve
    monkeypatch.setattr(module, "resolve", lambda spec: {**real(spec), "min_driver": "460.0"})
    assert choose(["0x102d"], stack="tf21").candidates == ["470", "460"]
    monkeypatch.setattr(module, "resolve", lambda spec: {**real(spec), "min_driver": "525.60.13"})
    with pytest.raises(StackError, match=r"tf21 needs driver 525\.60\.13 or newer, but the branches that drive "
                                         r"Tesla K80 \(0x102d\) stop at 470 \(470\.256\.02\)"):
        choose(["0x102d"], stack="tf21")


def test_unknown_stack_is_the_resolvers_error():
    with pytest.raises(StackError, match="unknown stack 'tf99'"):
        choose(["0x102d"], stack="tf99")


def test_unknown_compute_capability_is_said_not_hidden(monkeypatch):
    import stacks.driver_branch as module
    monkeypatch.setattr(module, "compute_capability_for", lambda name: None)
    choice = choose(["0x1b80"], stack="tf21")
    assert choice.branch == "580"
    assert "compute capability of NVIDIA GeForce GTX 1080 unknown" in choice.reason


def test_describe_gpu_and_explain_unsupported():
    assert describe_gpu("10de:2b85")["kernelopen"] is True
    assert explain_unsupported("470", ["0x102d"]) is None
    assert explain_unsupported("535", ["0x102d", "0x1b80"]) == (
        "driver branch 535 cannot drive Tesla K80 (0x102d): NVIDIA's lists drive it with 390 to 470")
    assert explain_unsupported("580.142", ["0x2b85"]) is None


# -- the CLI -------------------------------------------------------------------------------------

def run(*args):
    return subprocess.run([sys.executable, "-m", "stacks", "driver-branch", *args], cwd=ROOT,
                          capture_output=True, text=True)


def test_cli_json_has_the_contract_keys():
    result = run("--pci-id", "0x102d", "--stack", "tf21", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["branch"] == "470" and document["candidates"] == ["470", "460", "450", "418"]
    assert document["reason"].endswith("and meets tf21's minimum driver; it is NVIDIA's last branch for Tesla K80")


def test_cli_summary():
    result = run("--pci-id", "0x1b80")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "branch      580"
    assert lines[1].startswith("candidates  580, 575, 570,")
    assert lines[3].startswith("gpu         0x1b80 NVIDIA GeForce GTX 1080 (compute capability 6.1): branches 390,")


@pytest.mark.parametrize("args, message", [
    (["--pci-id", "0x06c0"], "legacy driver"),
    (["--pci-id", "0x102d", "--pci-id", "0x2684"], "no driver branch drives all these GPUs"),
    (["--pci-id", "0x20b0", "--stack", "tf21"], "compute capability 8.0 is not supported"),
    (["--pci-id", "0xffff"], "none of NVIDIA's supported-chips lists"),
    (["--pci-id", "nope"], "malformed PCI device id 'nope'"),
])
def test_cli_exits_2_with_one_line(args, message):
    result = run(*args, "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stacks: ") and message in lines[0]


def test_cli_without_pci_id_is_a_usage_error():
    result = run("--json")
    assert result.returncode == 2 and "--pci-id" in result.stderr
