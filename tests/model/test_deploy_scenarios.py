"""Deploy scenarios: `pyinfra INVENTORY deploys/tf21.py -y` against simulated workstations (@fake).

Each test starts hosts in a known state (virtual_host.py), runs the real CLI and deploy, and checks
the outcome three ways: the exit status and pyinfra's per-operation results (--json), the exact
commands the hosts received (the model's log), and the hosts' state afterwards.
"""

from __future__ import annotations

import shlex

from operations.util.condarc import preset_sources
from tests.model.virtual_host import (
    GTX_1080_TI,
    PREFIX,
    RTX_2080_TI,
    RTX_3090,
    TF21_PIP,
    converged,
    new_state,
    with_conda,
    with_env,
)

ENV = f"{PREFIX}/envs/tf21"
ALL_OPS = [
    "One gpuws run at a time", "GPU can run tf21", "Conda prefix ownership", "Driver >= 418.96", "Running driver (reboot if needed)",
    "Miniconda", "Conda channels (.condarc)", "Env tf21 (python 3.7, cudatoolkit, cudnn)",
    "Env pip config", "Pip requirements", "CUDA activation hook", "Layered GPU verification",
]  # as in conftest.ALL_OPS (not imported: pytest loads conftest under its own name)
APT_INSTALL = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -- nvidia-driver-580"  # nvidia_driver_branch=auto: an RTX 2080 Ti gets 580
# the tool-changing commands: none of them may run on a host that must be left alone
CHANGING_KINDS = {"apt_unhold", "apt_hold", "apt_update", "apt_install", "nouveau", "reboot", "mkdir",
                  "download", "sha256", "miniconda_installer", "write_file", "conda_create", "conda_remove",
                  "conda_install", "env_backup", "pip_install", "pip_uninstall"}


def assert_only_failure(run, host, message):
    """The host got the fact reads and one failing command carrying `message`, nothing else; and
    pyinfra printed that message as one line naming the host."""
    assert [c["kind"] for c in run.op_commands(host)] == ["fail_host"]
    assert run.op_commands(host)[0]["stderr"] == [message]
    assert not CHANGING_KINDS & set(run.kinds(host))
    assert run.host_lines(host).count(f"[@fake/{host}] {message}") == 1


# ------------------------------------------------------------------------------ 1. converged

def test_converged_host_reports_zero_changes(run_deploy):
    before = converged("ws01")
    run = run_deploy({"ws01": before})

    assert run.returncode == 0
    run.assert_no_change("ws01")
    ops = len(ALL_OPS)
    assert run.results["totals"] == {"hosts": ops, "success": 0, "error": 0, "no_change": ops}
    assert run.results["failed_hosts"] == []
    # TWO remote commands: the run lock taken (operations/lock.py) and, in the same command, the
    # deploy's planned facts read under it (facts/workstation.py), then the lock released after
    # the last operation; the fingerprint equal to the kept verdict's, so the verification is not
    # re-run (no python start on the host). A new remote command on the no-op path must be a
    # conscious choice.
    print(f"\nconverged no-op run: {len(run.commands['ws01'])} remote commands: {run.kinds('ws01')}")
    assert run.kinds("ws01") == ["StateFacts", "lock_release"]
    assert run.commands["ws01"][0]["command"].startswith("_o=$( {\nL=/var/lib/gpuws/run.lock\n")  # the lock first
    state = run.states["ws01"]
    assert state["driver"] == before["driver"] and state["envs"] == before["envs"]
    assert state["files"] == before["files"]  # the lock file is gone again

    # pyinfra's own count agrees with the model's log (every command reached the model)
    debug = run_deploy(["ws01"], "--debug")
    debug.assert_no_change("ws01")
    assert debug.stderr.count("[fake] simulating command on @fake/ws01:") == 2


# ------------------------------------------------------------------------------ 2. old driver

def test_old_driver_upgraded_then_everything_converges_and_a_second_run_changes_nothing(run_deploy):
    run = run_deploy({"old01": new_state("old01", [GTX_1080_TI], "410.48")})

    assert run.returncode == 0, run.describe()
    assert run.failed("old01") == []
    assert run.changed("old01") == [
        "Driver >= 418.96", "Running driver (reboot if needed)", "Miniconda", "Conda channels (.condarc)",
        "Env tf21 (python 3.7, cudatoolkit, cudnn)", "Pip requirements", "CUDA activation hook",
        "Layered GPU verification",  # the first verdict
    ]
    commands = [c["command"] for c in run.op_commands("old01")]
    # driver: lift the old hold (apt would refuse to replace a held package), install, blacklist
    # nouveau, hold the new branch, reboot, and only then is the driver checked again
    assert commands[:6] == [
        "apt-mark unhold -- nvidia-driver-410",
        "DEBIAN_FRONTEND=noninteractive apt-get update -qq",
        APT_INSTALL,
        commands[3],  # the nouveau blacklist (checked below)
        "apt-mark hold -- nvidia-driver-580",
        "( sleep 1 && reboot ) </dev/null >/dev/null 2>&1 &",
    ]
    kinds = run.kinds("old01")
    # re-checked right after the reboot by the same operation's callback: the reconnection
    # (Kernel, then Uptime to confirm the reboot), then GpuInfo
    at = kinds.index("reboot")
    assert kinds[at:at + 4] == ["reboot", "Kernel", "Uptime", "GpuInfo"]
    # Miniconda: downloaded next to the prefix, verified against the configured sha256, installed
    sha = preset_sources("defaults")["miniconda_sha256"]
    sha_command = next(c for c in run.op_commands("old01") if c["kind"] == "sha256")
    assert sha in sha_command["command"] and sha_command["ok"]
    assert [c["kind"] for c in run.op_commands("old01")][6:10] == ["mkdir", "download", "sha256", "miniconda_installer"]
    # the env with python and the stack's conda packages: one conda call, one solve
    conda_calls = [c for c in commands if c.startswith(f"umask 022 && {PREFIX}/bin/conda ")]
    assert conda_calls == [
        f"umask 022 && {PREFIX}/bin/conda create -y -q -n tf21 -- python=3.7 cudatoolkit=10.1.243=h6bb024c_0 cudnn=7.6.5=cuda10.1_0"]

    state = run.states["old01"]
    assert state["driver"]["loaded"] == "580.95.05"
    assert state["driver"]["held"] == ["nvidia-driver-580"]
    assert "nvidia-driver-410" not in state["driver"]["packages"]
    assert state["files"]["/etc/modprobe.d/blacklist-nouveau.conf"] == "blacklist nouveau\noptions nouveau modeset=0\n"
    assert {k: state["counters"][k] for k in ("reboots", "initramfs", "apt_update")} == {"reboots": 1, "initramfs": 1, "apt_update": 1}
    assert state["nouveau_loaded"] is False
    assert state["conda"]["version"] == "4.8.3"
    assert f"{PREFIX}.gpuws-installer.sh" not in state["files"]  # the installer is removed
    env = state["envs"]["tf21"]
    assert env["conda"]["python"][0] == "3.7.16" and env["conda"]["cudnn"] == ["7.6.5", "cuda10.1_0"]
    assert {name: env["pip"][name] for name in TF21_PIP} == TF21_PIP
    assert f"{ENV}/etc/conda/activate.d/gpuws-cuda.sh" in state["files"]
    assert '"ok": true' in state["files"][f"{ENV}/etc/gpuws/last-verdict.json"]
    print(f"\nfresh converge (old driver, reboot): {len(run.commands['old01'])} remote commands, "
          f"{len(run.op_commands('old01'))} of them changes")

    again = run_deploy(["old01"])
    assert again.returncode == 0
    again.assert_no_change("old01")
    assert again.states["old01"]["counters"] == state["counters"]


def test_driver_that_does_not_load_after_the_reboot_fails_the_host_with_guidance(run_deploy):
    # Secure Boot on, modules declared signed (they are not): the install and the reboot happen,
    # the kernel refuses the module, and the check after the reboot (a callback of the same
    # operation, reading GpuInfo again) stops the host before anything else is installed.
    state = new_state("sb01", [GTX_1080_TI], "410.48")
    state["secure_boot"] = True
    run = run_deploy({"sb01": state}, "--data", "nvidia_driver_secure_boot_ok=True")

    assert run.returncode == 1
    message = (
        "the NVIDIA driver does not answer (NVIDIA-SMI has failed because it couldn't communicate with the "
        "NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.); tf21 requires "
        ">= 418.96; Secure Boot is on: the module is probably unsigned — enrol its MOK key (`mokutil --import`, "
        "reboot into MokManager) or disable Secure Boot")
    assert run.host_lines("sb01").count(f"[@fake/sb01] {message}") == 1
    kinds = run.kinds("sb01")
    # nothing after but the run lock's release
    assert kinds[kinds.index("reboot"):] == ["reboot", "Kernel", "Uptime", "GpuInfo", "lock_release"]
    after = run.states["sb01"]
    assert after["driver"]["loaded"] is None and after["counters"]["reboots"] == 1
    assert after["conda"] is None


# ------------------------------------------------------------------------------ 3. upgrade forbidden

def test_old_driver_with_upgrades_forbidden_fails_and_installs_nothing(run_deploy):
    before = new_state("old01", [GTX_1080_TI], "410.48")
    run = run_deploy({"old01": before}, "--data", "nvidia_driver_upgrade=False")

    assert run.returncode == 1
    assert_only_failure(
        run, "old01",
        "driver 410.48 < 418.96 required by tf21; set nvidia_driver_upgrade=True or upgrade it by hand")
    assert run.kinds("old01") == ["StateFacts", "fail_host", "lock_release"]  # the lock and one read (gate, driver), and stop
    assert run.states["old01"]["driver"] == before["driver"] and run.states["old01"]["conda"] is None


# ------------------------------------------------------------------------------ 4. CPU only

def test_cpu_only_host_fails_at_the_gpu_gate(run_deploy):
    run = run_deploy({"cpu01": new_state("cpu01")})

    assert run.returncode == 1
    assert_only_failure(
        run, "cpu01",
        "no NVIDIA GPU found on this host (no PCI device with vendor 0x10de, nvidia-smi lists none); "
        "the tf21 stack needs one — remove the host from the inventory or check the card")
    assert run.kinds("cpu01") == ["StateFacts", "fail_host", "lock_release"]


# ------------------------------------------------------------------------------ 5. Ampere

def test_ampere_host_fails_before_any_change_naming_gpu_cc_and_a_working_stack(run_deploy):
    before = new_state("amp01", [RTX_3090], "535.183.01")
    run = run_deploy({"amp01": before})

    assert run.returncode == 1
    message = ("NVIDIA GeForce RTX 3090 (compute capability 8.6) cannot run tf21 (CUDA 10.1 builds stop at 7.x); "
               "use tensorflow==2.5.0 or later")
    assert_only_failure(run, "amp01", message)
    assert run.kinds("amp01") == ["StateFacts", "fail_host", "lock_release"]
    assert run.states["amp01"] == {**before, "uptime": before["uptime"] + 3}  # three commands: lock and read, fail, release


# ------------------------------------------------------------------------------ 6. conda missing

def test_conda_missing_is_installed_and_the_host_converges(run_deploy):
    state = new_state("ws06", [RTX_2080_TI], "440.100")
    run = run_deploy({"ws06": state})

    assert run.returncode == 0, run.describe()
    assert run.changed("ws06") == [
        "Miniconda", "Conda channels (.condarc)", "Env tf21 (python 3.7, cudatoolkit, cudnn)",
        "Pip requirements", "CUDA activation hook", "Layered GPU verification",  # a first verdict
    ]
    kinds = [c["kind"] for c in run.op_commands("ws06")]
    assert kinds[:4] == ["mkdir", "download", "sha256", "miniconda_installer"]
    assert not {"apt_install", "reboot"} & set(kinds)  # the good driver is left alone
    assert run.states["ws06"]["conda"]["prefix"] == PREFIX
    print(f"\nfresh converge (conda missing): {len(run.commands['ws06'])} remote commands, "
          f"{len(run.op_commands('ws06'))} of them changes")
    run_deploy(["ws06"]).assert_no_change("ws06")


# ------------------------------------------------------------------------------ 7. wrong python

def wrong_python_host():
    # the user's own env: python 3.8, with a package of their own that must not be lost silently
    state = with_conda(new_state("ws07", [RTX_2080_TI], "440.100"))
    return with_env(state, "tf21", "3.8", pip={"requests": "2.31.0"})


def test_env_with_the_wrong_python_fails_and_is_left_untouched(run_deploy):
    before = wrong_python_host()
    run = run_deploy({"ws07": before})

    assert run.returncode == 1
    message = (f"env tf21 has python 3.8.16 but tf21 needs 3.7; set conda_env_recreate=True to rebuild it "
               f"(its conda and pip package lists are saved to {PREFIX}/envs/.gpuws-backup/ first; extra "
               f"packages are not reinstalled), or remove it by hand ({ENV})")
    assert run.op_commands("ws07")[-1]["stderr"] == [message]
    assert run.host_lines("ws07").count(f"[@fake/ws07] {message}") == 1
    # the env operation stopped the host right after its CondaPackages read (a run whose only
    # host fails ends before pyinfra prints --json results, so the log tells); the one change
    # before it is the install's .condarc, which is the deploy's, not the user's
    assert run.kinds("ws07")[-3:] == ["CondaPackages", "fail_host", "lock_release"]
    assert [shlex.split(c["command"].split(" mv -f -- ", 1)[-1])[1] for c in run.op_commands("ws07")[:-1]] == [f"{PREFIX}/.condarc"]
    assert not {"conda_remove", "conda_create", "conda_install", "pip_install", "pip_uninstall"} & set(run.kinds("ws07"))
    assert run.states["ws07"]["envs"] == before["envs"]


def test_env_with_the_wrong_python_is_rebuilt_when_allowed_after_a_backup(run_deploy):
    run = run_deploy({"ws07": wrong_python_host()}, "--data", "conda_env_recreate=True")

    assert run.returncode == 0, run.describe()
    env_commands = [c for c in run.op_commands("ws07") if c["kind"] in ("env_backup", "conda_remove", "conda_create")]
    assert [c["kind"] for c in env_commands] == ["env_backup", "conda_remove", "conda_create"]
    assert env_commands[1]["command"] == f"umask 022 && {PREFIX}/bin/conda remove -y -q -n tf21 --all"
    assert env_commands[2]["command"] == (
        f"umask 022 && {PREFIX}/bin/conda create -y -q -n tf21 -- python=3.7 cudatoolkit=10.1.243=h6bb024c_0 cudnn=7.6.5=cuda10.1_0")
    assert "conda_install" not in run.kinds("ws07")  # the packages came with the create
    state = run.states["ws07"]
    backup = f"{PREFIX}/envs/.gpuws-backup/tf21-20260101T000000Z"
    assert "requests==2.31.0" in state["files"][f"{backup}.pip.txt"].splitlines()
    assert "python=3.8.16=h7a1cb2a_3" in state["files"][f"{backup}.conda.txt"].splitlines()
    assert state["envs"]["tf21"]["conda"]["python"][0] == "3.7.16"
    assert "requests" not in state["envs"]["tf21"]["pip"]  # extras are not reinstalled (the message says so)

    run_deploy(["ws07"], "--data", "conda_env_recreate=True").assert_no_change("ws07")


# ------------------------------------------------------------------------------ 8. mixed fleet

def test_mixed_fleet_good_hosts_converge_each_failure_is_one_line(run_deploy):
    run = run_deploy({
        "ok01": converged("ok01"),
        "cpu01": new_state("cpu01"),
        "amp01": new_state("amp01", [RTX_3090], "535.183.01"),
        "old01": new_state("old01", [GTX_1080_TI], "410.48"),
    })

    assert run.returncode == 1
    assert sorted(run.results["failed_hosts"]) == ["@fake/amp01", "@fake/cpu01"]
    run.assert_no_change("ok01", whole_run_ok=False)
    assert run.failed("old01") == [] and "Driver >= 418.96" in run.changed("old01")
    assert run.states["old01"]["driver"]["loaded"] == "580.95.05"
    for host, words in (("cpu01", ["no NVIDIA GPU found"]), ("amp01", ["RTX 3090", "8.6", "tensorflow==2.5.0"])):
        lines = [line for line in run.host_lines(host) if all(word in line for word in words)]
        assert len(lines) == 1, run.host_lines(host)
        assert not CHANGING_KINDS & set(run.kinds(host))
        # the run lock was taken; pyinfra counts the operations from the gate on as errors
        assert run.failed(host) == ALL_OPS[1:]
