"""Plain parsers of what the NVIDIA driver prints: `nvidia-smi` (the table and `--query-gpu` CSV)
and /proc/driver/nvidia/version. No pyinfra, no I/O: tested with real captured
outputs of every driver generation (tests/fixtures), used by the GpuInfo fact (facts/gpu.py,
which re-exports them) and wherever such text is read.
"""

from __future__ import annotations

import re
from typing import Any

# ---------------------------------------------------------------------------------------------
# nvidia-smi: the plain table
# ---------------------------------------------------------------------------------------------

# Texts nvidia-smi prints instead of (or on top of) its table when the driver cannot answer.
# Matched per line, case-insensitively; the matching lines become the `error` field.
_SMI_ERROR = re.compile(
    r"has failed because"                        # couldn't communicate with the NVIDIA driver
    r"|failed to initialize nvml"                # Driver/library version mismatch, Unknown Error
    r"|nvml library version"                     # second line of the mismatch message
    r"|no devices were found"
    r"|unable to determine the device handle"
    r"|couldn't find libnvidia-ml"
    r"|gpu access blocked"
    r"|insufficient permissions"
    r"|driver not loaded"
    r"|is not a valid field"                     # compute_cap on drivers <= 470
    r"|nvidia-smi timed out"                     # printed by our probe when `timeout` fired
    r"|command not found|no such file or directory",
    re.IGNORECASE,
)
# A shell prompt line of a pasted transcript: "$ nvidia-smi", "root@box[/]# nvidia-smi".
_PROMPT = re.compile(r"^\S*[$#]\s*(?:sudo\s+)?\S*(?:nvidia-smi|cat)\b")
# Leading markdown/e-mail quoting ("> ") as in fixture F12.
_QUOTING = re.compile(r"^\s*(?:>\s?)+")

_SMI_VERSION = re.compile(r"NVIDIA-SMI\s+(\d[\w.]*)")
# 610.x renamed "Driver Version:" to "KMD Version:" and "CUDA Version:" to "CUDA UMD Version:".
_DRIVER_VERSION = re.compile(r"(?:Driver|KMD) Version:\s*(\S+)")
_CUDA_VERSION = re.compile(r"CUDA (?:UMD )?Version:\s*(\S+)")
# "|   0  NVIDIA A100-SXM4-40GB          On  |   00000000:10:1C.0 Off |" (Linux: persistence
# mode On/Off; Windows: the driver model WDDM/TCC). The name is kept exactly as printed, which
# includes the truncation nvidia-smi applies to long names ("NVIDIA GeForce RTX 3080 ...").
_GPU_ROW = re.compile(
    r"^\|\s*(?P<index>\d+)\s+(?P<name>\S.*?)\s+(?:On|Off|WDDM|TCC|N/A)\s*\|"
    r"\s*(?P<bus>[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f])\s"
)
_MEMORY = re.compile(r"(\d+)\s*MiB\s*/\s*(\d+)\s*MiB")


def _clean_lines(text: str) -> list[str]:
    return [_QUOTING.sub("", line).rstrip() for line in (text or "").splitlines()]


def _version_or_none(value: str | None) -> str | None:
    if not value or value.strip("[]").upper() in ("N/A", "NOT SUPPORTED"):
        return None
    return value


def error_lines(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if _SMI_ERROR.search(line) and not _PROMPT.match(line)]


def parse_smi_table(text: str) -> dict:
    """
    Parse the plain ``nvidia-smi`` output (every table layout from the 384 series to 610).

    + text: what nvidia-smi printed (stdout and stderr), possibly quoted (``> ``) or indented

    Returns ``{"driver_version", "cuda_version", "gpus": [{"index", "name", "memory_mib",
    "pci_bus_id"}], "error", "smi_version"}``. ``error`` is the driver's failure message (couldn't
    communicate, NVML version mismatch, no devices) or None. ``smi_version`` is the NVIDIA-SMI
    field, which inside snaps and containers can be older than the driver: use driver_version.

    **Example:**

    .. code:: python

        parse_smi_table(open("nvidia-smi.txt").read())["gpus"][0]["name"]  # "TITAN X (Pascal)"
    """
    lines = _clean_lines(text)
    result: dict[str, Any] = {
        "driver_version": None,
        "cuda_version": None,
        "gpus": [],
        "error": None,
        "smi_version": None,
    }
    header_seen = False
    for position, line in enumerate(lines):
        if not header_seen and _SMI_VERSION.search(line) and _DRIVER_VERSION.search(line):
            header_seen = True
            result["smi_version"] = _SMI_VERSION.search(line).group(1)
            result["driver_version"] = _version_or_none(_DRIVER_VERSION.search(line).group(1))
            cuda = _CUDA_VERSION.search(line)
            result["cuda_version"] = _version_or_none(cuda.group(1) if cuda else None)
            continue
        row = _GPU_ROW.match(line.strip())
        if row:
            memory = None
            # The memory column is on the row right below; "Not Supported" on some SoCs.
            if position + 1 < len(lines):
                used_total = _MEMORY.search(lines[position + 1])
                memory = int(used_total.group(2)) if used_total else None
            result["gpus"].append({
                "index": int(row["index"]),
                "name": row["name"],
                "memory_mib": memory,
                "pci_bus_id": row["bus"],
            })

    errors = error_lines(lines)
    if errors:
        result["error"] = "; ".join(errors)
    elif not header_seen:
        meaningful = [line.strip() for line in lines if line.strip() and not _PROMPT.match(line)]
        result["error"] = "; ".join(meaningful) if meaningful else "nvidia-smi printed nothing"
    return result


# ---------------------------------------------------------------------------------------------
# nvidia-smi: --query-gpu CSV
# ---------------------------------------------------------------------------------------------

# What GpuInfo asks for. compute_cap is unknown to drivers <= 470 (exit status 2).
QUERY_FIELDS = ("index", "name", "driver_version", "memory.total", "pci.bus_id", "compute_cap")
QUERY_FIELDS_WITHOUT_CC = QUERY_FIELDS[:-1]

# nvidia-smi field name -> our key (several fields have two spellings).
_CANONICAL = {
    "index": "index",
    "name": "name",
    "gpu_name": "name",
    "driver_version": "driver_version",
    "memory.total": "memory_mib",
    "pci.bus_id": "pci_bus_id",
    "gpu_bus_id": "pci_bus_id",
    "compute_cap": "compute_capability",
}
_ROW_KEYS = ("index", "name", "driver_version", "memory_mib", "pci_bus_id", "compute_capability")
_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_.]*(?: \[[^\]]*\])?$")
_WITH_UNIT = re.compile(r"^(-?[\d.]+) (?:MiB|%|W|MHz|C)$")


def _query_value(raw: str) -> str | None:
    raw = raw.strip()
    # "[N/A]", "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]", "N/A"
    if not raw or raw.startswith("[") or raw.upper() == "N/A":
        return None
    with_unit = _WITH_UNIT.match(raw)  # a query run without "nounits": "12196 MiB"
    return with_unit.group(1) if with_unit else raw


def _to_int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def parse_smi_query(text: str, fields: tuple[str, ...] | list[str] | None = None) -> list[dict]:
    """
    Parse ``nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]`` output.

    + text: the CSV output; error lines (no devices, invalid field, NVML errors) are skipped
    + fields: the queried fields in order; a header line, when present, wins. Default: GpuInfo's
      ``index,name,driver_version,memory.total,pci.bus_id,compute_cap`` (or the same without
      compute_cap when the rows have one column less)

    Every row has ``index`` (int), ``name`` (as printed), ``driver_version``, ``memory_mib`` (int),
    ``pci_bus_id`` and ``compute_capability`` ("8.6"), each None when not queried or reported as
    [N/A]/[Not Supported]; other queried fields are kept under their nvidia-smi names.

    **Example:**

    .. code:: python

        parse_smi_query("0, TITAN V, 470.82.01, 12066, 00000000:01:00.0")[0]["memory_mib"]  # 12066
    """
    rows: list[dict] = []
    wanted = list(fields) if fields else None
    for line in _clean_lines(text):
        if not line.strip() or _PROMPT.match(line) or _SMI_ERROR.search(line):
            continue
        parts = [part.strip() for part in line.split(",")]
        if all(_FIELD_NAME.match(part) for part in parts) and not any(
            part.replace(".", "").isdigit() for part in parts
        ):
            wanted = [part.split(" [")[0] for part in parts]  # header line ("memory.total [MiB]")
            continue
        columns = wanted or list(
            QUERY_FIELDS if len(parts) >= len(QUERY_FIELDS) else QUERY_FIELDS_WITHOUT_CC
        )
        if len(parts) > len(columns) and "name" in columns:
            # a name containing ", " (none known, but never lose a row over it)
            at = columns.index("name")
            surplus = len(parts) - len(columns)
            parts[at : at + surplus + 1] = [", ".join(parts[at : at + surplus + 1])]
        if len(parts) != len(columns):
            continue
        raw = dict(zip(columns, parts))
        row: dict[str, Any] = dict.fromkeys(_ROW_KEYS)
        for column, value in raw.items():
            key = _CANONICAL.get(column, column)
            row[key] = value.strip() if key == "name" else _query_value(value)
        if "index" in columns:
            row["index"] = _to_int(row["index"])
            if row["index"] is None:
                continue
        row["memory_mib"] = _to_int(row["memory_mib"])
        cc = row["compute_capability"]
        if cc is not None and not re.fullmatch(r"\d+\.\d+", cc):
            continue
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# /proc/driver/nvidia/version
# ---------------------------------------------------------------------------------------------

# "NVRM version: NVIDIA UNIX x86_64 Kernel Module  384.98  Thu Oct 26 ..."
# "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  565.57.01  Release Build ..."
# "NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  35.3.1  Release Build ..." (Jetson)
_PROC_VERSION = re.compile(r"Module(?: for \S+)?\s+([0-9.]+)")
_PROC_ARCH = re.compile(r"Kernel Module for (\S+)|UNIX (?!Open )(\S+) Kernel Module")


def parse_proc_version(text: str) -> dict | None:
    """
    Parse ``/proc/driver/nvidia/version`` (proprietary and open kernel modules, Jetson).

    + text: the file's content

    Returns ``{"version": "565.57.01", "kind": "open"|"proprietary", "arch": "x86_64"|None}``,
    or None when no NVIDIA kernel module line is in the text.

    **Example:**

    .. code:: python

        parse_proc_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module  384.98  Thu ...")
    """
    for line in _clean_lines(text):
        if "NVRM version" not in line and "Kernel Module" not in line:
            continue
        version = _PROC_VERSION.search(line)
        if not version:
            continue
        arch = _PROC_ARCH.search(line)
        return {
            "version": version.group(1).rstrip("."),
            "kind": "open" if "Open Kernel Module" in line else "proprietary",
            "arch": (arch.group(1) or arch.group(2)) if arch else None,
        }
    return None


