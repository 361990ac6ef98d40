"""Installability tier: every stack row's committed lock re-resolved against the real PyPI.

For each row pip 24.0, under the row's own CPython (pyenv), installs (dry run, hash-checking mode)
exactly the locked files with their dependencies and the stack's requirements as constraints. A
row fails when it no longer installs or its lock is stale (a file gone or changed, a dependency
missing, the stack's pip part changed since the lock). Rows run four at a time (21 minutes
measured on a busy 2-core machine). Without PyPI the tier fails, saying so: it never skips.
"""

import concurrent.futures
import re
import socket

import pytest

import stacks
from stacks import installable, locking

JOBS = 4


def _pypi_answers() -> str | None:
    try:
        socket.create_connection(("pypi.org", 443), timeout=10).close()
        return None
    except OSError as error:
        return f"pypi.org:443 does not answer ({error}): this tier needs the real PyPI"


@pytest.fixture(scope="module")
def verdicts():
    problem = _pypi_answers()
    if problem:
        pytest.fail(problem, pytrace=False)
    try:
        locking.pip_wheel()
    except stacks.StackError as error:
        pytest.fail(str(error), pytrace=False)
    with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
        return dict(zip(stacks.rows(), pool.map(installable.verify_row, stacks.rows())))


@pytest.mark.parametrize("spec", stacks.rows())
def test_row_installs_exactly_its_lock(verdicts, spec):
    verdict = verdicts[spec]
    if verdict["status"] == "refused":  # a release pip cannot install: refused naming one that installs
        assert re.search(r"; use tensorflow==\S+$", verdict["reason"]), verdict["reason"]
        return
    assert verdict["status"] == "installable", f"{spec}: {verdict['status']}: {verdict['reason']}"
    assert "re-resolved against PyPI" in verdict["reason"]


def test_a_changed_lock_is_caught_by_pypi(tmp_path, monkeypatch):
    """The check can fail: a lock whose six file hash is wrong no longer installs."""
    import json

    from stacks import locks

    if _pypi_answers():
        pytest.fail(_pypi_answers(), pytrace=False)
    lock = json.loads((locks.LOCK_DIR / "tf21.json").read_text())
    lock["files"]["six"]["sha256"] = "0" * 64
    (tmp_path / "tf21.json").write_text(json.dumps(lock))
    monkeypatch.setattr(locks, "LOCK_DIR", tmp_path)
    locks._read.cache_clear()
    try:
        verdict = installable.verify_row("tf21")
    finally:
        locks._read.cache_clear()
    assert verdict["status"] == "stale" and "no longer installs" in verdict["reason"]
