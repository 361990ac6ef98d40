"""STAND-IN wheels for the lab's wheelhouse (fast tier): TensorFlow and NVIDIA's CUDA 12 wheels.

The real ones are hundreds of MiB each (tensorflow 2.15.0.post1: 475 MiB, nvidia-cudnn-cu12:
~700 MiB) and could not use the lab's stand-in GPU anyway. Each stand-in keeps what pip and the
deploy see of the real wheel: its file name (name, version, python/abi/platform tags), its
Requires-Dist and its file layout; the payload is minimal and every METADATA Summary says
STAND-IN.

- tensorflow-gpu 2.1.0 (cp37) and tensorflow 2.15.0.post1 (cp311): the Python package of
  lab/standins/tensorflow plus a generated ``_build.py`` (version, the sonames it dlopens).
- nvidia-*-cu12 (the versions of stacks/locks/tensorflow-2.15.0.post1.json): ``nvidia/<part>/lib/``
  holds the real wheels' sonames (libcudart.so.12, libcudnn.so.8, ...) as stub ELF libraries
  compiled from lab/standins/cuda, like the conda channel's stand-in cudatoolkit.
"""

import base64
import hashlib
import json
import zipfile
from pathlib import Path

from ..paths import LAB_SOURCES
from . import compile as cc

TF_SOURCES = LAB_SOURCES / "standins/tensorflow"
CUDA_SOURCES = LAB_SOURCES / "standins/cuda"
CU12_LOCK = LAB_SOURCES.parent / "stacks/locks/tensorflow-2.15.0.post1.json"

# tensorflow 2.15.0.post1's Requires-Dist: the METADATA of its cp311 manylinux wheel
# (https://pypi.org/project/tensorflow/2.15.0.post1/#files); its `and-cuda` extra names the
# nvidia-*-cu12 wheels at the lock's versions (2.15.0.post1 dropped 2.15.0's tensorrt wheels:
# https://github.com/tensorflow/tensorflow/releases/tag/v2.15.0.post1).
TF215_REQUIRES = [
    "absl-py>=1.0.0", "astunparse>=1.6.0", "flatbuffers>=23.5.26", "gast!=0.5.0,!=0.5.1,!=0.5.2,>=0.2.1",
    "google-pasta>=0.1.1", "h5py>=2.9.0", "libclang>=13.0.0", "ml-dtypes~=0.2.0", "numpy<2.0.0,>=1.23.5",
    "opt-einsum>=2.3.2", "packaging",
    "protobuf!=4.21.0,!=4.21.1,!=4.21.2,!=4.21.3,!=4.21.4,!=4.21.5,<5.0.0dev,>=3.20.3", "setuptools",
    "six>=1.12.0", "termcolor>=1.1.0", "typing-extensions>=3.6.6", "wrapt<1.15,>=1.11.0",
    "tensorflow-io-gcs-filesystem>=0.23.1", "grpcio<2.0,>=1.24.3", "tensorboard<2.16,>=2.15",
    "tensorflow-estimator<2.16,>=2.15.0", "keras<2.16,>=2.15.0",
]
# nvidia wheel -> (its folder under nvidia/, the sonames in nvidia/<folder>/lib, Requires-Dist):
# the files and METADATA of the real wheels (https://pypi.org/project/nvidia-cudnn-cu12/8.9.4.25/
# and its siblings at the lock's versions)
NVIDIA_CU12 = {
    "nvidia-cuda-runtime-cu12": ("cuda_runtime", ["libcudart.so.12"], []),
    "nvidia-cublas-cu12": ("cublas", ["libcublas.so.12", "libcublasLt.so.12", "libnvblas.so.12"], []),
    "nvidia-cufft-cu12": ("cufft", ["libcufft.so.11", "libcufftw.so.11"], []),
    "nvidia-curand-cu12": ("curand", ["libcurand.so.10"], []),
    "nvidia-cusolver-cu12": ("cusolver", ["libcusolver.so.11", "libcusolverMg.so.11"],
                             ["nvidia-cublas-cu12", "nvidia-nvjitlink-cu12", "nvidia-cusparse-cu12"]),
    "nvidia-cusparse-cu12": ("cusparse", ["libcusparse.so.12"], ["nvidia-nvjitlink-cu12"]),
    "nvidia-cudnn-cu12": ("cudnn", ["libcudnn.so.8", "libcudnn_ops_infer.so.8", "libcudnn_cnn_infer.so.8"],
                          ["nvidia-cublas-cu12"]),
    "nvidia-nccl-cu12": ("nccl", ["libnccl.so.2"], []),
    "nvidia-nvjitlink-cu12": ("nvjitlink", ["libnvJitLink.so.12"], []),
    "nvidia-cuda-nvrtc-cu12": ("cuda_nvrtc", ["libnvrtc.so.12"], []),
    "nvidia-cuda-cupti-cu12": ("cuda_cupti", ["libcupti.so.12"], []),
    "nvidia-cuda-nvcc-cu12": ("cuda_nvcc", [], []),  # ptxas and nvvm: no library TF dlopens at import
}
CUDA12_RUNTIME = 12020  # CUDA 12.2, the runtime of nvidia-cuda-runtime-cu12 12.2.140
CUDNN8_VERSION = 8904   # cuDNN 8.9.4 (nvidia-cudnn-cu12 8.9.4.25)

# What differs between the two TensorFlow stand-ins (tensorflow/_build.py). The real 2.15.0.post1
# wheel's tf.__version__ is "2.15.0": only its setup.py said post1 (tensorflow/tensorflow#63256:
# "Automation missed this file ... due to 'post1' in the old version"), version.h stayed 2.15.0.
TF_BUILDS = {
    "2.1.0": {"VERSION": "2.1.0", "GIT_VERSION": "v2.1.0-rc2-17-ge5bf8de (gpuws lab STAND-IN)",
              "COMPILER_VERSION": "7.3.1 20180303", "PROTOBUF_BELOW": 4,
              "CUDA_LIBRARIES": ["libcudart.so.10.1", "libcublas.so.10", "libcufft.so.10", "libcurand.so.10",
                                 "libcusolver.so.10", "libcusparse.so.10", "libcudnn.so.7"]},
    "2.15.0.post1": {"VERSION": "2.15.0", "GIT_VERSION": "v2.15.0-2-g0b15fdfcb3f (gpuws lab STAND-IN)",
                     "COMPILER_VERSION": "Ubuntu Clang 16.0.6", "PROTOBUF_BELOW": None,
                     "CUDA_LIBRARIES": ["libcudart.so.12", "libcublas.so.12", "libcublasLt.so.12",
                                        "libcufft.so.11", "libcurand.so.10", "libcusolver.so.11",
                                        "libcusparse.so.12", "libcudnn.so.8"]},
}


def cu12_lock() -> dict:
    return json.loads(CU12_LOCK.read_text())


def write_wheel(out: Path, dist: str, version: str, tag: str, files: dict, requires: list[str],
                summary: str, requires_python: str, extras: dict | None = None,
                date=(2020, 1, 8, 0, 0, 0)) -> Path:
    """A wheel at ``out`` (its file name is the caller's: the real wheel's) with METADATA, WHEEL
    and RECORD as pip expects them."""
    dist_info = f"{dist.replace('-', '_')}-{version}.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {dist}", f"Version: {version}", f"Summary: {summary}",
                f"Requires-Python: {requires_python}", *(f"Requires-Dist: {r}" for r in requires)]
    for extra, names in (extras or {}).items():
        metadata += [f"Provides-Extra: {extra}", *(f'Requires-Dist: {r} ; extra == "{extra}"' for r in names)]
    files = dict(files)
    files[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    files[f"{dist_info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: gpuws-lab\nRoot-Is-Purelib: false\n"
                                   f"Tag: {tag}\n").encode()
    top = sorted({path.split("/")[0] for path in files if not path.startswith(dist_info)})
    files[f"{dist_info}/top_level.txt"] = ("\n".join(top) + "\n").encode()
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=date)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out


def tensorflow_files(version: str) -> dict:
    build = TF_BUILDS[version]
    files = {f"tensorflow/{p.name}": p.read_bytes() for p in sorted((TF_SOURCES / "tensorflow").glob("*.py"))}
    lines = ['"""What this STAND-IN TensorFlow wheel was built as (lab/image/standin_wheels.py)."""']
    lines += [f"{key} = {value!r}" for key, value in build.items()]
    files["tensorflow/_build.py"] = ("\n".join(lines) + "\n").encode()
    return files


def tensorflow_215(out_dir: Path) -> Path:
    lock = cu12_lock()
    and_cuda = [f"{name}=={version}" for name, version in lock["packages"].items()
                if name.startswith("nvidia-") and name.endswith("-cu12")]
    return write_wheel(out_dir / lock["files"]["tensorflow"]["file"], "tensorflow", "2.15.0.post1",
                       "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", tensorflow_files("2.15.0.post1"),
                       TF215_REQUIRES, "STAND-IN for tensorflow 2.15.0.post1 (gpuws simulated lab, fast tier): "
                       "not TensorFlow", ">=3.9", {"and-cuda": and_cuda}, date=(2023, 12, 5, 0, 0, 0))


def nvidia_cu12(out_dir: Path, work: Path) -> list[Path]:
    """The lock's nvidia-*-cu12 wheels, each with its real sonames as stub libraries."""
    lock = cu12_lock()
    wheels = []
    for name, (folder, sonames, requires) in NVIDIA_CU12.items():
        version = lock["packages"][name]
        files = {"nvidia/__init__.py": b"", f"nvidia/{folder}/__init__.py": b""}
        for soname in sonames:
            built = work / name / soname
            if soname.startswith("libcudart"):
                cc.shared_library(CUDA_SOURCES / "libcudart.c", built, soname, {"RUNTIME_VERSION": CUDA12_RUNTIME})
            elif soname == "libcudnn.so.8":
                cc.shared_library(CUDA_SOURCES / "libcudnn.c", built, soname,
                                  {"CUDNN_VERSION": CUDNN8_VERSION, "CUDART_VERSION": CUDA12_RUNTIME})
            else:
                cc.shared_library(CUDA_SOURCES / "cuda_library.c", built, soname, {"LIBRARY": soname})
            files[f"nvidia/{folder}/lib/__init__.py"] = b""
            files[f"nvidia/{folder}/lib/{soname}"] = built.read_bytes()
        wheels.append(write_wheel(out_dir / lock["files"][name]["file"], name, version, "py3-none-manylinux1_x86_64",
                                  files, requires, f"STAND-IN for {name} {version} (gpuws simulated lab): stub "
                                  "libraries with the real names, no CUDA code", ">=3", date=(2023, 8, 1, 0, 0, 0)))
    return wheels
