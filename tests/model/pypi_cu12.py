"""The virtual workstation's slice of PyPI for CPython 3.11 (cp311 wheels): every package of the
committed lock of tensorflow==2.15.0.post1, at its locked version (read from
stacks/locks/tensorflow-2.15.0.post1.json, not copied by hand), the Requires-Dist of the one
package whose dependencies the model follows (tensorflow 2.15.0.post1), and the shared libraries
each nvidia-*-cu12 wheel puts in site-packages/nvidia/<part>/lib.

Sources:
- tensorflow 2.15.0.post1 Requires-Dist: the METADATA of
  tensorflow-2.15.0.post1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
  (https://pypi.org/project/tensorflow/2.15.0.post1/), its `and-cuda` extra equal to the NVIDIA
  wheels of the lock (2.15.0.post1 dropped the tensorrt wheels of 2.15.0's extra:
  https://github.com/tensorflow/tensorflow/releases/tag/v2.15.0.post1 ).
- the libraries: the files of the nvidia-*-cu12 wheels (https://pypi.org/project/nvidia-cudnn-cu12/
  and siblings: nvidia/cudnn/lib/libcudnn.so.8, nvidia/cublas/lib/libcublas.so.12 and
  libcublasLt.so.12, nvidia/cuda_runtime/lib/libcudart.so.12, ...).
The dependencies of the other locked packages (tensorboard's, keras's, ...) are not modelled: the
model's pip installs what a requirement names and what tensorflow's metadata names.
"""

from __future__ import annotations

import json
from pathlib import Path

LOCK = json.loads((Path(__file__).resolve().parents[2] / "stacks" / "locks"
                   / "tensorflow-2.15.0.post1.json").read_text())
PYTHON = LOCK["python"]  # 3.11.7: the conda channel's python of this env
# name -> [versions] as the cp311 index offers them
PYPI_CP311 = {name: [version] for name, version in LOCK["packages"].items()}

_AND_CUDA = [f"{name}=={version}; extra == \"and-cuda\"" for name, version in LOCK["packages"].items()
             if name.startswith("nvidia-") and name.endswith("-cu12")]
# (name, version) -> Requires-Dist
PIP_DEPENDS = {
    ("tensorflow", "2.15.0.post1"): [
        "absl-py>=1.0.0", "astunparse>=1.6.0", "flatbuffers>=23.5.26",
        "gast!=0.5.0,!=0.5.1,!=0.5.2,>=0.2.1", "google-pasta>=0.1.1", "h5py>=2.9.0", "libclang>=13.0.0",
        "ml-dtypes~=0.2.0", "numpy<2.0.0,>=1.23.5", "opt-einsum>=2.3.2", "packaging",
        "protobuf!=4.21.0,!=4.21.1,!=4.21.2,!=4.21.3,!=4.21.4,!=4.21.5,<5.0.0dev,>=3.20.3", "setuptools",
        "six>=1.12.0", "termcolor>=1.1.0", "typing-extensions>=3.6.6", "wrapt<1.15,>=1.11.0",
        "tensorflow-io-gcs-filesystem>=0.23.1", "grpcio<2.0,>=1.24.3", "tensorboard<2.16,>=2.15",
        "tensorflow-estimator<2.16,>=2.15.0", "keras<2.16,>=2.15.0", *_AND_CUDA,
    ],
}
# wheel -> the sonames in its site-packages/nvidia/<part>/lib
WHEEL_LIBRARIES = {
    "nvidia-cuda-runtime-cu12": ("cuda_runtime", ["libcudart.so.12"]),
    "nvidia-cublas-cu12": ("cublas", ["libcublas.so.12", "libcublasLt.so.12", "libnvblas.so.12"]),
    "nvidia-cufft-cu12": ("cufft", ["libcufft.so.11", "libcufftw.so.11"]),
    "nvidia-curand-cu12": ("curand", ["libcurand.so.10"]),
    "nvidia-cusolver-cu12": ("cusolver", ["libcusolver.so.11", "libcusolverMg.so.11"]),
    "nvidia-cusparse-cu12": ("cusparse", ["libcusparse.so.12"]),
    "nvidia-cudnn-cu12": ("cudnn", ["libcudnn.so.8", "libcudnn_ops_infer.so.8", "libcudnn_cnn_infer.so.8"]),
    "nvidia-nccl-cu12": ("nccl", ["libnccl.so.2"]),
    "nvidia-nvjitlink-cu12": ("nvjitlink", ["libnvJitLink.so.12"]),
    "nvidia-cuda-nvrtc-cu12": ("cuda_nvrtc", ["libnvrtc.so.12"]),
    "nvidia-cuda-cupti-cu12": ("cuda_cupti", ["libcupti.so.12"]),
}


def wheel_libraries(pip: dict) -> set[str]:
    """The sonames the installed nvidia-* wheels of an env provide (in site-packages/nvidia/*/lib)."""
    return {soname for name in pip if name in WHEEL_LIBRARIES for soname in WHEEL_LIBRARIES[name][1]}
