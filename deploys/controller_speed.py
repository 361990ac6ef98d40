"""Costs of pyinfra 3.10 on the controller, per operation and per command, removed without
changing what it does.

pyinfra spends most of a converged run's controller time on bookkeeping that grows with hosts x
operations, not on the hosts: measured with cProfile on the no-op runs of lab/bench (1 and 16
hosts side by side), 1 to 3 were the largest of what each host adds, repeated for every operation
of every host; 4 was a wait on every command:

1. ``get_operation_order_from_stack`` orders operations by the line numbers of the call stack. It
   builds ``inspect.stack()`` and calls ``inspect.getframeinfo`` on every frame, twice; each call
   locates the frame's source file on disk (a ``stat``, and with the default ``context=1`` the
   file's lines too), only for its file name and line number. Here the frames are walked directly
   and those two are read from them (``co_filename``, ``f_lineno``: what ``getframeinfo`` returns
   for a frame of a ``.py`` file, and for any other frame). ``stack``/``getframeinfo``, which
   ``get_caller_frameinfo`` still uses, are called with ``context=0``: no source lines read.
2. ``all_global_arguments`` evaluates ``typing.get_type_hints`` of the same class on every call
   (several per operation and fact). The hints are fixed at import: computed once here, and each
   call returns a new list, as before.
3. ``HostData.__getattr__`` (every ``host.data`` read: ``pop_global_arguments`` reads about 35
   per operation) tries each data layer with ``data[key]`` and catches ``KeyError``: most keys are
   in no layer, so most reads raise and catch an exception per layer. Here a plain dict layer is
   asked with ``in`` first; any other layer (pyinfra allows mappings) is asked as before.
4. Every SSH command waited about 40 ms for nothing: paramiko leaves Nagle's algorithm on for its
   socket, so a short SSH message that follows another one waits for the peer's delayed ACK (the
   Nagle/delayed-ACK stall: http://www.stuartcheshire.org/papers/NagleDelayedAck/, and
   https://github.com/ronf/asyncssh/issues/50 where AsyncSSH turned it off for this). Measured in
   the lab: `mkdir -p /opt` over paramiko took 48 ms with it, 4 ms without; the OpenSSH client
   sets TCP_NODELAY for the same reason. Here each SSH connection's TCP socket gets TCP_NODELAY
   (`without_nagle`; a ProxyCommand pipe is no TCP socket and is left as it is).

Applied once, when the deploy package is imported (`apply`); only for the pyinfra versions checked
by tests/unit/test_controller_speed.py, which proves the patched functions return what the
originals return. Any other pyinfra version is left exactly as it is.
"""

from __future__ import annotations

import functools
import inspect
import socket
import sys
from copy import copy

SUPPORTED = ("3.10",)  # pyinfra versions (major.minor) whose internals this was checked against


def _stack_without_source(context: int = 0):
    return inspect.stack(context)[1:]  # drop this shim's own frame: callers see the same stack


def _frameinfo_without_source(frame, context: int = 0):
    return inspect.getframeinfo(frame, context)


def _operation_order_from_stack(state):
    """``pyinfra.api.util.get_operation_order_from_stack``: the line numbers of the calling stack
    from the deploy file inwards, pyinfra's own frames left out."""
    import pyinfra
    from pyinfra.api.util import PYINFRA_INSTALL_DIR

    frames = []
    frame = sys._getframe(1)  # the caller: pyinfra's, as the original's own frame is (left out below)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()

    i = 0
    # from the *first* frame of the deploy file, outermost first; when it is on no frame, the
    # original keeps only its own (innermost) frame, which it then leaves out: no frame at all
    if state.current_deploy_filename:
        for i, frame in enumerate(frames):
            if frame.f_code.co_filename == state.current_deploy_filename:
                break
        else:
            i = len(frames)

    line_numbers = [state.current_op_file_number] if pyinfra.is_cli else []
    for frame in frames[i:]:
        if not frame.f_code.co_filename.startswith(PYINFRA_INSTALL_DIR):
            line_numbers.append(frame.f_lineno)
    return line_numbers


def _host_data_getattr(self, key: str):
    """``HostData.__getattr__``: the first layer that has the key, a shallow copy of its value."""
    for data in self.datas:
        if callable(data):  # @deploy data defaults, as in pyinfra's extract_callable_datas
            data = data()
        if type(data) is dict:
            if key in data:
                return copy(data[key])
            continue
        try:
            return copy(data[key])
        except KeyError:
            pass
    raise AttributeError(f"Host `{self.host}` has no data `{key}`")


def without_nagle(connector) -> bool:
    """TCP_NODELAY on a pyinfra SSH connector's TCP socket; True if set. Anything else (not
    connected, not SSH, a ProxyCommand pipe, an option the platform refuses) is left as it is:
    this costs speed, never a connection."""
    client = getattr(connector, "client", None)
    transport = client.get_transport() if client is not None else None
    sock = getattr(transport, "sock", None)
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        return False
    return True


def _connect_without_nagle(connect):
    """pyinfra's ``SSHConnector.connect``, then `without_nagle` (reconnections, e.g. after a reboot)."""

    @functools.wraps(connect)
    def connect_without_nagle(self, *args, **kwargs):
        result = connect(self, *args, **kwargs)
        without_nagle(self)
        return result

    return connect_without_nagle


def apply() -> bool:
    """Patch pyinfra's costs when its version is one checked here; True if done."""
    from importlib import import_module
    from importlib.metadata import version

    from pyinfra.api import arguments, facts, host, util

    operation = import_module("pyinfra.api.operation")  # the package's name `operation` is the decorator

    if ".".join(version("pyinfra").split(".")[:2]) not in SUPPORTED:
        return False
    if getattr(util, "_gpuws_patched", False):
        return True
    util.stack = _stack_without_source
    util.getframeinfo = _frameinfo_without_source
    # operation.py imported it by name: both references are replaced
    util.get_operation_order_from_stack = operation.get_operation_order_from_stack = _operation_order_from_stack
    hints = tuple(arguments.all_global_arguments())

    @functools.wraps(arguments.all_global_arguments)
    def all_global_arguments() -> list:
        return list(hints)

    # facts.py imported the function by name: both references are replaced
    arguments.all_global_arguments = facts.all_global_arguments = all_global_arguments
    host.HostData.__getattr__ = _host_data_getattr
    # pyinfra connects to every host before it loads the deploy file that applies this: the
    # connections already open are changed here, later ones (after a reboot) when they are made
    ssh = import_module("pyinfra.connectors.ssh")
    ssh.SSHConnector.connect = _connect_without_nagle(ssh.SSHConnector.connect)
    from pyinfra.context import ctx_state

    if ctx_state.isset() and getattr(ctx_state.get(), "inventory", None) is not None:
        for connected in ctx_state.get().inventory:
            without_nagle(connected.connector)
    util._gpuws_patched = True
    return True
