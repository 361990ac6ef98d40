"""`--dry` is read-only and tells the truth, over real SSH: on a converged, a drifted and a failing
host it writes nothing (every file under the conda prefix, the lock's folder and the system
folders the deploy writes, with size, time and mode, and the verdict, hashed before and after),
runs no verification, shows the drifted step as a change, shows the failing host with its one
line, and exits 1 because a host would fail. Run as an admin types it: `pyinfra --dry` without
-y (with -y, pyinfra 3.10 skips the change detection and shows nothing)."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from lab.pyinfra_run import PYINFRA, ROOT, parse
from tests.lab.e2e.runner import deploy

ENV = "/opt/miniconda3/envs/tf21"
VERDICT = f"{ENV}/etc/gpuws/last-verdict.json"
HOOK = f"{ENV}/etc/conda/activate.d/gpuws-cuda.sh"
SNAPSHOT = ("find /opt/miniconda3 /var/lib/gpuws /etc/profile.d /etc/modprobe.d /etc/apt -xdev "
            "-printf '%p %s %T@ %m\\n' 2>/dev/null | sort | md5sum; md5sum " + VERDICT)


@pytest.fixture(scope="module")
def lab(lab_for):
    lab = lab_for("small.yaml")
    first = deploy()  # converged to begin with
    assert first.rc == 0, first.output[-3000:]
    return lab


def dry_run():
    """`pyinfra --dry` as an admin types it (no -y: with -y pyinfra 3.10 skips the change table);
    returns the parsed run and {operation: change column} of its "Detected changes" table."""
    started = time.monotonic()
    proc = subprocess.run([PYINFRA, "--dry", "inventories/sim.py", "deploys/tf21.py"], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    run = parse(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)
    table = {}
    for line in run.output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells and cells[0].startswith("GPU workstation |") and len(cells) >= 2:
            table[cells[0]] = cells[1]
    return run, table


def changes_for(table: dict, host: str) -> list[str]:
    return [op for op, change in table.items() if re.search(rf"\b{re.escape(host)}\b", change)]


def snapshot(lab) -> dict:
    return {host: lab.ssh(host, SNAPSHOT, check=True).stdout for host in lab.hosts}


def test_dry_run_writes_nothing_and_reports_each_host_truthfully(lab):
    # ws-good-driver drifted (its CUDA hook deleted); ws-conda's last verdict failed on its
    # current state (same fingerprint): a real run would fail it again
    lab.ssh("ws-good-driver", f"rm -f {HOOK}", check=True)
    verdict = json.loads(lab.ssh("ws-conda", f"cat {VERDICT}", check=True).stdout)
    verdict.update(ok=False, failed_layer="compute", hint="the GPU computes wrong results")
    verdict["layers"] = [{"name": "compute", "ok": False, "detail": "max error 3.0"}]
    lab.ssh("ws-conda", f"printf '%s\\n' '{json.dumps(verdict)}' > {VERDICT}", check=True)

    before = snapshot(lab)
    run, table = dry_run()
    after = snapshot(lab)

    print(f"\n--dry: exit {run.rc}, {run.seconds:.1f}s; changes: {table}")
    assert after == before  # nothing written on any host, the verdicts included
    assert run.rc == 1, run.output[-3000:]  # a host would fail: the exit status says so
    assert "gpuws_verify" not in run.output  # the verification program was never sent
    assert table, run.output[-3000:]
    # converged: nothing would change
    assert changes_for(table, "ws-old-driver") == []
    # drifted: the hook would be written, and (its fingerprint changed) the verification re-run
    assert changes_for(table, "ws-good-driver") == [
        "GPU workstation | Stack packages | CUDA activation hook",
        "GPU workstation | GPU verification | Layered GPU verification"], table
    assert run.said("ws-good-driver", "would verify (state changed since the last verdict)") or \
        "ws-good-driver: would verify (state changed since the last verdict)" in run.output
    # failing: one line with its reason
    line = ("would fail: verification failed at layer compute: max error 3.0; hint: the GPU computes wrong "
            "results (last verdict, same state; not re-run in a dry run)")
    assert run.said("ws-conda", line), run.messages.get("ws-conda")

    # the real run then restores the hook byte for byte: the fingerprint is the verified one again
    # (the verification reads it after the write), so ws-good-driver is not re-verified; the
    # failed verdict of ws-conda is re-taken
    real = deploy()
    assert real.rc == 0, real.output[-3000:]
    assert "CUDA activation hook" in " ".join(real.changed("ws-good-driver"))
    assert real.status("Layered GPU verification", "ws-good-driver") == "No changes"
    assert real.status("Layered GPU verification", "ws-conda") == "Success"
    for host in ("ws-good-driver", "ws-conda"):
        assert json.loads(lab.ssh(host, f"cat {VERDICT}", check=True).stdout)["ok"] is True
    assert real.changed("ws-old-driver") == []
