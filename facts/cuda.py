"""CUDA facts: the CUDA/cuDNN libraries of a conda env, and the host's system CUDA.

TensorFlow 2.1 dlopens CUDA libraries by soname (`libcudart.so.10.1`, `libcudnn.so.7`, ...). The
env ships them (cudatoolkit, cudnn); a system CUDA that appears earlier in LD_LIBRARY_PATH with
the same sonames shadows them, which is why `SystemCuda` reports the non-interactive shell's
LD_LIBRARY_PATH and which of its entries are a system CUDA.
"""

from __future__ import annotations

import fnmatch
import json
import re

from pyinfra.api import FactBase

from facts._sections import RUN_SECTION, parse_sections, script_with_variables

# Library families TensorFlow loads (cu* covers cudart, cublas(Lt), cufft, curand, cusolver,
# cusparse, cudnn*, cupti); nvrtc and nvinfer (TensorRT) are optional for TF.
_LIBRARY_GLOBS = "libcu*.so.* libnvrtc*.so.* libnvinfer*.so.*"
_SONAME = re.compile(r"^lib[\w+-]+\.so\.\d+(?:\.\d+)*$")

# The part of a probe script that lists the CUDA library names in "$E/lib" under a `libraries`
# section (no section when there is no lib folder). `[ -e ]` follows symlinks: a broken one is
# left out. Shared by EnvCudaLibraries and facts.conda.CondaPackages (same names, same rule).
ENV_LIBRARIES_PART = (
    r"""
if [ -d "$E/lib" ]; then
    echo '@@section libraries rc=0'
    cd "$E/lib" && for f in """
    + _LIBRARY_GLOBS
    + r"""; do
        if [ -e "$f" ]; then echo "$f"; fi
    done
fi"""
)

_ENV_LIBS_SCRIPT = ENV_LIBRARIES_PART + "\necho '@@end'\n"


def library_names(lines: list[str]) -> list[str]:
    """The library names of a `libraries` section (ENV_LIBRARIES_PART's output), sorted: sonames
    and fully versioned file names; an unmatched glob (``libcu*.so.*``) and anything else is
    dropped."""
    return sorted({line.strip() for line in lines if _SONAME.match(line.strip())})


def listed_library(name: str) -> bool:
    """Whether ENV_LIBRARIES_PART can list a library of this name (its globs match it): a
    library outside the globs is never seen, so its absence from the list means nothing."""
    return _SONAME.match(name) is not None and any(fnmatch.fnmatchcase(name, g) for g in _LIBRARY_GLOBS.split())


class EnvCudaLibraries(FactBase):
    """
    The CUDA/cuDNN shared-library names present in an env's ``lib/`` directory.

    + env_prefix: the env's directory, e.g. ``/opt/miniconda3/envs/tf21``

    Returns ``{"present": bool, "libraries": ["libcublas.so.10", "libcudart.so.10.1",
    "libcudart.so.10.1.243", "libcudnn.so.7", ...]}``, sorted. Every existing name is listed
    (sonames and the fully versioned file names), so a check is plain membership of the sonames
    the stack declares. Broken symlinks are left out: the loader could not use them either.

    **Example:**

    .. code:: python

        libs = host.get_fact(EnvCudaLibraries, env_prefix="/opt/miniconda3/envs/tf21")
        missing = set(stack["libraries"]) - set(libs["libraries"])
    """

    def command(self, env_prefix: str):
        return script_with_variables(_ENV_LIBS_SCRIPT, E=env_prefix)

    @staticmethod
    def default() -> dict:
        return {"present": False, "libraries": []}

    def process(self, output: list[str]) -> dict:
        sections = parse_sections(output)
        if "libraries" not in sections:
            return self.default()
        return {"present": True, "libraries": library_names(sections["libraries"].lines)}


# ---------------------------------------------------------------------------------------------
# System CUDA
# ---------------------------------------------------------------------------------------------

_NVCC_RELEASE = re.compile(r"release (\d+\.\d+), V(\d+(?:\.\d+)*)", re.MULTILINE)


def parse_nvcc_version(text: str) -> dict | None:
    """
    Parse ``nvcc --version``: ``Cuda compilation tools, release 10.1, V10.1.243`` ->
    ``{"release": "10.1", "version": "10.1.243"}``. The ``Build cuda_...`` line of CUDA >= 11 is
    ignored (the match is per line). None when there is no release line.
    """
    match = _NVCC_RELEASE.search(text or "")
    return {"release": match.group(1), "version": match.group(2)} if match else None


def parse_cuda_version_file(text: str) -> str | None:
    """
    The toolkit version from ``/usr/local/cuda/version.txt`` (``CUDA Version 10.1.243``, up to
    CUDA 10.2) or ``version.json`` (``{"cuda": {"version": "11.0.194"}}``, CUDA >= 11).
    """
    text = (text or "").strip()
    if text.startswith("{"):
        try:
            return str(json.loads(text)["cuda"]["version"])
        except (ValueError, KeyError, TypeError):
            return None
    match = re.search(r"CUDA Version (\d+(?:\.\d+)*)", text)
    return match.group(1) if match else None


def parse_cudnn_header(text: str) -> str | None:
    """
    The cuDNN version from ``#define CUDNN_MAJOR/MINOR/PATCHLEVEL`` lines (cudnn.h for v7,
    cudnn_version.h from v8): ``7.6.5``. None unless all three are present.
    """
    found = dict(re.findall(r"^\s*#\s*define\s+CUDNN_(MAJOR|MINOR|PATCHLEVEL)\s+(\d+)", text or "",
                            re.MULTILINE))
    if {"MAJOR", "MINOR", "PATCHLEVEL"} <= found.keys():
        return f"{found['MAJOR']}.{found['MINOR']}.{found['PATCHLEVEL']}"
    return None


# Where system CUDA toolkits live; an LD_LIBRARY_PATH entry under one of these is a system CUDA.
SYSTEM_CUDA_PREFIXES = ("/usr/local/cuda", "/opt/cuda")


def shadowing_paths(ld_library_path: str) -> list[str]:
    """The LD_LIBRARY_PATH entries that point at a system CUDA (``/usr/local/cuda*``,
    ``/opt/cuda*``), in search order: their libraries would be found before the env's."""
    entries = [entry.rstrip("/") for entry in (ld_library_path or "").split(":") if entry]
    return [entry for entry in entries if entry.startswith(SYSTEM_CUDA_PREFIXES)]


_SYSTEM_SCRIPT = RUN_SECTION + r"""
LC_ALL=C; export LC_ALL
nvcc=$(command -v nvcc 2>/dev/null)
if [ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ]; then nvcc=/usr/local/cuda/bin/nvcc; fi
if [ -n "$nvcc" ]; then
    printf '@@section nvcc_path rc=0\n%s\n' "$nvcc"
    run_section nvcc "$nvcc" --version
fi
if [ -r /usr/local/cuda/version.json ]; then run_section version_file cat /usr/local/cuda/version.json
elif [ -r /usr/local/cuda/version.txt ]; then run_section version_file cat /usr/local/cuda/version.txt
fi
for h in /usr/include/cudnn_version.h /usr/local/cuda/include/cudnn_version.h \
         /usr/include/cudnn.h /usr/local/cuda/include/cudnn.h \
         /usr/include/x86_64-linux-gnu/cudnn_version_v*.h /usr/include/x86_64-linux-gnu/cudnn_v*.h; do
    if [ -r "$h" ] && grep -q '^#define CUDNN_MAJOR' "$h"; then
        printf '@@section cudnn_header rc=0\n%s\n' "$h"
        grep -E '^#define CUDNN_(MAJOR|MINOR|PATCHLEVEL)' "$h"
        break
    fi
done
echo '@@section toolkits rc=0'
for d in /usr/local/cuda-* /opt/cuda; do
    if [ -d "$d" ]; then echo "$d"; fi
done
printf '@@section ld_library_path rc=0\n%s\n' "$LD_LIBRARY_PATH"
echo '@@end'
"""


class SystemCuda(FactBase):
    """
    The host's system CUDA toolkit and cuDNN, and the LD_LIBRARY_PATH a non-interactive shell
    (the one pyinfra and the verification run in) starts with.

    Returns::

        {"nvcc": {"release": "10.1", "version": "10.1.243", "path": "/usr/local/cuda/bin/nvcc"}
                 | None,
         "version_file": "10.1.243" | None,     # /usr/local/cuda/version.txt or version.json
         "cudnn_header": "7.6.5" | None,        # cudnn_version.h or cudnn.h
         "toolkits": ["/usr/local/cuda-10.1"],  # installed toolkit directories
         "ld_library_path": str,
         "shadowing_paths": ["/usr/local/cuda/lib64"]}

    **Example:**

    .. code:: python

        if host.get_fact(SystemCuda)["shadowing_paths"]: ...  # warn: system CUDA first
    """

    command = _SYSTEM_SCRIPT

    @staticmethod
    def default() -> dict:
        return {"nvcc": None, "version_file": None, "cudnn_header": None, "toolkits": [],
                "ld_library_path": "", "shadowing_paths": []}

    def process(self, output: list[str]) -> dict:
        sections = parse_sections(output)
        result = self.default()
        if "nvcc" in sections:
            nvcc = parse_nvcc_version(sections["nvcc"].text)
            if nvcc is not None:
                nvcc["path"] = sections["nvcc_path"].lines[0] if "nvcc_path" in sections else None
            result["nvcc"] = nvcc
        if "version_file" in sections:
            result["version_file"] = parse_cuda_version_file(sections["version_file"].text)
        if "cudnn_header" in sections:
            result["cudnn_header"] = parse_cudnn_header(sections["cudnn_header"].text)
        if "toolkits" in sections:
            result["toolkits"] = [line for line in sections["toolkits"].lines if line.strip()]
        if "ld_library_path" in sections:
            result["ld_library_path"] = sections["ld_library_path"].text.strip()
        result["shadowing_paths"] = shadowing_paths(result["ld_library_path"])
        return result
