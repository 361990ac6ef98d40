"""The lab's STAND-IN NVIDIA driver (lab/standins/driver: libcuda.so.1 in C, nvidia-smi in bash)
set up in a temporary folder, without root and without the lab: the library compiled with gcc,
a hardware file, a "loaded kernel module" file, and the environment that points both at them.
Used by the verification's tests and by the GPU proof's tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DRIVER_SOURCES = ROOT / "lab" / "standins" / "driver"


def build_libcuda(directory: Path, driver: str = "440.100", cuda_version: int = 10020) -> Path:
    """directory/libcuda.so.1, compiled from the stand-in source as the lab's image build does."""
    if shutil.which("gcc") is None:
        raise RuntimeError("gcc is needed to build the stand-in libcuda.so.1: apt-get install gcc libc6-dev")
    directory.mkdir(parents=True, exist_ok=True)
    output = directory / "libcuda.so.1"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-Wl,-soname,libcuda.so.1",
                    f'-DDRIVER_VERSION="{driver}"', f"-DDRIVER_CUDA_VERSION={cuda_version}",
                    "-o", str(output), str(DRIVER_SOURCES / "libcuda.c"), "-ldl"],
                   check=True, capture_output=True, text=True)
    return output


def driver_environment(directory: Path, libcuda: Path, *, driver: str = "440.100", loaded: bool = True,
                       name: str = "GeForce RTX 2080 Ti", compute_capability: str = "7.5",
                       memory_mib: int = 11019, extra: str = "") -> dict[str, str]:
    """Environment variables under which the stand-in nvidia-smi and libcuda answer for one GPU.

    + loaded: whether the "kernel module" of ``driver`` is loaded (False: the driver is installed
      but not running, as before a reboot)
    + extra: more hardware.conf lines (GPU0_FREE_MIB=..., GPU0_FAULT=miscompute)
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hardware.conf").write_text(
        "# STAND-IN hardware for a test\nGPU_COUNT=1\n"
        f"GPU0_NAME='{name}'\nGPU0_MEMORY_MIB={memory_mib}\n"
        f"GPU0_COMPUTE_CAPABILITY={compute_capability}\nGPU0_PCI_BUS_ID=00000000:01:00.0\n"
        "GPU0_UUID=GPU-00000000-0000-0000-0000-000000000000\nSECURE_BOOT=0\n" + extra)
    (directory / "driver-version").write_text(driver + "\n")
    module = directory / "nvidia-module"
    module.write_text(driver + "\n" if loaded else "")
    bin_dir = directory / "bin"
    bin_dir.mkdir(exist_ok=True)
    shutil.copy(DRIVER_SOURCES / "nvidia-smi", bin_dir / "nvidia-smi")
    (bin_dir / "nvidia-smi").chmod(0o755)
    return {
        "GPUWS_LAB_HARDWARE": str(directory / "hardware.conf"),
        "GPUWS_LAB_DRIVER_VERSION_FILE": str(directory / "driver-version"),
        "GPUWS_LAB_MODULE_FILE": str(module),
        "STANDIN_BIN": str(bin_dir),
        "STANDIN_LIB": str(libcuda.parent),
    }
