"""A conda prefix root must not trust (issue: safe as root): an env whose bin/python a student
owns fails that host with one line before conda, the env's python or its hooks run, and the
other hosts converge as usual (@fake, the virtual workstation of virtual_host.py)."""

from __future__ import annotations

from tests.model.virtual_host import PREFIX, converged

ENV = f"{PREFIX}/envs/tf21"
# what may run as root from the prefix: none of these may reach a host whose prefix is not trusted
PREFIX_KINDS = {"conda_create", "conda_remove", "conda_install", "env_backup", "pip_install", "pip_uninstall",
                "write_file", "miniconda_installer", "GpuVerification"}

# the run lock's own commands (operations/lock.py) are not actions on the prefix
LOCK_KINDS = {"RunLock", "lock_release"}


def host_actions(run, host: str) -> list[str]:
    """The commands that were neither fact reads nor the run lock: what the run did to the host."""
    return [c["kind"] for c in run.op_commands(host) if c["kind"] not in LOCK_KINDS]


def test_student_owned_env_python_fails_the_host_and_nothing_runs(run_deploy):
    student = converged("lab01")
    student["owners"] = {f"{ENV}/bin/python": [1000, "755", "student"]}
    student["envs"]["tf21"]["pip"].pop("h5py")  # drift the run would otherwise repair with pip
    run = run_deploy({"lab01": student, "ok01": converged("ok01")})

    message = (f"{ENV}/bin/python is owned by student (uid 1000) with mode 755: root would run code another "
               "user can change; make the conda prefix and its envs root-owned and not group/world-writable "
               "(chown -R root: and chmod -R go-w), or give data conda_prefix a root-owned prefix")
    assert run.returncode == 1, run.describe()
    assert host_actions(run, "lab01") == ["fail_host"]
    assert run.op_commands("lab01")[[c["kind"] for c in run.op_commands("lab01")].index("fail_host")]["stderr"] == [message]
    assert run.host_lines("lab01").count(f"[@fake/lab01] {message}") == 1
    assert not PREFIX_KINDS & set(run.kinds("lab01")), run.kinds("lab01")
    assert "h5py" not in run.states["lab01"]["envs"]["tf21"]["pip"]  # nothing repaired
    run.assert_no_change("ok01", whole_run_ok=False)


def test_group_writable_activation_hook_folder_fails_the_host(run_deploy):
    host = converged("lab02")
    host["owners"] = {f"{ENV}/etc/conda/activate.d": [0, "775", "root"]}
    run = run_deploy({"lab02": host})

    assert run.returncode == 1, run.describe()
    assert host_actions(run, "lab02") == ["fail_host"]
    assert any(f"{ENV}/etc/conda/activate.d is owned by root (uid 0) with mode 775" in line
               for line in run.host_lines("lab02"))
    assert not PREFIX_KINDS & set(run.kinds("lab02"))
