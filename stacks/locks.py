"""The committed locks (stacks/locks/*.json): the exact pip closure of each stack row.

A lock is made by `python -m stacks lock SPEC --update` (stacks/locking.py runs pip's resolver
under the row's real CPython against PyPI) and read here, offline. The resolver turns a lock into
`name==version` pip constraints, so an online install, the offline bundle and the lab's wheelhouse
all get exactly the locked versions; the fleet report compares installed versions with it.

A lock file holds: spec, tensorflow, python (exact, e.g. "3.7.16"), platform, pip version, index,
date, inputs (the requirements and constraints it was resolved from), packages {name: version}
and files {name: {file, sha256, url}}. Names are PEP 503 normalised.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from .errors import StackError

LOCK_DIR = Path(__file__).resolve().parent / "locks"
# conda's python package brings these into every env (pip depends on setuptools and wheel, and
# conda's older setuptools builds on certifi); pip must not replace conda's files with PyPI's, so
# their locked versions are recorded, not enforced.
ENV_SEED = ("pip", "setuptools", "wheel", "certifi")


def normalize(name: str) -> str:
    """PEP 503 normalised project name ("Keras_Applications" -> "keras-applications")."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_name(stack: dict) -> str:
    """The lock file stem of a resolved stack: its stack name, else "<package>-<version>"."""
    if stack["name"] == stack["spec"]:
        return stack["name"]
    return f"{stack['tensorflow_package']}-{stack['tensorflow']}"


def lock_path(stack: dict) -> Path:
    return LOCK_DIR / f"{lock_name(stack)}.json"


@functools.lru_cache(maxsize=None)
def _read(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StackError(f"stacks/locks/{path.name}: unreadable lock ({error}); make it again with "
                         f"python -m stacks lock SPEC --update") from None
    for key in ("python", "packages", "files", "inputs", "pip", "date"):
        if key not in lock:
            raise StackError(f"stacks/locks/{path.name}: lock without {key!r}; make it again with "
                             f"python -m stacks lock SPEC --update")
    return lock


def committed_lock(stack: dict) -> dict | None:
    """The committed lock of a resolved stack, or None (none made yet, or not a Linux stack)."""
    if stack["os"] != "linux":
        return None  # locks are resolved for Linux x86-64 wheels
    return _read(lock_path(stack))


def stale_reason(stack: dict, lock: dict) -> str | None:
    """Why a lock no longer describes the stack's declared pip part (None: it still does).

    + stack: a resolved stack (its `pip` and `pip_constraints_declared`)
    + lock: its committed lock
    """
    wanted = {"requirements": stack["pip"], "constraints": stack["pip_constraints_declared"]}
    if lock["inputs"] != wanted:
        return (f"the stack's pip part changed since the lock was made (lock: {lock['inputs']}, now: {wanted}); "
                f"run python -m stacks lock {stack['spec']} --update")
    if lock["python"].rsplit(".", 1)[0] != stack["python"]:
        return (f"the lock is for python {lock['python']}, the stack's env has python {stack['python']}; "
                f"run python -m stacks lock {stack['spec']} --update")
    return None


def lock_constraints(stack: dict, lock: dict) -> list[str]:
    """The lock as `name==version` constraints, minus the env's seed tools and what is already said."""
    said = set(stack["pip"]) | set(stack["pip_constraints_declared"])
    pins = [f"{name}=={version}" for name, version in lock["packages"].items() if name not in ENV_SEED]
    return [pin for pin in pins if pin not in said]


def write_lock(stack: dict, lock: dict) -> Path:
    """Write a lock for a resolved stack; returns its path."""
    path = lock_path(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(lock, indent=1) + "\n", encoding="utf-8")
    _read.cache_clear()
    return path
