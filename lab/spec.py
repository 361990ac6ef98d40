"""The host spec (lab/README.md, "Host spec"): which simulated workstations a lab has, and their state.

YAML, a mapping with ``hosts:`` (a list). Per host:
  name               host name (also its inventory name); letters, digits and dashes
  gpus               list of {name, memory_mib, compute_capability, pci_device_id (optional)};
                     [] for a machine without an NVIDIA GPU
  driver             a stand-in driver branch version from lab/image/driver_repo.py
                     (e.g. "440.100"), or none
  conda              false, true (Miniconda pre-installed in /opt/miniconda3) or a prefix path
  unreachable        true: listed in the inventory, never started (default false)
  disk_mib           size of the host's writable layer; a full disk is simulated by a small one
                     (default 16384)
  secure_boot        true: Secure Boot on; the unsigned stand-in module is refused (default false)
  wsl2               true: a WSL2-like host (STAND-IN): /dev/dxg, a Microsoft kernel release,
                     nvidia-smi and libcuda.so.1 of the Windows driver in /usr/lib/wsl/lib, no
                     Linux driver (``driver`` must be none) (default false)
  windows_driver     the Windows NVIDIA driver version a wsl2 host sees ("551.61"); required there
See lab/README.md for an example.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# Known GPUs: PCI device id, for the stand-in PCI bus (what lspci / sysfs would show).
PCI_DEVICE_IDS = {
    "GeForce GTX 1080 Ti": "0x1b06",
    "GeForce GTX 1070": "0x1b81",
    "TITAN Xp": "0x1b02",
    "TITAN V": "0x1d81",
    "Tesla V100-PCIE-16GB": "0x1db4",
    "Tesla T4": "0x1eb8",
    "GeForce RTX 2080 Ti": "0x1e07",
    "GeForce RTX 2080": "0x1e87",
    "GeForce RTX 2070": "0x1f07",
    "Quadro RTX 6000": "0x1e30",
    "GeForce RTX 3090": "0x2204",
    "A100-PCIE-40GB": "0x20f1",
    "Tesla K80": "0x102d",
    "GeForce GTX 1080": "0x1b80",
    "GeForce RTX 5090": "0x2b85",
}
DEFAULT_DISK_MIB = 16384
# A real WSL2 kernel release (Microsoft's WSL2-Linux-Kernel, linux-msft-wsl-5.15.153.1).
WSL2_KERNEL_RELEASE = "5.15.153.1-microsoft-standard-WSL2"
DEFAULT_CONDA_PREFIX = "/opt/miniconda3"  # the deploy's default conda_prefix
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,14}$")


class SpecError(ValueError):
    """A host spec that cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_mib: int
    compute_capability: str
    pci_device_id: str


@dataclass(frozen=True)
class HostSpec:
    name: str
    gpus: tuple[Gpu, ...] = ()
    driver: str | None = None
    conda_prefix: str | None = None
    unreachable: bool = False
    disk_mib: int = DEFAULT_DISK_MIB
    secure_boot: bool = False
    wsl2: bool = False
    windows_driver: str | None = None

    def as_data(self) -> dict:
        return {
            "gpus": [{"name": g.name, "memory_mib": g.memory_mib,
                      "compute_capability": g.compute_capability} for g in self.gpus],
            "driver": self.driver, "conda_prefix": self.conda_prefix,
            "unreachable": self.unreachable, "disk_mib": self.disk_mib,
            "secure_boot": self.secure_boot, "wsl2": self.wsl2, "windows_driver": self.windows_driver,
        }


@dataclass(frozen=True)
class LabSpec:
    path: Path
    hosts: tuple[HostSpec, ...] = field(default_factory=tuple)

    def host(self, name: str) -> HostSpec:
        for host in self.hosts:
            if host.name == name:
                return host
        raise SpecError(f"no host {name!r} in {self.path} (hosts: {', '.join(h.name for h in self.hosts)})")


def _gpu(raw: dict, where: str) -> Gpu:
    try:
        name = str(raw["name"])
        memory = int(raw["memory_mib"])
        cc = str(raw["compute_capability"])
    except (KeyError, TypeError, ValueError) as error:
        raise SpecError(f"{where}: a GPU needs name, memory_mib and compute_capability ({error})") from None
    if not re.fullmatch(r"\d+\.\d+", cc):
        raise SpecError(f"{where}: compute_capability {cc!r} is not MAJOR.MINOR (quote it: \"7.5\")")
    device = str(raw.get("pci_device_id") or PCI_DEVICE_IDS.get(name.removeprefix("NVIDIA "), "0x1e04"))
    return Gpu(name.removeprefix("NVIDIA "), memory, cc, device)


def _host(raw: dict, index: int, branches) -> HostSpec:
    if not isinstance(raw, dict) or "name" not in raw:
        raise SpecError(f"hosts[{index}]: each host needs at least a name")
    name = str(raw["name"])
    if not _NAME.match(name):
        raise SpecError(f"hosts[{index}]: name {name!r} must be 1-15 lowercase letters, digits or dashes")
    where = f"host {name}"
    driver = raw.get("driver")
    driver = None if driver in (None, False, "none", "") else str(driver)
    if driver is not None and driver not in branches:
        raise SpecError(f"{where}: driver {driver!r} is not a lab branch (choose one of {', '.join(branches)} or none)")
    wsl2 = bool(raw.get("wsl2", False))
    windows_driver = str(raw["windows_driver"]) if raw.get("windows_driver") else None
    if wsl2 and (driver is not None or windows_driver is None
                 or not re.fullmatch(r"\d{3}\.\d{2}(\.\d+)?", windows_driver)):
        raise SpecError(f"{where}: a wsl2 host has no Linux driver (driver: none) and needs windows_driver, "
                        "a Windows NVIDIA driver version such as \"551.61\"")
    if windows_driver and not wsl2:
        raise SpecError(f"{where}: windows_driver is for wsl2 hosts only")
    conda = raw.get("conda", False)
    conda_prefix = DEFAULT_CONDA_PREFIX if conda is True else (str(conda) if conda else None)
    return HostSpec(
        name=name,
        gpus=tuple(_gpu(g, where) for g in raw.get("gpus") or []),
        driver=driver,
        conda_prefix=conda_prefix,
        unreachable=bool(raw.get("unreachable", False)),
        disk_mib=int(raw.get("disk_mib", DEFAULT_DISK_MIB)),
        secure_boot=bool(raw.get("secure_boot", False)),
        wsl2=wsl2,
        windows_driver=windows_driver,
    )


def load(path: str | Path) -> LabSpec:
    from .image.driver_repo import BRANCHES

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise SpecError(f"cannot read host spec {path}: {error.strerror}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("hosts"), list) or not raw["hosts"]:
        raise SpecError(f"{path}: expected a mapping with a non-empty 'hosts:' list")
    hosts = tuple(_host(h, i, BRANCHES) for i, h in enumerate(raw["hosts"]))
    names = [h.name for h in hosts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(f"{path}: duplicate host names {', '.join(duplicates)}")
    if len(hosts) > 200:
        raise SpecError(f"{path}: at most 200 hosts fit the lab subnet")
    return LabSpec(path=path, hosts=hosts)
