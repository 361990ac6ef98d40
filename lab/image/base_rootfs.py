"""The shared, read-only Debian bookworm root every lab host starts from (real Debian, mmdebstrap).

Hosts get an overlay on top of it, so one ~170 MB base serves any number of hosts. Packages come
from the Debian archive this machine already uses (its own apt sources file), so no archive host
is named here. The base holds only what a freshly installed workstation would have plus what the
repackaged CPython 3.7 links against; lab-specific files (stand-in reboot, hardware description,
keys) are written per host at start, so changing them never forces this slow step again.
"""

import shutil
import subprocess
from pathlib import Path

from .. import stamps
from ..paths import MIRROR_URL, SUDO_USER, LabPaths

SUITE = "bookworm"
PACKAGES = [
    "openssh-server", "sudo", "tini", "ca-certificates", "curl", "bzip2", "xz-utils", "procps",
    "iproute2", "kmod", "less",
    # shared libraries the repackaged CPython 3.7.16 (pyenv build) links against
    "libssl3", "libsqlite3-0", "libbz2-1.0", "liblzma5", "libreadline8", "libncursesw6", "zlib1g",
    "libuuid1", "libexpat1", "libnsl2", "libtirpc3", "libffi8",
]
# The machine's own apt sources: mmdebstrap pastes a file given as MIRROR into the chroot.
HOST_APT_SOURCES = [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]


def _host_apt_sources() -> Path:
    for candidate in HOST_APT_SOURCES:
        if candidate.is_file() and candidate.stat().st_size:
            return candidate
    raise SystemExit("lab build: no Debian apt sources on this machine (looked at "
                     + ", ".join(map(str, HOST_APT_SOURCES)) + ")")


def _customize_hooks() -> list[str]:
    lab_source = f"deb [trusted=yes] {MIRROR_URL}/apt lab main"
    return [
        # host keys are per host (generated at start, pinned in the lab's known_hosts)
        'rm -f "$1"/etc/ssh/ssh_host_*',
        f'chroot "$1" useradd -m -s /bin/bash -G sudo {SUDO_USER}',
        f'echo "{SUDO_USER} ALL=(ALL) NOPASSWD:ALL" > "$1"/etc/sudoers.d/{SUDO_USER}',
        f'chmod 0440 "$1"/etc/sudoers.d/{SUDO_USER}',
        # hosts reach nothing but the lab: no DNS, apt only from the lab mirror
        ': > "$1"/etc/resolv.conf',
        f'echo "{lab_source}" > "$1"/etc/apt/sources.list',
        'rm -f "$1"/etc/apt/sources.list.d/*',
        'mkdir -p "$1"/run/sshd',
    ]


def build(paths: LabPaths, log) -> bool:
    """Build ``paths.base`` unless its stamp is current. Returns True when it (re)built."""
    digest = stamps.hash_inputs([Path(__file__)], {"suite": SUITE, "packages": PACKAGES})
    marker = paths.base / "etc" / "os-release"
    if stamps.is_current(paths.stamps, "base", digest, marker):
        return False
    if shutil.which("mmdebstrap") is None:
        raise SystemExit("lab build: mmdebstrap is missing (apt-get install mmdebstrap)")
    staging = paths.root / "base.new"
    shutil.rmtree(staging, ignore_errors=True)
    paths.root.mkdir(parents=True, exist_ok=True)
    command = [
        "mmdebstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
        "--aptopt=Apt::Install-Recommends \"false\"",
        "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    ]
    command += [f"--customize-hook={hook}" for hook in _customize_hooks()]
    command += [SUITE, str(staging), str(_host_apt_sources())]
    log(f"base: mmdebstrap {SUITE} ({len(PACKAGES)} packages), about a minute")
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    shutil.rmtree(paths.base, ignore_errors=True)
    staging.rename(paths.base)
    stamps.record(paths.stamps, "base", digest)
    return True
