"""Safe as root, over real SSH: an env whose bin/python a student owns fails that host with one
line, and nothing from the prefix runs as root (the student's python never starts)."""

import pytest

from tests.lab.e2e.runner import deploy

HOST = "ws-good-driver"
ENV = "/opt/miniconda3/envs/tf21"


@pytest.fixture(scope="module")
def lab(lab_for):
    lab = lab_for("small.yaml")
    lab.reset(HOST)
    first = deploy("--limit", HOST)
    assert first.rc == 0, first.output[-3000:]
    return lab


def test_student_owned_env_python_fails_the_host_and_runs_nothing(lab):
    python = lab.exec(HOST, "readlink", "-f", f"{ENV}/bin/python").stdout.strip()
    marker = "/tmp/gpuws-student-python-ran"
    # the student's python: it would leave a mark if root ever started it
    assert lab.exec(HOST, "test", "-x", python).returncode == 0
    lab.exec(HOST, "mv", python, f"{python}.real")
    lab.exec(HOST, "sh", "-c", f"printf '#!/bin/sh\\ntouch {marker}\\nexec {python}.real \"$@\"\\n' > {python} "
                               f"&& chmod 755 {python} && chown tfuser {python}")
    try:
        run = deploy("--limit", HOST, "--data", "verify_gpu=always")
        assert run.rc == 1, run.output[-3000:]
        assert run.failed(HOST) == ["GPU workstation | Conda prefix ownership"]
        assert run.said(HOST, f"{ENV}/bin/python is owned by tfuser (uid "), run.output[-3000:]
        assert lab.exec(HOST, "test", "-e", marker).returncode != 0, "root ran the student's python"
    finally:
        lab.exec(HOST, "mv", f"{python}.real", python)
        lab.exec(HOST, "rm", "-f", marker)
