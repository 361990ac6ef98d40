"""All the state a run reads, in one remote command per host: the broad fact and its per-run cache.

pyinfra 3.10 has no fact cache: every ``host.get_fact`` runs one remote command, and the CLI
evaluates each operation once more when it checks for changes (no ``-y``). A converged no-op of
the workstation deploy used to cost ten commands per host. Here the deploy plans, before any
operation runs, the facts its operations will read (`plan`); the first `read` of a planned fact
runs all of them in ONE remote command (`StateFacts`, each fact's own command and parser, so the
narrow facts stay the single source of their reads) and keeps the values for this host and run.
The run lock goes first in that same command (`read_first`): the state is read under the lock.

Facts read before the run show the state before the run, so the cache is valid only while
nothing has changed on the host: as soon as an operation of this host has run commands
(`changes_so_far`), a `read` runs the one fact it needs again (and caches that, until the next
change). Unplanned reads go straight to ``host.get_fact``, so an operation used outside the
deploy behaves as before.
"""

from __future__ import annotations

import re
import weakref

from pyinfra.api import FactBase, StringCommand

PART_MARKER = "@@gpuws-part"
_PART = re.compile(rf"^{PART_MARKER} (?P<index>\d+) rc=(?P<rc>-?\d+)\s*$")

# state -> {host name: {"plan": {key: (cls, kwargs)}, "values": {key: value}, "marker": int}}
_RUNS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def fact_key(cls: type, kwargs: dict) -> tuple:
    """A hashable name for one fact read: its class and its arguments."""
    return (f"{cls.__module__}.{cls.__name__}", tuple(sorted((k, repr(v)) for k, v in kwargs.items())))


class StateFacts(FactBase):
    """
    Runs several facts' commands in one remote shell; returns each fact's processed value.

    Each part runs in its own command substitution (an ``exit`` in one part ends only that
    part), its stderr dropped as pyinfra drops a fact's stderr, and is printed after a marker
    ``@@gpuws-part N rc=R``. A part that failed (rc != 0) comes back as ``None`` in ``failed``:
    the caller reads that fact alone, so pyinfra reports its error the usual way.

    + reads: ((fact class, kwargs), ...)

    **Example:**

    .. code:: python

        values = host.get_fact(StateFacts, reads=((GpuInfo, {}), (FreeDisk, {"path": "/opt"})))
        values["values"][0]  # GpuInfo's value
    """

    @staticmethod
    def default() -> dict:
        return {"values": {}, "failed": []}

    def command(self, reads) -> StringCommand:
        bits: list = []
        for index, (cls, kwargs) in enumerate(reads):
            command = cls().command  # a method, or a plain string (pyinfra allows both)
            part = command(**kwargs) if callable(command) else command
            bits += [
                "_o=$( {\n", part if isinstance(part, StringCommand) else StringCommand(part),
                f"\n}} 2>/dev/null ); _rc=$?\nprintf '{PART_MARKER} {index} rc=%s\\n' \"$_rc\"\n"
                'if [ -n "$_o" ]; then printf \'%s\\n\' "$_o"; fi\n',
            ]
        return StringCommand(*bits, _separator="")

    def process(self, output: list[str]) -> dict:
        parts: dict[int, tuple[int, list[str]]] = {}
        current = None
        for line in output:
            marker = _PART.match(line)
            if marker:
                current = int(marker["index"])
                parts[current] = (int(marker["rc"]), [])
            elif current is not None:
                parts[current][1].append(line)
        return {"parts": parts}


def _run_for(host) -> dict:
    """This host's plan and values in the current run, made empty on the first call."""
    state = host.state
    runs = _RUNS.setdefault(state, {})
    return runs.setdefault(host.name, {"plan": {}, "values": {}, "marker": None, "read_all": False})


def plan(host, reads) -> None:
    """Declare the facts (``[(cls, kwargs), ...]``) this host's operations will read in this run;
    nothing runs on the host until the first `read`."""
    run = _run_for(host)
    for cls, kwargs in reads:
        run["plan"][fact_key(cls, kwargs)] = (cls, dict(kwargs))


def changes_so_far(host) -> int:
    """How many of this host's operations have run commands in this run (0 before execution)."""
    count = 0
    for op_data in (getattr(host.state, "ops", {}) or {}).get(host, {}).values():
        meta = op_data.operation_meta
        if meta.is_complete() and meta.did_change():
            count += 1
    return count


_FAILED = object()  # a part whose command failed: that fact is read alone, so pyinfra reports it


def _part_value(parts: dict, index: int, cls: type):
    rc, lines = parts.get(index, (None, []))
    if rc != 0:
        return _FAILED
    fact = cls()
    return fact.process(lines) if lines else fact.default()


def _read_all(host, run: dict, first: tuple | None = None):
    """Every planned fact in one remote command, after ``first`` (a (cls, kwargs) read that goes
    before them in the same command); returns ``first``'s value, `_FAILED` when its part failed."""
    planned = list(run["plan"].items())
    offset = 1 if first else 0
    result = host.get_fact(StateFacts, reads=((first,) if first else ()) + tuple(read for _key, read in planned))
    parts = (result or {}).get("parts") or {}
    values = {key: _part_value(parts, index + offset, cls) for index, (key, (cls, _kwargs)) in enumerate(planned)}
    run["values"] = {key: value for key, value in values.items() if value is not _FAILED}
    run["read_all"], run["marker"] = True, changes_so_far(host)
    return _part_value(parts, 0, first[0]) if first else None


def _planned_run(host) -> dict | None:
    """This host's plan and values in the current run; None when nothing was planned for it."""
    try:
        return _RUNS.get(host.state, {}).get(host.name)
    except TypeError:  # a test double of the state that cannot be weakly referenced
        return None


def read_first(cls: type, **kwargs):
    """``host.get_fact(cls, **kwargs)``, run in the same remote command as this host's planned
    facts and before them; their values replace any read earlier (at prepare time).

    For the run lock (operations/lock.py): the state is read right after the lock is taken, in
    the same round trip, instead of one command for the lock and one for the state. Without a
    plan, or after a change on the host, it is a plain ``host.get_fact``.
    """
    from pyinfra import host

    run = _planned_run(host)
    if run is None or not run["plan"] or changes_so_far(host):
        return host.get_fact(cls, **kwargs)
    got = _read_all(host, run, first=(cls, kwargs))
    return host.get_fact(cls, **kwargs) if got is _FAILED else got


def read(cls: type, **kwargs):
    """``host.get_fact(cls, **kwargs)`` for the current host, answered from this run's broad read
    while nothing has changed on the host, and read anew (once per change) after a change."""
    from pyinfra import host

    run = _planned_run(host)
    if run is None:  # no plan for this host (an operation used outside the deploy)
        return host.get_fact(cls, **kwargs)
    key = fact_key(cls, kwargs)
    marker = changes_so_far(host)
    if run["marker"] != marker:  # the host changed since these values were read
        run["marker"], run["values"] = marker, {}
    if key not in run["values"] and key in run["plan"] and marker == 0 and not run["read_all"]:
        # the planned facts are read together once, before anything changed; after a change
        # each is read alone when an operation needs it
        _read_all(host, run)
    if key not in run["values"]:
        run["values"][key] = host.get_fact(cls, **kwargs)
    return run["values"][key]
