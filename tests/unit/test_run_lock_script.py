"""facts.host.RunLock's script and operations.lock.release_command run for real by sh on a
temporary lock path: taken, taken again by the same run, held by another, a stale one taken over,
and a release that removes only this run's lock."""

import subprocess

from pyinfra.api import StringCommand
from pyinfra_testing.util import get_command_string

from facts.host import RunLock
from operations.lock import release_command


def take(path, run, wait=0, stale_after=10800):
    fact = RunLock()
    command = fact.command(path=str(path), run=run, pid=42, controller="ctl", wait=wait, stale_after=stale_after)
    done = subprocess.run(["sh", "-c", get_command_string(StringCommand(command))], capture_output=True,
                          text=True, timeout=60, check=True)
    return fact.process(done.stdout.splitlines())


def release(path, run):
    subprocess.run(["sh", "-c", str(release_command(run, str(path)).get_raw_value())], check=True, timeout=60)


def test_take_hold_release(tmp_path):
    lock = tmp_path / "var" / "lib" / "gpuws" / "run.lock"  # its folder is made on first use
    assert take(lock, "ctl:42:1")["taken"] is True
    run, pid, controller, iso, epoch = lock.read_text().split()
    assert (run, pid, controller) == ("ctl:42:1", "42", "ctl") and iso.endswith("Z") and epoch.isdigit()
    assert take(lock, "ctl:42:1")["taken"] is True  # this run's own lock (after its reboot)
    other = take(lock, "ctl:7:2")
    assert other["taken"] is False and other["holder"]["pid"] == "42" and other["holder"]["controller"] == "ctl"
    release(lock, "ctl:7:2")  # not its lock: left alone
    assert lock.exists()
    release(lock, "ctl:42:1")
    assert not lock.exists() and not list(lock.parent.iterdir())  # no temporary file left either
    release(lock, "ctl:42:1")  # nothing to release: no error


def test_a_stale_lock_is_taken_over(tmp_path):
    lock = tmp_path / "run.lock"
    lock.write_text("ctl:1:0 1 old 2020-01-01T00:00:00Z 1577836800\n")
    got = take(lock, "ctl:42:1", stale_after=60)
    assert got["taken"] is True and got["stale"].startswith("ctl:1:0 ")
    assert lock.read_text().startswith("ctl:42:1 42 ctl ")
