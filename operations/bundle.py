"""Put an offline bundle (built once on the controller by `python -m tools.bundle`) on a host.

Only the files the host does not already hold (absent, or of another size) travel, so a host that
already has the bundle receives nothing again; the stamp written last records which bundle, by its
fingerprint, was completely synced.
"""

from __future__ import annotations

import json
import posixpath

from pyinfra import host
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation

from facts.bundle import STAMP, BundleFiles

from .util.commands import absolute, write_file


@operation()
def synced(src: str, dest: str, files: list, fingerprint: str):
    """
    Make ``dest`` on the host hold every file of the bundle at ``src`` on the controller.

    + src: the bundle folder on the controller
    + dest: the folder on the host, e.g. ``/var/cache/gpuws/bundle``
    + files: ``[[relative path, size], ...]``: every file to hold (payload and channel index)
    + fingerprint: the bundle manifest's fingerprint, written to the stamp once all files are there

    **Example:**

    .. code:: python

        bundle.synced(
            name="Offline bundle",
            src="bundle-tf21", dest="/var/cache/gpuws/bundle",
            files=[["conda/linux-64/repodata.json", 5120], ...], fingerprint="3f2a...",
        )
    """
    dest = absolute(dest, "bundle destination")
    held = host.get_fact(BundleFiles, path=dest)
    missing = [(path, size) for path, size in files if held["sizes"].get(path) != size]
    stamp = held.get("stamp") or {}
    if not missing and stamp.get("fingerprint") == fingerprint:
        host.noop(f"bundle {fingerprint[:12]} already on the host ({len(files)} files)")
        return

    folders = sorted({posixpath.dirname(posixpath.join(dest, path)) for path, _ in missing} | {dest})
    yield StringCommand("mkdir", "-p", *[QuoteString(folder) for folder in folders])
    for path, _ in missing:
        remote = posixpath.join(dest, path)
        # staged beside its destination (not in /tmp, which may be a small tmpfs); the fact
        # ignores *.partial, so an interrupted upload is simply sent again
        yield FileUploadCommand(posixpath.join(src, path), remote, remote_temp_filename=f"{remote}.partial")
    yield write_file(posixpath.join(dest, STAMP), json.dumps({"fingerprint": fingerprint}) + "\n")
