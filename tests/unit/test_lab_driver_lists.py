"""The lab's stand-in driver branches carry NVIDIA's chip lists (lab/image/driver_repo.py) and the
stand-in module refuses, in the real NVRM texts, a chip its branch does not drive."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lab.image.driver_repo import BRANCHES, chip_lists

MODPROBE = Path(__file__).resolve().parents[2] / "lab" / "standins" / "driver" / "modprobe-nvidia"


def ids(text: str) -> set[str]:
    return {line.split()[0] for line in text.splitlines() if line}


def test_lab_branches_include_the_generations_the_deploy_chooses():
    assert {"418.87.01", "470.256.02", "570.211.01", "580.95.05"} <= set(BRANCHES)


def test_chip_lists_follow_nvidias_lists():
    supported, legacy = chip_lists("535")
    assert "1b80" in ids(supported) and "102d" not in ids(supported)  # GTX 1080 yes, Tesla K80 no
    assert "102d 470 Tesla K80" in legacy.splitlines()
    assert "102d" in ids(chip_lists("470")[0]) and "2b85" not in ids(chip_lists("470")[0])
    assert "2b85" in ids(chip_lists("580")[0])
    open_supported = ids(chip_lists("580", open_modules=True)[0])
    assert "2b85" in open_supported and "1b80" not in open_supported  # open modules: Turing and newer


def test_stand_in_module_refuses_a_k80_on_535_with_the_legacy_line(tmp_path):
    """The module script, rooted in a temporary folder by rewriting its absolute paths."""
    root = tmp_path
    (root / "lib").mkdir()
    supported, legacy = chip_lists("535")
    (root / "lib/supported-gpus").write_text(supported)
    (root / "lib/legacy-gpus").write_text(legacy)
    (root / "lib/nvidia-module-version").write_text("535.183.01\n")
    (root / "hardware.conf").write_text("PCI_DEVICES='0000:00:00.0,0x8086,0x1237,0x060000 0000:01:00.0,0x10de,0x102d,0x030200'\n")
    script = MODPROBE.read_text()
    for old, new in (("/usr/lib/gpuws-lab/", f"{root}/lib/"), ("/etc/gpuws-lab/hardware.conf", f"{root}/hardware.conf"),
                     ("/run/gpuws-lab", f"{root}/run"), ("/proc/driver/nvidia", f"{root}/proc")):
        script = script.replace(old, new)
    (root / "modprobe").write_text(script)
    result = subprocess.run(["sh", str(root / "modprobe")], capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode == 1
    assert result.stderr.strip() == "modprobe: ERROR: could not insert 'nvidia': No such device"
    log = [line.split("] ", 1)[1] for line in (root / "run/kmsg").read_text().splitlines()]
    assert log[:2] == ["NVRM: The NVIDIA Tesla K80 GPU installed in this system is",
                       "NVRM:  supported through the NVIDIA 470.xx Legacy drivers. Please"]
    assert "NVRM: None of the NVIDIA devices were initialized." in log
    assert not (root / "run/nvidia-module").exists()
