"""The real CPython 3.7.16 the lab repackages as the conda ``python`` package.

Neither Debian bookworm, PyPI nor any reachable channel has a CPython 3.7; this machine image's
pyenv build, ``$(pyenv root)/versions/3.7.16``, is the only source. ``GPUWS_PY37_PREFIX``
overrides its location. A build venv made from it (``build/py37``) builds cp37 wheels (pycosat,
gast, conda's dependencies) and downloads wheels exactly as a 3.7 interpreter resolves them.
"""

import os
import shutil
import subprocess
from pathlib import Path

from ..paths import LabPaths

VERSION = "3.7.16"


def pyenv_prefix(version: str, override: str) -> Path:
    """Where pyenv keeps CPython `version` (the environment variable `override` names another)."""
    if os.environ.get(override):
        return Path(os.environ[override])
    if shutil.which("pyenv") is None:
        raise SystemExit(f"lab build: CPython {version} is needed from pyenv, but `pyenv` is not on PATH "
                         f"(or set {override} to a CPython {version} prefix)")
    root = subprocess.run(["pyenv", "root"], check=True, capture_output=True, text=True).stdout.strip()
    return Path(root) / "versions" / version


def require_pyenv_python(version: str, override: str) -> Path:
    """The prefix of CPython `version`, or one line saying how to get it."""
    found = pyenv_prefix(version, override)
    short = ".".join(version.split(".")[:2])
    if not (found / f"bin/python{short}").exists():
        raise SystemExit(f"lab build: CPython {version} not found at {found} — the lab repackages "
                         f"`$(pyenv root)/versions/{version}` (install it with `pyenv install {version}`, "
                         f"or set {override})")
    return found


def prefix() -> Path:
    return pyenv_prefix(VERSION, "GPUWS_PY37_PREFIX")


def require_python37() -> Path:
    return require_pyenv_python(VERSION, "GPUWS_PY37_PREFIX")


def build_venv(paths: LabPaths) -> Path:
    """A CPython 3.7 venv with ``wheel``, for `pip wheel`/`pip download` as 3.7 sees them."""
    venv = paths.build_tmp / "py37"
    python = venv / "bin/python"
    if not python.exists():
        subprocess.run([str(require_python37() / "bin/python3.7"), "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "wheel"], check=True)
    return python


def pip_wheel(paths: LabPaths, requirements: list[str], dest: Path, extra: list[str] = ()) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(build_venv(paths)), "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
                    "--prefer-binary", "--wheel-dir", str(dest), *extra, *requirements], check=True)


def relocatable_copy(stage: Path, placeholder: str, source: Path | None = None, short: str = "3.7",
                     skip_extra: tuple = ()) -> None:
    """Copy a pyenv CPython into ``stage`` as a relocatable conda payload (3.7 unless ``source``
    and ``short`` name another: lab/image/python311.py).

    Text files get the pyenv prefix replaced by conda's placeholder (rewritten at install);
    ELF files get $ORIGIN-relative RUNPATHs with patchelf, like conda-forge's python.
    Tests, tkinter, idle and site-packages are left out (pip and friends are own packages).
    """
    source = source or require_python37()
    skip = {"test", "tests", "site-packages", "__pycache__", "idlelib", "tkinter", "turtledemo",
            "_bundled", *skip_extra}

    def ignore(directory, names):
        out = [n for n in names if n in skip]
        if Path(directory) == source / "bin":
            # only the interpreter: pip's and other tools' scripts belong to their own packages
            out += [n for n in names if not n.startswith(("python", "pyvenv"))]
        return out

    for sub in ("bin", "include", "lib"):
        shutil.copytree(source / sub, stage / sub, symlinks=True, ignore=ignore)
    (stage / f"lib/python{short}/site-packages").mkdir()
    (stage / f"lib/python{short}/site-packages/README.txt").write_text("site-packages\n")
    old = str(source).encode()
    for path in stage.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if old in data and b"\0" not in data[:8192]:
                path.write_bytes(data.replace(old, placeholder.encode()))
    if shutil.which("patchelf") is None:
        raise SystemExit("lab build: patchelf is missing (apt-get install patchelf)")
    for exe in (f"bin/python{short}", f"bin/python{short}m"):
        if (stage / exe).exists() and not (stage / exe).is_symlink():
            subprocess.run(["patchelf", "--set-rpath", "$ORIGIN/../lib", str(stage / exe)], check=True)
    for module in (stage / f"lib/python{short}/lib-dynload").glob("*.so"):
        subprocess.run(["patchelf", "--set-rpath", "$ORIGIN/../..", str(module)], check=True)
    for libpython in (stage / f"lib/libpython{short}m.so.1.0", stage / f"lib/libpython{short}.so.1.0"):
        if libpython.exists() and not libpython.is_symlink():
            subprocess.run(["patchelf", "--remove-rpath", str(libpython)], check=True)
