"""The YAML host list behind inventories/lab.py: groups, data, and one-line errors."""

import subprocess
import sys
from pathlib import Path

import pytest
from pyinfra.api.exceptions import PyinfraError

from inventories.hostlist import load_groups

ROOT = Path(__file__).resolve().parents[3]


def write(tmp_path, text):
    path = tmp_path / "hosts.yaml"
    path.write_text(text)
    return path


def test_example_host_list_loads():
    groups = load_groups(ROOT / "inventories" / "lab.yaml")
    hosts, data = groups["gpu_workstations"]
    assert hosts[:2] == ["ws01.lab.example.org", "ws02.lab.example.org"]
    assert hosts[2] == ("ws03.lab.example.org", {"nvidia_driver_branch": "470"})
    assert groups["teaching_room"][1] == {"conda_channel_preset": "tuna"}
    all_hosts, all_data = groups["all"]
    assert len(all_hosts) == 4 and all_data["_sudo"] is True


@pytest.mark.parametrize(
    "text, message",
    [
        ("groups: [", "is not valid YAML"),
        ("hosts: [a]", "needs a `groups:` mapping"),
        ("groups: {g: {hosts: [a]}}\nextra: 1", "unknown top-level key(s) ['extra']"),
        ("groups: {g: {data: {}}}", "group g needs a `hosts:` list"),
        ("groups: {g: [a, a]}", "host a is listed twice in group g"),
        ("groups: {g: [ws01.Lab, WS01.lab]}", "host WS01.lab is listed twice in group g (host names are case-insensitive)"),
        ("groups: {g: [WS01], h: [ws01]}", "hosts WS01 and ws01 are the same machine (host names are case-insensitive)"),
        ("groups:\n  g: [a]\n  g: [b]\n", "line 3 is not valid YAML: key 'g' appears twice"),
        ("groups: {g: {hosts: [a], data: {x: 1, x: 2}}}", "key 'x' appears twice"),
        ("groups: {g: []}", "group g has no hosts"),
        ("groups: {g: {hosts: [a], vars: {}}}", "group g has unknown key(s) ['vars']"),
        ("groups: {g: [{name: a, port: 22}]}", "unknown key(s) ['port']; use `data:`"),
        ("groups: {g: [{name: a, data: [1]}]}", "host a data must be a mapping"),
        ("groups: {all: [a]}", "group name 'all' must be an identifier"),
        ("groups: {g: [3]}", "invalid host entry 3"),
    ],
)
def test_bad_host_lists_give_one_line(tmp_path, text, message):
    with pytest.raises(PyinfraError) as error:
        load_groups(write(tmp_path, text))
    assert message in str(error.value)
    assert str(tmp_path / "hosts.yaml") in str(error.value)


def test_missing_host_list_says_how_to_start(tmp_path):
    with pytest.raises(PyinfraError, match="create it"):
        load_groups(tmp_path / "lab.yaml")


def test_pyinfra_reads_the_lab_inventory(tmp_path):
    hosts = write(tmp_path, "all: {fake_delay: 0}\ngroups:\n  room1: ['@fake/ws1', {name: '@fake/ws2', data: {nvidia_driver_branch: '470'}}]\n")
    out = subprocess.run(
        [sys.executable, "-m", "pyinfra", "inventories/lab.py", "debug-inventory"],
        cwd=ROOT, capture_output=True, text=True, env={"GPUWS_HOSTS": str(hosts), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "@fake/ws1" in text and "@fake/ws2" in text and "room1" in text


def test_a_host_may_be_in_several_groups(tmp_path):
    groups = load_groups(write(tmp_path, "groups:\n  room1: {hosts: [a, b], data: {x: 1}}\n  gpu: {hosts: [a], data: {x: 2}}\n"))
    assert groups["room1"][0] == ["a", "b"] and groups["gpu"][0] == ["a"]
    assert groups["all"][0] == ["a", "b"]


def test_group_data_precedence_is_the_files_order(tmp_path):
    """pyinfra merges a host's groups in the inventory's order: the later group wins (README)."""
    from pyinfra.api import Inventory

    groups = load_groups(write(tmp_path, "groups:\n  room1: {hosts: [a], data: {x: 1, y: 1}}\n  gpu: {hosts: [a], data: {x: 2}}\n"))
    all_hosts, all_data = groups.pop("all")
    inventory = Inventory((all_hosts, all_data), **groups)
    data = inventory.get_host("a").data
    assert (data.x, data.y) == (2, 1)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b"groups: {g: [caf\xe9]}\n"), "is not UTF-8 text"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
)
def test_unreadable_host_lists_give_one_line(tmp_path, make, message):
    path = tmp_path / "hosts.yaml"
    make(path)
    with pytest.raises(PyinfraError, match=message):
        load_groups(path)
