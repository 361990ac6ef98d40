"""Fixtures for the bundle tests: a tiny upstream conda channel, served over real HTTP.

STAND-IN packages: hand-made conda v1 `.tar.bz2` archives whose payload is one small text
file. Their names, versions, build strings and dependencies copy the real defaults packages
(cudatoolkit-10.1.243-h6bb024c_0, cudnn-7.6.5-cuda10.1_0 depending on cudatoolkit >=10.1,<10.2)
plus decoys, so the solver makes the same choices it makes upstream. Indexing uses the real
`rattler.index`, and the bundle tool reaches the channel through py-rattler over HTTP.
"""

import asyncio
import functools
import hashlib
import http.server
import io
import json
import tarfile
import threading
from pathlib import Path

import pytest

try:
    import rattler
except ImportError as error:  # a missing tool fails with what to install, never a skip
    raise ImportError(f"the bundle tests need py-rattler: pip install -e '.[test]' ({error})") from None

# name, version, build, subdir, depends, constrains
PACKAGES = [
    ("python", "3.7.16", "h_standin_0", "linux-64", ["libgcc-ng >=7.3.0"], []),
    ("python", "3.8.10", "h_standin_0", "linux-64", ["libgcc-ng >=7.3.0"], []),
    ("libgcc-ng", "9.1.0", "hdf63c60_0", "linux-64", [], []),
    ("libstdcxx-ng", "9.1.0", "hdf63c60_0", "linux-64", [], []),
    ("pip", "20.0.2", "py37_0", "linux-64", ["python >=3.7,<3.8.0a0", "setuptools", "wheel"], []),
    ("pip", "20.0.2", "py38_0", "linux-64", ["python >=3.8,<3.9.0a0", "setuptools", "wheel"], []),
    ("setuptools", "45.2.0", "py_0", "noarch", ["python"], []),
    ("wheel", "0.34.2", "py_0", "noarch", ["python"], []),
    ("cudatoolkit", "10.1.243", "h6bb024c_0", "linux-64", ["libgcc-ng >=7.3.0", "libstdcxx-ng >=7.3.0"], []),
    # decoy: same build string, needs a CUDA 11 driver (__cuda >=11.0)
    ("cudatoolkit", "11.0.221", "h6bb024c_0", "linux-64", ["libgcc-ng >=7.3.0", "libstdcxx-ng >=7.3.0"],
     ["__cuda >=11.0"]),
    ("cudnn", "7.6.5", "cuda10.1_0", "linux-64", ["cudatoolkit >=10.1,<10.2"], []),
    ("cudnn", "7.6.5", "cuda10.2_0", "linux-64", ["cudatoolkit >=10.2,<10.3"], []),
    ("unrelated", "1.0", "0", "noarch", [], []),
]

# The stack-like dict the tests feed the tool (the shape of stacks.resolve(): python -m stacks resolve tf21 --json).
TINY_STACK = {
    "name": "tiny", "spec": "tiny", "os": "linux", "python": "3.7", "cudatoolkit": "10.1",
    "cudnn": "7.6.5", "conda_env": "tiny",
    "conda": [
        {"name": "python", "version": "3.7", "build": None, "spec": "python=3.7"},
        {"name": "cudatoolkit", "version": "10.1.243", "build": "h6bb024c_0",
         "spec": "cudatoolkit=10.1.243=h6bb024c_0"},
        {"name": "cudnn", "version": "7.6.5", "build": "cuda10.1_0", "spec": "cudnn=7.6.5=cuda10.1_0"},
    ],
    "pip": [],
    "pip_constraints": [],
}


def make_package(channel, name, version, build, subdir, depends, constrains):
    """Write one conda v1 archive: info/index.json, info/paths.json, info/files and a payload."""
    payload = f"STAND-IN {name} {version} {build} (gpuws bundle tests)\n".encode()
    rel = f"share/standin/{name}-{version}.txt"
    index = {"name": name, "version": version, "build": build, "build_number": 0,
             "depends": depends, "constrains": constrains, "license": "standin",
             "subdir": subdir, "timestamp": 1580000000000}
    if subdir == "noarch":
        index["noarch"] = "generic"
    else:
        index.update(arch="x86_64", platform="linux")
    paths = {"paths_version": 1, "paths": [{"_path": rel, "path_type": "hardlink",
                                            "sha256": hashlib.sha256(payload).hexdigest(),
                                            "size_in_bytes": len(payload)}]}
    members = {"info/index.json": json.dumps(index).encode(), "info/paths.json": json.dumps(paths).encode(),
               "info/files": (rel + "\n").encode(), rel: payload}
    out = channel / subdir / f"{name}-{version}-{build}.tar.bz2"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:bz2") as archive:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size, info.mtime = len(data), 1580000000
            archive.addfile(info, io.BytesIO(data))
    return out


def build_channel(root):
    """A tiny upstream channel in `root` (linux-64 + noarch), indexed with rattler.index."""
    for row in PACKAGES:
        make_package(root, *row)
    asyncio.run(rattler.index.index_fs(root, force=True))
    return root


class _LoggingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files quietly and records each GET path (the tests count package fetches)."""

    requests = None  # set per server

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


class Server:
    """http.server in a thread, serving one directory on 127.0.0.1, counting GET bytes."""

    def __init__(self, directory):
        self.requests = []
        handler_class = type("Handler", (_LoggingHandler,), {"requests": self.requests})
        handler = functools.partial(handler_class, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def package_gets(self):
        """Paths of package archives fetched so far (repodata requests left out)."""
        return [path for path in self.requests if path.endswith((".tar.bz2", ".conda"))]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def upstream_channel(tmp_path_factory):
    """The tiny channel's directory (built once: it is read-only)."""
    return build_channel(tmp_path_factory.mktemp("upstream") / "channel")


@pytest.fixture()
def upstream(upstream_channel):
    """A Server for the tiny channel on 127.0.0.1 with a fresh request log (.url, .requests)."""
    server = Server(upstream_channel)
    yield server
    server.close()


@pytest.fixture()
def tiny_stack():
    """A fresh copy of TINY_STACK."""
    return json.loads(json.dumps(TINY_STACK))


@pytest.fixture()
def stack_file(tmp_path):
    """TINY_STACK written as the tool's --stack-file JSON."""
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(TINY_STACK))
    return path


@pytest.fixture()
def installer(tmp_path):
    """A STAND-IN Miniconda installer file and its sha256."""
    path = tmp_path / "Miniconda3-standin-Linux-x86_64.sh"
    path.write_bytes(b"#!/bin/sh\n# STAND-IN Miniconda installer for the bundle tests\nexit 0\n")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def serve():
    """serve(directory) -> a started Server; every server is closed after the test."""
    servers = []

    def start(directory):
        servers.append(Server(directory))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
