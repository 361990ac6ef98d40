"""deploys/controller_speed.py: pyinfra's per-operation bookkeeping made cheaper, with the same results."""

import inspect
import typing

import pytest
from pyinfra.api import arguments, facts, util

from deploys import controller_speed


@pytest.fixture
def patched(monkeypatch):
    """apply() on this test's own copies of the patched names (restored afterwards)."""
    for module, name in ((util, "stack"), (util, "getframeinfo"), (arguments, "all_global_arguments"),
                         (facts, "all_global_arguments")):
        monkeypatch.setattr(module, name, getattr(module, name))
    monkeypatch.delattr(util, "_gpuws_patched", raising=False)
    assert controller_speed.apply() is True
    return util


def _locations(frames):
    return [(f.filename, f.lineno, f.function) for f in frames]


def _called_from_here(fn):
    return fn()


def test_stack_and_frameinfo_give_the_same_frames_and_line_numbers(patched):
    # both called from the same frame (the lambda), as pyinfra calls util.stack()
    original, now = _called_from_here(lambda: (inspect.stack(), patched.stack()))
    assert _locations(now) == _locations(original) and now[0].function == "<lambda>"
    assert all(f.code_context is None for f in now)  # no source file was read
    frame = inspect.currentframe()
    before, after = inspect.getframeinfo(frame), patched.getframeinfo(frame)
    assert (after.filename, after.lineno, after.function) == (before.filename, before.lineno, before.function)


def test_operation_order_is_unchanged(patched, monkeypatch):
    """get_operation_order_from_stack (pyinfra's operation ordering) with and without the patch."""
    state = type("State", (), {"current_deploy_filename": __file__, "current_op_file_number": 0})()
    monkeypatch.setattr(util.pyinfra, "is_cli", True)

    def order():
        return util.get_operation_order_from_stack(state)

    def unpatch():
        monkeypatch.setattr(util, "stack", inspect.stack)
        monkeypatch.setattr(util, "getframeinfo", inspect.getframeinfo)

    orders = []
    for step in (None, unpatch):  # both orders computed from the same line of this file
        if step:
            step()
        orders.append(order())
    assert orders[0] == orders[1] and len(orders[0]) > 1


def test_global_arguments_are_the_type_hints_each_call_a_new_list(patched):
    expected = list(typing.get_type_hints(arguments.AllArguments).items())
    first, second = arguments.all_global_arguments(), facts.all_global_arguments()
    assert first == expected == second and first is not second
    first.clear()
    assert arguments.all_global_arguments() == expected


def test_other_pyinfra_versions_are_left_alone(monkeypatch):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "version", lambda name: "4.0.0")
    monkeypatch.setattr(util, "stack", util.stack)
    assert controller_speed.apply() is False
