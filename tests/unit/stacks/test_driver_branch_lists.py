"""NVIDIA's chip lists: the parsers on captured excerpts, the compaction, and the committed table.

Excerpts: tests/fixtures/nvidia_lists/ (SOURCES.md says where each was cut from).
"""

import json
from pathlib import Path

import pytest

from stacks import nvidia_chips
from stacks.errors import StackError
from stacks.nvidia_lists import (Chip, compact, derive_branch, dumps_table, parse_open_gpu_readme,
                                 parse_readme_appendix, parse_supported_gpus_json)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "nvidia_lists"


def read(name):
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_supported_gpus_json_rows_keep_legacy_branch_subsystem_and_open_modules():
    chips = parse_supported_gpus_json(read("supported-gpus_535.261.03_excerpt.json"))
    by_key = {(chip.devid, chip.subsystem): chip for chip in chips}
    assert by_key[("102d", "")] == Chip("102d", "Tesla K80", "", "470", False)
    assert by_key[("06c0", "")].legacy == "390"
    assert by_key[("0020", "")].legacy == "71.86"
    assert by_key[("1380", "")] == Chip("1380", "NVIDIA GeForce GTX 750 Ti", "", None, False)
    assert by_key[("1e30", "")] == Chip("1e30", "Quadro RTX 6000", "", None, True)
    assert by_key[("1e30", "1028:129e")] == Chip("1e30", "Quadro RTX 8000", "1028:129e", None, True)
    assert by_key[("2684", "")] == Chip("2684", "NVIDIA GeForce RTX 4090", "", None, True)
    assert len(chips) == 9


def test_supported_gpus_json_without_devid_is_refused():
    with pytest.raises(ValueError, match=r"chips\[0\]"):
        parse_supported_gpus_json('{"chips": [{"name": "no id"}]}')


def test_readme_appendix_reads_main_tables_subsystems_and_legacy_sections():
    chips = parse_readme_appendix(read("README_418.226.00_appendix_a_excerpt.txt"))
    assert Chip("102d", "Tesla K80", "", None, False) in chips
    assert Chip("0fd2", "GeForce GT 640M LE", "1028:0595", None, False) in chips
    assert Chip("06c0", "GeForce GTX 480", "", "390", False) in chips
    assert [chip.devid for chip in chips if chip.legacy == "390"] == ["06c0", "06c4", "06ca", "06cd"]
    assert len([chip for chip in chips if chip.legacy is None]) == 17  # 7 GeForce rows (2 by subsystem), 10 Tesla


def test_readme_appendix_of_340_reads_0x_ids_and_the_subsystem_device_alone():
    chips = parse_readme_appendix(read("README_340.108_appendix_a_excerpt.txt"))
    assert [(chip.devid, chip.subsystem) for chip in chips] == [
        ("0191", ""), ("0193", ""), ("0606", ""), ("0609", ""), ("0609", "*:00a7"), ("060d", "")]


def test_readme_without_appendix_or_with_a_broken_row_is_refused():
    with pytest.raises(ValueError, match="no 'Appendix A"):
        parse_readme_appendix("Appendix B. X Config Options\n")
    broken = read("README_340.108_appendix_a_excerpt.txt").replace("0x0193", "0xZZZZ")
    with pytest.raises(ValueError, match="GeForce 8800 GTS"):
        parse_readme_appendix(broken)


def test_open_gpu_readme_rows_are_open_module_chips():
    chips = parse_open_gpu_readme(read("open-gpu-kernel-modules_580.142_README_excerpt.md"))
    assert chips[0] == Chip("1e02", "NVIDIA TITAN RTX", "", None, True)
    assert Chip("2335", "NVIDIA H200", "10de:18be", None, True) in chips
    assert Chip("2b85", "NVIDIA GeForce RTX 5090", "", None, True) in chips
    assert len(chips) == 13
    with pytest.raises(ValueError, match="Compatible GPUs"):
        parse_open_gpu_readme("# README\n")


BASE = [Chip("102d", "Tesla K80", "", "470"), Chip("1b80", "GeForce GTX 1080"),
        Chip("1e04", "RTX 2080 Ti", "", None, True)]
README = [Chip("1e04", "NVIDIA GeForce RTX 2080 Ti", "", None, True), Chip("2b85", "NVIDIA GeForce RTX 5090", "", None, True)]


def test_derived_branch_keeps_pre_turing_up_to_580_and_marks_it_legacy_after():
    up_to = derive_branch(BASE, README, "580", "580")
    after = derive_branch(BASE, README, "580", "590")
    assert Chip("1b80", "GeForce GTX 1080") in up_to
    assert Chip("1b80", "GeForce GTX 1080", "", "580") in after
    assert Chip("102d", "Tesla K80", "", "470") in up_to and Chip("102d", "Tesla K80", "", "470") in after
    # Turing and later come from the release's README only, never from the base list.
    assert [chip.name for chip in after if chip.devid == "1e04"] == ["NVIDIA GeForce RTX 2080 Ti"]


def test_compact_merges_branches_newest_name_and_legacy():
    table = compact([
        ("580", {"version": "580.142", "source": "s"}, derive_branch(BASE, README, "580", "580")),
        ("470", {"version": "470.256.02", "source": "s"}, [Chip("102d", "Tesla K80"), Chip("1b80", "GeForce GTX 1080")]),
        ("590", {"version": "590.48.01", "source": "s"}, derive_branch(BASE, README, "580", "590")),
    ])
    assert list(table["branches"]) == ["470", "580", "590"]
    assert table["devices"]["102d"] == {"name": "Tesla K80", "branches": ["470"], "legacy": "470", "kernelopen": False}
    assert table["devices"]["1b80"] == {"name": "GeForce GTX 1080", "branches": ["470", "580"], "legacy": "580",
                                        "kernelopen": False}
    assert table["devices"]["2b85"] == {"name": "NVIDIA GeForce RTX 5090", "branches": ["580", "590"],
                                        "legacy": None, "kernelopen": True}
    assert json.loads(dumps_table(table)) == table


def test_compact_keeps_subsystem_names():
    table = compact([("535", {"version": "535.274.02", "source": "s"},
                      parse_supported_gpus_json(read("supported-gpus_535.261.03_excerpt.json")))])
    assert table["devices"]["1e30"]["subsystems"]["1028:129e"] == "Quadro RTX 8000"
    assert "subsystems" not in table["devices"]["102d"]


# -- the committed table (stacks/data/nvidia_supported_gpus.json) ----------------------------

def test_committed_table_records_the_source_of_every_branch():
    branches = nvidia_chips.table()["branches"]
    for branch in ("340", "390", "418", "450", "460", "470", "525", "535", "550", "555"):
        assert branches[branch]["from"] == "debian"
        assert branches[branch]["source"].startswith("http://deb.debian.org/debian/pool/non-free/")
        assert branches[branch]["package"] and branches[branch]["package_version"] and branches[branch]["suites"]
    for branch in ("570", "575", "580", "590"):
        assert branches[branch]["from"] == "derived"
        assert "github.com/NVIDIA/open-gpu-kernel-modules/blob/" in branches[branch]["source"]
    assert branches["470"]["version"] == "470.256.02"
    assert (FILE := nvidia_chips.TABLE_PATH).stat().st_size < 400_000, FILE


@pytest.mark.parametrize("pci_id, name, last, legacy", [
    ("0x06c0", "GeForce GTX 480", "390", "390"),               # Fermi
    ("0x102d", "Tesla K80", "470", "470"),                     # Kepler
    ("0x103a", "Quadro K6000", "470", "470"),
    ("0x1380", "NVIDIA GeForce GTX 750 Ti", "580", "580"),     # Maxwell: 580 is the last
    ("0x1b80", "NVIDIA GeForce GTX 1080", "580", "580"),       # Pascal
    ("0x1e04", "NVIDIA GeForce RTX 2080 Ti", "595", None),     # Turing
    ("0x2b85", "NVIDIA GeForce RTX 5090", "595", None),        # Blackwell
])
def test_committed_table_follows_nvidia_legacy_moves(pci_id, name, last, legacy):
    assert nvidia_chips.gpu_name(pci_id) == name
    assert nvidia_chips.branches_for(pci_id)[-1] == last
    assert nvidia_chips.legacy_branch(pci_id) == legacy


def test_branch_support_lookups():
    assert nvidia_chips.branch_supports("470", "0x102d") and not nvidia_chips.branch_supports("535", "0x102d")
    assert nvidia_chips.branch_supports("470.256.02", "10de:102d")
    assert nvidia_chips.branches_for("0x2b85") == ["570", "575", "580", "590", "595"]
    assert not nvidia_chips.branch_supports("555", "0x2b85")
    assert nvidia_chips.kernel_open("0x2b85") and not nvidia_chips.kernel_open("0x1b80")
    assert nvidia_chips.gpu_name("0xffff") is None and nvidia_chips.branches_for("0xffff") == []
    assert nvidia_chips.is_long_term("580") and nvidia_chips.is_long_term("470") and not nvidia_chips.is_long_term("590")


@pytest.mark.parametrize("text, expected", [("0x102D", "102d"), ("102d", "102d"), ("10de:2B85", "2b85"),
                                            ("0x10de:0x2b85", "2b85"), (" 0x1e04 ", "1e04")])
def test_pci_id_forms(text, expected):
    assert nvidia_chips.parse_pci_id(text) == expected


@pytest.mark.parametrize("text, message", [("zz", "malformed PCI device id 'zz'"), ("0x102", "malformed"),
                                           ("1002:102d", "not an NVIDIA device"), ("", "malformed"),
                                           (None, "malformed")])
def test_bad_pci_ids_are_one_line_errors(text, message):
    with pytest.raises(StackError, match=message):
        nvidia_chips.parse_pci_id(text)


# -- the refresh tool's command line (its network part is never run by the tests) --------------

def test_refresh_without_a_clone_of_open_gpu_kernel_modules_exits_2(tmp_path):
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[3]
    missing = subprocess.run([sys.executable, "-m", "stacks", "refresh-driver-table"], cwd=root,
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "--open-gpu-repo" in missing.stderr
    not_git = subprocess.run([sys.executable, "-m", "stacks", "refresh-driver-table", "--open-gpu-repo", str(tmp_path),
                              "--output", str(tmp_path / "out.json")], cwd=root, capture_output=True, text=True)
    assert not_git.returncode == 2
    assert not_git.stderr.strip().splitlines() == [
        f"refresh-driver-table: {tmp_path} is not a git clone: git clone https://github.com/NVIDIA/open-gpu-kernel-modules"]
    assert not (tmp_path / "out.json").exists()
