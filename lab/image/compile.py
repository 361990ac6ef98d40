"""Compile the lab's stand-in shared libraries (small C files under lab/standins/) with gcc."""

import os
import shutil
import subprocess
from pathlib import Path


def shared_library(source: Path, output: Path, soname: str, defines: dict[str, object]) -> Path:
    """Build ``output`` (a real ELF shared object with the given SONAME) from ``source``."""
    if shutil.which("gcc") is None:
        raise SystemExit("lab build: gcc is missing (apt-get install gcc libc6-dev)")
    output.parent.mkdir(parents=True, exist_ok=True)
    flags = []
    for name, value in defines.items():
        flags.append(f"-D{name}=\"{value}\"" if isinstance(value, str) else f"-D{name}={value}")
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-s", f"-Wl,-soname,{soname}", *flags,
                    "-o", str(output), str(source), "-ldl"], check=True)
    return output


def symlink(target: str, link: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(target, link)
