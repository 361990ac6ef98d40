"""Several envs and steps on the virtual workstation (@fake): a stack the GPU cannot run, with
data stack_unsupported=fail_host and skip_env, and steps run without the env they work in."""

from __future__ import annotations

import json
from pathlib import Path

from operations.hooks import render_activate_hook
from stacks.locks import ENV_SEED
from tests.model.virtual_host import PREFIX, RTX_3090, converged, new_state, with_conda

ROOT = Path(__file__).resolve().parents[2]

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
    # reads the GPU at prepare time, before the run lock: the lock's own command (the lock, then
    # the planned reads) reads the state again under it
    assert run.kinds("ws01") == ["StateFacts", "StateFacts", "lock_release"]
    assert run.commands["ws01"][1]["command"].startswith("_o=$( {\nL=/var/lib/gpuws/run.lock\n")  # the lock first


def test_two_stacks_converge_on_one_workstation_and_a_second_run_changes_nothing(run_deploy):
    # the course's tf21 workstation (driver 440) gets a CUDA 12 TensorFlow next to it: both
    # stacks run on the RTX 2080 Ti (7.5); the driver is raised for the newer one
    run = run_deploy({"ws02": converged("ws02")}, "--data", f"stacks={TWO}")

    assert run.returncode == 0, run.describe()
    assert run.failed("ws02") == []
    state = run.states["ws02"]
    new = state["envs"]["tf-2.15.0.post1"]
    lock = json.loads((ROOT / "stacks" / "locks" / "tensorflow-2.15.0.post1.json").read_text())
    assert new["conda"]["python"][0] == lock["python"] == "3.11.7"
    # the env holds the lock's versions of every package the model's pip followed, nvidia wheels
    # included (the seed tools conda's python brings are recorded in the lock, not enforced)
    locked = {name: version for name, version in lock["packages"].items()
              if name in new["pip"] and name not in ENV_SEED}
    assert {name for name in locked if name.startswith("nvidia-")} == \
        {name for name in lock["packages"] if name.startswith("nvidia-")}
    assert {name: new["pip"][name] for name in locked} == locked and new["pip"]["tensorflow"] == "2.15.0.post1"
    assert state["envs"]["tf21"]["pip"]["tensorflow-gpu"] == "2.1.0"  # tf21 untouched
    # the new env's hook puts the wheels' libraries on the path; tf21's stays the conda-only one
    hook_215 = state["files"][f"{PREFIX}/envs/tf-2.15.0.post1/etc/conda/activate.d/gpuws-cuda.sh"]
    assert hook_215 == render_activate_hook(f"{PREFIX}/envs/tf-2.15.0.post1", pip_libraries=True)
    assert state["files"][f"{PREFIX}/envs/tf21/etc/conda/activate.d/gpuws-cuda.sh"] == \
        render_activate_hook(f"{PREFIX}/envs/tf21")
    # both envs verified on the GPU, each with its own TensorFlow
    for env, tensorflow in (("tf21", "2.1.0"), ("tf-2.15.0.post1", "2.15.0.post1")):
        verdict = json.loads(state["files"][f"{PREFIX}/envs/{env}/etc/gpuws/last-verdict.json"])
        assert verdict["ok"] and verdict["tensorflow"] == tensorflow, verdict

    again = run_deploy(["ws02"], "--data", f"stacks={TWO}")
    assert again.returncode == 0, again.describe()
    assert again.changed("ws02") == [] and again.failed("ws02") == []
    assert not CHANGING_KINDS & set(again.kinds("ws02")), again.kinds("ws02")


def test_a_pip_stack_with_the_conda_only_hook_fails_verification_at_the_libraries(run_deploy):
    # the model is strict: ENV/lib alone does not find the wheels' libcudart.so.12
    spec = ("--data", "stack=tensorflow==2.15.0.post1")
    first = run_deploy({"ws03": converged("ws03", driver="580.95.05")}, *spec)
    assert first.returncode == 0, first.describe()
    state = first.states["ws03"]
    env = f"{PREFIX}/envs/tf-2.15.0.post1"
    state["files"][f"{env}/etc/conda/activate.d/gpuws-cuda.sh"] = render_activate_hook(env)

    run = run_deploy({"ws03": state}, *spec, "--data", "skip=hook", "--data", "verify_gpu=always")

    assert run.returncode == 1, run.describe()
    [failure] = [c["stderr"] for c in run.op_commands("ws03") if c["kind"] == "fail_host"]
    assert failure[0].startswith("verification failed at layer libraries: libcudart.so.12 does not load"), failure
