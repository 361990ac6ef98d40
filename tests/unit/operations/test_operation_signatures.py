"""Operation arguments must not collide with pyinfra's global arguments.

pyinfra takes `name`, `_sudo`, `_if`, ... out of an operation call before the operation sees it,
so an operation parameter called `name` would never receive its value (the env operation takes
`env_name` for that reason). The JSON/YAML harness calls `op._inner` directly and cannot see this.
"""

import inspect

import pytest
from pyinfra.api.arguments import all_argument_meta

from operations import conda, conda_config, conda_env, conda_install, driver, hooks, pip_env

OPERATIONS = [
    conda_install.miniconda,
    conda_config.condarc,
    conda_env.env,
    pip_env.requirements,
    pip_env.pip_config,
    hooks.cuda_activation,
    driver.nvidia_driver,
    driver.driver_running,
]


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.__name__)
def test_no_parameter_is_a_pyinfra_global_argument(op):
    parameters = set(inspect.signature(op._inner).parameters)
    assert not parameters & set(all_argument_meta)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.__name__)
def test_docstring_documents_every_parameter(op):
    doc = op._inner.__doc__
    for parameter in inspect.signature(op._inner).parameters:
        assert f"+ {parameter}" in doc or f", {parameter}:" in doc or f"+ {parameter}," in doc, parameter
    assert "**Example:**" in doc


def test_conda_module_gathers_the_conda_operations():
    assert conda.miniconda is conda_install.miniconda
    assert conda.condarc is conda_config.condarc
    assert conda.env is conda_env.env
    assert not hasattr(conda, "packages")  # merged into conda.env: one fact read, one solve
    assert conda.condarc_preset("defaults")["channels"] == ["defaults"]
