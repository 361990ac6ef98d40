"""The layered GPU verification: a program that runs on the target under the env's own python.

Layers, each one needing the previous ones (like the validator of NVIDIA's GPU Operator,
https://github.com/NVIDIA/gpu-operator/tree/main/validator):

  driver       the NVIDIA driver answers: NVML via pynvml where importable, else nvidia-smi
  cuda_driver  the CUDA driver API (libcuda.so.1) initialises, sees a device, and is new enough
  ptx_compute  a small PTX kernel, JIT-compiled by the driver, adds vectors on the GPU exactly as
               the CPU does: the GPU computes, with no CUDA library and no framework involved
  libraries    the CUDA runtime / cuDNN libraries TensorFlow dlopens load, and from where
  tensorflow   TensorFlow imports, is built with CUDA and lists a GPU
  compute      a matrix product on /GPU:0 matches the CPU result

One module per layer (``driver``, ``cuda``, ``ptx``, ``libraries``, ``framework``), shared pieces in
``base`` and the verdict in ``verdict``. They are written for every python a TF-era env may have
(3.5 .. 3.12): no f-strings, no annotations, only the standard library at import time (pynvml
and tensorflow are imported inside layers), relative imports between them only.
`facts.verification.verification_program` ships them to the target as ONE program for
``python -`` (nothing is uploaded); on the controller they import as ``facts.verify.*``.
"""

# The modules in the order the program loads them: each one only imports those before it.
MODULES = ("base", "driver", "cuda", "ptx", "libraries", "framework", "verdict")
