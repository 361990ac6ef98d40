"""The fleet proven identical: every host's exact versions against its stacks' locks and the fleet.

Two references, both exact (version, and build string for conda records):

- the stack's lock: the committed pip lock (stacks/locks/, `stacks.lock_for`): its exact python and
  every locked distribution; and the stack's own conda pins (cudatoolkit, cudnn with their builds).
  The env seed (pip, setuptools, wheel, certifi: conda's python brings them) is recorded in a lock,
  not enforced by the deploy, so it is left out here too. Packages a user added are not a lock
  difference: the lock says what must be there, not what may not.
- the fleet's majority: for each env (by name), each driver version, conda record and pip
  distribution is compared across the hosts that hold that env; the value most hosts have is the
  reference, and a host with another value (or without the package, or with one the others lack)
  differs. No majority (a tie) is reported as a split, naming every value.

Differences never change the report's exit status (that is the deploy's drift): they are what an
admin reads to know whether the workstations are the same, down to the build.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Callable

import stacks
from stacks.locks import ENV_SEED

ABSENT = None  # a package a host does not have


def lock_of(spec: str) -> dict | None:
    """The committed lock of a stack spec, or None when the stack has none (nothing to compare)."""
    try:
        return stacks.lock_for(spec)
    except stacks.StackError:
        return None


def compare(reports: list, lock_for: Callable[[str], dict | None] = lock_of) -> None:
    """Fill each report's `differences`, against its envs' locks and against the fleet's majority.

    + reports: HostReport objects (tools/report/collect.py); unreachable or failing hosts are skipped
    + lock_for: spec -> lock dict or None (tests give recorded locks)

    .. code:: python

        compare(reports)
        [r.name for r in reports if r.differences]  # the hosts that differ
    """
    hosts = [r for r in reports if r.connected and not r.error]
    for report in hosts:
        report.differences = []
        for env in report.envs:
            if env.present:
                report.differences += against_lock(env, lock_for(env.spec), env.conda_pins)
    for report, item in against_fleet(hosts):
        report.differences.append(item)
    for report in hosts:
        # per env and reference: wrong versions first, then what is missing, each by name
        report.differences.sort(key=lambda d: (d["env"] or "", d["against"], d["have"] is None, d["kind"], d["name"]))


def against_lock(env, lock: dict | None, conda_pins: dict) -> list[dict]:
    """An env's exact versions that are not the lock's (pip, python) or the stack's conda pins.

    + env: an EnvReport with its `python`, `conda` {name: "version build"} and `pip` {name: version}
    + lock: the stack's committed lock, or None (then only the conda pins are compared)
    + conda_pins: {name: "version build"} the stack pins exactly
    """
    items = []
    for name, want in sorted(conda_pins.items()):
        have = env.conda.get(name)
        if have != want:
            items.append(_item(env.name, "lock", "conda", name, have, want))
    if lock is None:
        return items
    if env.python and env.python != lock["python"]:
        items.append(_item(env.name, "lock", "python", "python", env.python, lock["python"]))
    for name, want in sorted(lock["packages"].items()):
        if name in ENV_SEED:
            continue
        have = env.pip.get(name)
        if have != want:
            items.append(_item(env.name, "lock", "pip", name, have, want))
    return items


def against_fleet(hosts: list) -> list[tuple]:
    """(report, difference) for every value where a host is not with the fleet's majority."""
    # (env or None, kind, name) -> {host name: value}; None env: the driver, a host-wide thing
    values: dict[tuple, dict] = defaultdict(dict)
    holders: dict[str | None, list] = defaultdict(list)
    by_name = {r.name: r for r in hosts}
    for report in hosts:
        holders[None].append(report.name)
        values[(None, "driver", "nvidia-driver")][report.name] = report.driver
        for env in report.envs:
            if not env.present:
                continue
            holders[env.name].append(report.name)
            for kind, packages in (("conda", env.conda), ("pip", env.pip)):
                for name, version in packages.items():
                    values[(env.name, kind, name)][report.name] = version
    found = []
    for (env, kind, name), seen in sorted(values.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        per_host = {host: seen.get(host, ABSENT) for host in holders[env]}
        if len(per_host) < 2:
            continue  # one host is its own majority
        counts = Counter(per_host.values()).most_common()
        if len(set(per_host.values())) == 1:
            continue
        split = len(counts) > 1 and counts[0][1] == counts[1][1]
        majority = None if split else counts[0][0]
        for host, have in per_host.items():
            if split or have != majority:
                item = _item(env, "fleet", kind, name, have, majority)
                if split:
                    item["split"] = {value or "absent": sorted(h for h, v in per_host.items() if v == value)
                                     for value, _count in counts}
                found.append((by_name[host], item))
    return found


def _item(env, against: str, kind: str, name: str, have, want) -> dict:
    return {"env": env, "against": against, "kind": kind, "name": name, "have": have, "want": want}


def describe(item: dict) -> str:
    """One line for people: "env tf21: pip numpy 1.19.4, lock 1.19.5"."""
    where = f"env {item['env']}: " if item["env"] else ""
    have = item["have"] or "absent"
    if item.get("split"):
        want = "fleet split: " + "; ".join(f"{value} on {', '.join(names)}" for value, names in item["split"].items())
    else:
        want = f"{item['against']} {item['want'] or 'absent'}"
    return f"{where}{item['kind']} {item['name']} {have}, {want}"
