"""The real CPython 3.11.7 the lab repackages as a second conda ``python`` (the CUDA 12 TensorFlow
stack's env: stacks/locks/tensorflow-2.15.0.post1.json records python 3.11.7).

Like 3.7.16 (lab/image/python37.py), it comes from this machine image's pyenv build,
``$(pyenv root)/versions/3.11.7`` (``GPUWS_PY311_PREFIX`` overrides), made relocatable the same
way. Its env's pip and setuptools are the interpreter's own: the wheels CPython bundles for
``ensurepip`` (lib/python3.11/ensurepip/_bundled), repackaged as py311 conda packages.
"""

from pathlib import Path

from . import python37

VERSION = "3.11.7"
SHORT = "3.11"


def require_python311() -> Path:
    return python37.require_pyenv_python(VERSION, "GPUWS_PY311_PREFIX")


def python() -> Path:
    return require_python311() / f"bin/python{SHORT}"


def ensurepip_wheels() -> list[Path]:
    """pip and setuptools exactly as this CPython bundles them (pip 23.2.1, setuptools 65.5.0)."""
    return sorted((require_python311() / f"lib/python{SHORT}/ensurepip/_bundled").glob("*.whl"))


def relocatable_copy(stage: Path, placeholder: str) -> None:
    # config-3.11-*: the 44 MB static libpython for embedding; no env of the lab builds against it
    python37.relocatable_copy(stage, placeholder, source=require_python311(), short=SHORT,
                              skip_extra=(f"config-{SHORT}-x86_64-linux-gnu",))
