"""One gpuws run per host at a time (operations/lock.py), over real SSH: a host whose lock another
run holds fails with one line naming that run, the other hosts converge; two runs started together
on the same hosts are serialised, and both end with the lock released."""

from __future__ import annotations

import subprocess
import time

import pytest

from lab.pyinfra_run import PYINFRA, ROOT, parse
from tests.lab.e2e.runner import deploy

LOCK = "/var/lib/gpuws/run.lock"


@pytest.fixture(scope="module")
def lab(lab_for):
    lab = lab_for("small.yaml")
    first = deploy()  # converged to begin with (whatever an earlier module left)
    assert first.rc == 0, first.output[-3000:]
    return lab


def test_a_lock_held_by_another_run_fails_that_host_only(lab):
    now = int(lab.ssh("ws-conda", "date +%s", check=True).stdout)
    lab.ssh("ws-conda", f"mkdir -p /var/lib/gpuws && printf 'admin2:4242:1 4242 admin2 2026-01-01T10:00:00Z {now}\\n' > {LOCK}",
            check=True)
    started = time.monotonic()
    run = deploy("--data", "lock_wait=3")
    assert run.rc == 1, run.output[-3000:]
    message = (f"another gpuws run holds the lock since 2026-01-01T10:00:00Z (pid 4242 on admin2); "
               f"wait for it, or remove {LOCK} if no run is active")
    assert run.said("ws-conda", message), run.messages.get("ws-conda")
    assert run.failed("ws-conda") and not run.changed("ws-conda")
    assert time.monotonic() - started >= 3  # it waited lock_wait seconds first
    # the other run's lock is left as it was; the other hosts ran and released theirs
    held = lab.ssh("ws-conda", f"cat {LOCK}", check=True).stdout
    assert held.startswith("admin2:4242:1 4242 admin2 ")
    for host in ("ws-old-driver", "ws-good-driver"):
        assert not run.failed(host) and run.changed(host) == []
        assert lab.ssh(host, f"test -e {LOCK}").returncode == 1


def test_a_stale_lock_is_taken_over_with_a_warning(lab):
    lab.ssh("ws-conda", f"printf 'gone:1:1 1 gone 2026-01-01T00:00:00Z 1\\n' > {LOCK}", check=True)
    run = deploy()
    assert run.rc == 0, run.output[-3000:]
    assert "took over a stale gpuws lock (gone:1:1 1 gone 2026-01-01T00:00:00Z 1)" in run.output
    assert lab.ssh("ws-conda", f"test -e {LOCK}").returncode == 1


def test_two_runs_at_once_are_serialised(lab):
    # the first re-verifies (slower); the second, started while it runs, waits for its lock
    args = ["-y", "--debug", "inventories/sim.py", "deploys/tf21.py", "--data", "lock_wait=300"]
    first = subprocess.Popen([PYINFRA, *args, "--data", "verify_gpu=always"], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    time.sleep(1.0)
    second = subprocess.Popen([PYINFRA, *args], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    outputs = [proc.communicate(timeout=900)[0] for proc in (first, second)]
    runs = [parse(proc.returncode, out, 0.0) for proc, out in zip((first, second), outputs)]
    for run in runs:
        assert run.rc == 0, run.output[-3000:]
    for host in lab.hosts:
        assert lab.ssh(host, f"test -e {LOCK}").returncode == 1  # both released theirs
