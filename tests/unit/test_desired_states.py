"""Several envs per host, steps, mirror presets: the desired states the deploy is built from."""

from __future__ import annotations

import json

import pytest
from pyinfra.api.exceptions import PyinfraError

from deploys.desired import STEPS, desired_state, desired_states, driver_state
from deploys.workstation import unsupported_reason
from operations.jupyter import display_name, kernel_json
from operations.util.condarc import MINICONDA_SHA256

TWO = ["tf21", "tensorflow==2.15.0.post1"]


def test_one_env_per_stack_and_the_driver_of_the_most_demanding():
    states = desired_states({"stacks": TWO})
    assert [s.env_prefix for s in states] == ["/opt/miniconda3/envs/tf21", "/opt/miniconda3/envs/tf-2.15.0.post1"]
    assert [s.config["stack"] for s in states] == TWO and states[1].specs == tuple(TWO)
    assert [s.python.split(".")[:2] for s in states] == [["3", "7"], ["3", "11"]]
    assert driver_state(states).stack["min_driver"] == "525.60.13"
    assert desired_state({"stacks": TWO}).env_prefix == states[0].env_prefix  # the first env
    assert desired_states({"stack": "tf21", "stacks": ["tf21"]})[0].stack["name"] == "tf21"


@pytest.mark.parametrize("data, message", [
    ({"stack": "tensorflow==2.3.0", "stacks": TWO}, "disagree: set only stacks"),
    ({"stacks": ["tf21", "tf21"]}, "both install into env tf21"),
    ({"only": ["drivers"]}, "unknown step 'drivers'; steps are driver, conda"),
    ({"skip": "gpu"}, "data skip=['gpu']: unknown step 'gpu'"),
])
def test_bad_input_is_one_line(data, message):
    with pytest.raises(PyinfraError) as error:
        desired_states(data)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_steps_keep_their_order():
    assert desired_state({}).steps == STEPS
    assert desired_state({"skip": "driver"}).steps == ("conda", "env", "packages", "hook", "verify")
    assert desired_state({"only": ["verify", "driver"]}).steps == ("driver", "verify")
    assert desired_state({"only": ["env", "packages"], "skip": ["env"]}).steps == ("packages",)


def test_a_preset_moves_installer_and_pip_index_and_each_can_be_overridden():
    tuna = desired_state({"conda_channel_preset": "tuna"}).config
    assert tuna["miniconda_url"] == ("https://mirrors.tuna.tsinghua.edu.cn/anaconda/miniconda/"
                                     "Miniconda3-py37_4.8.3-Linux-x86_64.sh")
    assert tuna["miniconda_sha256"] == MINICONDA_SHA256
    assert tuna["pip_index_url"] == "https://pypi.tuna.tsinghua.edu.cn/simple"
    assert desired_state({"conda_channel_preset": "bfsu"}).config["pip_index_url"] == "https://mirrors.bfsu.edu.cn/pypi/web/simple"
    plain = desired_state({}).config
    assert plain["miniconda_url"].startswith("https://repo.anaconda.com/miniconda/") and plain["pip_index_url"] is None
    own = desired_state({"conda_channel_preset": "tuna", "miniconda_url": "https://lan.example/m.sh",
                         "pip_index_url": "https://lan.example/simple"}).config
    # an own installer has no known checksum: the operation refuses it until miniconda_sha256 is given
    assert own["miniconda_url"] == "https://lan.example/m.sh" and own["miniconda_sha256"] is None
    assert own["pip_index_url"] == "https://lan.example/simple"
    mirror = desired_state({"conda_channel_preset": "mirror", "conda_mirror_url": "https://lan.example/conda"}).config
    assert mirror["miniconda_url"] is None and mirror["pip_index_url"] is None
    assert desired_state({"conda_channel_preset": "tuna", "pip_no_index": True}).config["pip_index_url"] is None


def test_a_gpu_the_stack_cannot_run_is_named_per_env():
    tf21, tf215 = desired_states({"stacks": TWO})
    ampere = {"gpus": [{"index": 0, "name": "NVIDIA GeForce RTX 3090", "compute_capability": "8.6"}]}
    assert "cannot run tf21" in unsupported_reason(ampere, tf21.stack)
    assert unsupported_reason(ampere, tf215.stack) is None
    assert unsupported_reason({"gpus": []}, tf21.stack) is None  # no GPU: the gate's own line


def test_kernelspec_named_for_people_with_the_env_libraries():
    tf21, tf215 = desired_states({"stacks": TWO})
    assert display_name(tf21.stack) == "TensorFlow 2.1 (GPU, CUDA 10.1)"
    assert display_name(tf215.stack) == "TensorFlow 2.15 (GPU, CUDA 12.2)"
    spec = json.loads(kernel_json(tf21.env_prefix + "/", display_name(tf21.stack)))
    assert spec["argv"][:3] == ["/opt/miniconda3/envs/tf21/bin/python", "-m", "ipykernel_launcher"]
    assert spec["env"]["LD_LIBRARY_PATH"] == "/opt/miniconda3/envs/tf21/lib"
