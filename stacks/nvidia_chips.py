"""NVIDIA's supported chips per driver branch: which branches drive a PCI device id.

The knowledge is stacks/data/nvidia_supported_gpus.json (generated from NVIDIA's own lists by
`python -m stacks refresh-driver-table`) and stacks/data/driver_branches.yaml (hand-maintained:
long-term branches, end of life, the oldest branch the deploy installs). Sources and format:
docs/knowledge/driver-branches.md.

**Example:**

.. code:: python

    from stacks import nvidia_chips
    nvidia_chips.gpu_name("0x102d")                # "Tesla K80"
    nvidia_chips.branches_for("0x102d")[-1]        # "470"
    nvidia_chips.legacy_branch("0x102d")           # "470"
    nvidia_chips.branch_supports("535", "0x102d")  # False
"""

from __future__ import annotations

import functools
import json
import re

from .data import DATA_DIR, load
from .errors import StackError
from .nvidia_lists import branch_key

TABLE_PATH = DATA_DIR / "nvidia_supported_gpus.json"
# NVIDIA's Unix graphics feature deprecation schedule: 580 is the last branch for Maxwell, Pascal, Volta.
LAST_PRE_TURING_BRANCH = "580"
NVIDIA_VENDOR = "10de"

# "0x102d", "102D", "10de:102d" (lspci -n), "0x10de:0x102d".
_PCI_ID = re.compile(r"^(?:(?:0x)?([0-9a-f]{4}):)?(?:0x)?([0-9a-f]{4})$")


def parse_pci_id(text) -> str:
    """A PCI device id as 4 lower-case hex digits, or StackError (one line) when it is not one.

    + text: "0x102d", "102D", or "10de:102d" as `lspci -n` prints it (the vendor must be NVIDIA's)

    **Example:**

    .. code:: python

        parse_pci_id("0x102D")     # "102d"
        parse_pci_id("10de:2b85")  # "2b85"
    """
    match = _PCI_ID.match(str(text).strip().lower()) if isinstance(text, (str, int)) else None
    if not match:
        raise StackError(f"malformed PCI device id {text!r}: give 4 hex digits such as 0x102d "
                         f"(lspci -nn shows it as [10de:102d])")
    if match.group(1) and match.group(1) != NVIDIA_VENDOR:
        raise StackError(f"PCI id {text!r} is not an NVIDIA device (vendor {match.group(1)}, NVIDIA is {NVIDIA_VENDOR})")
    return match.group(2)


@functools.lru_cache(maxsize=None)
def table() -> dict:
    """The committed chip table, loaded and checked once: {"branches": {...}, "devices": {...}}."""
    where = "stacks/data/nvidia_supported_gpus.json"
    try:
        document = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StackError(f"{where}: cannot read: {error}") from None
    branches, devices = document.get("branches"), document.get("devices")
    if not isinstance(branches, dict) or not branches or not isinstance(devices, dict) or not devices:
        raise StackError(f"{where}: expected non-empty 'branches' and 'devices' mappings")
    for branch, info in branches.items():
        if not isinstance(info, dict) or not info.get("version") or not info.get("source"):
            raise StackError(f"{where}: branch {branch}: needs 'version' and 'source'")
    for devid, row in devices.items():
        if not re.fullmatch(r"[0-9a-f]{4}", devid) or not isinstance(row, dict) or not row.get("name"):
            raise StackError(f"{where}: device {devid!r}: needs a 4-hex-digit id and a name")
        unknown = set(row.get("branches", [])) - set(branches)
        if unknown:
            raise StackError(f"{where}: device {devid}: unknown branch(es) {', '.join(sorted(unknown))}")
    return document


def lifecycle() -> dict:
    """stacks/data/driver_branches.yaml: {"branches": {branch: row}, "oldest_installable": "418"}."""
    document = load("driver_branches.yaml")  # validated by stacks/data.py (every row has a source)
    return {"branches": {row["branch"]: row for row in document["branches"]},
            "oldest_installable": document["oldest_installable"]["branch"]}


def known_branches() -> list[str]:
    """Every branch the table has a chip list for, oldest first ("340", "390", ..., "595")."""
    return sorted(table()["branches"], key=branch_key)


def branch_info(branch: str) -> dict:
    """Where a branch's list comes from: version, source (package or document), plus its lifecycle row."""
    info = table()["branches"].get(str(branch))
    if info is None:
        raise StackError(f"unknown driver branch {branch!r}: known branches are {', '.join(known_branches())}")
    return {**info, **lifecycle()["branches"].get(str(branch), {"long_term": False})}


def is_long_term(branch: str) -> bool:
    """Whether NVIDIA designates the branch a Long Term Support Branch (470, 535, 580)."""
    return bool(lifecycle()["branches"].get(str(branch), {}).get("long_term"))


def device(pci_id) -> dict | None:
    """The table row of a device id ({"name", "branches", "legacy", "kernelopen"}), or None if unknown."""
    return table()["devices"].get(parse_pci_id(pci_id))


def gpu_name(pci_id) -> str | None:
    """NVIDIA's product name for a device id ("Tesla K80"), or None when no list knows it."""
    row = device(pci_id)
    return row["name"] if row else None


def branches_for(pci_id) -> list[str]:
    """The branches whose list drives this device, oldest first; [] when none (or unknown).

    **Example:**

    .. code:: python

        branches_for("0x1b80")  # GTX 1080: ["390", "418", ..., "575", "580"]
    """
    row = device(pci_id)
    return sorted(row["branches"], key=branch_key) if row else []


def branch_supports(branch: str, pci_id) -> bool:
    """Whether NVIDIA's list for `branch` drives the device (False for an unknown device).

    Any version of a branch counts as the branch ("470.256.02" -> "470").
    """
    return str(branch).split(".")[0] in branches_for(pci_id)


def legacy_branch(pci_id) -> str | None:
    """The legacy branch NVIDIA sends this device to ("470" for Kepler, "390" for Fermi), or None."""
    row = device(pci_id)
    return row.get("legacy") if row else None


def kernel_open(pci_id) -> bool:
    """Whether NVIDIA's lists mark the device as driven by the open kernel modules (Turing and later)."""
    row = device(pci_id)
    return bool(row and row.get("kernelopen"))
