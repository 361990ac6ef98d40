"""The lab's wheelhouse (``mirror/wheels/``): what ``pip install --no-index --find-links`` of the
tf21 requirement set, and of the CUDA 12 stack tensorflow==2.15.0.post1, needs on a host.

STAND-IN: ``tensorflow_gpu-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl`` (fast tier; the real one is
402 MiB and cannot use the lab's stand-in GPU anyway), built from lab/standins/tensorflow with the
real wheel's tag and Requires-Dist. REAL: every other wheel (numpy 1.19.5, h5py 2.10.0, scipy
1.4.1, pandas, pillow, protobuf 3.20.3, tensorboard and the rest of TF's dependency tree, gast
0.2.2 built from its sdist, nvidia-ml-py), resolved by pip 20.0.2 on CPython 3.7, the same pip the
hosts' conda envs get, so the wheelhouse holds exactly the tags and versions the hosts accept.

CUDA 12 stack (cp311): REAL, the exact files of stacks/locks/tensorflow-2.15.0.post1.json (URL and
sha256 from the lock); STAND-IN, tensorflow 2.15.0.post1 and the nvidia-*-cu12 wheels
(lab/image/standin_wheels.py).
"""

import hashlib
import shutil
import subprocess
from pathlib import Path

from .. import stamps
from ..paths import LAB_SOURCES, LabPaths
from . import python37, standin_wheels

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
    return standin_wheels.write_wheel(
        out_dir / f"tensorflow_gpu-2.1.0-{TF_TAG}.whl", "tensorflow-gpu", "2.1.0", TF_TAG,
        standin_wheels.tensorflow_files("2.1.0"), TF_REQUIRES,
        "STAND-IN for tensorflow-gpu 2.1.0 (gpuws simulated lab, fast tier): not TensorFlow", ">=3.5,<3.8")


def _cp311_wheels(paths: LabPaths, dest: Path) -> None:
    """The REAL wheels of the CUDA 12 stack's lock, each the exact file the lock names, from its
    PyPI URL, checked against the lock's sha256 (TensorFlow and the nvidia-*-cu12 wheels excepted:
    stand-ins). About 85 MB, once."""
    import urllib.request

    for name, entry in sorted(standin_wheels.cu12_lock()["files"].items()):
        if name == "tensorflow" or name in standin_wheels.NVIDIA_CU12:
            continue
        with urllib.request.urlopen(entry["url"], timeout=300) as response:
            data = response.read()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise SystemExit(f"lab build: {entry['file']} from {entry['url']} does not match the lock's sha256")
        (dest / entry["file"]).write_bytes(data)


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


def write_index(out: Path) -> None:
    """``index.html`` for the mirror's wheels/ (http.server serves it instead of a listing): a link
    per wheel with its Requires-Python as ``data-requires-python`` (PEP 503), as PyPI gives it. The
    wheelhouse serves a 3.7 and a 3.11 stack: without it, pip 20 on 3.7 would pick opt_einsum 3.4.0
    (Requires-Python >=3.8) for an unpinned `opt-einsum>=2.3.2` and then refuse it."""
    import html
    import zipfile

    links = []
    for wheel in sorted(out.glob("*.whl")):
        requires = ""
        with zipfile.ZipFile(wheel) as archive:
            metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            for line in archive.read(metadata).decode("utf-8", "replace").splitlines():
                if line.startswith("Requires-Python:"):
                    requires = line.split(":", 1)[1].strip()
                if not line:
                    break
        attribute = f' data-requires-python="{html.escape(requires)}"' if requires else ""
        links.append(f'<a href="{html.escape(wheel.name)}"{attribute}>{html.escape(wheel.name)}</a><br/>')
    (out / "index.html").write_text("<!DOCTYPE html>\n<html><body>\n" + "\n".join(links) + "\n</body></html>\n")


def build(paths: LabPaths, log) -> bool:
    digest = stamps.hash_inputs([Path(__file__), TF_SOURCES, Path(standin_wheels.__file__), standin_wheels.CU12_LOCK,
                                 standin_wheels.CUDA_SOURCES], [TF_REQUIRES, EXTRA_REQUIREMENTS, HOST_PLATFORMS])
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
    cp311 = paths.downloads / "wheels-cp311"
    key311 = stamps.hash_inputs([standin_wheels.CU12_LOCK])
    if not stamps.is_current(paths.stamps, "wheel-downloads-cp311", key311, cp311):
        log("wheelhouse: the real cp311 wheels of the tensorflow 2.15.0.post1 lock (about 85 MB from PyPI, once)")
        stamps.forget(paths.stamps, "wheel-downloads-cp311")
        shutil.rmtree(cp311, ignore_errors=True)
        cp311.mkdir(parents=True)
        _cp311_wheels(paths, cp311)
        stamps.record(paths.stamps, "wheel-downloads-cp311", key311)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for wheel in [*downloads.glob("*.whl"), *cp311.glob("*.whl")]:
        shutil.copy(wheel, out / wheel.name)
    _standin_tensorflow(out)
    standin_wheels.tensorflow_215(out)
    work = paths.build_tmp / "standin-wheels"
    shutil.rmtree(work, ignore_errors=True)
    standin_wheels.nvidia_cu12(out, work)
    shutil.rmtree(work, ignore_errors=True)
    write_index(out)
    stamps.record(paths.stamps, "wheelhouse", digest)
    return True
