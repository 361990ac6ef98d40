"""Load a lab's workstations from a YAML host list into pyinfra inventory groups.

Admins edit YAML, not Python: a host list is data, and a typo in it should give one line naming
the file and the entry, not a Python traceback. The format::

    all:                       # optional: data for every host (README's data keys, pyinfra's ssh_* keys)
      ssh_user: admin
      _sudo: true
    groups:
      gpu_workstations:        # group name -> its hosts and optional group data
        data: {nvidia_driver_branch: "535"}
        hosts:
          - ws01.lab.example.org                       # a bare host name
          - {name: ws02.lab.example.org, data: {ssh_port: 2222}}

A host may be in several groups (as in pyinfra and Ansible). Its data, highest first: `--data`,
its own `data:` (entries in later groups over earlier ones), group data (a group later in the
file over an earlier one), `all:`, then the deploy's defaults. A key written twice in one mapping
is refused: plain YAML would silently keep the last one (e.g. a whole group dropped).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pyinfra.api.exceptions import PyinfraError

_GROUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key written twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping (merge the two entries)", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_groups(path: str | Path) -> dict[str, tuple[list, dict]]:
    """Return `{group: ([host | (host, data)], group_data)}`, plus an `all` entry for the `all:` data.

    + path: the YAML host list

    .. code:: python

        groups = load_groups("inventories/lab.yaml")  # {"gpu_workstations": (["ws01", ...], {...}), "all": ...}
    """
    path = Path(path)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise PyinfraError(f"host list {path} not found: create it (format: inventories/lab.yaml) or set GPUWS_HOSTS to your host list")
    except IsADirectoryError:
        raise PyinfraError(f"host list {path} is a directory: give the YAML file itself (format: inventories/lab.yaml)")
    except UnicodeDecodeError as e:
        raise PyinfraError(f"host list {path} is not UTF-8 text (byte {e.start}): save it as UTF-8")
    except OSError as e:
        raise PyinfraError(f"host list {path} cannot be read: {e.strerror}")
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise PyinfraError(f"host list {path}{where} is not valid YAML: {getattr(e, 'problem', e)}")

    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), dict) or not doc["groups"]:
        raise PyinfraError(f"host list {path}: needs a `groups:` mapping of group name -> hosts")
    unknown = set(doc) - {"all", "groups"}
    if unknown:
        raise PyinfraError(f"host list {path}: unknown top-level key(s) {sorted(unknown)}; only `all` and `groups` are read")

    groups: dict[str, tuple[list, dict]] = {}
    seen: set[str] = set()
    spelled: dict[str, str] = {}  # lower-case name -> its first spelling
    for group, body in doc["groups"].items():
        if not isinstance(group, str) or not _GROUP_NAME.match(group) or group == "all":
            raise PyinfraError(f"host list {path}: group name {group!r} must be an identifier other than `all`")
        if isinstance(body, list):
            body = {"hosts": body}
        if not isinstance(body, dict) or not isinstance(body.get("hosts"), list):
            raise PyinfraError(f"host list {path}: group {group} needs a `hosts:` list")
        if not body["hosts"]:
            raise PyinfraError(f"host list {path}: group {group} has no hosts; list at least one or remove the group")
        extra = set(body) - {"hosts", "data"}
        if extra:
            raise PyinfraError(f"host list {path}: group {group} has unknown key(s) {sorted(extra)}; only `hosts` and `data`")
        hosts = [_host_entry(path, group, entry, seen) for entry in body["hosts"]]
        names = [host if isinstance(host, str) else host[0] for host in hosts]
        # host names are case-insensitive (RFC 4343): WS01 and ws01 are one machine, and two
        # spellings would make pyinfra run on it twice at once
        lowered = [name.lower() for name in names]
        twice = sorted({name for name, low in zip(names, lowered) if lowered.count(low) > 1})
        if twice:
            raise PyinfraError(f"host list {path}: host {twice[0]} is listed twice in group {group} "
                               "(host names are case-insensitive); list it once")
        for name, low in zip(names, lowered):
            first = spelled.setdefault(low, name)
            if first != name:
                raise PyinfraError(f"host list {path}: hosts {first} and {name} are the same machine (host names "
                                   "are case-insensitive); spell it one way in every group")
        groups[group] = (hosts, _mapping(path, f"group {group} data", body.get("data")))

    groups["all"] = ([name for name in sorted(seen)], _mapping(path, "all", doc.get("all")))
    return groups


def _host_entry(path: Path, group: str, entry: Any, seen: set[str]) -> str | tuple[str, dict]:
    """One host of a group; `seen` collects every name (a host may be in several groups, once in each)."""
    if isinstance(entry, str) and entry.strip():
        name, data = entry.strip(), None
    elif isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"].strip():
        extra = set(entry) - {"name", "data"}
        if extra:
            raise PyinfraError(f"host list {path}: host {entry['name']} has unknown key(s) {sorted(extra)}; use `data:`")
        name, data = entry["name"].strip(), _mapping(path, f"host {entry['name']} data", entry.get("data"))
    else:
        raise PyinfraError(f"host list {path}: group {group} has an invalid host entry {entry!r}; use a name or {{name:, data:}}")
    seen.add(name)
    return (name, data) if data else name


def _mapping(path: Path, what: str, value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PyinfraError(f"host list {path}: {what} must be a mapping of key: value")
    return dict(value)
