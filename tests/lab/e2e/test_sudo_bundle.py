"""Safe as root, over real SSH: the offline bundle pushed through the lab's non-root login
(``tfuser``, NOPASSWD sudo) converges a fresh host with the lab mirror stopped, and a hostile
``bundle_dest`` is refused before any host is touched.

The bundle is built with ``tools.bundle`` from the lab's own sources: its conda channel served on
loopback, and a PEP 503 simple index generated over the lab's wheelhouse (the fast-tier wheels,
not the real-wheel tier's 500 MB download).
"""

from __future__ import annotations

import email.parser
import hashlib
import html
import http.server
import subprocess
import sys
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

from deploys import bundle_manifest as manifest
from lab.paths import LabPaths
from tests.lab.e2e.runner import ROOT, deploy

HOST = "ws-good-driver"  # its driver already satisfies tf21: no reboot in the way
ENV = "/opt/miniconda3/envs/tf21"
DEST = "/var/cache/gpuws/bundle"
AS_TFUSER = ("--user", "tfuser", "--sudo")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def requires_python(wheel: Path) -> str | None:
    """The wheel's Requires-Python (its METADATA), which an index publishes as data-requires-python
    (PEP 503): pip resolving for another python than its own reads it there."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.HeaderParser().parsestr(archive.read(metadata).decode()).get("Requires-Python")


def write_simple_index(wheels: Path, root: Path) -> None:
    """root/simple/<project>/index.html (PEP 503) over the wheels in root/files -> ``wheels``,
    each link carrying its sha256 as pip expects from an index."""
    (root / "files").symlink_to(wheels)
    projects: dict[str, list[str]] = {}
    for wheel in sorted(wheels.glob("*.whl")):
        name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        requires = requires_python(wheel)
        attribute = f' data-requires-python="{html.escape(requires)}"' if requires else ""
        projects.setdefault(name, []).append(
            f'<a href="../../files/{html.escape(wheel.name)}#sha256={digest}"{attribute}>{html.escape(wheel.name)}</a><br>')
    for name, links in projects.items():
        (root / "simple" / name).mkdir(parents=True)
        (root / "simple" / name / "index.html").write_text("<html><body>\n" + "\n".join(links) + "\n</body></html>\n")
    (root / "simple" / "index.html").write_text(
        "<html><body>\n" + "\n".join(f'<a href="{n}/">{n}</a><br>' for n in sorted(projects)) + "\n</body></html>\n")


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def bundle(lab_for, tmp_path_factory):
    lab_for("small.yaml")  # builds the lab (mirror/wheels, mirror/conda/lab, the installer) first
    paths = LabPaths.default()
    index_root = tmp_path_factory.mktemp("simple-index")
    write_simple_index(paths.mirror / "wheels", index_root)
    index, index_url = serve(index_root)
    channel, channel_url = serve(paths.mirror / "conda")
    out = tmp_path_factory.mktemp("bundle") / "tf21"
    try:
        built = subprocess.run(
            [sys.executable, "-m", "tools.bundle", "tf21", "--platform", "linux-64", "--out", str(out),
             "--channel", f"{channel_url}/lab", "--index-url", f"{index_url}/simple/",
             "--miniconda-file", str(next(paths.miniconda_dir.glob("*.sh")))],
            cwd=ROOT, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    finally:
        index.shutdown()
        channel.shutdown()
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert manifest.verify(out) == []
    return out


@pytest.fixture(scope="module")
def converged(lab_for, bundle):
    lab = lab_for("small.yaml", fresh=[HOST])
    with lab.mirror_stopped():  # the bundle must be the host's only package source
        first = deploy("--limit", HOST, *AS_TFUSER, "--data", f"bundle={bundle}", "--data", "verify_gpu=never")
        second = deploy("--limit", HOST, *AS_TFUSER, "--data", f"bundle={bundle}", "--data", "verify_gpu=never")
    return lab, first, second


def test_bundle_through_sudo_login_converges_a_fresh_host(converged, bundle):
    lab, first, second = converged
    assert first.rc == 0, first.output[-4000:]
    assert first.failed(HOST) == []
    # the files went up as tfuser and were installed by root, checked against the manifest
    listing = lab.exec(HOST, "find", DEST, "-type", "f", "-printf", "%u %m %P\\n").stdout.split("\n")
    pushed = {entry["path"] for entry in manifest.files(manifest.load(bundle))}
    owned = {line.split(" ", 2)[2]: line.split(" ", 2)[:2] for line in listing if line}
    assert pushed <= set(owned), sorted(pushed - set(owned))
    assert all(owned[path] == ["root", "644"] for path in pushed), {p: owned[p] for p in pushed}
    # the staging folder in tfuser's home is gone again
    assert lab.exec(HOST, "test", "-e", "/home/tfuser/.gpuws-bundle-upload").returncode != 0
    # the env is root's and imports the stack's TensorFlow (the lab's stand-in wheel)
    assert lab.exec(HOST, "stat", "-c", "%U", f"{ENV}/bin/python3.7").stdout.strip() == "root"
    imported = lab.exec(HOST, f"{ENV}/bin/python", "-I", "-c", "import tensorflow; print(tensorflow.__version__)")
    assert imported.returncode == 0 and imported.stdout.strip() == "2.1.0", imported.stdout + imported.stderr
    # a second run through the same login changes nothing (the first released its root-owned
    # run lock through sudo, or this run would wait for it and fail)
    assert second.rc == 0, second.output[-4000:]
    assert second.changed(HOST) == [], second.changed(HOST)
    assert lab.exec(HOST, "test", "-e", "/var/lib/gpuws/run.lock").returncode != 0, "the run lock was left behind"


def test_hostile_bundle_dest_is_refused_before_any_host(lab_for, bundle):
    lab = lab_for("small.yaml")
    marker = "/tmp/gpuws-bundle-dest-ran"
    run = deploy("--limit", HOST, *AS_TFUSER, "--data", f"bundle={bundle}",
                 "--data", f"bundle_dest=/var/cache/b$(touch {marker})")
    assert run.rc != 0, run.output[-3000:]
    assert "bundle_dest" in run.output, run.output[-3000:]
    assert "Traceback" not in run.output, run.output[-3000:]
    assert run.commands.get(HOST, 0) == 0, "a host was touched before the data was checked"
    assert lab.exec(HOST, "test", "-e", marker).returncode != 0
