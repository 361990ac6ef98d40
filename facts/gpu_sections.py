"""Parsers of the GPU probe's sections other than nvidia-smi's (facts/nvidia_text.py has those):
the NVIDIA PCI devices (sysfs, lspci), Secure Boot (mokutil, efivars), the driver packages
(dpkg, rpm), and the merge of nvidia-smi's table and query rows into one GPU list. Plain
functions of `facts._sections.Section` dicts, used by `facts.gpu.gpu_info_from_probe`.
"""

from __future__ import annotations

import re

from facts._sections import Section
from stacks.gpu_models import compute_capability_for as _model_compute_capability

_LSPCI = re.compile(
    r"^(?P<slot>\S+) (?P<class_name>.+?) \[(?P<class>[0-9a-fA-F]{4})\]: (?P<desc>.*?) ?"
    r"\[10de:(?P<device>[0-9a-fA-F]{4})\]"
)


def compute_capability_for(name: str | None) -> str | None:
    """
    Compute capability of a GPU by its printed name, for drivers whose nvidia-smi lacks
    ``compute_cap`` (the table is stacks/data/gpu_models.yaml); None for an unknown name.

    + name: the name as nvidia-smi prints it, with or without the "NVIDIA " prefix

    **Example:**

    .. code:: python

        compute_capability_for("TITAN X (Pascal)")  # "6.1"
    """
    try:
        return _model_compute_capability(name)
    except (ValueError, OSError):  # StackError is a ValueError
        # a broken table must not escape a fact's process(): that would abort the run on every
        # host. The stacks tests are where such a table error shows.
        return None


def pci_devices(sections: dict[str, Section]) -> list[dict]:
    """NVIDIA display controllers (PCI class 0x03xxxx). A Turing card also shows an audio, a USB
    and a serial-bus function with vendor 0x10de: those are not GPUs and are left out."""
    names: dict[str, dict] = {}
    if "lspci" in sections:
        for line in sections["lspci"].lines:
            match = _LSPCI.match(line.strip())
            if match:
                desc = re.sub(r"^NVIDIA Corporation\s*", "", match["desc"]).strip()
                names[match["slot"].lower()] = {
                    "class": "0x" + match["class"].lower() + "00",
                    "device": "0x" + match["device"].lower(),
                    "name": desc or None,
                }
    devices: list[dict] = []
    if "pci" in sections:
        for line in sections["pci"].lines:
            parts = line.split()
            if len(parts) < 3:
                continue
            slot, vendor, device = parts[0], parts[1], parts[2]
            pci_class = parts[3] if len(parts) > 3 else None
            devices.append({
                "slot": slot,
                "vendor": vendor,
                "device": device,
                "class": pci_class,
                "name": names.get(slot.lower(), {}).get("name"),
            })
    else:  # no sysfs: lspci alone
        for slot, info in names.items():
            devices.append({"slot": slot, "vendor": "0x10de", "device": info["device"],
                            "class": info["class"], "name": info["name"]})
    return [d for d in devices if d["class"] is None or d["class"].startswith("0x03")]


def secure_boot(sections: dict[str, Section]) -> bool | None:
    """True/False from mokutil or the SecureBoot efivar; None when neither could be read."""
    if "mokutil" in sections:
        text = sections["mokutil"].text.lower()
        if "validation is disabled" in text:
            # shim tells the kernel Secure Boot is off (MokSBState): unsigned modules load
            return False
        if "secureboot enabled" in text:
            return True
        if "secureboot disabled" in text:
            return False
    if "secureboot_efivar" in sections:
        values = sections["secureboot_efivar"].text.split()
        if sections["secureboot_efivar"].rc == 0 and values:  # 4 attribute bytes, then the value
            return values[-1] == "1"
    # No mokutil and no readable efivar: unknown. (A missing /sys/firmware/efi is not proof of a
    # BIOS boot: containers hide it.)
    return None


def driver_packages(sections: dict[str, Section]) -> dict[str, str]:
    """{package: version} of the installed NVIDIA driver packages (dpkg or rpm)."""
    packages: dict[str, str] = {}
    if "dpkg" in sections:
        for line in sections["dpkg"].lines:
            # "install ok installed nvidia-driver-440 440.100-0ubuntu0.18.04.1"; "hold ok installed"
            parts = line.split()
            if len(parts) == 5 and parts[2] == "installed":
                packages[parts[3]] = parts[4]
    if "rpm" in sections:
        for line in sections["rpm"].lines:
            parts = line.split()
            if len(parts) == 2:
                packages[parts[0]] = parts[1]
    return packages


def _same_bus(a: str | None, b: str | None) -> bool:
    def key(bus: str | None):
        parts = re.split(r"[:.]", bus or "")
        return tuple(int(p, 16) for p in parts) if len(parts) == 4 and all(parts) else None

    return key(a) is not None and key(a) == key(b)


def merge_gpus(smi: dict | None, query: list[dict]) -> list[dict]:
    """The query gives full names, bus ids and (on newer drivers) the compute capability; the
    table is the fallback when the query failed. A missing capability is looked up by name."""
    gpus = []
    source = query or (smi or {}).get("gpus", [])
    for row in source:
        memory = row.get("memory_mib")
        if memory is None and smi:
            for table_row in smi["gpus"]:
                if _same_bus(table_row["pci_bus_id"], row.get("pci_bus_id")):
                    memory = table_row["memory_mib"]
        gpus.append({
            "index": row["index"],
            "name": row["name"],
            "memory_mib": memory,
            "compute_capability": row.get("compute_capability") or compute_capability_for(row["name"]),
            "pci_bus_id": row.get("pci_bus_id"),
        })
    return gpus


def wsl(sections: dict[str, Section]) -> dict:
    """{"wsl": bool, "kernel_release": str | None}: WSL2 exposes the Windows GPU through /dev/dxg and
    its kernel release names Microsoft ("5.15.153.1-microsoft-standard-WSL2"); both are required,
    so a Linux host that merely has a file called /dev/dxg is not taken for WSL."""
    values = dict(line.split("=", 1) for line in sections.get("kernel", Section(0)).lines if "=" in line)
    release = values.get("release") or None
    return {"wsl": values.get("dxg") == "yes" and "microsoft" in (release or "").lower(),
            "kernel_release": release}


def logged_in_users(sections: dict[str, Section]) -> list[str]:
    """The distinct people logged in (who: utmp; loginctl list-sessions where who is missing)."""
    names: list[str] = []
    if "users" in sections and sections["users"].rc == 0:
        # "alice    pts/0        2024-05-01 09:12 (10.0.0.5)"
        names = [line.split()[0] for line in sections["users"].lines if line.split()]
    elif "users_loginctl" in sections and sections["users_loginctl"].rc == 0:
        # "      3 1000 alice seat0 tty2": session, uid, user, ...
        names = [line.split()[2] for line in sections["users_loginctl"].lines if len(line.split()) >= 3]
    return list(dict.fromkeys(names))


def gpu_processes(sections: dict[str, Section]) -> list[dict] | None:
    """[{pid, name}] of the processes using a GPU: nvidia-smi --query-compute-apps, or the processes
    holding /dev/nvidiaN open when nvidia-smi cannot tell; None when neither could be read."""
    for name in ("gpu_apps", "gpu_fds"):
        section = sections.get(name)
        if section is None or section.rc != 0:
            continue
        rows = []
        for line in section.lines:
            parts = [part.strip() for part in line.split(",", 1)]
            if parts and parts[0].isdigit():
                rows.append({"pid": int(parts[0]), "name": parts[1] if len(parts) > 1 else None})
        return rows
    return None
