"""Resolve a stack's pip part against the real package index with pip's own resolver.

The resolver runs under a REAL CPython of the row's python (from pyenv), in a throwaway venv
made without pip, with one fixed pip (PIP_VERSION, run from its verified wheel) so that every
lock is made by the same resolver. `pip install --dry-run --ignore-installed --report` names
every distribution pip would install, with the URL and sha256 of the file it picked; sdists
that must be built to read their metadata (gast 0.2.2) are built by that interpreter, as they
would be on the workstation. pip's --python-version mode is not used: it refuses sdists.

The controller's pip configuration (pip.conf, PIP_FIND_LINKS, a global constraints file) is not
an input of a lock: PIP_CONFIG_FILE=/dev/null (pip then reads no configuration file at all) and
every PIP_* variable but transport ones is dropped. pip's --isolated is not used because it
also drops PIP_CERT for the subprocess that installs an sdist's build dependencies, which then
fails behind a TLS-inspecting proxy.

pip report format: https://pip.pypa.io/en/stable/reference/installation-report/
"""

from __future__ import annotations

import datetime
import glob
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import StackError
from .locks import normalize

INDEX_URL = "https://pypi.org/simple"
# pip 24.0 is the newest pip that still runs on Python 3.7 and reads PEP 658/714 metadata.
PIP_VERSION = "24.0"
PIP_WHEEL = "pip-24.0-py3-none-any.whl"
PIP_WHEEL_SHA256 = "ba0d021a166865d2265246961bec0152ff124de910c5cc39f1156ce3fa7c69dc"  # PyPI's file hash
TRANSPORT_ENV = ("PIP_CERT", "PIP_CLIENT_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_PROXY", "PIP_RETRIES",
                 "PIP_TRUSTED_HOST")
PIP_TIMEOUT_S = 900


def pip_environment() -> dict:
    """os.environ without the controller's pip configuration (transport settings kept)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PIP_") or key in TRANSPORT_ENV}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1",
               PYTHONDONTWRITEBYTECODE="1")
    return env


def find_cpython(major_minor: str) -> tuple[str, str]:
    """(path, full version) of the newest CPython X.Y that pyenv has built on this machine.

    + major_minor: "3.7"

    **Example:**

    .. code:: python

        find_cpython("3.7")  # ("<pyenv root>/versions/3.7.16/bin/python3.7", "3.7.16")
    """
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    root = root or os.path.expanduser("~/.pyenv")
    found = []
    for path in glob.glob(os.path.join(root, "versions", f"{major_minor}.*", "bin", f"python{major_minor}")):
        version = Path(path).parents[1].name
        parts = version.split(".")
        if len(parts) == 3 and all(part.isdigit() for part in parts):
            found.append((tuple(map(int, parts)), path, version))
    if not found:
        raise StackError(f"no CPython {major_minor} built by pyenv under {root}/versions: "
                         f"run `pyenv install {major_minor}` to lock or check this row")
    _key, path, version = max(found)
    return path, version


def pip_wheel(cache_dir: Path | None = None) -> Path:
    """The verified pip wheel the resolver runs from (downloaded once into the user's cache)."""
    cache_dir = cache_dir or Path(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))) / "gpuws"
    wheel = cache_dir / PIP_WHEEL
    if not _sha256_is(wheel, PIP_WHEEL_SHA256):
        cache_dir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                               "--index-url", INDEX_URL, "-d", str(cache_dir), f"pip=={PIP_VERSION}"],
                              capture_output=True, text=True, env=pip_environment())
        if done.returncode != 0 or not _sha256_is(wheel, PIP_WHEEL_SHA256):
            raise StackError(f"cannot fetch {PIP_WHEEL} with sha256 {PIP_WHEEL_SHA256} from {INDEX_URL}: "
                             f"{_last_error(done.stderr)}")
    return wheel


def run_pip_report(python: str, requirements: list[str], constraints: list[str], *, extra=(),
                   index_url: str = INDEX_URL) -> dict:
    """`pip install --dry-run --report` of the requirements under `python` -> the report dict.

    + python: a CPython interpreter (find_cpython)
    + requirements / constraints: requirement strings (`-r` / `-c` files)
    + extra: more pip options (e.g. "--require-hashes" with a hashed requirements list)

    Raises StackError with pip's last error line when pip cannot resolve, or when the index does
    not answer.
    """
    wheel = pip_wheel()
    with tempfile.TemporaryDirectory(prefix="gpuws-lock-") as scratch:
        work = Path(scratch)
        # A bare venv of the target interpreter: nothing installed that pip could mistake for the env.
        made = subprocess.run([python, "-m", "venv", "--without-pip", str(work / "venv")],
                              capture_output=True, text=True)
        if made.returncode != 0:
            raise StackError(f"{python} cannot make a venv: {_last_error(made.stderr)}")
        (work / "requirements.txt").write_text("\n".join(requirements) + "\n")
        (work / "constraints.txt").write_text("\n".join(constraints) + "\n")
        command = [str(work / "venv" / "bin" / "python"), str(wheel / "pip"), "install", "--dry-run",
                   "--ignore-installed", "--no-cache-dir", "--quiet", "--index-url", index_url,
                   "--report", str(work / "report.json"), *extra,
                   "-r", str(work / "requirements.txt"), "-c", str(work / "constraints.txt")]
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=pip_environment(),
                                  cwd=scratch, timeout=PIP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise StackError(f"pip did not finish within {PIP_TIMEOUT_S} s against {index_url}") from None
        if done.returncode != 0:
            raise StackError(f"pip cannot resolve against {index_url}: {_last_error(done.stderr)}")
        return json.loads((work / "report.json").read_text())


def lock_from_report(report: dict, *, spec: str, tensorflow: str, requirements: list[str],
                     constraints: list[str], python: str) -> dict:
    """The lock document of a pip report: exact versions and the file (name, sha256) of each."""
    packages, files = {}, {}
    for item in report["install"]:
        name = normalize(item["metadata"]["name"])
        info = item["download_info"]
        url = info["url"]
        hashes = info.get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            raise StackError(f"the index gave no sha256 for {url}: locks need file hashes")
        packages[name] = item["metadata"]["version"]
        files[name] = {"file": url.rsplit("/", 1)[-1], "sha256": hashes["sha256"], "url": url}
    reported_python = report["environment"]["python_full_version"]
    if reported_python != python:
        raise StackError(f"pip ran under python {reported_python}, not the expected {python}")
    return {
        "spec": spec,
        "tensorflow": tensorflow,
        "python": python,
        "platform": f"linux-{platform.machine()} glibc {platform.libc_ver()[1] or 'unknown'}",
        "pip": report["pip_version"],
        "index": INDEX_URL,
        "date": datetime.date.today().isoformat(),
        "inputs": {"requirements": list(requirements), "constraints": list(constraints)},
        "packages": dict(sorted(packages.items())),
        "files": dict(sorted(files.items())),
    }


def hashed_requirements(lock: dict) -> list[str]:
    """The lock as a pip hash-checking requirements list (`name==version --hash=sha256:...`)."""
    return [f"{name}=={version} --hash=sha256:{lock['files'][name]['sha256']}"
            for name, version in lock["packages"].items()]


def _sha256_is(path: Path, expected: str) -> bool:
    if not path.is_file():
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == expected


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["(no output)"])[-1]
