"""GPU and NVIDIA driver facts.

Two ways to read a GPU:

* Remote hosts (the normal case): the `GpuInfo` fact reads the target through `nvidia-smi` and
  plain files, in ONE POSIX sh command. Targets need no Python (pyinfra's promise; an Ubuntu 18.04
  workstation without pip must still be readable), so NVML cannot be used there.
* The controller itself (``@local``): `local_gpu_info()` runs the same probe locally and prefers
  NVML (facts/nvml.py) where pynvml can reach a driver. NVML knows the compute capability on every
  driver; nvidia-smi only knows ``compute_cap`` on newer drivers, so there the name is looked up
  instead (`compute_capability_for`).

The nvidia-smi and /proc parsers live in facts/nvidia_text.py and are re-exported here
(`parse_smi_table`, `parse_smi_query`, `parse_proc_version`: the project's documented entry
points); the other sections' parsers are in facts/gpu_sections.py.
"""

from __future__ import annotations

import subprocess
import sys

from pyinfra.api import FactBase, FactProcessError

from facts._sections import END_MARKER, RUN_SECTION, Section, parse_sections
from facts.gpu_sections import (
    compute_capability_for,
    driver_packages,
    gpu_processes,
    logged_in_users,
    merge_gpus,
    pci_devices,
    secure_boot,
    wsl,
)
from facts.nvidia_text import (
    QUERY_FIELDS,
    QUERY_FIELDS_WITHOUT_CC,
    error_lines,
    parse_proc_version,
    parse_smi_query,
    parse_smi_table,
)
from facts.nvml import read_nvml

__all__ = [
    "GPU_PROBE_SCRIPT",
    "GpuInfo",
    "compute_capability_for",
    "gpu_info_from_probe",
    "local_gpu_info",
    "parse_proc_version",
    "parse_smi_query",
    "parse_smi_table",
]


# ---------------------------------------------------------------------------------------------
# The fact
# ---------------------------------------------------------------------------------------------

_QUERY = "--query-gpu={} --format=csv,noheader,nounits"

# One POSIX sh script (dash, busybox: no bashisms), always exit 0, always prints "@@end".
GPU_PROBE_SCRIPT = (
    "LC_ALL=C; export LC_ALL\n"
    # mokutil and lspci live in sbin, which a non-root SSH user's PATH often lacks
    'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"\n'
    + RUN_SECTION
    + r"""
pci_sysfs() {
    for d in /sys/bus/pci/devices/*; do
        [ -r "$d/vendor" ] || continue
        read -r v < "$d/vendor" || continue
        [ "$v" = 0x10de ] || continue
        dev=; cls=
        read -r dev < "$d/device"
        read -r cls < "$d/class"
        echo "${d##*/} $v $dev $cls"
    done
}
# a wedged driver can hang nvidia-smi forever; bound it where coreutils' timeout exists
T=
if command -v timeout >/dev/null 2>&1; then T="timeout 60"; fi
if [ -d /sys/bus/pci/devices ]; then run_section pci pci_sysfs; fi
if command -v lspci >/dev/null 2>&1; then run_section lspci lspci -Dnn -d 10de:; fi
# WSL2: the GPU is the Windows driver's, reached through /dev/dxg; its nvidia-smi sits in
# /usr/lib/wsl/lib, which is not on PATH (https://docs.nvidia.com/cuda/wsl-user-guide/index.html)
wsl_smi=/usr/lib/wsl/lib/nvidia-smi
dxg=no; [ -e /dev/dxg ] && dxg=yes
release=; read -r release < /proc/sys/kernel/osrelease 2>/dev/null || release=$(uname -r 2>/dev/null)
printf '@@section kernel rc=0\ndxg=%s\nrelease=%s\n' "$dxg" "$release"
if smi=$(command -v nvidia-smi 2>/dev/null) || { [ -x "$wsl_smi" ] && smi=$wsl_smi; }; then
    printf '@@section smi_path rc=0\n%s\n' "$smi"
    # compute_cap is no query field up to R470 at least (public reports: 470.82 to 470.256 answer
    # 'Field "compute_cap" is not a valid field to query.', exit 2; 525+ have it): a loaded module
    # of such a branch is asked without it at once, not twice; any other driver is tried with it
    _major=
    if read -r _line < /proc/driver/nvidia/version 2>/dev/null; then
        for _w in $_line; do case $_w in [0-9]*.[0-9]*) _major=${_w%%.*}; break ;; esac; done
    fi
    _q=2
    if [ -z "$_major" ] || [ "$_major" -gt 470 ]; then
"""
    + f"        run_section smi_query $T \"$smi\" {_QUERY.format(','.join(QUERY_FIELDS))}\n"
    + r"""        _q=$?
        case "$_out" in *'is not a valid field'*) _q=2 ;; esac
    fi
    if [ $_q -eq 2 ]; then
"""
    + "        run_section smi_query_nocc $T \"$smi\" "
    + f"{_QUERY.format(','.join(QUERY_FIELDS_WITHOUT_CC))}\n"
    + r"""        _q=$?
    fi
    # The table only when the query failed: its header says why (no driver, a driver/library
    # mismatch) and its rows are the fallback. A healthy GPU costs no third start of nvidia-smi,
    # which initialises NVML each time (up to a second per GPU without the persistence daemon).
    # After a timeout the table would only wait another minute.
    if [ $_q -ne 0 ] && [ $_q -ne 124 ]; then run_section smi_table $T "$smi"; fi
    # who is using the GPU, for the reboot guard (a driver change must not kill a student's job)
    run_section gpu_apps $T "$smi" --query-compute-apps=pid,process_name --format=csv,noheader
    apps_rc=$?
fi
if [ -r /proc/driver/nvidia/version ]; then  # read by the shell: no cat started on every run
    echo '@@section proc_version rc=0'
    while IFS= read -r _line || [ -n "$_line" ]; do printf '%s\n' "$_line"; done < /proc/driver/nvidia/version
fi
nouveau=no; nvidia=no
# a loaded module has its /sys/module folder: /proc/modules is read only where sysfs is missing
if [ ! -d /sys/module ] && [ -r /proc/modules ]; then
    if grep -q '^nouveau ' /proc/modules; then nouveau=yes; fi
    if grep -q '^nvidia ' /proc/modules; then nvidia=yes; fi
fi
if [ -d /sys/module/nouveau ]; then nouveau=yes; fi
if [ -d /sys/module/nvidia ]; then nvidia=yes; fi
printf '@@section modules rc=0\nnouveau=%s\nnvidia=%s\n' "$nouveau" "$nvidia"
# nvidia-smi cannot list the GPU's processes (driver/library mismatch after an upgrade): the
# processes holding a /dev/nvidiaN device open are the ones a reboot would kill
gpu_fds() {
    for p in /proc/[0-9]*; do
        for f in "$p"/fd/*; do
            case $(readlink "$f" 2>/dev/null) in
                /dev/nvidia[0-9]*) echo "${p#/proc/}, $(cat "$p/comm" 2>/dev/null)"; break ;;
            esac
        done
    done
}
if [ "$nvidia" = yes ] && [ "${apps_rc:-1}" -ne 0 ]; then run_section gpu_fds gpu_fds; fi
if command -v mokutil >/dev/null 2>&1; then
    run_section mokutil mokutil --sb-state
else
    for f in /sys/firmware/efi/efivars/SecureBoot-*; do
        if [ -r "$f" ]; then run_section secureboot_efivar od -An -tu1 "$f"; fi
        break
    done
fi
if command -v dpkg-query >/dev/null 2>&1; then
    # one dpkg-query for two sections: the NVIDIA driver packages (the patterns nvidia-driver-*,
    # nvidia-utils-*, libnvidia-compute-*, nvidia-driver, nvidia-tesla-*-driver), and what
    # `apt-mark showhold` lists (dpkg's selection state "hold", which apt-mark sets) without
    # loading apt's package cache: the probe runs on every host at every run
    dpkg-query -W -f='${Status} ${Package} ${Version}\n' 2>/dev/null | awk '
        $4 ~ /^(nvidia-driver(-.*)?|nvidia-utils-.*|libnvidia-compute-.*|nvidia-tesla-.*-driver)$/ { d = d $0 "\n" }
        $1 == "hold" { h = h $4 "\n" }
        END { printf "@@section dpkg rc=0\n%s@@section held rc=0\n%s", d, h }'
elif command -v rpm >/dev/null 2>&1; then
    run_section rpm rpm -qa --qf '%{NAME} %{VERSION}-%{RELEASE}\n' '*nvidia*'
fi
# logged-in people, for the reboot guard: utmp via who (an SSH exec session without a pty, such as
# pyinfra's own, writes no utmp entry, so the deploy does not count itself); loginctl without who
if command -v who >/dev/null 2>&1; then run_section users who
elif command -v loginctl >/dev/null 2>&1; then run_section users_loginctl loginctl list-sessions --no-legend
fi
for f in /run/reboot-required /var/run/reboot-required; do
    if [ -e "$f" ]; then
        printf '@@section reboot_required rc=0\n'
        if [ -r "$f.pkgs" ]; then cat "$f.pkgs"; fi
        break
    fi
done
echo '"""
    + END_MARKER
    + """'
exit 0
"""
)

def gpu_info_from_probe(lines: list[str]) -> dict:
    """Turn the output lines of `GPU_PROBE_SCRIPT` into the `GpuInfo` shape (see its docstring).
    Shared by the fact and `local_gpu_info()`."""
    sections = parse_sections(lines)
    if not sections:
        raise FactProcessError(
            "GPU probe printed no sections (was it run by a POSIX sh?): "
            + " / ".join(lines[:3])
        )

    smi = parse_smi_table(sections["smi_table"].text) if "smi_table" in sections else None
    query_section = sections.get("smi_query_nocc") or sections.get("smi_query")
    query: list[dict] = []
    query_error = None
    if query_section is not None:
        if query_section.rc == 0:
            fields = QUERY_FIELDS_WITHOUT_CC if "smi_query_nocc" in sections else QUERY_FIELDS
            query = parse_smi_query(query_section.text, fields)
        else:
            query_error = "; ".join(error_lines(query_section.lines)) or (
                f"nvidia-smi --query-gpu exited {query_section.rc}"
            )
    timed_out = "nvidia-smi timed out (60 s): the driver may be wedged"
    if smi is not None and sections["smi_table"].rc == 124:
        smi["error"] = timed_out
    if query_section is not None and query_section.rc == 124:
        query_error = timed_out

    proc = parse_proc_version(sections["proc_version"].text) if "proc_version" in sections else None
    modules = dict(
        line.split("=", 1) for line in sections.get("modules", Section(0)).lines if "=" in line
    )

    driver_version = None
    source = None
    if smi and smi["driver_version"]:
        driver_version, source = smi["driver_version"], "nvidia-smi"
    elif query and query[0].get("driver_version"):
        driver_version, source = query[0]["driver_version"], "nvidia-smi"
    elif proc:
        driver_version, source = proc["version"], "proc"

    error = None
    if smi is not None or query_section is not None:  # nvidia-smi was there and was asked
        error = (smi or {}).get("error") or query_error

    held = sections["held"].lines if "held" in sections and sections["held"].rc == 0 else []
    return {
        "pci_devices": pci_devices(sections),
        "smi": smi,
        "query": query,
        "proc_version": proc,
        "nouveau_loaded": modules.get("nouveau") == "yes",
        "nvidia_module_loaded": modules.get("nvidia") == "yes",
        "secure_boot": secure_boot(sections),
        "driver_packages": driver_packages(sections),
        "held_packages": [line.strip() for line in held if line.strip()],
        "reboot_required": "reboot_required" in sections,
        "reboot_required_packages": [
            line.strip() for line in sections.get("reboot_required", Section(0)).lines if line.strip()
        ],
        "driver_version": driver_version,
        "cuda_version": smi["cuda_version"] if smi else None,
        "gpus": merge_gpus(smi, query),
        "source": source,
        "error": error,
        **wsl(sections),
        "users": logged_in_users(sections),
        "gpu_processes": gpu_processes(sections),
    }


class GpuInfo(FactBase):
    """
    Everything about a host's NVIDIA GPUs and driver, in one remote command.

    Returns::

        {"pci_devices": [{"slot", "vendor", "device", "class", "name"}],  # NVIDIA display devices
         "smi": parse_smi_table(...) | None,       # the table, read only when the query failed
         "query": parse_smi_query(...),            # [] when unavailable
         "proc_version": {"version", "kind", "arch"} | None,
         "nouveau_loaded": bool, "nvidia_module_loaded": bool,
         "secure_boot": True | False | None,       # None: unknown
         "driver_packages": {"nvidia-driver-440": "440.100-1"},
         "held_packages": ["nvidia-driver-440"],
         "reboot_required": bool, "reboot_required_packages": [...],
         "driver_version": str | None,             # running driver: smi > query > /proc
         "cuda_version": str | None,               # highest CUDA the driver supports (from the
                                                   # table: None while the query answers)
         "gpus": [{"index", "name", "memory_mib", "compute_capability", "pci_bus_id"}],
         "source": "nvidia-smi" | "proc" | None,
         "error": str | None,                      # the driver's failure message
         "wsl": bool, "kernel_release": str | None, # WSL2: /dev/dxg and a Microsoft kernel
         "users": ["alice"],                       # logged-in people (who)
         "gpu_processes": [{"pid", "name"}] | None} # None: could not be read

    A missing nvidia-smi, a driver that cannot be reached or a machine without GPU is data, never
    a failed host: the command always exits 0.

    **Example:**

    .. code:: python

        info = host.get_fact(GpuInfo)
        if not info["pci_devices"] and not info["gpus"]: ...  # no NVIDIA GPU
    """

    command = GPU_PROBE_SCRIPT

    @staticmethod
    def default() -> dict:
        return gpu_info_from_probe(["@@section none rc=0", END_MARKER])

    def process(self, output: list[str]) -> dict:
        return gpu_info_from_probe(output)


def local_gpu_info(timeout: float = 120) -> dict:
    """
    `GpuInfo` for the controller itself (``@local``): runs the same probe script with the local
    ``sh``, then prefers NVML for the driver and GPUs where pynvml can reach a driver (NVML knows
    the compute capability on every driver generation). ``source`` says which one answered
    ("nvml", "nvidia-smi", "proc" or None); the extra key ``nvml_error`` holds NVML's own error
    (None when NVML answered).

    + timeout: seconds the probe may take
    """
    completed = subprocess.run(
        ["sh", "-c", GPU_PROBE_SCRIPT], capture_output=True, text=True, timeout=timeout, check=False
    )
    info = gpu_info_from_probe(completed.stdout.splitlines())
    nvml = read_nvml()
    if nvml["error"] is None and nvml["driver_version"]:
        info.update(
            driver_version=nvml["driver_version"],
            cuda_version=nvml["cuda_version"] or info["cuda_version"],
            gpus=nvml["gpus"],
            source="nvml",
            error=None,
        )
    info["nvml_error"] = nvml["error"]
    return info


if __name__ == "__main__":  # `python -m facts.gpu`: what this machine looks like
    import json

    json.dump(local_gpu_info(), sys.stdout, indent=2)
    print()

