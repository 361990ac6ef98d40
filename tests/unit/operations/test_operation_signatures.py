"""Every operation of the room: arguments pyinfra can pass, docstrings the pyinfra way.

pyinfra takes `name`, `_sudo`, `_if`, ... out of an operation call before the operation sees it,
so an operation parameter called `name` would never receive its value (the env operation takes
`env_name` for that reason). The JSON/YAML harness calls `op._inner` directly and cannot see this.
"""

import importlib
import inspect
import pkgutil

import pytest
from pyinfra.api.arguments import all_argument_meta

import operations


def all_operations() -> dict:
    """`module.operation` -> operation, for every @operation defined in operations/*.py."""
    found = {}
    for info in pkgutil.iter_modules(operations.__path__):
        if info.ispkg:  # operations/util holds plain helpers, no operation
            continue
        module = importlib.import_module(f"operations.{info.name}")
        for attribute, value in vars(module).items():
            inner = getattr(value, "_inner", None)
            if inner is not None and inner.__module__ == module.__name__:
                found[f"{info.name}.{attribute}"] = value
    return found


OPERATIONS = all_operations()


def test_every_operation_is_found():
    assert set(OPERATIONS) == {
        "bundle.synced", "conda.condarc", "conda.env", "conda.miniconda", "conda.prefix_trusted", "driver.driver_running",
        "driver.nvidia_driver", "gpu_gate.gpu_supported", "hooks.cuda_activation", "pip.config",
        "jupyter.kernelspec", "pip.requirements", "verify.gpu_stack", "lock.held", "steps.env_installed",
    }


def test_no_helper_module_defines_an_operation():
    util = importlib.import_module("operations.util")
    for info in pkgutil.iter_modules(util.__path__):
        module = importlib.import_module(f"operations.util.{info.name}")
        assert not [name for name, value in vars(module).items() if hasattr(value, "_inner")], info.name


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_no_parameter_is_a_pyinfra_global_argument(name):
    parameters = set(inspect.signature(OPERATIONS[name]._inner).parameters)
    assert not parameters & set(all_argument_meta)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_docstring_is_the_pyinfra_way(name):
    doc = inspect.cleandoc(OPERATIONS[name]._inner.__doc__ or "")
    summary, _, rest = doc.partition("\n")
    assert summary.strip() and len(summary) <= 100 and not rest.splitlines()[0].strip(), summary  # one line
    for parameter in inspect.signature(OPERATIONS[name]._inner).parameters:
        assert f"+ {parameter}:" in doc or f", {parameter}:" in doc or f"+ {parameter}," in doc, parameter
    assert "**Example:**" in rest and f"{name}(" in rest.split("**Example:**")[1]
    assert len(doc.splitlines()) <= 40, "the why in a short paragraph at most"
