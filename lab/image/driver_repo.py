"""The lab's apt repository of STAND-IN NVIDIA driver packages, one set per driver branch.

Real Ubuntu names and real apt/dpkg mechanics, stand-in contents:
  nvidia-driver-<branch>      the "kernel module" (postinst: DKMS build + modprobe, simulated)
  nvidia-utils-<branch>       /usr/bin/nvidia-smi (the branch's real output layout)
  libnvidia-compute-<branch>  /usr/lib/x86_64-linux-gnu/libcuda.so.1 (stub driver API)
Each package Provides/Conflicts/Replaces a virtual name shared by all branches, so a real
``apt-get install nvidia-driver-535`` on a host with 440 removes 440, as on Ubuntu.
The repository is unsigned; hosts trust it with ``[trusted=yes]`` (a lab-only shortcut).

Each branch's "kernel module" carries that branch's chip list, generated at build time from
NVIDIA's own supported-chips lists as committed in stacks/data/nvidia_supported_gpus.json
(``supported-gpus``: the device ids the branch drives; ``legacy-gpus``: the ids NVIDIA moved to an
older legacy branch, with that branch), so the stand-in refuses a chip the real branch refuses
(modprobe-nvidia). Branches 515 and newer also come as ``nvidia-driver-<branch>-open`` (NVIDIA's
open kernel modules, Turing and newer: the lists' ``kernelopen`` feature), as Ubuntu ships them.
"""

import shutil
import subprocess
from pathlib import Path

from stacks import nvidia_chips
from stacks.nvidia_lists import branch_key

from .. import stamps
from ..paths import LAB_SOURCES, LabPaths
from . import compile as cc

DRIVER_SOURCES = LAB_SOURCES / "standins" / "driver"

# branch version -> the CUDA version its libcuda reports (cuDriverGetVersion), NVIDIA Table 3.
BRANCHES = {
    "410.48": 10000,       # too old for CUDA 10.1 (needs >= 418.39): the "upgrade needed" case
    "418.87.01": 10010,    # the CUDA 10.1 era's branch: below tf21's 418.96
    "440.100": 10020,
    "450.119.03": 11000,
    "470.256.02": 11040,
    "535.183.01": 12020,
    "550.127.05": 12040,
    "570.211.01": 12080,
    "580.95.05": 13000,
}
OPEN_SINCE = 515  # the first branch with NVIDIA's open kernel modules (R515)
PACKAGE_REVISION = "0lab1"
LIBDIR = "usr/lib/x86_64-linux-gnu"
STANDIN_NOTE = "STAND-IN for the gpuws simulated lab: not an NVIDIA driver, no kernel module."


def _control(name: str, version: str, description: str, depends: list[str], virtual: str,
             section: str) -> str:
    lines = [
        f"Package: {name}", f"Version: {version}", "Architecture: amd64",
        "Maintainer: gpuws lab <lab@gpuws.invalid>", f"Section: {section}", "Priority: optional",
    ]
    if depends:
        lines.append("Depends: " + ", ".join(depends))
    # one branch at a time: the virtual name is shared by every branch's package
    lines += [f"Provides: {virtual}", f"Conflicts: {virtual}", f"Replaces: {virtual}"]
    lines += [f"Description: {description}", f" {STANDIN_NOTE}"]
    return "\n".join(lines) + "\n"


def _deb(stage: Path, pool: Path) -> None:
    control = (stage / "DEBIAN" / "control").read_text()
    fields = dict(line.split(": ", 1) for line in control.splitlines() if ": " in line)
    out = pool / f"{fields['Package']}_{fields['Version']}_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "-b", str(stage), str(out)],
                   check=True, stdout=subprocess.DEVNULL)


def _branch_packages(version: str, cuda: int, work: Path, pool: Path) -> None:
    branch = version.split(".")[0]
    full = f"{version}-{PACKAGE_REVISION}"

    stage = work / f"libnvidia-compute-{branch}"
    lib = stage / LIBDIR
    cc.shared_library(DRIVER_SOURCES / "libcuda.c", lib / f"libcuda.so.{version}", "libcuda.so.1",
                      {"DRIVER_VERSION": version, "DRIVER_CUDA_VERSION": cuda})
    cc.symlink(f"libcuda.so.{version}", lib / "libcuda.so.1")
    (stage / "usr/lib/gpuws-lab").mkdir(parents=True)
    (stage / "usr/lib/gpuws-lab/driver-version").write_text(version + "\n")
    (stage / "DEBIAN").mkdir()
    (stage / "DEBIAN/control").write_text(_control(
        f"libnvidia-compute-{branch}", full, "NVIDIA libcompute package (libcuda.so.1)", [],
        "libnvidia-compute", "libs"))
    (stage / "DEBIAN/triggers").write_text("activate-noawait ldconfig\n")
    _deb(stage, pool)

    stage = work / f"nvidia-utils-{branch}"
    (stage / "usr/bin").mkdir(parents=True)
    shutil.copy(DRIVER_SOURCES / "nvidia-smi", stage / "usr/bin/nvidia-smi")
    (stage / "DEBIAN").mkdir()
    (stage / "DEBIAN/control").write_text(_control(
        f"nvidia-utils-{branch}", full, "NVIDIA driver support binaries (nvidia-smi)",
        [f"libnvidia-compute-{branch} (= {full})"], "nvidia-utils", "utils"))
    _deb(stage, pool)

    flavours = [("", False)] + ([("-open", True)] if int(branch) >= OPEN_SINCE else [])
    for suffix, open_modules in flavours:
        stage = work / f"nvidia-driver-{branch}{suffix}"
        module = stage / "usr/lib/gpuws-lab"
        module.mkdir(parents=True)
        (module / "nvidia-module-version").write_text(version + "\n")
        if branch in nvidia_chips.known_branches():
            # 410 and 440 have no list in the committed table: their stand-ins drive any chip
            supported, legacy = chip_lists(branch, open_modules)
            (module / "supported-gpus").write_text(supported)
            (module / "legacy-gpus").write_text(legacy)
        shutil.copy(DRIVER_SOURCES / "modprobe-nvidia", module / "modprobe-nvidia")
        (stage / "DEBIAN").mkdir()
        shutil.copy(DRIVER_SOURCES / "postinst-driver", stage / "DEBIAN/postinst")
        kind = "open kernel module" if open_modules else "kernel module"
        (stage / "DEBIAN/control").write_text(_control(
            f"nvidia-driver-{branch}{suffix}", full, f"NVIDIA driver metapackage ({kind}, simulated)",
            [f"nvidia-utils-{branch} (= {full})", f"libnvidia-compute-{branch} (= {full})"],
            "nvidia-driver-binary", "non-free/libs"))
        _deb(stage, pool)


def chip_lists(branch: str, open_modules: bool = False) -> tuple[str, str]:
    """(supported, legacy): the branch's chip list as the stand-in module reads it, from NVIDIA's lists.

    supported: "DEVID NAME" per line for every device the branch drives (with the open modules:
    only those NVIDIA marks ``kernelopen``); legacy: "DEVID LEGACYBRANCH NAME" for devices NVIDIA
    moved to a legacy branch this one no longer drives (the kernel log names that branch).
    """
    supported, legacy = [], []
    for devid, row in sorted(nvidia_chips.table()["devices"].items()):
        if nvidia_chips.branch_supports(branch, devid) and (row.get("kernelopen") or not open_modules):
            supported.append(f"{devid} {row['name']}")
        elif row.get("legacy") and branch_key(row["legacy"]) < branch_key(branch):
            legacy.append(f"{devid} {row['legacy']} {row['name']}")
    return "\n".join(supported) + "\n", "\n".join(legacy) + "\n"


def _index(repo: Path) -> None:
    binary = repo / "dists/lab/main/binary-amd64"
    binary.mkdir(parents=True, exist_ok=True)
    packages = subprocess.run(["apt-ftparchive", "packages", "pool"], cwd=repo, check=True,
                              capture_output=True, text=True).stdout
    (binary / "Packages").write_text(packages)
    subprocess.run(["gzip", "-9kf", str(binary / "Packages")], check=True)
    release = subprocess.run(
        ["apt-ftparchive", "-o", "APT::FTPArchive::Release::Suite=lab",
         "-o", "APT::FTPArchive::Release::Codename=lab",
         "-o", "APT::FTPArchive::Release::Components=main",
         "-o", "APT::FTPArchive::Release::Architectures=amd64",
         "-o", "APT::FTPArchive::Release::Label=gpuws lab stand-in driver packages",
         "release", "dists/lab"], cwd=repo, check=True, capture_output=True, text=True).stdout
    (repo / "dists/lab/Release").write_text(release)


def build(paths: LabPaths, log) -> bool:
    digest = stamps.hash_inputs([Path(__file__), DRIVER_SOURCES, Path(cc.__file__), nvidia_chips.TABLE_PATH],
                                {"branches": BRANCHES, "revision": PACKAGE_REVISION})
    if stamps.is_current(paths.stamps, "driver-repo", digest, paths.apt_repo / "dists/lab/Release"):
        return False
    if shutil.which("apt-ftparchive") is None:
        raise SystemExit("lab build: apt-ftparchive is missing (apt-get install apt-utils)")
    log(f"driver repo: {len(BRANCHES)} branches x 3 stand-in packages")
    shutil.rmtree(paths.apt_repo, ignore_errors=True)
    pool = paths.apt_repo / "pool/main"
    pool.mkdir(parents=True)
    work = paths.build_tmp / "driver-repo"
    shutil.rmtree(work, ignore_errors=True)
    for version, cuda in BRANCHES.items():
        _branch_packages(version, cuda, work, pool)
    _index(paths.apt_repo)
    shutil.rmtree(work, ignore_errors=True)
    stamps.record(paths.stamps, "driver-repo", digest)
    return True
