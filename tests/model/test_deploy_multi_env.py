"""Several envs and steps on the virtual workstation (@fake): a stack the GPU cannot run, with
data stack_unsupported=fail_host and skip_env, and steps run without the env they work in."""

from __future__ import annotations

import json

from tests.model.virtual_host import PREFIX, RTX_3090, converged, new_state, with_conda

TWO = json.dumps(["tensorflow==2.15.0.post1", "tf21"])
CHANGING_KINDS = {"apt_unhold", "apt_hold", "apt_update", "apt_install", "nouveau", "reboot", "mkdir",
                  "download", "sha256", "miniconda_installer", "write_file", "conda_create", "conda_remove",
                  "conda_install", "env_backup", "pip_install", "pip_uninstall"}


def test_a_stack_the_gpu_cannot_run_fails_the_host_before_any_change_with_fail_host(run_deploy):
    run = run_deploy({"amp01": new_state("amp01", [RTX_3090], "535.183.01")},
                     "--data", f"stacks={TWO}", "--data", "stack_unsupported=fail_host")

    assert run.returncode == 1, run.describe()
    assert [c["kind"] for c in run.op_commands("amp01")] == ["fail_host"], run.describe()
    [line] = run.op_commands("amp01")[0]["stderr"]
    assert "GeForce RTX 3090" in line and "8.6" in line and "tf21" in line
    assert not CHANGING_KINDS & set(run.kinds("amp01"))
    assert run.host_lines("amp01").count(f"[@fake/amp01] {line}") == 1


def test_skip_env_leaves_out_the_env_the_gpu_cannot_run_with_one_warning(run_deploy):
    # step driver only: the gates and the driver (the model has no TF 2.15 wheels to install)
    run = run_deploy({"amp02": new_state("amp02", [RTX_3090], "535.183.01")},
                     "--data", f"stacks={TWO}", "--data", "stack_unsupported=skip_env", "--data", "only=driver")

    assert run.returncode == 0, run.describe()
    warnings = [line for line in run.stderr.splitlines() if "env tf21 not converged" in line]
    assert len(warnings) == 1 and "GeForce RTX 3090 (compute capability 8.6) cannot run tf21" in warnings[0]
    assert run.failed("amp02") == [] and run.changed("amp02") == []
    # the driver step is the kept stack's (535 satisfies its 525.60.13); tf21's gate is not run
    unchanged = run.unchanged("amp02")
    assert unchanged.index("GPU can run tensorflow-2.15.0.post1") < unchanged.index("Driver >= 525.60.13")
    assert not any("tf21" in name for name in run.unchanged("amp02"))
    assert not CHANGING_KINDS & set(run.kinds("amp02"))


def test_only_verify_on_a_host_without_the_env_fails_it_with_one_line(run_deploy):
    host = with_conda(new_state("noenv01", [RTX_3090], "535.183.01"))
    run = run_deploy({"noenv01": host}, "--data", "only=verify", "--data", "stack=tensorflow==2.15.0.post1")

    message = (f"env tf-2.15.0.post1 is not installed at {PREFIX}/envs/tf-2.15.0.post1, and step verify needs it: "
               "run the env step too (add env to data only, or take it out of data skip)")
    assert run.returncode == 1
    assert [c["kind"] for c in run.op_commands("noenv01")] == ["fail_host"]
    assert run.op_commands("noenv01")[0]["stderr"] == [message]
    assert run.host_lines("noenv01").count(f"[@fake/noenv01] {message}") == 1
    assert not CHANGING_KINDS & set(run.kinds("noenv01"))


def test_only_verify_on_a_converged_host_passes_the_guard_and_changes_nothing(run_deploy):
    run = run_deploy({"ws01": converged("ws01")}, "--data", "only=verify")

    assert run.returncode == 0, run.describe()
    assert run.failed("ws01") == [] and "Env tf21 installed" in run.unchanged("ws01")
    assert not CHANGING_KINDS & set(run.kinds("ws01"))
    # the guard is answered by the broad read: no read of its own. The skipped driver's warning
    # reads the GPU at prepare time, before the run lock: the lock makes the run read again
    assert run.kinds("ws01") == ["StateFacts", "RunLock", "StateFacts", "lock_release"]
