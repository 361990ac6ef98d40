"""Pytest support for tests that need the running lab (lab self-tests, end-to-end deploy tests).

Use from a conftest.py:

    from lab.testing import lab, lab_for, lab_session, lab_spec_path  # noqa: F401  (pytest fixtures)

``lab_session`` builds the lab (cached) and starts ``lab_spec_path`` once per session, and takes
it down at the end, failing if anything is left behind. ``lab`` (per test) restarts it if a test
took it down. Override ``lab_spec_path`` (a session fixture) in a conftest to use another spec,
e.g. ``lab/specs/fleet8.yaml``. A missing prerequisite fails with what to install: never a skip.
"""

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from . import control, mirror, network, state
from .paths import CONTROLLER_NETNS, REPO_ROOT, LabPaths

# tool -> Debian package that provides it
REQUIRED_TOOLS = {
    "mmdebstrap": "mmdebstrap", "ssh": "openssh-client", "ssh-keygen": "openssh-client",
    "patchelf": "patchelf", "gcc": "gcc", "apt-ftparchive": "apt-utils", "dpkg-deb": "dpkg",
    "ip": "iproute2", "unshare": "util-linux", "nsenter": "util-linux", "setsid": "util-linux",
    "chroot": "coreutils", "curl": "curl",
}


def missing_prerequisites() -> list[str]:
    problems = []
    if os.geteuid() != 0:
        problems.append("the lab needs root (network namespaces, overlay mounts, chroot)")
    missing = sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        problems.append("apt-get install " + " ".join(missing))
    try:
        import rattler  # noqa: F401
    except ImportError:
        problems.append("pip install 'py-rattler==0.28.*' (the lab's conda channel indexer)")
    from .image.python37 import prefix
    try:
        if not (prefix() / "bin/python3.7").exists():
            problems.append(f"CPython 3.7.16 at {prefix()} (pyenv install 3.7.16)")
    except SystemExit as error:
        problems.append(str(error))
    return problems


def leftovers(paths: LabPaths) -> list[str]:
    """What a stopped lab must not leave behind: namespaces, mounts, processes."""
    found = [f"netns {n}" for n in network.lab_namespaces()]
    with open("/proc/self/mounts") as mounts:
        found += [f"mount {line.split()[1]}" for line in mounts if (line.split()[1] + "/").startswith(str(paths.root) + "/")]
    out = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout
    for line in out.splitlines():
        pid, stat, args = line.split(None, 2)
        if "Z" not in stat and (str(paths.root) + "/") in args and ("supervise.sh" in args or str(paths.mirror) in args):
            found.append(f"process {pid} {args}")
    return found


class Lab:
    """The running lab as tests see it."""

    def __init__(self, spec_path: Path, paths: LabPaths):
        self.spec_path, self.paths = spec_path, paths

    @property
    def state(self) -> dict:
        return state.read(self.paths) or {}

    @property
    def hosts(self) -> list[str]:
        return [h["name"] for h in self.state["hosts"] if not h["unreachable"]]

    @contextlib.contextmanager
    def mirror_stopped(self):
        """The lab's package mirror stopped for the block (an offline bundle must be the hosts'
        only package source), started again after it, whatever happened inside."""
        mirror.stop(self.paths)
        try:
            yield
        finally:
            mirror.start(self.paths)

    def ensure_up(self) -> None:
        current = state.read(self.paths)
        if not current or current["spec"] != str(self.spec_path) or not network.exists(CONTROLLER_NETNS):
            control.up(str(self.spec_path), self.paths)

    def ssh(self, host: str, command: str, user: str = "root", timeout: float = 300,
            check: bool = False) -> subprocess.CompletedProcess:
        """``command`` over real ssh (the lab's pinned known_hosts, ProxyCommand into the lab)."""
        result = subprocess.run(
            ["ssh", "-F", str(self.paths.ssh_config), "-o", "BatchMode=yes", "-l", user, host, command],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and result.returncode:
            raise AssertionError(f"{host}: {command!r} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def exec(self, host: str, *command: str) -> subprocess.CompletedProcess:
        """``command`` inside ``host`` without ssh (e.g. to create drift)."""
        return control.exec_in_host(host, list(command), self.paths, capture_output=True, text=True)

    def reset(self, host: str) -> None:
        control.reset(host, self.paths)

    def wait_for_ssh(self, host: str, timeout: float = 30) -> None:
        entry = next(h for h in self.state["hosts"] if h["name"] == host)
        from .paths import LAB_SOURCES
        import sys
        subprocess.run(network.in_controller([sys.executable, str(LAB_SOURCES / "ssh_proxy.py"), "--wait",
                                              str(timeout), f"{entry['address']}:22"]), check=True)


@pytest.fixture(scope="session")
def lab_spec_path() -> Path:
    return REPO_ROOT / "lab/specs/small.yaml"


@pytest.fixture(scope="session")
def lab_session(lab_spec_path):
    problems = missing_prerequisites()
    if problems:
        pytest.fail("the simulated lab cannot run here: " + "; ".join(problems), pytrace=False)
    from .image import build_all

    paths = LabPaths.default()
    build_all(paths)
    session = Lab(Path(lab_spec_path).resolve(), paths)
    session.ensure_up()
    yield session
    control.down(paths)
    left = leftovers(paths)
    assert not left, f"lab down left things behind: {left}"


@pytest.fixture
def lab(lab_session) -> Lab:
    lab_session.ensure_up()
    return lab_session


@pytest.fixture(scope="module")
def lab_for(lab_session):
    """Start the lab with a given spec for this test module: ``lab = lab_for("fleet8.yaml")``
    (a file name in lab/specs/), so modules that need different specs run in any order. With
    ``fresh`` (True: every host, or a list of host names) those hosts are reset to the spec,
    whatever an earlier module did to them."""

    def start(spec: str, fresh=()) -> Lab:
        lab_session.spec_path = (REPO_ROOT / "lab" / "specs" / spec).resolve()
        lab_session.ensure_up()
        for host in (lab_session.hosts if fresh is True else fresh):
            lab_session.reset(host)
        return lab_session

    return start
