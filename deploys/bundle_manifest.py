"""The offline bundle's format: DIR/manifest.json, read by the deploy and written by tools/bundle.

It sits below the deploy (deploys/offline.py trusts a bundle through load() and verify()) so that
the controller tool imports the format from here, never the other way round.

A bundle directory:

    DIR/manifest.json               this file's subject (written last: its presence = complete)
    DIR/miniconda/<installer>       kind "installer"
    DIR/conda/<subdir>/*.tar.bz2|.conda + repodata   kind "conda" (a channel: -c file://DIR/conda)
    DIR/sdists/*.tar.gz             kind "sdist" (sources of the wheels built on the controller)
    DIR/wheels/*.whl                kind "wheel" (a wheelhouse: pip --no-index --find-links DIR/wheels)

manifest.json:

    {"format": 1,                       # FORMAT: bumped when a key changes meaning
     "created": "2025-01-01T00:00:00Z",
     "platform": "linux-64",            # conda subdir of the target hosts
     "python": "3.7.16",                # the env's python from the conda solve (wheel target)
     "fingerprint": "<sha256>",         # of the inputs below + stack: same inputs -> plan reused
     "inputs": {"channels": [url...], "index_url": url, "miniconda": {...} | null},
     "stack": {...},                    # stacks.resolve() dict the bundle was built for
     "files": [                         # every payload file, sorted by path
        {"kind": "conda"|"wheel"|"sdist"|"installer",
         "path": "conda/linux-64/cudnn-7.6.5-cuda10.1_0.tar.bz2",   # relative, POSIX
         "name": "cudnn", "version": "7.6.5",
         "build": "cuda10.1_0",         # conda only
         "sha256": "<hex>", "md5": "<hex>"|absent, "size": 123,
         "url": "https://.../cudnn-7.6.5-cuda10.1_0.tar.bz2",        # where it came from
         "built_from": "sdists/gast-0.2.2.tar.gz"}                   # wheels built here only
     ],
     "totals": {"files": 42, "bytes": 480000000, "upstream_bytes": 479000000}}

The channel's index files (repodata.json and friends) are derived, rebuilt by each run, and
not listed; verify() checks that they name every conda file.
"""

import datetime
import hashlib
import json
import os
import re

FORMAT = 1
MANIFEST = "manifest.json"
PLAN = ".plan.json"  # the plan of an unfinished run (same shape), removed when the manifest is written
KINDS = ("conda", "wheel", "sdist", "installer")
_CHUNK = 1 << 20
# A payload path inside the bundle: relative, POSIX, plain characters, no `.`/`..` component.
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9._+=-]*(/[A-Za-z0-9_+][A-Za-z0-9._+=-]*)*$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class BundleError(Exception):
    """Bad input, an unreachable source or a failed verification.

    The message is ONE line that says what is wrong and what to change; the bundle CLI prints it
    and exits with status 2, the deploy stops the run with it before any host is touched.
    """


def load(directory):
    """The manifest of a complete bundle as a dict; BundleError when absent, unreadable or foreign.

    **Example:**

    .. code:: python

        bundle = manifest.load("bundle-tf21")
        channel = os.path.join("bundle-tf21", "conda")
        installer = files(bundle, "installer")[0]["path"]
    """
    path = os.path.join(directory, MANIFEST)
    try:
        with open(path) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise BundleError(f"{directory} is not a complete bundle (no {MANIFEST}): build it with "
                          f"python -m tools.bundle") from None
    except (OSError, ValueError) as error:
        raise BundleError(f"{path} is unreadable: {error}") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path} is not a bundle manifest (a JSON object): rebuild it with python -m tools.bundle")
    if data.get("format") != FORMAT:
        raise BundleError(f"{path} has bundle format {data.get('format')!r}, this tool reads {FORMAT}: rebuild it")
    problem = shape_problem(data)
    if problem:
        raise BundleError(f"{path}: {problem}; rebuild it with python -m tools.bundle")
    return data


def shape_problem(data):
    """The first thing wrong with a manifest's shape, or None: every file entry must name a kind, a
    path that stays inside the bundle (no `..`, not absolute: the deploy writes it under
    bundle_dest as root), a size and a sha256; an installer is a plain file name in miniconda/."""
    if not isinstance(data.get("fingerprint"), str) or not isinstance(data.get("stack"), dict):
        return "no fingerprint or stack"
    if not isinstance(data.get("files"), list):
        return "`files` is not a list"
    for entry in data["files"]:
        if not isinstance(entry, dict):
            return f"file entry {entry!r} is not an object"
        path = entry.get("path")
        if not isinstance(path, str) or not _SAFE_PATH.match(path):
            return f"file path {path!r} leaves the bundle or has unusual characters"
        if entry.get("kind") not in KINDS:
            return f"file {path} has kind {entry.get('kind')!r}, not one of {', '.join(KINDS)}"
        if not isinstance(entry.get("size"), int) or isinstance(entry.get("size"), bool) or entry["size"] < 0:
            return f"file {path} has no valid size"
        if not isinstance(entry.get("sha256"), str) or not _HEX64.match(entry["sha256"]):
            return f"file {path} has no valid sha256"
        if entry["kind"] == "installer" and path.count("/") != 1:
            return f"installer {path} must be a file directly in miniconda/"
    return None


def files(manifest, kind=None):
    """The file entries of a manifest, optionally only one kind."""
    return [entry for entry in manifest["files"] if kind is None or entry["kind"] == kind]


def upstream_bytes(manifest):
    """Bytes a host would otherwise pull from upstream: every file except the wheels built here.

    With N hosts the bundle saves (N - 1) times this figure of upstream traffic.
    """
    return sum(entry["size"] for entry in manifest["files"] if "built_from" not in entry)


def totals(entries):
    return {"files": len(entries), "bytes": sum(entry["size"] for entry in entries),
            "upstream_bytes": sum(entry["size"] for entry in entries if "built_from" not in entry)}


def verify(directory, remember=None):
    """Check a bundle against its manifest -> list of problems, one line each ([] = sound).

    Checks every file's presence, size and sha256, and that the conda channel's repodata
    lists every conda file. Reads every byte (about 2 s per GB).

    + remember: a file where a sound result is kept with the state (`stat`) of every file it read;
      while the manifest and every such state are unchanged, the bytes are not read again. A
      change of content changes the state (size, mtime, ctime, inode; ctime cannot be set back by
      hand), and the hosts check each file they receive against its sha256 anyway.
    """
    if remember:
        states = _file_states(directory)
        if states is not None and _read_json(remember) == states:
            return []
    problems = _verify(directory)
    if remember and not problems and states is not None:
        try:
            os.makedirs(os.path.dirname(remember), exist_ok=True)
            write(os.path.dirname(remember), os.path.basename(remember), states)
        except OSError:
            pass  # nowhere to remember it: the next run reads every byte again
    return problems


def _file_states(directory):
    """{"manifest": its sha256, path: [size, mtime_ns, ctime_ns, inode]} of the manifest's files
    and the channel index files; None when the manifest cannot be read."""
    try:
        manifest = load(directory)
        states = {"manifest": file_digest(os.path.join(directory, MANIFEST))}
    except (BundleError, OSError):
        return None
    names = [entry["path"] for entry in manifest["files"]]
    names += [f"conda/{subdir}/repodata.json" for subdir in {e["path"].split("/")[1] for e in files(manifest, "conda")}]
    for name in names:
        try:
            info = os.stat(os.path.join(directory, name))
        except OSError:
            return None
        states[name] = [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]
    return states


def _read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _verify(directory):
    try:
        manifest = load(directory)
    except BundleError as error:
        return [str(error)]
    problems = []
    for entry in manifest["files"]:
        path = os.path.join(directory, entry["path"])
        if not os.path.isfile(path):
            problems.append(f"missing {entry['path']}")
        elif os.path.getsize(path) != entry["size"]:
            problems.append(f"size of {entry['path']} is {os.path.getsize(path)}, manifest says {entry['size']}")
        elif file_digest(path) != entry["sha256"]:
            problems.append(f"sha256 of {entry['path']} differs from the manifest")
    indexed = {}
    for entry in files(manifest, "conda"):
        subdir = entry["path"].split("/")[1]
        if subdir not in indexed:
            indexed[subdir] = _repodata_names(os.path.join(directory, "conda", subdir, "repodata.json"))
        if indexed[subdir] is None:
            problems.append(f"conda/{subdir}/repodata.json is missing or unreadable: the channel is not indexed")
            indexed[subdir] = set()
        elif os.path.basename(entry["path"]) not in indexed[subdir]:
            problems.append(f"conda/{subdir}/repodata.json does not list {os.path.basename(entry['path'])}")
    return problems


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file, read in chunks (wheels reach 420 MB)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _repodata_names(path):
    try:
        with open(path) as handle:
            repodata = json.load(handle)
    except (OSError, ValueError):
        return None
    return set(repodata.get("packages", {})) | set(repodata.get("packages.conda", {}))


def read_plan(directory, name):
    """A manifest-shaped dict from DIR/name, or None when absent or unreadable."""
    try:
        with open(os.path.join(directory, name)) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if data.get("format") == FORMAT else None


def write(directory, name, data):
    """Write JSON atomically (temp file + rename): a reader never sees half a manifest."""
    path = os.path.join(directory, name)
    partial = path + ".partial"
    with open(partial, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.replace(partial, path)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
