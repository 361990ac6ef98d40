"""deploys/controller_speed.py: pyinfra's per-operation bookkeeping made cheaper, with the same results."""

import importlib
import importlib.util
import inspect
import typing
from collections import OrderedDict, defaultdict

import pytest
from pyinfra.api import arguments, facts, host, util

from deploys import controller_speed

operation = importlib.import_module("pyinfra.api.operation")  # pyinfra.api.operation is the decorator


def _pristine(module):
    """A fresh copy of a pyinfra module, executed from its own file: its functions and classes as
    pyinfra ships them, whether or not this process already applied the patch."""
    spec = importlib.util.spec_from_file_location(f"{module.__name__}_pristine", module.__file__)
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    return copy


@pytest.fixture
def patched(monkeypatch):
    """apply() on this test's own copies of the patched names (restored afterwards)."""
    for module, name in ((util, "stack"), (util, "getframeinfo"), (util, "get_operation_order_from_stack"),
                         (operation, "get_operation_order_from_stack"), (arguments, "all_global_arguments"),
                         (facts, "all_global_arguments"), (host.HostData, "__getattr__")):
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


def _nested(depth, fn):
    """fn called ``depth`` frames deeper, so the stacks compared have frames of their own here."""
    return fn() if depth == 0 else _nested(depth - 1, fn)


@pytest.mark.parametrize("deploy_file", [__file__, "/nowhere/deploy.py", None])
@pytest.mark.parametrize("is_cli", [True, False])
def test_operation_order_is_unchanged(patched, monkeypatch, deploy_file, is_cli):
    """pyinfra's operation ordering, patched and as shipped, called from the same line: with the
    deploy file on the stack, not on it (the original's quirk: only the innermost frame is kept),
    and without one; in CLI mode and in API mode."""
    original = _pristine(util).get_operation_order_from_stack
    state = type("State", (), {"current_deploy_filename": deploy_file, "current_op_file_number": 7})()
    monkeypatch.setattr(util.pyinfra, "is_cli", is_cli)

    # the patched function is reached through operation.py's name, as pyinfra calls it
    orders = _nested(3, lambda: [f(state) for f in (operation.get_operation_order_from_stack, original)])
    assert orders[0] == orders[1]
    if deploy_file == __file__:
        assert len(orders[0]) > 4 + is_cli  # this file's frames, from the first one inwards


class _Mapping(typing.Mapping):
    """A data layer that is not a dict: pyinfra accepts any mapping."""

    def __init__(self, **values):
        self._values = values

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)


def test_host_data_reads_are_unchanged(patched):
    original = _pristine(host).HostData.__getattr__
    layers = ({"in_dict": [1, 2]}, lambda: {"from_callable": "yes", "in_dict": "shadowed"},
              OrderedDict(ordered=1), defaultdict(lambda: "from defaultdict", known="k"),
              _Mapping(in_mapping=3))
    data = host.HostData("ws-1", *layers)
    data.overridden = "override"
    for key in ("in_dict", "from_callable", "ordered", "known", "in_mapping", "overridden", "anything"):
        assert getattr(data, key) == original(data, key)
    first = data.in_dict
    first.append(3)  # a shallow copy, as before: the layer keeps its value
    assert data.in_dict == [1, 2]

    without_default = host.HostData("ws-1", {"a": 1}, _Mapping(b=2))
    for read in (lambda: without_default.missing, lambda: original(without_default, "missing")):
        with pytest.raises(AttributeError, match="Host `ws-1` has no data `missing`"):
            read()
    assert without_default.get("missing", "fallback") == "fallback"


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
