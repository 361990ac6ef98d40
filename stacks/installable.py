"""The stack rows, their locks, and whether each is installable.

A row is a named stack (tf21) or a Linux tested-build release (`tensorflow==X.Y.Z`), plus the
installable re-upload of a release that cannot be installed (2.15.0 -> 2.15.0.post1).
Offline, `check_row` says whether a row resolves and has a current lock; online, `lock_row`
makes a lock and `verify_row` re-resolves the locked closure against PyPI in hash-checking mode.

**Example:**

.. code:: python

    from stacks import installable
    installable.check_row("tf21")["status"]  # "installable"
"""

from __future__ import annotations

import re

from . import knowledge as kb
from . import locking, locks
from .errors import StackError
from .cuda_part import CHANNELS
from .resolve import resolve


def resolve_on_any_channel(spec, locked: bool = False) -> dict:
    """resolve() on the first conda channel that carries the row's CUDA libraries (the pip part,
    and so the lock, is the same on every channel); the defaults channel's error if none does."""
    first_error = None
    for channel in CHANNELS:
        try:
            return resolve(spec, channel=channel, locked=locked)
        except StackError as error:
            first_error = first_error or error
    raise first_error


def rows() -> list[str]:
    """Every stack row as a spec: the named stacks, each Linux tested-build release, and the
    re-upload that replaces a release that cannot be installed (2.15.0 -> 2.15.0.post1)."""
    releases = []
    for build in kb.builds("linux"):
        releases.append(build["tensorflow"])
        fixed = kb.installable_release(build)
        if fixed not in (None, build["tensorflow"]):
            releases.append(fixed)
    return kb.stack_names() + [f"tensorflow=={release}" for release in releases]


def lock_for(spec) -> dict:
    """The committed lock of a stack spec (Linux): python, packages {name: version}, files, inputs.

    + spec: "tf21", "tensorflow==2.3.0", ...

    Raises StackError (one line) when the spec does not resolve or has no committed lock.

    **Example:**

    .. code:: python

        lock_for("tf21")["python"], lock_for("tf21")["packages"]["numpy"]  # "3.7.16", "1.19.5"
    """
    stack = resolve_on_any_channel(spec)
    lock = locks.committed_lock(stack)
    if lock is None:
        raise StackError(f"{spec}: no committed lock (stacks/locks/{locks.lock_path(stack).name}); "
                         f"make one with python -m stacks lock {spec} --update")
    stale = locks.stale_reason(stack, lock)
    if stale:
        raise StackError(f"{spec}: stacks/locks/{locks.lock_path(stack).name} is stale: {stale}")
    return lock


def check_row(spec: str) -> dict:
    """Offline verdict on one row: {spec, status, reason, lock}; status installable|refused|unlocked|stale."""
    try:
        stack = resolve_on_any_channel(spec)
    except StackError as error:
        return {"spec": spec, "status": "refused", "reason": str(error), "lock": None}
    channels = [channel for channel in CHANNELS if _resolves(spec, channel)]
    lock = locks.committed_lock(stack)
    if lock is None:
        return {"spec": spec, "status": "unlocked", "lock": None,
                "reason": f"no committed lock; make one with python -m stacks lock {spec} --update"}
    stale = locks.stale_reason(stack, lock)
    if stale:
        return {"spec": spec, "status": "stale", "reason": stale, "lock": f"stacks/locks/{locks.lock_path(stack).name}"}
    return {"spec": spec, "status": "installable", "lock": f"stacks/locks/{locks.lock_path(stack).name}",
            "reason": f"{len(lock['packages'])} packages locked for CPython {lock['python']} ({lock['date']}); "
                      f"CUDA from {stack['cuda_from']}" + (f", conda channels: {', '.join(channels)}"
                                                           if stack["cuda_from"] != "pip" else ""),
            "python": lock["python"], "packages": len(lock["packages"]), "channels": channels}


def _resolves(spec: str, channel: str) -> bool:
    try:
        resolve(spec, channel=channel, locked=False)
    except StackError:
        return False
    return True


def lock_row(spec: str) -> tuple[dict, dict]:
    """Resolve a row's pip part against PyPI under its real CPython -> (resolved stack, lock). Network."""
    stack = resolve_on_any_channel(spec)
    if stack["os"] != "linux":
        raise StackError(f"{spec}: locks are resolved for Linux x86-64 wheels")
    python, full = locking.find_cpython(stack["python"])
    report = locking.run_pip_report(python, stack["pip"], stack["pip_constraints_declared"])
    lock = locking.lock_from_report(report, spec=stack["spec"], tensorflow=stack["tensorflow"],
                                    requirements=stack["pip"], constraints=stack["pip_constraints_declared"],
                                    python=full)
    return stack, lock


def verify_row(spec: str) -> dict:
    """Re-resolve a row's committed lock against PyPI -> check_row's verdict, made online. Network.

    Status "unchecked" when this machine has no CPython of the row's python (pyenv).

    pip installs (dry run) exactly the locked files in hash-checking mode, every dependency
    included, under the lock's CPython, with the stack's own requirements as constraints: it
    fails when a locked file is gone or changed, when the closure misses a dependency, or when
    the lock no longer satisfies the stack.
    """
    verdict = check_row(spec)
    if verdict["status"] != "installable":
        return verdict
    lock = lock_for(spec)
    stack = resolve_on_any_channel(spec)
    try:
        python, full = locking.find_cpython(stack["python"])
    except StackError as error:  # no pyenv build of the row's python on this machine: say so
        return dict(verdict, status="unchecked", reason=str(error))
    if full != lock["python"]:
        return dict(verdict, status="stale", reason=f"the lock was made on CPython {lock['python']}, this "
                    f"machine's pyenv has {full}: run python -m stacks lock {spec} --update")
    wanted = [re.sub(r"\[[^\]]*\]", "", requirement) for requirement in stack["pip"]]  # -c takes no extras
    try:
        report = locking.run_pip_report(python, locking.hashed_requirements(lock),
                                        wanted + stack["pip_constraints_declared"], extra=["--require-hashes"])
    except StackError as error:
        return dict(verdict, status="stale", reason=f"the locked closure no longer installs: {error}")
    got = {locks.normalize(item["metadata"]["name"]): item["metadata"]["version"] for item in report["install"]}
    if got != lock["packages"]:
        return dict(verdict, status="stale", reason=f"pip installs {got}, the lock says {lock['packages']}")
    return dict(verdict, reason=verdict["reason"] + "; re-resolved against PyPI just now")
