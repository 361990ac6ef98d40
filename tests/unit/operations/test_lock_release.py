"""The run lock's release goes through the run's privilege escalation: a non-root login with
`--sudo` (the inventory's default) must release the root-owned /var/lib/gpuws/run.lock, or the
next run waits for a lock nobody holds (found by tests/lab/e2e/test_sudo_bundle.py)."""

from pyinfra.api import Config, Inventory, State

from operations.lock import ReleaseOnEnd


def released_with(config, host_data=None):
    inventory = Inventory((["ws1"], {}), override_data=host_data or {})
    state = State(inventory=inventory, config=Config(**config))
    host = inventory.get_host("ws1")
    calls = []
    host.run_shell_command = lambda command, **kwargs: calls.append((str(command), kwargs)) or (True, [])
    state._gpuws_lock_owner = {"run": "ctl:1:2", "pid": 1, "controller": "ctl"}
    state._gpuws_lock_taken = {"ws1"}
    ReleaseOnEnd._release(state, host)
    assert len(calls) == 1 and "rm -f /var/lib/gpuws/run.lock" in calls[0][0]
    return calls[0][1]


def test_release_uses_the_runs_sudo():
    assert released_with({"SUDO": True})["_sudo"] is True
    assert released_with({}, {"_sudo": True, "_sudo_user": "root"})["_sudo"] is True


def test_release_as_root_login_needs_no_sudo():
    assert not released_with({}).get("_sudo")
