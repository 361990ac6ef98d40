"""A Miniconda-style installer (``mirror/miniconda/``) carrying the lab's real conda 4.3.16.

The installer script is a STAND-IN (lab/standins/miniconda/installer-header.sh); the payload is a
base prefix that py-rattler solves and links from the lab channel (python 3.7.16, conda 4.3.16 and
its dependencies, pip), recorded in conda-meta like a real install. A ``.sha256`` file sits next
to it, as mirrors publish. The base ``.condarc`` points ``defaults`` at the lab channel, which is
how an air-gapped site configures Miniconda; the tool must not rely on it (it writes its own).
"""

import asyncio
import hashlib
import io
import shutil
import tarfile
from pathlib import Path

from .. import stamps
from ..paths import LAB_SOURCES, MIRROR_URL, LabPaths

INSTALLER_NAME = "Miniconda3-lab-py37_4.3.16-Linux-x86_64.sh"
BASE_SPECS = ["python=3.7", "conda=4.3.16", "pip"]
HEADER = LAB_SOURCES / "standins/miniconda/installer-header.sh"
# A long, unique build prefix: it is replaced by the install prefix in every text file.
BUILD_PREFIX_NAME = "_gpuws_lab_miniconda_build_prefix_placeholder_path_"


def installer_path(paths: LabPaths) -> Path:
    return paths.miniconda_dir / INSTALLER_NAME


async def _assemble(channel: Path, prefix: Path, cache: Path) -> list[str]:
    import rattler

    records = await rattler.solve([rattler.Channel(channel.resolve().as_uri())], BASE_SPECS,
                                  platforms=["linux-64", "noarch"],
                                  gateway=rattler.Gateway(cache_dir=cache / "repodata"),
                                  add_pip_as_python_dependency=True)
    # absolute prefix: with a relative one rattler writes relative shebangs
    await rattler.install(records, prefix.resolve(), cache_dir=cache / "pkgs", show_progress=False)
    return [f"{r.name.normalized}-{r.version}-{r.build}" for r in records]


def _prefix_files(prefix: Path) -> list[str]:
    marker = str(prefix).encode()
    found = []
    for path in prefix.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if marker in data and b"\0" not in data[:8192]:
                found.append(path.relative_to(prefix).as_posix())
    return sorted(found)


def build(paths: LabPaths, log) -> bool:
    digest = stamps.hash_inputs([Path(__file__), HEADER, paths.conda_channel / "linux-64/repodata.json"],
                                [BASE_SPECS, MIRROR_URL])
    out = installer_path(paths)
    if stamps.is_current(paths.stamps, "miniconda", digest, out):
        return False
    log(f"miniconda: {INSTALLER_NAME} (payload solved from the lab channel with py-rattler)")
    work = paths.build_tmp / "miniconda"
    shutil.rmtree(work, ignore_errors=True)
    prefix = work / BUILD_PREFIX_NAME
    # a fresh package cache: rattler can crash on a cached package of the same name and other content
    asyncio.run(_assemble(paths.conda_channel, prefix, work / "cache"))
    (prefix / ".condarc").write_text(
        "# written by the gpuws lab's stand-in installer: `defaults` is the lab mirror\n"
        f"default_channels:\n  - {MIRROR_URL}/conda/lab\n")
    (prefix / ".lab-prefix-files").write_text("\n".join(_prefix_files(prefix)) + "\n")
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w:gz", compresslevel=6) as tar:
        for item in sorted(prefix.iterdir()):
            tar.add(item, arcname=item.name)
    header = HEADER.read_text().replace("@BUILD_PREFIX@", str(prefix.resolve()))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(header.encode() + payload.getvalue())
    out.chmod(0o755)
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    out.with_name(out.name + ".sha256").write_text(f"{sha}  {out.name}\n")
    shutil.rmtree(work, ignore_errors=True)
    stamps.record(paths.stamps, "miniconda", digest)
    return True
