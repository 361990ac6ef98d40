"""Maintainer tool: rebuild stacks/data/nvidia_supported_gpus.json from NVIDIA's own chip lists.

    python -m stacks refresh-driver-table --open-gpu-repo CLONE [--output PATH] [--mirror URL]

What it does (docs/knowledge/driver-branches.md explains the table):

1. Debian's non-free archive (bookworm, trixie, sid, experimental) through apt, with a TEMPORARY
   sources list, state and cache directory passed as `-o Dir::...` options: the machine's own apt
   configuration is neither read for sources nor changed. Needs apt-get, apt-cache and dpkg-deb.
2. For every NVIDIA driver branch those suites carry (packages `nvidia-driver`, `nvidia-tesla-driver`,
   `nvidia-tesla-NNN-driver`, `nvidia-legacy-NNNxx-driver`), the newest version is downloaded and
   its list read: usr/share/doc/<package>/supported-gpus.json.gz, or Appendix A of README.txt.gz
   for drivers older than that file (340, 390, 418).
3. Branches newer than Debian's come from a local clone of
   https://github.com/NVIDIA/open-gpu-kernel-modules (its newest tag per branch, README.md's
   "Compatible GPUs" table) plus NVIDIA's notice that 580 is the last branch for Maxwell, Pascal
   and Volta (stacks.nvidia_lists.derive_branch).

This tool needs the network; the tests never run it: they test its parsers on captured samples.
"""

from __future__ import annotations

import argparse
import gzip
import io
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from packaging.version import Version

from . import nvidia_lists
from .nvidia_chips import LAST_PRE_TURING_BRANCH, TABLE_PATH

SUITES = ("bookworm", "trixie", "sid", "experimental")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
DRIVER_PACKAGE = re.compile(r"^nvidia-(?:tesla-(?:\d+-)?|legacy-\d+xx-)?driver$")
OPEN_GPU_URL = "https://github.com/NVIDIA/open-gpu-kernel-modules"
# NVIDIA's Unix graphics feature deprecation schedule: "The 580 release series will be the last to
# support GPUs based on the Maxwell, Pascal, and Volta architectures."
DEPRECATION_NOTICE = "https://forums.developer.nvidia.com/t/unix-graphics-feature-deprecation-schedule/60588"


class Apt:
    """apt-get/apt-cache bound to a private sources list, state and cache under `root`."""

    def __init__(self, root: Path, mirror: str, keyring: str):
        for sub in ("lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d", "debs"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "status").touch()
        (root / "sources.list").write_text("".join(
            f"deb [signed-by={keyring}] {mirror} {suite} non-free\n" for suite in SUITES))
        self.root = root
        self.options = []
        for key, value in (("Dir::Etc::sourcelist", root / "sources.list"),
                           ("Dir::Etc::sourceparts", root / "sources.list.d"),
                           ("Dir::Etc::preferencesparts", root / "preferences.d"),
                           ("Dir::State", root), ("Dir::State::Lists", root / "lists"),
                           ("Dir::State::status", root / "status"), ("Dir::Cache", root / "cache"),
                           ("APT::Architecture", "amd64"), ("APT::Architectures", "amd64")):
            self.options += ["-o", f"{key}={value}"]

    def run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        result = subprocess.run([tool, *self.options, *args], capture_output=True, text=True, cwd=cwd)
        if result.returncode != 0:
            raise SystemExit(f"refresh-driver-table: {tool} {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout


def newest_per_branch(apt: Apt) -> dict[str, dict]:
    """{branch: {package, package_version, version, suites}} for the newest driver of each branch."""
    packages = [name for name in apt.run("apt-cache", "pkgnames", "nvidia-").split() if DRIVER_PACKAGE.match(name)]
    offers = []  # (package, debian version, suite)
    for line in apt.run("apt-cache", "madison", *sorted(packages)).splitlines():
        package, version, where = (part.strip() for part in line.split("|"))
        offers.append((package, version, where.split()[1].split("/")[0]))
    best: dict[str, dict] = {}
    for package, version, suite in offers:  # madison lists each package's versions newest first
        upstream = version.split(":")[-1].rsplit("-", 1)[0]
        branch = upstream.split(".")[0]
        current = best.get(branch)
        if current is None or Version(upstream) > Version(current["version"]):
            best[branch] = {"version": upstream, "package": package, "package_version": version, "suites": []}
    for package, version, suite in offers:
        row = best[version.split(":")[-1].rsplit("-", 1)[0].split(".")[0]]
        if (package, version) == (row["package"], row["package_version"]) and suite not in row["suites"]:
            row["suites"].append(suite)
    return best


def read_debian_list(apt: Apt, row: dict) -> list[nvidia_lists.Chip]:
    """Download one driver package and parse the chip list it carries; fills row["file"], row["source"]."""
    spec = f"{row['package']}={row['package_version']}"
    filename = next(line.split(":", 1)[1].strip() for line in apt.run("apt-cache", "show", spec).splitlines()
                    if line.startswith("Filename:"))
    debs = apt.root / "debs"
    apt.run("apt-get", "download", spec, cwd=debs)
    deb = debs / Path(filename).name
    payload = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    doc = f"usr/share/doc/{row['package']}"
    with tarfile.open(fileobj=io.BytesIO(payload)) as archive:
        members = {member.name.lstrip("./"): member for member in archive.getmembers()}
        for name, parse in ((f"{doc}/supported-gpus.json.gz", nvidia_lists.parse_supported_gpus_json),
                            (f"{doc}/README.txt.gz", nvidia_lists.parse_readme_appendix)):
            if name in members:
                text = gzip.decompress(archive.extractfile(members[name]).read()).decode("utf-8")
                row["file"] = name
                row["source"] = f"{DEBIAN_MIRROR}/{filename}"
                return parse(text)
    raise SystemExit(f"refresh-driver-table: {deb.name} carries neither supported-gpus.json.gz nor README.txt.gz")


def open_gpu_releases(clone: Path, newer_than: str) -> dict[str, str]:
    """{branch: newest tag} of the open-gpu-kernel-modules clone, for branches after `newer_than`."""
    tags = subprocess.run(["git", "-C", str(clone), "tag"], capture_output=True, text=True, check=True).stdout.split()
    newest: dict[str, str] = {}
    for tag in tags:
        if not re.fullmatch(r"\d+(\.\d+)+", tag):
            continue
        branch = tag.split(".")[0]
        if int(branch) > int(newer_than) and (branch not in newest or Version(tag) > Version(newest[branch])):
            newest[branch] = tag
    return newest


def build_table(apt: Apt, clone: Path) -> dict:
    """Read every list and return the compacted table (see stacks.nvidia_lists.compact)."""
    lists = []
    for branch, row in sorted(newest_per_branch(apt).items(), key=lambda item: int(item[0])):
        chips = read_debian_list(apt, row)
        row["from"] = "debian"
        lists.append((branch, row, chips))
        print(f"{branch}: {row['package']} {row['package_version']} ({', '.join(row['suites'])}): {len(chips)} rows",
              file=sys.stderr)
    base_branch, _row, base = lists[-1]
    for branch, tag in sorted(open_gpu_releases(clone, base_branch).items(), key=lambda item: int(item[0])):
        readme = subprocess.run(["git", "-C", str(clone), "show", f"{tag}:README.md"],
                                capture_output=True, text=True, check=True).stdout
        chips = nvidia_lists.derive_branch(base, nvidia_lists.parse_open_gpu_readme(readme),
                                           LAST_PRE_TURING_BRANCH, branch)
        info = {"version": tag, "from": "derived",
                "source": f"{OPEN_GPU_URL}/blob/{tag}/README.md (Compatible GPUs); {DEPRECATION_NOTICE}",
                "rule": (f"Turing and later: the chips that README lists; pre-Turing: what {base_branch} drives, "
                         f"up to {LAST_PRE_TURING_BRANCH} (legacy {LAST_PRE_TURING_BRANCH} after it)")}
        lists.append((branch, info, chips))
        print(f"{branch}: derived from {tag}: {len(chips)} rows", file=sys.stderr)
    table = {"about": ("NVIDIA's supported chips per driver branch, written by `python -m stacks "
                       "refresh-driver-table`; do not edit by hand. Format and sources: "
                       "docs/knowledge/driver-branches.md")}
    table.update(nvidia_lists.compact(lists))
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks refresh-driver-table", description=__doc__.split("\n")[0])
    parser.add_argument("--open-gpu-repo", required=True, type=Path,
                        help=f"a git clone of {OPEN_GPU_URL} (its tags are read)")
    parser.add_argument("--output", type=Path, default=TABLE_PATH)
    parser.add_argument("--mirror", default=DEBIAN_MIRROR, help="a Debian mirror URL")
    parser.add_argument("--keyring", default=DEBIAN_KEYRING, help="the Debian archive keyring apt checks against")
    args = parser.parse_args(argv)
    if not (args.open_gpu_repo / "HEAD").exists() and not (args.open_gpu_repo / ".git").exists():
        print(f"refresh-driver-table: {args.open_gpu_repo} is not a git clone: git clone {OPEN_GPU_URL}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="gpuws-apt-") as tmp:
        apt = Apt(Path(tmp), args.mirror, args.keyring)
        apt.run("apt-get", "update")
        table = build_table(apt, args.open_gpu_repo)
    args.output.write_text(nvidia_lists.dumps_table(table), encoding="utf-8")
    print(f"wrote {args.output}: {len(table['branches'])} branches, {len(table['devices'])} devices", file=sys.stderr)
    return 0
