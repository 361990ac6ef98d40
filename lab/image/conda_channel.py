"""The lab's conda channel (``mirror/conda/lab``), indexed with py-rattler.

REAL packages: python 3.7.16 (the pyenv build, made relocatable), pip 20.0.2 / setuptools 45.2.0 /
wheel 0.34.2 (early-2020 releases, when TF 2.1 was current) and conda 4.3.16 with its
dependencies, all repackaged from their PyPI wheels. Pins that make conda 4.3 run on 3.7:
cytoolz (conda's vendored toolz has a SyntaxError on 3.7) and ruamel.yaml 0.16 (0.18 removed
``yaml.load(Loader=)``, and conda crashes reading .condarc).
Also REAL: python 3.11.7 (pyenv, relocated the same way) with the pip 23.2.1 and setuptools 65.5.0
its ensurepip bundles, as py311 builds: the CUDA 12 TensorFlow stack's env (lab/image/python311.py).

STAND-IN packages: cudatoolkit and cudnn, whose payloads are stub ELF libraries with the real
file names. They carry the REAL build strings (cudatoolkit-10.1.243-h6bb024c_0,
cudnn-7.6.5-cuda10.1_0) plus decoys, so the solver and the tool's version+build matching must
choose: cudatoolkit 10.0.130, 10.2.89 and 11.0.221-h6bb024c_0 (the same build string as
10.1.243), cudnn 7.6.5 cuda10.0_0 / cuda10.2_0, each cudnn build depending on its cudatoolkit.
"""

import asyncio
import shutil
from pathlib import Path

from .. import stamps
from ..paths import LAB_SOURCES, LabPaths
from . import compile as cc
from . import conda_package, python37, python311

BASE_WHEELS = ["pip==20.0.2", "setuptools==45.2.0", "wheel==0.34.2"]
CONDA_WHEELS = ["conda==4.3.16", "pycosat==0.6.6", "cytoolz==0.12.3", "toolz==0.12.1", "requests==2.23.0",
                "urllib3==1.25.8", "idna==2.9", "chardet==3.0.4", "certifi==2019.11.28",
                "ruamel.yaml==0.16.10", "ruamel.yaml.clib==0.2.0"]
# conda package name -> its conda dependencies (besides python)
CONDA_DEPENDS = {
    "pip": ["setuptools", "wheel"],
    "conda": ["pycosat >=0.6.1", "requests >=2.12.4", "ruamel.yaml", "cytoolz"],
    "requests": ["urllib3", "idna", "certifi", "chardet"],
    "cytoolz": ["toolz"],
    "ruamel.yaml": ["ruamel.yaml.clib"],
}
PY37 = "python >=3.7,<3.8.0a0"
PY311 = "python >=3.11,<3.12.0a0"

# cudatoolkit version -> (build string, runtime version, {real library file: SONAME})
CUDATOOLKITS = {
    "10.0.130": ("0", 10000, {
        "libcudart.so.10.0.130": "libcudart.so.10.0", "libcublas.so.10.0.130": "libcublas.so.10.0",
        "libcufft.so.10.0.145": "libcufft.so.10.0", "libcurand.so.10.0.130": "libcurand.so.10.0",
        "libcusolver.so.10.0.130": "libcusolver.so.10.0", "libcusparse.so.10.0.130": "libcusparse.so.10.0"}),
    "10.1.243": ("h6bb024c_0", 10010, {
        "libcudart.so.10.1.243": "libcudart.so.10.1", "libcublas.so.10.2.1.243": "libcublas.so.10",
        "libcufft.so.10.1.1.243": "libcufft.so.10", "libcurand.so.10.1.1.243": "libcurand.so.10",
        "libcusolver.so.10.2.0.243": "libcusolver.so.10", "libcusparse.so.10.3.0.243": "libcusparse.so.10"}),
    "10.2.89": ("hfd86e86_1", 10020, {
        "libcudart.so.10.2.89": "libcudart.so.10.2", "libcublas.so.10.2.2.89": "libcublas.so.10",
        "libcufft.so.10.1.2.89": "libcufft.so.10", "libcurand.so.10.1.2.89": "libcurand.so.10",
        "libcusolver.so.10.3.0.89": "libcusolver.so.10", "libcusparse.so.10.3.1.89": "libcusparse.so.10"}),
    # decoy: same build string as 10.1.243 (true on the real defaults channel)
    "11.0.221": ("h6bb024c_0", 11000, {
        "libcudart.so.11.0.221": "libcudart.so.11.0", "libcublas.so.11.2.0.252": "libcublas.so.11",
        "libcufft.so.10.2.1.245": "libcufft.so.10", "libcurand.so.10.2.1.245": "libcurand.so.10",
        "libcusolver.so.10.6.0.245": "libcusolver.so.10", "libcusparse.so.11.1.1.245": "libcusparse.so.11"}),
}
# cudnn 7.6.5 builds: build string -> (cudatoolkit dependency, runtime it was built for)
CUDNN_BUILDS = {
    "cuda10.0_0": ("cudatoolkit >=10.0,<10.1", 10000),
    "cuda10.1_0": ("cudatoolkit >=10.1,<10.2", 10010),
    "cuda10.2_0": ("cudatoolkit >=10.2,<10.3", 10020),
}
CUDA_SOURCES = LAB_SOURCES / "standins" / "cuda"
STANDIN = "STAND-IN (gpuws lab): stub libraries with the real names, no CUDA code"


def _download(paths: LabPaths) -> tuple[Path, Path]:
    base, conda = paths.downloads / "conda-base-wheels", paths.downloads / "conda-wheels"
    key = stamps.hash_inputs(values=[BASE_WHEELS, CONDA_WHEELS])
    if not stamps.is_current(paths.stamps, "conda-wheels", key, conda):
        stamps.forget(paths.stamps, "conda-wheels")  # a failed download must not pass for a current one
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(conda, ignore_errors=True)
        python37.pip_wheel(paths, BASE_WHEELS, base, ["--no-deps"])
        python37.pip_wheel(paths, CONDA_WHEELS, conda)
        stamps.record(paths.stamps, "conda-wheels", key)
    return base, conda


def _conda_name(wheel: Path) -> tuple[str, str]:
    dist, version = wheel.name.split("-")[:2]
    name = dist.replace("_", "-").lower()
    return ("ruamel.yaml.clib" if name == "ruamel.yaml.clib" else name), version


def _python(work: Path, channel: Path) -> None:
    for module in (python37, python311):
        stage = work / f"python-{module.VERSION}"
        stage.mkdir()
        module.relocatable_copy(stage, conda_package.PLACEHOLDER)
        conda_package.write_package(stage, {"name": "python", "version": module.VERSION, "build": "h_lab_0"},
                                    f"REAL CPython {module.VERSION} (pyenv build, relocated) - gpuws lab", channel)


def _py311_seed(work: Path, channel: Path) -> None:
    """pip and setuptools for 3.11 envs: conda 4.3 adds pip to every python it installs
    (add_pip_as_python_dependency), so a 3.11 env needs a pip built for it."""
    for wheel in python311.ensurepip_wheels():
        name, version = _conda_name(wheel)
        stage = work / f"{name}-py311"
        stage.mkdir()
        conda_package.stage_wheel(stage, wheel, python311.SHORT)
        depends = [PY311, *(["setuptools"] if name == "pip" else [])]
        conda_package.write_package(stage, {"name": name, "version": version, "build": "py311_0",
                                            "depends": depends},
                                    f"REAL {name} {version} from CPython {python311.VERSION}'s ensurepip - gpuws lab",
                                    channel)


def _wheel_packages(wheels: list[Path], work: Path, channel: Path) -> None:
    for wheel in wheels:
        name, version = _conda_name(wheel)
        stage = work / name
        stage.mkdir()
        conda_package.stage_wheel(stage, wheel)
        if name == "conda":
            # conda's own entry points are pip's stub ("not compatible with using conda as an
            # application"): real conda ships bin/conda running conda.cli.main
            shutil.rmtree(stage / "bin", ignore_errors=True)
            (stage / "bin").mkdir()
            shutil.copy(LAB_SOURCES / "standins/conda/conda", stage / "bin/conda")
            (stage / "bin/conda").chmod(0o755)
        depends = [PY37, *CONDA_DEPENDS.get(name, [])]
        conda_package.write_package(stage, {"name": name, "version": version, "build": "py37_0",
                                            "depends": depends},
                                    f"REAL {name} {version} from its PyPI wheel - gpuws lab", channel)


def _cuda_packages(work: Path, channel: Path) -> None:
    for version, (build, runtime, libraries) in CUDATOOLKITS.items():
        stage = work / f"cudatoolkit-{version}"
        lib = stage / "lib"
        for real, soname in libraries.items():
            if real.startswith("libcudart"):
                cc.shared_library(CUDA_SOURCES / "libcudart.c", lib / real, soname, {"RUNTIME_VERSION": runtime})
            else:
                cc.shared_library(CUDA_SOURCES / "cuda_library.c", lib / real, soname, {"LIBRARY": real})
            cc.symlink(real, lib / soname)
        conda_package.write_package(stage, {"name": "cudatoolkit", "version": version, "build": build},
                                    f"cudatoolkit {version} {STANDIN}", channel)
    for build, (depends, runtime) in CUDNN_BUILDS.items():
        stage = work / f"cudnn-{build}"
        lib = stage / "lib"
        cc.shared_library(CUDA_SOURCES / "libcudnn.c", lib / "libcudnn.so.7.6.5", "libcudnn.so.7",
                          {"CUDNN_VERSION": 7605, "CUDART_VERSION": runtime})
        cc.symlink("libcudnn.so.7.6.5", lib / "libcudnn.so.7")
        cc.symlink("libcudnn.so.7", lib / "libcudnn.so")
        conda_package.write_package(stage, {"name": "cudnn", "version": "7.6.5", "build": build,
                                            "depends": [depends]},
                                    f"cudnn 7.6.5 {STANDIN}", channel)


def index(channel: Path) -> None:
    import rattler

    (channel / "noarch").mkdir(parents=True, exist_ok=True)
    asyncio.run(rattler.index.index_fs(channel, force=True))


def build(paths: LabPaths, log) -> bool:
    inputs = [Path(__file__), Path(conda_package.__file__), Path(python37.__file__), Path(python311.__file__), CUDA_SOURCES,
              LAB_SOURCES / "standins/conda", Path(cc.__file__)]
    digest = stamps.hash_inputs(inputs, [BASE_WHEELS, CONDA_WHEELS, CONDA_DEPENDS, CUDATOOLKITS,
                                         CUDNN_BUILDS, str(python37.require_python37()),
                                         str(python311.require_python311())])
    channel = paths.conda_channel
    if stamps.is_current(paths.stamps, "conda-channel", digest, channel / "linux-64/repodata.json"):
        return False
    log("conda channel: python 3.7.16 and 3.11.7, pip/setuptools/wheel, conda 4.3.16 + deps, stand-in cudatoolkit/cudnn")
    base_wheels, conda_wheels = _download(paths)
    work = paths.build_tmp / "conda-channel"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(channel, ignore_errors=True)
    work.mkdir(parents=True)
    _python(work, channel)
    _wheel_packages(sorted(base_wheels.glob("*.whl")) + sorted(conda_wheels.glob("*.whl")), work, channel)
    _py311_seed(work, channel)
    _cuda_packages(work, channel)
    index(channel)
    shutil.rmtree(work, ignore_errors=True)
    stamps.record(paths.stamps, "conda-channel", digest)
    return True
