"""Where the lab keeps what it builds and runs: one state directory, outside version control.

Default ``.simlab/`` in the repository root (gitignored); ``GPUWS_LAB_DIR`` overrides it.
Nothing here is committed: every artifact is rebuilt from Debian/PyPI packages and lab/ sources.
"""

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAB_SOURCES = Path(__file__).resolve().parent

# The lab's private network: it exists only inside namespaces the lab creates. GPUWS_LAB_NAME
# (default "gpuws") names them, so two labs with their own GPUWS_LAB_DIR can run side by side
# (the bridge and addresses live inside the controller namespace and may repeat).
LAB_NAME = os.environ.get("GPUWS_LAB_NAME") or "gpuws"
CONTROLLER_NETNS = f"{LAB_NAME}-ctl"
HOST_NETNS_PREFIX = f"{LAB_NAME}-"
BRIDGE = "gpuwsbr0"
SUBNET_PREFIX = "10.250.0"
MIRROR_ADDRESS = f"{SUBNET_PREFIX}.1"
MIRROR_PORT = 8080
MIRROR_URL = f"http://{MIRROR_ADDRESS}:{MIRROR_PORT}"
FIRST_HOST_OCTET = 11

# The unprivileged login with passwordless sudo on every host (root can log in too).
SUDO_USER = "tfuser"


def state_dir() -> Path:
    return Path(os.environ.get("GPUWS_LAB_DIR") or REPO_ROOT / ".simlab").resolve()


@dataclass(frozen=True)
class LabPaths:
    root: Path

    @classmethod
    def default(cls) -> "LabPaths":
        return cls(state_dir())

    # built once, shared read-only by all hosts
    @property
    def base(self) -> Path:
        return self.root / "base"

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    @property
    def build_tmp(self) -> Path:
        return self.root / "build"

    @property
    def stamps(self) -> Path:
        return self.root / "stamps"

    # what the mirror serves (http://10.250.0.1:8080/)
    @property
    def mirror(self) -> Path:
        return self.root / "mirror"

    @property
    def apt_repo(self) -> Path:
        return self.mirror / "apt"

    @property
    def conda_channel(self) -> Path:
        return self.mirror / "conda" / "lab"

    @property
    def miniconda_dir(self) -> Path:
        return self.mirror / "miniconda"

    @property
    def wheelhouse(self) -> Path:
        return self.mirror / "wheels"

    # the running lab
    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def hosts(self) -> Path:
        return self.run / "hosts"

    def host_dir(self, name: str) -> Path:
        return self.hosts / name

    @property
    def ssh(self) -> Path:
        return self.root / "ssh"

    @property
    def client_key(self) -> Path:
        return self.ssh / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.ssh / "config"

    @property
    def state_file(self) -> Path:
        return self.run / "lab.json"

    @property
    def mirror_pid(self) -> Path:
        return self.run / "mirror.pid"

    @property
    def mirror_log(self) -> Path:
        return self.run / "mirror.log"
