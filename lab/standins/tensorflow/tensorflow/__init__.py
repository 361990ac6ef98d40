"""STAND-IN for tensorflow-gpu 2.1.0 and tensorflow 2.15.0.post1 (gpuws lab fast tier). NOT TensorFlow.

A few kilobytes of Python tagged like the real wheel (cp37-cp37m-manylinux2010_x86_64, the real
Requires-Dist), so pip resolves and installs it as it would the real one. It implements the API a
GPU verification uses, and finds the GPU the way TF 2.1 does: dlopen libcuda.so.1 and cuInit,
then libcudart.so.10.1, libcublas.so.10, ... libcudnn.so.7 from the loader path (the env's lib/
via LD_LIBRARY_PATH, as the real wheel needs), then device count and compute capability. Log
lines copy TF 2.1's. Every log line from this module goes to stderr, as TF's do.
The version and what differs by version (the CUDA 12 sonames of 2.15, found in the nvidia-*-cu12
wheels' site-packages/nvidia/*/lib once the env's hook puts them on LD_LIBRARY_PATH) are in
_build.py, which the wheel builder writes (lab/image/standin_wheels.py).
"""
import numpy as _numpy  # the real TF imports numpy first too: a broken numpy breaks the import

from . import _build
from . import _protobuf_check  # noqa: F401  (raises TF 2.1's error under protobuf >= 4)
from . import config, random, test  # noqa: F401
from ._core import Tensor, constant, device, matmul, reduce_sum  # noqa: F401

# The dtypes a verification passes to tf.constant (numpy dtypes stand in for tf.DType objects).
float16, float32, float64, int32, int64 = (
    _numpy.float16, _numpy.float32, _numpy.float64, _numpy.int32, _numpy.int64,
)

__version__ = _build.VERSION
VERSION = __version__
GIT_VERSION = _build.GIT_VERSION
COMPILER_VERSION = _build.COMPILER_VERSION
GPUWS_LAB_STANDIN = True
