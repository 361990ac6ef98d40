"""The deploy's offline mode (data `bundle`): one bundle built on the controller serves the fleet.

The bundle (built by tools/bundle, format in deploys/bundle_manifest.py) is pushed to each host once; after that the settings point every
installer at the host's own copy: the Miniconda installer by file://, a file:// conda channel as
the only `defaults`, and pip with --no-index --find-links. Nothing else is fetched.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache

from pyinfra import logger
from pyinfra.api.exceptions import PyinfraError

from deploys import bundle_manifest
from deploys.bundle_manifest import BundleError

# Controller-side files a host never needs: the sources of wheels built on the controller, and
# the bundle tool's own bookkeeping.
_NOT_FOR_HOSTS = ("sdists/",)


@lru_cache(maxsize=None)
def load(path: str, stack_name: str) -> dict:
    """The bundle's manifest and the files a host must hold; a bad bundle stops the whole run."""
    try:
        manifest = bundle_manifest.load(path)
    except BundleError as e:
        raise PyinfraError(f"data bundle={path!r}: {e}")
    if manifest["stack"]["name"] != stack_name:
        raise PyinfraError(
            f"data bundle={path!r} was built for stack {manifest['stack']['name']}, not {stack_name}: "
            f"build one with python -m tools.bundle {stack_name} --platform linux-64 --out DIR"
        )
    problems = bundle_manifest.verify(path, remember=verified_record(path))
    if problems:
        raise PyinfraError(f"data bundle={path!r} is damaged ({problems[0]}); rebuild it with python -m tools.bundle")
    files = push_list(path, manifest)
    upstream = bundle_manifest.upstream_bytes(manifest)
    logger.info(
        f"--> Offline bundle {path}: {len(files)} files, {sum(entry[1] for entry in files) / 1e6:.1f} MB per host; "
        f"upstream bytes fetched for the whole fleet: {upstream} (one bundle, whatever the number of hosts)"
    )
    return {"manifest": manifest, "files": files, "upstream_bytes": upstream}


def verified_record(path: str) -> str:
    """Where the controller keeps the last sound check of the bundle at `path`: the user's cache
    ($XDG_CACHE_HOME or ~/.cache), not the bundle folder, which may be read-only media. Without it
    every run would read the whole bundle (half a gigabyte for tf21) before touching a host."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:16]
    return os.path.join(cache, "gpuws", "bundles-verified", f"{key}.json")


# The channel index files conda reads next to the packages (derived: rebuilt by each bundle run,
# so not in the manifest, which verify() checks they match).
_INDEX_NAMES = ("repodata.json", "repodata.json.bz2", "current_repodata.json", "channeldata.json")


def push_list(path: str, manifest: dict) -> list:
    """`[[relative path, size, sha256], ...]` a host must hold, from the verified manifest (never
    from a folder walk): its payload files but the controller-only sources, the channel index,
    and the manifest itself. A symlink or other non-regular file is refused, not followed (it
    would push its target, e.g. /etc/shadow)."""
    names = [entry["path"] for entry in bundle_manifest.files(manifest) if not entry["path"].startswith(_NOT_FOR_HOSTS)]
    digests = {entry["path"]: entry["sha256"] for entry in bundle_manifest.files(manifest)}
    subdirs = {name.split("/")[1] for name in names if name.startswith("conda/") and name.count("/") >= 2} | {"noarch"}
    for subdir in sorted(subdirs):
        names += [f"conda/{subdir}/{index}" for index in _INDEX_NAMES if os.path.lexists(os.path.join(path, "conda", subdir, index))]
    names.append(bundle_manifest.MANIFEST)
    files = []
    for name in sorted(set(names)):
        local = os.path.join(path, name)
        if os.path.islink(local) or not os.path.isfile(local):
            raise PyinfraError(f"data bundle={path!r}: {name} is a symlink or not a regular file; rebuild the bundle with python -m tools.bundle")
        files.append([name, os.path.getsize(local), digests.get(name) or bundle_manifest.file_digest(local)])
    return files


def settings_for(cfg: dict, bundle: dict) -> dict:
    """`cfg` with every package source pointed at the host's copy of the bundle."""
    dest = cfg["bundle_dest"].rstrip("/")
    installers = bundle_manifest.files(bundle["manifest"], "installer")
    offline = dict(cfg)
    if installers:
        offline.update(
            miniconda_url=f"file://{dest}/{installers[0]['path']}",
            miniconda_sha256=installers[0]["sha256"],
            miniconda_file=None,
        )
    offline.update(
        conda_channel_preset="mirror",
        conda_mirror_url=f"file://{dest}/conda",
        pip_index_url=None,
        pip_extra_index_urls=[],
        pip_find_links=[f"{dest}/wheels"],
        pip_no_index=True,
        pip_trusted_hosts=[],
    )
    return offline
