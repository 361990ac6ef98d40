"""Drift: a converged host loses one thing by hand; the next run changes exactly that, and the run
after it changes nothing.

The host runs the deploy's own driver branch (535, installed and held by a previous run), so every
kind of drift is drift from what the deploy itself put there.
"""

from __future__ import annotations

import json
import shlex

import pytest

from tests.model.virtual_host import PREFIX, RTX_2080_TI, converged

ENV = f"{PREFIX}/envs/tf21"
HOOK = f"{ENV}/etc/conda/activate.d/gpuws-cuda.sh"


def numpy_upgraded(state):
    state["envs"]["tf21"]["pip"]["numpy"] = "1.21.6"  # `pip install -U numpy` by a user


def cudnn_removed(state):
    # `conda remove --force cudnn`: its record and its files go
    env = state["envs"]["tf21"]
    del env["conda"]["cudnn"]
    env["lib"] = [name for name in env["lib"] if not name.startswith("libcudnn")]


def cudnn_library_deleted(state):
    # `rm ENV/lib/libcudnn.so.7*` by hand: conda-meta still records cudnn
    env = state["envs"]["tf21"]
    env["lib"] = [name for name in env["lib"] if not name.startswith("libcudnn.so.7")]


def hook_removed(state):
    del state["files"][HOOK]


def condarc_changed(state):
    state["files"][f"{PREFIX}/.condarc"] += "channels:\n- conda-forge\n"


def driver_unheld(state):
    state["driver"]["held"].remove("nvidia-driver-535")


def env_deleted(state):
    del state["envs"]["tf21"]
    for path in [p for p in state["files"] if p.startswith(ENV + "/")]:
        del state["files"][path]


def driver_upgraded_without_reboot(state):
    # an unattended upgrade moved the packages on; the running module is still the old one
    state["driver"]["packages"] = {name: "535.216.01-0ubuntu0.18.04.1" for name in state["driver"]["packages"]}
    state["driver"]["reboot_required"] = ["nvidia-dkms-535"]


VERIFY = "Layered GPU verification"
VERDICT = f"{ENV}/etc/gpuws/last-verdict.json"

CASES = {
    # drift: (the operations that must change, the commands they must run). The verification runs
    # again exactly when the correction changed what its fingerprint covers (driver and boot, the
    # env's package records, the hook files): a file restored byte for byte leaves it as it was.
    numpy_upgraded: (
        ["Pip requirements", VERIFY],
        [f"umask 022 && {ENV}/bin/python -I -m pip install --disable-pip-version-check -q -c {ENV}/.gpuws/constraints.txt -- 'numpy<1.20,==1.19.5'"],  # the tf21 lock pins numpy 1.19.5
    ),
    cudnn_removed: (
        ["Env tf21 (python 3.7, cudatoolkit, cudnn)", VERIFY],
        [f"umask 022 && {PREFIX}/bin/conda install -y -q -n tf21 -- cudnn=7.6.5=cuda10.1_0"],
    ),
    cudnn_library_deleted: (
        ["Env tf21 (python 3.7, cudatoolkit, cudnn)", VERIFY],
        [f"umask 022 && {PREFIX}/bin/conda install -y -q -n tf21 --force-reinstall -- cudnn=7.6.5=cuda10.1_0"],
    ),
    hook_removed: (["CUDA activation hook"], ["write_file"]),
    condarc_changed: (["Conda channels (.condarc)"], ["write_file"]),
    driver_unheld: (["Driver >= 418.96"], ["apt-mark hold -- nvidia-driver-535"]),
    env_deleted: (
        ["Env tf21 (python 3.7, cudatoolkit, cudnn)", "Pip requirements", "CUDA activation hook", VERIFY],
        None,
    ),
    driver_upgraded_without_reboot: (
        ["Running driver (reboot if needed)", VERIFY],  # a new boot: the verdict is re-taken
        ["( sleep 1 && reboot ) </dev/null >/dev/null 2>&1 &"],
    ),
}


@pytest.mark.parametrize("drift", list(CASES), ids=lambda f: f.__name__)
def test_drift_is_corrected_by_exactly_the_operation_that_owns_it(run_deploy, drift):
    expected_ops, expected_commands = CASES[drift]
    start = converged("ws09", RTX_2080_TI, driver="535.183.01")
    run_deploy({"ws09": start}).assert_no_change("ws09")  # converged to begin with

    run_deploy.edit("ws09", drift)
    run = run_deploy(["ws09"])
    assert run.returncode == 0, run.describe()
    assert run.changed("ws09") == expected_ops, run.describe()
    commands = [c["command"] for c in run.op_commands("ws09") if c["kind"] != "write_file"]
    writes = [shlex.split(c["command"].split(" mv -f -- ", 1)[-1])[1] for c in run.op_commands("ws09") if c["kind"] == "write_file"]
    if expected_commands == ["write_file"]:
        assert commands == [] and len(writes) == 1
        path = writes[0]
        assert run.states["ws09"]["files"][path] == start["files"][path]  # restored byte for byte
    elif expected_commands is not None:
        # a pip install first writes its constraints file (the pins that keep the rest in place);
        # a fresh verdict is written by the verification
        assert commands == expected_commands
        verdict = [VERDICT] if VERIFY in expected_ops else []
        assert writes == ([f"{ENV}/.gpuws/constraints.txt"] if drift is numpy_upgraded else []) + verdict
    if VERIFY in expected_ops:  # it ran once, on the corrected state, and passed
        assert json.loads(run.states["ws09"]["files"][VERDICT])["ok"] is True
        assert sum(c["kind"] == "GpuVerification" for c in run.commands["ws09"]) == 1
    else:
        assert run.states["ws09"]["files"][VERDICT] == start["files"][VERDICT]
        assert not any(c["kind"] == "GpuVerification" for c in run.commands["ws09"])

    after = run.states["ws09"]
    assert after["envs"] == start["envs"]
    assert after["driver"]["held"] == start["driver"]["held"]
    run_deploy(["ws09"]).assert_no_change("ws09")
