"""deploys/controller_speed.py: pyinfra's per-operation bookkeeping made cheaper, with the same results."""

import importlib
import importlib.util
import inspect
import socket
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


ssh = importlib.import_module("pyinfra.connectors.ssh")

PATCHED = ((util, "stack"), (util, "getframeinfo"), (util, "get_operation_order_from_stack"),
           (operation, "get_operation_order_from_stack"), (arguments, "all_global_arguments"),
           (facts, "all_global_arguments"), (host.HostData, "__getattr__"), (ssh.SSHConnector, "connect"))


@pytest.fixture
def restored(monkeypatch):
    """Every name apply() patches, restored after the test; apply() may run again."""
    for owner, name in PATCHED:
        monkeypatch.setattr(owner, name, getattr(owner, name))
    monkeypatch.delattr(util, "_gpuws_patched", raising=False)
    return monkeypatch


@pytest.fixture
def patched(restored):
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


class _Connector:
    """What without_nagle reads of pyinfra's SSHConnector: client.get_transport().sock."""

    def __init__(self, sock):
        transport = type("Transport", (), {"sock": sock})()
        self.client = None if sock is None else type("Client", (), {"get_transport": lambda _: transport})()


def _nodelay(sock) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


@pytest.fixture
def tcp_pair():
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        yield client
        client.close()
        accepted.close()


def test_ssh_sockets_without_nagle(tcp_pair):
    assert _nodelay(tcp_pair) == 0  # the kernel's default, which paramiko keeps
    assert controller_speed.without_nagle(_Connector(tcp_pair)) is True
    assert _nodelay(tcp_pair) != 0
    # not connected, a ProxyCommand pipe (no socket), a unix socket: left as they are
    left, right = socket.socketpair()
    with left, right:
        for connector in (_Connector(None), _Connector(object()), _Connector(left), object()):
            assert controller_speed.without_nagle(connector) is False


def test_connections_open_before_the_patch_and_made_after_it_lose_nagle(restored, tcp_pair):
    """pyinfra connects to every host before it loads the deploy that applies the patch: apply()
    changes those connections, and the connect of a later one (after a reboot)."""
    from pyinfra.context import ctx_state

    restored.setattr(ssh.SSHConnector, "connect", lambda self: "connected")
    connected = type("Host", (), {"connector": _Connector(tcp_pair)})()
    state = type("State", (), {"inventory": [connected, type("Host", (), {"connector": None})()]})()
    with ctx_state.use(state):
        assert controller_speed.apply() is True
    assert _nodelay(tcp_pair) != 0

    with socket.create_server(("127.0.0.1", 0)) as server:
        later = socket.create_connection(server.getsockname())
        with later, server.accept()[0]:
            reconnecting = _Connector(later)
            assert ssh.SSHConnector.connect(reconnecting) == "connected"
            assert _nodelay(later) != 0


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
