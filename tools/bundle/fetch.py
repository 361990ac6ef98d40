"""Downloading and checking bundle files: stream to NAME.partial, verify, then rename.

A file under its final name has always been verified, so an interrupted run leaves at most
`.partial` files, which the next run deletes and fetches again.
"""

import hashlib
import os
import sys
import time
import urllib.error
import urllib.request

from deploys.bundle_manifest import BundleError, file_digest

CHUNK = 1 << 20
# Files smaller than this are fetched without a progress line.
PROGRESS_MIN_BYTES = 8 << 20
USER_AGENT = "gpuws-bundle/1"



def matches(path, sha256=None, md5=None, size=None):
    """True when the file exists and agrees with every expected value that is known."""
    if not os.path.isfile(path):
        return False
    if size is not None and os.path.getsize(path) != size:
        return False
    if sha256:
        return file_digest(path, "sha256") == sha256
    if md5:
        return file_digest(path, "md5") == md5
    return False  # nothing to check against: never trust it


class Progress:
    """One status line on stderr: a percentage and bytes, redrawn in place on a terminal."""

    def __init__(self, label, total, stream=sys.stderr):
        self.label, self.total, self.stream = label, total, stream
        self.tty = stream.isatty()
        self.enabled = total is None or total >= PROGRESS_MIN_BYTES
        self.last_step = -1
        self.started = time.monotonic()

    def update(self, done):
        if not self.enabled:
            return
        if self.total:
            percent = 100 * done // self.total
            step = percent if self.tty else percent // 25  # a line per quarter when logged
            if step == self.last_step:
                return
            self.last_step = step
            text = f"  {percent:3d}% {done / 1e6:8.1f}/{self.total / 1e6:.1f} MB {self.label}"
        else:
            step = done // (16 * CHUNK)
            if step == self.last_step:
                return
            self.last_step = step
            text = f"  {done / 1e6:8.1f} MB {self.label}"
        self.stream.write(("\r" + text) if self.tty else (text + "\n"))
        self.stream.flush()

    def close(self):
        if self.enabled and self.tty:
            seconds = time.monotonic() - self.started
            self.stream.write(f"  ({seconds:.1f} s)\n")
            self.stream.flush()


def download(url, dest, sha256=None, md5=None, size=None, label=None):
    """Fetch `url` to `dest` through `dest.partial`, verified before the rename.

    Returns the number of bytes transferred. Raises BundleError (one line) when the source
    cannot be read or the content differs from the expected digest or size.
    """
    if not (sha256 or md5):
        raise BundleError(f"refusing to download {url} without a checksum to verify it against")
    partial = dest + ".partial"
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    sha, md = hashlib.sha256(), hashlib.md5()
    done = 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=60) as response, open(partial, "wb") as out:
            length = response.headers.get("Content-Length")
            progress = Progress(label or os.path.basename(dest), int(length) if length else size)
            for chunk in iter(lambda: response.read(CHUNK), b""):
                out.write(chunk)
                sha.update(chunk)
                md.update(chunk)
                done += len(chunk)
                progress.update(done)
            progress.close()
    except (urllib.error.URLError, OSError) as error:
        _remove(partial)
        reason = getattr(error, "reason", None) or error
        raise BundleError(f"cannot download {url}: {reason}") from None
    problem = None
    if size is not None and done != size:
        problem = f"size {done} != expected {size}"
    elif sha256 and sha.hexdigest() != sha256:
        problem = f"sha256 {sha.hexdigest()} != expected {sha256}"
    elif not sha256 and md5 and md.hexdigest() != md5:
        problem = f"md5 {md.hexdigest()} != expected {md5}"
    if problem:
        _remove(partial)
        raise BundleError(f"{url}: {problem} (upstream changed or transfer corrupted; run again)")
    os.replace(partial, dest)
    return done


def copy_verified(source, dest, sha256=None):
    """Copy a local file (e.g. --miniconda-file) into the bundle, verified, via .partial."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    partial = dest + ".partial"
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(partial, "wb") as out:
        for chunk in iter(lambda: src.read(CHUNK), b""):
            out.write(chunk)
            digest.update(chunk)
    if sha256 and digest.hexdigest() != sha256:
        _remove(partial)
        raise BundleError(f"{source}: sha256 {digest.hexdigest()} != expected {sha256}")
    os.replace(partial, dest)
    return os.path.getsize(dest)


def remove_partials(root):
    """Delete `.partial` leftovers of an interrupted run under `root`."""
    for folder, _dirs, names in os.walk(root):
        for name in names:
            if name.endswith(".partial"):
                _remove(os.path.join(folder, name))


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
