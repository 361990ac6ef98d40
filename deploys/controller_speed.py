"""Two per-operation costs of pyinfra 3.10 on the controller, removed without changing what it does.

pyinfra spends most of a converged run's controller time on bookkeeping that grows with hosts x
operations, not on the hosts: measured with cProfile on the eight-host no-op (lab/bench), about
a third of the controller's CPU time went to these two, repeated for every operation of every host:

1. ``pyinfra.api.util.get_operation_order_from_stack`` orders operations by the line numbers of
   the call stack, through ``inspect.stack()`` and ``inspect.getframeinfo(frame)``; with their
   default ``context=1`` each frame's source file is located (``inspect.getmodule`` walks all of
   ``sys.modules``) and its lines read, only to be thrown away: only file names and line numbers
   are used. Here both are called with ``context=0``: the same frames, file names and line numbers.
2. ``pyinfra.api.arguments.all_global_arguments`` evaluates ``typing.get_type_hints`` of the same
   class on every call (several per operation and fact). The hints are fixed at import: computed
   once here, and each call returns a new list, as before.

Applied once, when the deploy package is imported (`apply`); only for the pyinfra versions checked
by tests/unit/test_controller_speed.py, which proves the patched functions return what the
originals return. Any other pyinfra version is left exactly as it is.
"""

from __future__ import annotations

import functools
import inspect

SUPPORTED = ("3.10",)  # pyinfra versions (major.minor) whose internals this was checked against


def _stack_without_source(context: int = 0):
    return inspect.stack(context)[1:]  # drop this shim's own frame: callers see the same stack


def _frameinfo_without_source(frame, context: int = 0):
    return inspect.getframeinfo(frame, context)


def apply() -> bool:
    """Patch pyinfra's two per-operation costs when its version is one checked here; True if done."""
    from importlib.metadata import version

    from pyinfra.api import arguments, facts, util

    if ".".join(version("pyinfra").split(".")[:2]) not in SUPPORTED:
        return False
    if getattr(util, "_gpuws_patched", False):
        return True
    util.stack = _stack_without_source
    util.getframeinfo = _frameinfo_without_source
    hints = tuple(arguments.all_global_arguments())

    @functools.wraps(arguments.all_global_arguments)
    def all_global_arguments() -> list:
        return list(hints)

    # facts.py imported the function by name: both references are replaced
    arguments.all_global_arguments = facts.all_global_arguments = all_global_arguments
    util._gpuws_patched = True
    return True
