"""The one desired state the deploy, the report and the benchmark share."""

import pytest
from pyinfra.api.exceptions import PyinfraError

import stacks
from deploys.desired import desired_state


def test_defaults_give_the_tf21_env_under_the_default_prefix():
    desired = desired_state({})
    assert desired.config["stack"] == "tf21"
    assert desired.stack == stacks.resolve("tf21")
    assert desired.env_prefix == "/opt/miniconda3/envs/tf21"
    assert desired.python == "3.7"
    assert desired.conflicts == ("tensorflow",)  # tf21 installs tensorflow-gpu


def test_data_names_the_stack_and_the_prefix():
    desired = desired_state({"stack": "tensorflow==2.3.0", "conda_prefix": "/srv/conda/"})
    assert desired.stack["tensorflow_package"] == "tensorflow"
    assert desired.conflicts == ("tensorflow-gpu",)
    assert desired.env_prefix == f"/srv/conda/envs/{desired.stack['conda_env']}"
    assert desired.python == next(p["version"] for p in desired.stack["conda"] if p["name"] == "python")


@pytest.mark.parametrize("data, message", [
    ({"stack": "tensorflow==7.0.0"}, "tensorflow==7.0.0"),
    ({"conda_prefix": "miniconda3"}, "data conda_prefix='miniconda3' is not valid: expected an absolute path"),
])
def test_bad_data_stops_with_one_line(data, message):
    with pytest.raises(PyinfraError) as error:
        desired_state(data)
    assert message in str(error.value) and "\n" not in str(error.value)
