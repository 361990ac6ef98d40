"""Where a stack's CUDA libraries come from, and the conda packages that carry them.

Three routes, each the one TensorFlow's own install instructions gave for the release
(stacks/data/tf_builds.yaml `cuda_from`):
- conda: cudatoolkit and cudnn conda packages, only builds known to exist on the channel
  (stacks/data/conda.yaml, each row with the channel listing that shows it);
- conda+pip: cudatoolkit from conda, cuDNN from NVIDIA's pip wheel (TF 2.12 and 2.13);
- pip: every CUDA library from NVIDIA's pip wheels through the `and-cuda` extra (TF >= 2.14), so
  the env's conda part is python alone and the whole CUDA part is in the pip lock.
"""

from __future__ import annotations

from . import knowledge as kb
from .errors import StackError

CHANNELS = ("defaults", "conda-forge")
CONDA_SUBDIR = {"linux": "linux-64", "windows": "win-64"}


def conda_part(label: str, build: dict, python: str, cudatoolkit: str, cudnn: str, channel: str, os: str,
               via: dict) -> dict:
    """The conda entries (python first) and a description of where cudatoolkit and cudnn come from.

    + label: the spec, for messages
    + build: the tested-build row; python, cudatoolkit, cudnn: resolved versions
    + channel, os: the conda channel and the target OS
    + via: the `cuda_from` row of the release

    **Example:**

    .. code:: python

        conda_part("tf21", build, "3.7", "10.1", "7.6.5", "defaults", "linux", via)["conda"][1]["spec"]
        # "cudatoolkit=10.1.243=h6bb024c_0"
    """
    entries = [_entry("python", python, None)]
    sources, described = [], {}
    subdir = CONDA_SUBDIR[os]
    if via["via"] == "pip":
        described = {"cudatoolkit_package": f"pip: NVIDIA CUDA {build['cuda']} wheels through {via['pip_extra']!r} "
                                            f"(exact versions in the lock)",
                     "cudnn_package": f"pip: nvidia-cudnn wheel through {via['pip_extra']!r} (exact version in the lock)"}
        return {"conda": entries, "source": f"CUDA libraries from pip: {via['source']}", **described}
    names = ("cudatoolkit", "cudnn") if via["via"] == "conda" else ("cudatoolkit",)
    for name in names:
        wanted = cudatoolkit if name == "cudatoolkit" else cudnn
        row = kb.conda_file(channel, subdir, name, build["cuda"], wanted)
        if row is None:
            raise StackError(_missing(label, name, wanted, build, channel, subdir, via))
        entries.append(_entry(name, row["version"], row.get("build")))
        described[f"{name}_package"] = f"conda {channel} {entries[-1]['spec']}"
        sources.append(f"{name}: {row['source']}")
    if via["via"] == "conda+pip":
        described["cudnn_package"] = f"pip: {' '.join(via['pip'])}"
        sources.append(f"cudnn: {via['source']}")
    return {"conda": entries, "source": "; ".join(sources), **described}


def _missing(label: str, name: str, version: str, build: dict, channel: str, subdir: str, via: dict) -> str:
    """One line: no known build, and the nearest thing that works (the other channel, or a release)."""
    other = next((c for c in CHANNELS if c != channel
                  and all(kb.conda_file(c, subdir, n, build["cuda"], build[n if n == "cudnn" else "cuda"])
                          for n in _names(via))), None)
    if other:
        fix = f"use --channel {other}"
    else:
        near = kb.nearest_build(build["os"], build["tensorflow"], lambda row: _installable(row, channel, subdir))
        fix = (f"use tensorflow=={kb.installable_release(near)} (CUDA {near['cuda']})" if near
               else "no release of this OS has its CUDA libraries on a known conda channel")
    return (f"{label}: no known {name} {version} build for CUDA {build['cuda']} on the {channel} channel "
            f"({subdir}; stacks/data/conda.yaml lists the builds that exist, with their channel listings); {fix}")


def _names(via: dict) -> tuple:
    return ("cudatoolkit", "cudnn") if via["via"] == "conda" else ("cudatoolkit",)


def _installable(row: dict, channel: str, subdir: str) -> bool:
    via = kb.cuda_from(row["tensorflow"])
    if via["via"] == "pip":
        return row["os"] == "linux"
    return all(kb.conda_file(channel, subdir, n, row["cuda"], row["cudnn"] if n == "cudnn" else row["cuda"])
               for n in _names(via))


def _entry(name: str, version: str, build) -> dict:
    spec = f"{name}={version}" + (f"={build}" if build else "")
    return {"name": name, "version": version, "build": build, "spec": spec}

