"""The real-wheel tier: the REAL tensorflow-gpu 2.1.0 and its dependencies (about 510 MB), bundled
once with tools.bundle and installed by the deploy into lab hosts' tf21 envs (real CPython 3.7.16).

Runs with the rest of the suite; `pytest -m realwheel` selects it alone, `-m "not realwheel"`
leaves it out. Its first run downloads from PyPI; later runs reuse the bundle (resumable).
"""

import http.server
import shutil
import subprocess
import sys
import threading
import time
from functools import partial

import pytest

from lab.paths import LabPaths
from lab.testing import lab_for, lab_session, lab_spec_path  # noqa: F401  (pytest fixtures)
from tests.lab.e2e.runner import ROOT

NEEDED_DISK_GIB = 3  # the bundle (0.5 GiB) plus pip's cache and the build
NEEDED_MEMORY_GIB = 8  # three hosts' tmpfs disks: bundle + env with the real TensorFlow each


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/lab/realwheel/" in str(item.fspath):
            item.add_marker(pytest.mark.realwheel)


def _check_resources(paths: LabPaths) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(paths.root).free / 2**30
    if free < NEEDED_DISK_GIB:
        pytest.fail(f"the real-wheel tier needs {NEEDED_DISK_GIB} GiB free under {paths.root}, "
                    f"only {free:.1f} GiB: free some space", pytrace=False)
    with open("/proc/meminfo") as meminfo:
        available = int(next(line for line in meminfo if line.startswith("MemAvailable")).split()[1]) / 2**20
    if available < NEEDED_MEMORY_GIB:
        pytest.fail(f"the real-wheel tier needs {NEEDED_MEMORY_GIB} GiB of free memory for the lab hosts' "
                    f"disks, only {available:.1f} GiB available", pytrace=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def lab_channel():
    """The lab mirror's conda channel as an HTTP upstream on loopback: py-rattler's real code path
    against an HTTP channel (the lab's own address exists only inside its network namespace)."""
    paths = LabPaths.default()
    from lab.image import build_all

    build_all(paths)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(paths.mirror / "conda")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/lab"
    server.shutdown()


def build_bundle(channel: str, out) -> subprocess.CompletedProcess:
    installer = next(LabPaths.default().miniconda_dir.glob("*.sh"))
    return subprocess.run(
        [sys.executable, "-m", "tools.bundle", "tf21", "--platform", "linux-64", "--out", str(out),
         "--channel", channel, "--miniconda-file", str(installer)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def tf21_bundle(lab_channel):
    paths = LabPaths.default()
    _check_resources(paths)
    out = paths.root / "bundles" / "tf21"
    started = time.monotonic()
    first = build_bundle(lab_channel, out)
    assert first.returncode == 0, first.stdout + first.stderr
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    files = sum(1 for f in out.rglob("*") if f.is_file())
    print(f"\ntf21 bundle: {files} files, {size / 1e6:.1f} MB, built in {time.monotonic() - started:.1f} s "
          f"({first.stdout.strip().splitlines()[-1]})")
    return out
