"""The fleet report at its edges: a missing inventory is one line and exit 2; a fleet where no
host answers still prints every host, marked unreachable (table and JSON), exit 1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.report", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, stdin=subprocess.DEVNULL)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_missing_inventory_is_one_line_and_exit_2(tmp_path):
    result = report(str(tmp_path / "no-such-inventory.py"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"report: inventory {tmp_path / 'no-such-inventory.py'} not found: give a pyinfra inventory file, "
        "e.g. inventories/lab.py"]


def test_a_folder_is_not_an_inventory(tmp_path):
    result = report(str(tmp_path))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "is a folder, not an inventory file" in result.stderr


def unreachable_inventory(tmp_path) -> Path:
    port = closed_port()
    inventory = tmp_path / "unreachable.py"
    inventory.write_text(
        f"workstations = [\n"
        f"    ('127.0.0.1', {{'ssh_port': {port}, 'ssh_connect_retries': 0}}),\n"
        f"    ('localhost', {{'ssh_port': {port}, 'ssh_connect_retries': 0}}),\n"
        f"]\n")
    return inventory


def test_every_host_unreachable_still_prints_the_table(tmp_path):
    result = report(str(unreachable_inventory(tmp_path)))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "No hosts remaining" not in result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert [row[0] for row in rows if row and row[-1] == "unreachable"] == ["127.0.0.1", "localhost"]
    assert "0/2 hosts converged" in result.stdout


def test_every_host_unreachable_still_prints_the_json(tmp_path):
    result = report(str(unreachable_inventory(tmp_path)), "--json")
    assert result.returncode == 1, result.stderr
    hosts = json.loads(result.stdout)["hosts"]
    assert [(h["name"], h["connected"], h["error"]) for h in hosts] == [
        ("127.0.0.1", False, "unreachable (could not connect over SSH)"),
        ("localhost", False, "unreachable (could not connect over SSH)"),
    ]
