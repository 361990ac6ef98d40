"""Parse NVIDIA's supported-chips lists and compact them into one table (device id -> branches).

NVIDIA publishes, with every Linux driver, which PCI device ids it drives. Three formats exist:

* `supported-gpus.json` (drivers since about 450): `{"chips": [{"devid": "0x102D", "name": ..,
  "legacybranch": "470.xx", "features": ["kernelopen", ..], "subdevid"/"subvendorid": ..}]}`.
  A chip listed WITH `legacybranch` is one this driver refuses: it names the legacy branch to use.
* Appendix A of the driver's README.txt (older drivers: 340, 390, 418): fixed-width tables, then
  "The 390.xx driver supports the following set of GPUs:" sections for the legacy chips.
* The "Compatible GPUs" table of the open-gpu-kernel-modules README.md (Turing and later, per release).

Each parser returns a list of `Chip` rows; `compact()` merges the lists of every branch into the
table that stacks/data/nvidia_supported_gpus.json holds (its format: docs/knowledge/driver-branches.md).
These functions do no I/O: the refresh tool (stacks/refresh_driver_table.py) fetches the inputs.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

HEX4 = re.compile(r"^(?:0x)?([0-9a-fA-F]{4})$")


class Chip(NamedTuple):
    """One row of a supported-chips list.

    + devid: the PCI device id, 4 lower-case hex digits ("102d")
    + name: the product name NVIDIA prints ("Tesla K80")
    + subsystem: "vendor:device" of the PCI subsystem when NVIDIA lists one ("10de:129e"; "*:00a7"
      where an old README gives only the subsystem device), else ""
    + legacy: the legacy branch this list sends the chip to ("470"), or None when the list drives it
    + kernelopen: whether the list marks it as supported by the open kernel modules
    """

    devid: str
    name: str
    subsystem: str = ""
    legacy: str | None = None
    kernelopen: bool = False


def hex4(text, what="PCI id") -> str:
    """"0x102D", "102d" -> "102d"; anything else raises ValueError naming `what`."""
    match = HEX4.match(str(text).strip())
    if not match:
        raise ValueError(f"malformed {what} {text!r}: expected 4 hex digits such as 0x102d")
    return match.group(1).lower()


def legacy_branch(text: str) -> str:
    """NVIDIA's legacy label -> branch: "470.xx" -> "470", "173.14.xx" -> "173.14"."""
    return text[:-len(".xx")] if text.endswith(".xx") else text


def parse_supported_gpus_json(text: str) -> list[Chip]:
    """Rows of a driver's supported-gpus.json.

    **Example:**

    .. code:: python

        parse_supported_gpus_json('{"chips": [{"devid": "0x102D", "name": "Tesla K80",'
                                  ' "legacybranch": "470.xx", "features": []}]}')
        # [Chip(devid="102d", name="Tesla K80", subsystem="", legacy="470", kernelopen=False)]
    """
    chips = []
    for index, row in enumerate(json.loads(text)["chips"]):
        if not isinstance(row, dict) or "devid" not in row or "name" not in row:
            raise ValueError(f"supported-gpus.json chips[{index}]: expected devid and name")
        subsystem = ""
        if "subdevid" in row:
            subsystem = f"{hex4(row['subvendorid'], 'subvendor id')}:{hex4(row['subdevid'], 'subdevice id')}"
        legacy = row.get("legacybranch")
        chips.append(Chip(hex4(row["devid"]), row["name"].strip(), subsystem,
                          legacy_branch(legacy) if legacy else None, "kernelopen" in row.get("features", [])))
    return chips


_LEGACY_HEADING = re.compile(r"^The (\S+) driver supports the following set of GPUs:")
# "DEVID", "DEVID SUBVENDOR SUBDEVICE", or (340.xx README) "0xDEVID 0xSUBDEVICE" without the vendor.
_IDS = re.compile(r"^(?:0x)?([0-9A-Fa-f]{4})(?:(?:\s+(?:0x)?([0-9A-Fa-f]{4}))?\s+(?:0x)?([0-9A-Fa-f]{4}))?$")


def parse_readme_appendix(text: str) -> list[Chip]:
    """Rows of Appendix A ("Supported NVIDIA GPU Products") of a driver's README.txt.

    Chips in the main tables are driven by this driver; chips under "The 390.xx driver supports the
    following set of GPUs:" get legacy "390". Columns are located from each table's dash line.
    """
    lines = text.splitlines()
    headings = [i for i, line in enumerate(lines) if line.startswith("Appendix A. Supported NVIDIA GPU Products")]
    if not headings:
        raise ValueError("README: no 'Appendix A. Supported NVIDIA GPU Products' section")
    start = headings[-1]  # the first match is the table of contents
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("Appendix B.")), len(lines))
    chips, legacy, columns = [], None, None
    for number, line in enumerate(lines[start:end], start + 1):
        heading = _LEGACY_HEADING.match(line)
        if heading:
            legacy, columns = legacy_branch(heading.group(1)), None
        elif line.lstrip().startswith("----"):
            columns = [match.start() for match in re.finditer(r"-+", line)]
        elif not line.strip():
            continue
        elif columns and line.startswith(" " * columns[0]) and not line.startswith(" " * (columns[0] + 1)):
            name = line[columns[0]:columns[1]].strip()
            ids = _IDS.match(line[columns[1]:columns[2] if len(columns) > 2 else None].strip())
            if not name or not ids or (line[columns[1] - 1] != " "):
                raise ValueError(f"README line {number}: not a 'name  device-id' row: {line.strip()!r}")
            subsystem = f"{ids.group(2) or '*'}:{ids.group(3)}".lower() if ids.group(3) else ""
            chips.append(Chip(ids.group(1).lower(), name, subsystem, legacy, False))
        else:
            columns = None  # prose between tables ends the current table
    if not chips:
        raise ValueError("README: Appendix A lists no chips")
    return chips


_OPEN_ROW = re.compile(r"^\|\s*(?P<name>[^|]*?)\s*\|\s*(?P<ids>[0-9A-Fa-f]{4}(?:\s+[0-9A-Fa-f]{4}\s+[0-9A-Fa-f]{4})?)\s*\|\s*$")


def parse_open_gpu_readme(text: str) -> list[Chip]:
    """Rows of the "Compatible GPUs" table of NVIDIA/open-gpu-kernel-modules README.md.

    Every chip listed there is driven by that release with the open kernel modules.
    """
    section = text.split("## Compatible GPUs", 1)
    if len(section) != 2:
        raise ValueError("open-gpu-kernel-modules README: no '## Compatible GPUs' section")
    chips = []
    for line in section[1].split("\n## ", 1)[0].splitlines():
        match = _OPEN_ROW.match(line.strip())
        if match:
            ids = match.group("ids").lower().split()
            chips.append(Chip(ids[0], match.group("name"), f"{ids[1]}:{ids[2]}" if len(ids) == 3 else "", None, True))
    if not chips:
        raise ValueError("open-gpu-kernel-modules README: the Compatible GPUs table has no rows")
    return chips


def branch_key(branch: str) -> tuple:
    """Numeric order of branch labels: "96.43" < "173.14" < "470" < "580"."""
    return tuple(int(part) for part in branch.split("."))


def derive_branch(base: list[Chip], readme: list[Chip], last_pre_turing: str, branch: str) -> list[Chip]:
    """The chip list of a branch Debian does not carry, from NVIDIA's public documents.

    + base: the newest chip list taken from a driver package (it knows every pre-Turing chip)
    + readme: that release's open-gpu-kernel-modules "Compatible GPUs" rows (Turing and later)
    + last_pre_turing: the last branch that drives Maxwell, Pascal and Volta ("580", NVIDIA's notice)
    + branch: the branch being derived

    Pre-Turing chips (those without open-module support) the base list drives are driven up to
    `last_pre_turing` and marked legacy `last_pre_turing` after it; chips the base list already
    sends to a legacy branch stay there.

    **Example:**

    .. code:: python

        derive_branch(base_555, readme_590, "580", "590")  # a GTX 1080 row with legacy "580"
    """
    keeps = branch_key(branch) <= branch_key(last_pre_turing)
    rows = list(readme)
    for chip in base:
        if chip.kernelopen:
            continue  # Turing and later: the release's own README is the authority
        if chip.legacy is None and not keeps:
            chip = chip._replace(legacy=last_pre_turing)
        rows.append(chip)
    return rows


def compact(lists: list[tuple[str, dict, list[Chip]]]) -> dict:
    """Merge every branch's chip list into the committed table.

    + lists: (branch, info, chips) per branch; info (version, package, source ...) is kept as given

    Returns {"branches": {branch: info}, "devices": {devid: {"name", "branches", "legacy",
    "kernelopen"[, "subsystems"]}}}: `branches` lists the branches that drive the device, `legacy`
    is the legacy branch the newest list that marks one names, `kernelopen` whether any list marks
    open-module support, `subsystems` the names NVIDIA gives per "vendor:device" subsystem.

    **Example:**

    .. code:: python

        compact([("470", {"version": "470.256.02"}, [Chip("102d", "Tesla K80")])])["devices"]["102d"]
        # {"name": "Tesla K80", "branches": ["470"], "legacy": None, "kernelopen": False}
    """
    ordered = sorted(lists, key=lambda item: branch_key(item[0]))
    devices: dict[str, dict] = {}
    for branch, _info, chips in ordered:  # oldest first: newer lists overwrite names and legacy
        for chip in chips:
            row = devices.setdefault(chip.devid, {"name": chip.name, "branches": [], "legacy": None,
                                                  "kernelopen": False, "subsystems": {}})
            if chip.subsystem:
                row["subsystems"][chip.subsystem] = chip.name
            else:
                row["name"] = chip.name
            if chip.legacy is None:
                if branch not in row["branches"]:
                    row["branches"].append(branch)
            else:
                row["legacy"] = chip.legacy
            row["kernelopen"] = row["kernelopen"] or chip.kernelopen
    for row in devices.values():
        # A chip a newer list drives again is no longer legacy (never seen in NVIDIA's lists, but cheap to keep true).
        if row["legacy"] and row["branches"] and branch_key(row["branches"][-1]) > branch_key(row["legacy"]):
            row["legacy"] = None
        if not row["subsystems"]:
            del row["subsystems"]
    return {"branches": {branch: info for branch, info, _chips in ordered},
            "devices": dict(sorted(devices.items()))}


def dumps_table(table: dict) -> str:
    """The table as JSON with one branch and one device per line (small, diff-friendly)."""
    out = ["{"]
    for key, value in table.items():
        if isinstance(value, dict) and key in ("branches", "devices"):
            out.append(f"  {json.dumps(key)}: {{")
            items = [f"    {json.dumps(name)}: {json.dumps(row, ensure_ascii=False)}" for name, row in value.items()]
            out.append(",\n".join(items))
            out.append("  },")
        else:
            out.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    out[-1] = out[-1].rstrip(",")
    out.append("}")
    return "\n".join(out) + "\n"
