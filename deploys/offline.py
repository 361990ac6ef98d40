"""The deploy's offline mode (data `bundle`): one bundle built on the controller serves the fleet.

The bundle (built by tools/bundle, format in deploys/bundle_manifest.py) is pushed to each host once; after that the settings point every
installer at the host's own copy: the Miniconda installer by file://, a file:// conda channel as
the only `defaults`, and pip with --no-index --find-links. Nothing else is fetched.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pyinfra import logger
from pyinfra.api.exceptions import PyinfraError

from deploys import bundle_manifest
from deploys.bundle_manifest import BundleError

# Controller-side files a host never needs: the sources of wheels built on the controller, and
# the bundle tool's own bookkeeping.
_NOT_FOR_HOSTS = ("sdists/",)
_BOOKKEEPING = (bundle_manifest.PLAN,)


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
    problems = bundle_manifest.verify(path)
    if problems:
        raise PyinfraError(f"data bundle={path!r} is damaged ({problems[0]}); rebuild it with python -m tools.bundle")
    files = []
    for folder, _, names in os.walk(path):
        for name in names:
            relative = os.path.relpath(os.path.join(folder, name), path).replace(os.sep, "/")
            if relative.startswith(_NOT_FOR_HOSTS) or name in _BOOKKEEPING or name.endswith(".partial"):
                continue
            files.append([relative, os.path.getsize(os.path.join(folder, name))])
    files.sort()
    upstream = bundle_manifest.upstream_bytes(manifest)
    logger.info(
        f"--> Offline bundle {path}: {len(files)} files, {sum(size for _, size in files) / 1e6:.1f} MB per host; "
        f"upstream bytes fetched for the whole fleet: {upstream} (one bundle, whatever the number of hosts)"
    )
    return {"manifest": manifest, "files": files, "upstream_bytes": upstream}


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
