"""One lab host's life: its disk (overlay over the shared base), identity, boot and stop.

Layout under ``run/hosts/NAME/``: ``disk/`` a tmpfs of ``disk_mib`` holding the overlay's upper
and work dirs (so a full disk can be simulated and dropping the host is instant), ``root/`` the
overlay mount the host runs in, its stable ssh host key, ``console.log`` and the pid files of
its supervisor (``supervisor.pid``) and boot (``boot.pid``, the ``unshare`` whose child is the
host's PID 1).
"""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import hardware, network
from .paths import LAB_SOURCES, MIRROR_ADDRESS, SUDO_USER, LabPaths
from .spec import HostSpec

HOST_SCRIPTS = LAB_SOURCES / "host"
SSHD_CONFIG = """\
# gpuws lab host: key logins only, one pinned ed25519 host key
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxStartups 50:30:100
"""
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Host:
    def __init__(self, paths: LabPaths, spec: HostSpec, index: int):
        self.paths, self.spec, self.index = paths, spec, index
        self.dir = paths.host_dir(spec.name)
        self.disk = self.dir / "disk"
        self.root = self.dir / "root"
        self.netns = network.host_netns(spec.name)
        self.address = network.host_address(index)

    # -- disk -------------------------------------------------------------------------------
    def mount_disk(self) -> None:
        self.disk.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(exist_ok=True)
        if not os.path.ismount(self.disk):
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.spec.disk_mib}m,mode=755",
                            "gpuws-lab-disk", str(self.disk)], check=True)
        (self.disk / "upper").mkdir(exist_ok=True)
        (self.disk / "work").mkdir(exist_ok=True)
        if not os.path.ismount(self.root):
            options = f"lowerdir={self.paths.base},upperdir={self.disk / 'upper'},workdir={self.disk / 'work'}"
            subprocess.run(["mount", "-t", "overlay", "-o", options, "gpuws-lab-root", str(self.root)], check=True)

    def unmount_disk(self) -> None:
        for mount in (self.root, self.disk):
            if os.path.ismount(mount):
                if subprocess.run(["umount", str(mount)], capture_output=True).returncode:
                    subprocess.run(["umount", "-l", str(mount)], check=True)

    # -- identity and stand-ins -------------------------------------------------------------------
    def host_key(self) -> Path:
        key = self.dir / "ssh_host_ed25519_key"
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{self.spec.name}",
                            "-f", str(key)], check=True)
        return key

    def known_hosts_line(self) -> str:
        kind, blob = (self.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        return f"{self.address} {kind} {blob}"

    def write_identity(self) -> None:
        r, name = self.root, self.spec.name
        (r / "etc/hostname").write_text(name + "\n")
        (r / "etc/hosts").write_text(
            f"127.0.0.1 localhost\n{self.address} {name}\n{MIRROR_ADDRESS} mirror.lab\n")
        key = self.host_key()
        for suffix in ("", ".pub"):
            target = r / f"etc/ssh/ssh_host_ed25519_key{suffix}"
            shutil.copy(f"{key}{suffix}", target)
            target.chmod(0o600 if not suffix else 0o644)
        (r / "etc/ssh/sshd_config.d/gpuws-lab.conf").write_text(SSHD_CONFIG)
        client_key = self.paths.client_key.with_suffix(".pub").read_text()
        for home, owner in (("root", "root"), (f"home/{SUDO_USER}", SUDO_USER)):
            ssh_dir = r / home / ".ssh"
            ssh_dir.mkdir(mode=0o700, exist_ok=True)
            (ssh_dir / "authorized_keys").write_text(client_key)
            subprocess.run(["chroot", str(r), "chown", "-R", f"{owner}:{owner}", f"/{home}/.ssh"], check=True)
        (r / "etc/gpuws-lab").mkdir(exist_ok=True)
        (r / "etc/gpuws-lab/hardware.conf").write_text(hardware.hardware_conf(self.spec))
        for script in ("reboot", "shutdown"):
            shutil.copy(HOST_SCRIPTS / script, r / "usr/local/sbin" / script)
        shutil.copy(HOST_SCRIPTS / "mokutil", r / "usr/local/bin/mokutil")
        # the stand-in kernel log the stand-in NVIDIA module writes (a lab host shares this kernel)
        shutil.copy(LAB_SOURCES / "standins/driver/dmesg", r / "usr/local/bin/dmesg")
        if self.spec.wsl2:
            shutil.copy(HOST_SCRIPTS / "uname", r / "usr/local/bin/uname")

    # -- starting state from the spec ---------------------------------------------------------------
    def _chroot(self, *command: str) -> None:
        result = subprocess.run(["chroot", str(self.root), "/usr/bin/env", "-i", f"PATH={HOST_PATH}",
                                 "HOME=/root", *command], capture_output=True, text=True)
        if result.returncode:
            raise SystemExit(f"lab: preparing {self.spec.name}: {' '.join(command)} failed:\n{result.stdout}{result.stderr}")

    def install_driver(self) -> None:
        """The spec's driver, installed with the host's real dpkg from the lab's packages."""
        branch = self.spec.driver.split(".")[0]
        pool = self.paths.apt_repo / "pool/main"
        debs = [p for p in pool.glob(f"*-{branch}_{self.spec.driver}-*.deb")]
        if len(debs) != 3:
            raise SystemExit(f"lab: driver {self.spec.driver} packages missing in {pool}: run `python -m lab build`")
        staging = self.root / "tmp/gpuws-lab-driver"
        staging.mkdir(parents=True, exist_ok=True)
        for deb in debs:
            shutil.copy(deb, staging)
        self._chroot("sh", "-c", "dpkg -i /tmp/gpuws-lab-driver/*.deb")
        # the postinst "loaded the module" into the not-yet-booted disk: a boot does that properly
        for leftover in ("tmp/gpuws-lab-driver", "run/gpuws-lab", "proc/driver"):
            shutil.rmtree(self.root / leftover, ignore_errors=True)
        for leftover in ("run/reboot-required", "run/reboot-required.pkgs"):
            (self.root / leftover).unlink(missing_ok=True)

    def install_wsl_driver(self) -> None:
        """STAND-IN WSL2: what the Windows NVIDIA driver maps into a WSL2 distro, /usr/lib/wsl/lib with
        libcuda.so.1 and nvidia-smi (https://docs.nvidia.com/cuda/wsl-user-guide/index.html), on the
        loader's path as WSL's /etc/ld.so.conf.d/ld.wsl.conf puts it; no Linux driver package."""
        from .image import compile as cc
        from .image.driver_repo import BRANCHES, DRIVER_SOURCES

        version = self.spec.windows_driver
        major = int(version.split(".")[0])
        # the CUDA version the Windows driver supports: that of the newest lab branch not above it
        cuda = max(((int(v.split(".")[0]), c) for v, c in BRANCHES.items() if int(v.split(".")[0]) <= major),
                   default=(0, 10000))[1]
        lib = self.root / "usr/lib/wsl/lib"
        cc.shared_library(DRIVER_SOURCES / "libcuda.c", lib / "libcuda.so.1", "libcuda.so.1",
                          {"DRIVER_VERSION": version, "DRIVER_CUDA_VERSION": cuda})
        (lib / "gpuws-lab-driver-version").write_text(version + "\n")
        shutil.copy(DRIVER_SOURCES / "nvidia-smi", lib / "gpuws-lab-nvidia-smi")
        (lib / "nvidia-smi").write_text(
            "#!/bin/sh\n# STAND-IN nvidia-smi of the Windows driver (gpuws lab, WSL2-like host)\n"
            "GPUWS_LAB_DRIVER_VERSION_FILE=/usr/lib/wsl/lib/gpuws-lab-driver-version "
            "exec /usr/lib/wsl/lib/gpuws-lab-nvidia-smi \"$@\"\n")
        (lib / "nvidia-smi").chmod(0o755)
        (self.root / "etc/ld.so.conf.d/ld.wsl.conf").write_text(
            "# This file was automatically generated by WSL. STAND-IN (gpuws lab).\n/usr/lib/wsl/lib\n")
        self._chroot("ldconfig")

    def install_conda(self) -> None:
        from .image.miniconda_installer import installer_path

        installer = installer_path(self.paths)
        if not installer.exists():
            raise SystemExit(f"lab: {installer.name} missing: run `python -m lab build`")
        shutil.copy(installer, self.root / "tmp/miniconda.sh")
        self._chroot("bash", "/tmp/miniconda.sh", "-b", "-p", self.spec.conda_prefix)
        (self.root / "tmp/miniconda.sh").unlink()

    def prepare(self) -> None:
        self.mount_disk()
        fresh = not (self.root / "etc/gpuws-lab/hardware.conf").exists()
        self.write_identity()
        if fresh and self.spec.driver:
            self.install_driver()
        if fresh and self.spec.wsl2:
            self.install_wsl_driver()
        if fresh and self.spec.conda_prefix:
            self.install_conda()

    # -- running ----------------------------------------------------------------------------------
    def start(self) -> None:
        self.dir.joinpath("supervisor.pid").unlink(missing_ok=True)
        console = open(self.dir / "console.log", "ab")
        subprocess.run(["setsid", "-f", "bash", str(HOST_SCRIPTS / "supervise.sh"), str(self.root),
                        self.netns, self.spec.name, str(self.dir)],
                       stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, check=True)
        console.close()
        deadline = time.monotonic() + 10
        while not self.supervisor_pid():
            if time.monotonic() > deadline:
                raise SystemExit(f"lab: {self.spec.name} did not start; see {self.dir / 'console.log'}")
            time.sleep(0.02)

    def _pid(self, name: str) -> int | None:
        try:
            pid = int((self.dir / name).read_text())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def supervisor_pid(self) -> int | None:
        return self._pid("supervisor.pid")

    def init_pid(self) -> int | None:
        """PID (in this machine's namespace) of the host's PID 1, for nsenter."""
        boot = self._pid("boot.pid")
        if boot is None:
            return None
        try:
            children = Path(f"/proc/{boot}/task/{boot}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def running(self) -> bool:
        return self.supervisor_pid() is not None and self.init_pid() is not None

    def stop(self) -> None:
        pids = [p for p in (self.supervisor_pid(), self._pid("boot.pid"), self.init_pid()) if p]
        supervisor = self.supervisor_pid()
        if supervisor:
            # the supervisor leads its own process group (setsid); unshare ignores SIGTERM
            _signal_group(supervisor)
        for pid in pids:
            _kill(pid)
        if network.exists(self.netns):
            for pid in _netns_pids(self.netns):
                _kill(pid)
        _wait_gone(pids, self.spec.name)

    def exec_command(self, command: list[str], tty: bool = False) -> list[str]:
        init = self.init_pid()
        if init is None:
            raise SystemExit(f"lab: host {self.spec.name} is not running")
        return ["nsenter", "-t", str(init), "-a", "-r", "-w", "/usr/bin/env", "-i", f"PATH={HOST_PATH}",
                "HOME=/root", "LANG=C.UTF-8", *(["TERM=" + os.environ.get("TERM", "xterm")] if tty else []),
                *command]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _signal_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _netns_pids(netns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _wait_gone(pids: list[int], name: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            raise SystemExit(f"lab: processes of {name} still alive after SIGKILL: {pids}")
        time.sleep(0.02)
