"""One gpuws run per host at a time: a lock file on the host, held from the first operation of a
run to its last (or its first failure).

Why a lock file and not ``flock``: pyinfra runs every command in its own SSH session, so no
process of the run lives on the host between two operations to hold an ``flock``; a background
holder would outlive a controller that was stopped. The lock is a small file written to a
temporary name and hard-linked into place (``ln`` fails when the name exists: taking it is
atomic, and a reader never sees it half written). It names its owner (the controller's host name,
pid, the run's start) and the host's time when taken. It lives under ``/var/lib/gpuws`` (not
``/var/lock``, a tmpfs on most distributions), so a run that reboots the host for its driver still
holds it when the host comes back.

A second run waits up to ``lock_wait`` seconds, then fails that host with "another gpuws run holds
the lock since <time> (pid N on <controller>)". A lock older than ``lock_stale_after`` seconds is
taken over (a controller killed mid-run), with a warning. The lock is released when the host's last
operation completes, or when one of its operations fails (`ReleaseOnEnd`, a pyinfra state
callback, runs ``rm`` only if the file still names this run).

Taking it is a fact's command (facts/host.py: `RunLock`): the lock is not a change of the host's
state, and a converged run must still report zero changes. In the deploy it is the first part of
the run's one broad read (facts/workstation.py: `read_first`): the lock, then the host's state read
under it, in one round trip.
"""

from __future__ import annotations

import os
import socket
import time

from pyinfra import host, logger
from pyinfra.api import BaseStateCallback, QuoteString, StringCommand, operation
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments

from facts import workstation
from facts.host import LOCK_PATH, RunLock

from .util.commands import fail_host


def run_owner() -> dict:
    """Who this run is, the same for every host of it: controller, pid, start time (a run id)."""
    state = host.state
    owner = getattr(state, "_gpuws_lock_owner", None)
    if owner is None:
        controller = "".join(c if c.isalnum() or c in "._-" else "_" for c in socket.gethostname()) or "controller"
        pid = os.getpid()
        owner = {"controller": controller, "pid": pid, "run": f"{controller}:{pid}:{time.time_ns()}"}
        state._gpuws_lock_owner = owner
    return owner


def release_command(run_id: str, path: str = LOCK_PATH) -> StringCommand:
    """``rm`` of the lock file when its first word is still this run's id (never another run's);
    the word is read by the shell itself (the one process is the ``rm``)."""
    return StringCommand(
        "_first=; read -r _first _rest < ", QuoteString(path), ' 2>/dev/null; if [ "$_first" = ',
        QuoteString(run_id), " ]; then rm -f ", QuoteString(path), "; fi", _separator="",
    )


class ReleaseOnEnd(BaseStateCallback):
    """Releases a host's lock after its last operation, or after an operation of it failed (pyinfra
    stops a failed host's run there). Registered once per run by `held`."""

    @staticmethod
    def _release(state, host_):
        owner = getattr(state, "_gpuws_lock_owner", None)
        taken = getattr(state, "_gpuws_lock_taken", set())
        if owner is None or host_.name not in taken:
            return
        taken.discard(host_.name)
        # The run's _sudo/_su_user (--sudo, host data) as pyinfra's facts get them: a direct
        # run_shell_command has none, and a non-root login cannot rm the root-owned lock.
        arguments, _ = pop_global_arguments(state, host_, {})
        connector = {key: value for key, value in arguments.items() if key in CONNECTOR_ARGUMENT_KEYS}
        try:
            ok, _output = host_.run_shell_command(release_command(owner["run"]), print_output=False,
                                                  print_input=False, **connector)
        except Exception as error:  # a host gone away: its lock goes stale, the next run says so
            logger.warning(f"{host_.name}: could not release the gpuws lock ({error})")
            return
        if not ok:
            logger.warning(f"{host_.name}: could not release the gpuws lock {LOCK_PATH}: the next run waits for it")

    @staticmethod
    def operation_host_success(state, host_, op_hash, retry_count=0):
        order = getattr(host_, "op_hash_order", None) or []
        if order and order[-1] == op_hash:  # the host's last operation of this run
            ReleaseOnEnd._release(state, host_)

    @staticmethod
    def operation_host_error(state, host_, op_hash, retry_attempt=0, max_retries=0):
        ReleaseOnEnd._release(state, host_)


@operation()
def held(wait: int = 30, stale_after: int = 10800, path: str = LOCK_PATH):
    """
    Take this host's gpuws run lock (released after the host's last operation or first failure).

    + wait: seconds to wait for another run's lock before failing the host
    + stale_after: seconds after which a lock is taken over (its run is presumed dead)
    + path: the lock file on the host

    **Example:**

    .. code:: python

        lock.held(name="One gpuws run at a time", wait=30)
    """
    if not getattr(host.state, "is_executing", True):
        host.noop("dry run: no lock taken (nothing is written)")
        return
    owner = run_owner()
    state = host.state
    if not getattr(state, "_gpuws_lock_callback", False):
        state.add_callback_handler(ReleaseOnEnd())
        state._gpuws_lock_callback = True
        state._gpuws_lock_taken = set()
    # the lock is taken in the same remote command that then reads the host's planned facts, so
    # what the run sees was read under the lock (values read at prepare time are replaced)
    got = workstation.read_first(
        RunLock, path=path, run=owner["run"], pid=owner["pid"], controller=owner["controller"],
        wait=int(wait), stale_after=int(stale_after),
    )
    if got["taken"]:
        state._gpuws_lock_taken.add(host.name)
        if got.get("stale"):
            logger.warning(f"{host.name}: took over a stale gpuws lock ({got['stale']})")
        host.noop(f"run lock taken ({path})")
        return
    holder = got.get("holder") or {}
    if holder:
        message = (f"another gpuws run holds the lock since {holder.get('since') or 'an unknown time'} "
                   f"(pid {holder.get('pid') or '?'} on {holder.get('controller') or '?'}); "
                   f"wait for it, or remove {path} if no run is active")
    else:
        message = f"could not take the gpuws run lock {path}: {got.get('error') or 'unknown error'}"
    yield fail_host(message)
