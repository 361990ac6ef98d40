"""The lab's wheelhouse (``mirror/wheels/``): what ``pip install --no-index --find-links`` of the
tf21 requirement set needs on a host.

STAND-IN: ``tensorflow_gpu-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl`` (fast tier; the real one is
402 MiB and cannot use the lab's stand-in GPU anyway), built from lab/standins/tensorflow with the
real wheel's tag and Requires-Dist. REAL: every other wheel (numpy 1.19.5, h5py 2.10.0, scipy
1.4.1, pandas, pillow, protobuf 3.20.3, tensorboard and the rest of TF's dependency tree, gast
0.2.2 built from its sdist, nvidia-ml-py), resolved by pip 20.0.2 on CPython 3.7, the same pip the
hosts' conda envs get, so the wheelhouse holds exactly the tags and versions the hosts accept.
"""

import base64
import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path

from .. import stamps
from ..paths import LAB_SOURCES, LabPaths
from . import python37

TF_SOURCES = LAB_SOURCES / "standins/tensorflow"
TF_TAG = "cp37-cp37m-manylinux2010_x86_64"
# The real tensorflow-gpu 2.1.0 (Linux cp37) Requires-Dist (its METADATA on PyPI: https://pypi.org/project/tensorflow-gpu/2.1.0/#files).
TF_REQUIRES = ["absl-py>=0.7.0", "astor>=0.6.0", "gast==0.2.2", "google-pasta>=0.1.6",
               "keras-applications>=1.0.8", "keras-preprocessing>=1.1.0", "numpy<2.0,>=1.16.0",
               "opt-einsum>=2.3.2", "protobuf>=3.8.0", "tensorboard<2.2.0,>=2.1.0",
               "tensorflow-estimator<2.2.0,>=2.1.0rc0", "termcolor>=1.1.0", "wrapt>=1.11.1",
               "six>=1.12.0", "grpcio>=1.8.6", "wheel>=0.26", "scipy==1.4.1"]


def stack_requirements() -> list[str]:
    """The tf21 stack's own requirements and pins (stacks/), TensorFlow itself excepted: the lab
    serves exactly what the deploy will ask for."""
    import stacks

    tf21 = stacks.resolve("tf21")
    wanted = tf21["pip"] + tf21["pip_constraints"]
    return [r for r in wanted if not r.startswith(tf21["tensorflow_package"])]


EXTRA_REQUIREMENTS = stack_requirements()


def _standin_tensorflow(out_dir: Path) -> Path:
    name, version = "tensorflow_gpu", "2.1.0"
    dist_info = f"{name}-{version}.dist-info"
    files = {f"tensorflow/{p.name}": p.read_bytes() for p in sorted((TF_SOURCES / "tensorflow").glob("*.py"))}
    metadata = ["Metadata-Version: 2.1", "Name: tensorflow-gpu", f"Version: {version}",
                "Summary: STAND-IN for tensorflow-gpu 2.1.0 (gpuws simulated lab, fast tier): not TensorFlow",
                "Requires-Python: >=3.5,<3.8"]
    metadata += [f"Requires-Dist: {r}" for r in TF_REQUIRES]
    files[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    files[f"{dist_info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: gpuws-lab\nRoot-Is-Purelib: false\nTag: {TF_TAG}\n".encode()
    files[f"{dist_info}/top_level.txt"] = b"tensorflow\n"
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{name}-{version}-{TF_TAG}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 8, 0, 0, 0)), data)
    return wheel


# Tags pip 20.0.2 (the hosts' pip) accepts: it predates PEP 600 (manylinux_2_x) tags.
HOST_PLATFORMS = ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64", "any"]
SDIST_ONLY = ["gast==0.2.2"]  # no wheel on PyPI (https://pypi.org/project/gast/0.2.2/#files): built here with CPython 3.7


def _download(paths: LabPaths, dest: Path) -> None:
    binary = [r for r in merged_requirements() if r not in SDIST_ONLY]
    platforms = [arg for p in HOST_PLATFORMS for arg in ("--platform", p)]
    python = str(python37.build_venv(paths))
    # The full version: with "3.7" pip checks Requires-Python against 3.7.0 and refuses wheels that
    # need >=3.7.1 (pandas 1.2 and later), which the hosts' 3.7.16 installs.
    subprocess.run([python, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary=:all:",
                    "--python-version", python37.VERSION, "--implementation", "cp", "--abi", "cp37m", "--abi", "abi3",
                    "--abi", "none", *platforms, "--dest", str(dest), *binary], check=True)
    python37.pip_wheel(paths, SDIST_ONLY, dest, ["--no-deps"])


def merged_requirements() -> list[str]:
    """TF's requirements and the extras as one list, one line per name: pip 20's resolver
    refuses a name given twice ("Double requirement given")."""
    from packaging.requirements import Requirement

    merged: dict[str, list[str]] = {}
    for line in TF_REQUIRES + EXTRA_REQUIREMENTS:
        requirement = Requirement(line)
        merged.setdefault(requirement.name, []).extend(str(s) for s in requirement.specifier)
    return [name + ",".join(sorted(set(specs))) for name, specs in merged.items()]


def build(paths: LabPaths, log) -> bool:
    digest = stamps.hash_inputs([Path(__file__), TF_SOURCES], [TF_REQUIRES, EXTRA_REQUIREMENTS, HOST_PLATFORMS])
    out = paths.wheelhouse
    if stamps.is_current(paths.stamps, "wheelhouse", digest, out / f"tensorflow_gpu-2.1.0-{TF_TAG}.whl"):
        return False
    log("wheelhouse: stand-in tensorflow-gpu 2.1.0 + real dependency wheels (about 90 MB from PyPI, once)")
    downloads = paths.downloads / "wheels"
    key = stamps.hash_inputs(values=[TF_REQUIRES, EXTRA_REQUIREMENTS, HOST_PLATFORMS])
    if not stamps.is_current(paths.stamps, "wheel-downloads", key, downloads):
        stamps.forget(paths.stamps, "wheel-downloads")  # a failed download must not pass for a current one
        shutil.rmtree(downloads, ignore_errors=True)
        downloads.mkdir(parents=True)
        _download(paths, downloads)
        stamps.record(paths.stamps, "wheel-downloads", key)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for wheel in downloads.glob("*.whl"):
        shutil.copy(wheel, out / wheel.name)
    _standin_tensorflow(out)
    stamps.record(paths.stamps, "wheelhouse", digest)
    return True
