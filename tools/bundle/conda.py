"""The conda half of a bundle: solve the stack's conda specs with py-rattler, index the result.

Solving happens against the upstream channels (HTTP, https or file://); the solution, with
every dependency, becomes the plan of files for DIR/conda/<subdir>/, which `index_channel`
turns into a channel that hosts can use with `-c file://...` or over HTTP.
"""

import asyncio
import bz2
import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor

from deploys.bundle_manifest import BundleError
from .platforms import conda_virtual_packages

# What a channel *name* means when neither --channel nor the stack gives URLs: conda's own
# defaults for the names the stacks data uses.
CHANNEL_URLS = {
    "defaults": ["https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r"],
    "conda-forge": ["https://conda.anaconda.org/conda-forge"],
}


def default_channels(stack, channel_name):
    """Channel URLs for a stack: its own `channels` list, else the URLs of `channel_name`."""
    if stack.get("channels"):
        return list(stack["channels"])
    if channel_name in CHANNEL_URLS:
        return list(CHANNEL_URLS[channel_name])
    if "://" in channel_name:
        return [channel_name]
    raise BundleError(f"unknown conda channel {channel_name!r}: pass --channel URL")


def specs_of(stack):
    """The MatchSpec strings of the stack's conda packages (python first, as the stack lists them)."""
    return [entry["spec"] for entry in stack["conda"]]


def solve(stack, channels, platform_name):
    """Solve the stack's conda specs on `channels` for `platform_name` -> list of plan entries.

    pip comes in as python's dependency, as conda's `add_pip_as_python_dependency` does, so the
    env the hosts create from the bundle has the pip that installs the wheelhouse.
    """
    return _in_child(_solve, stack, channels, platform_name)


def _solve(stack, channels, platform_name):
    import rattler

    # A fresh repodata cache per run: rattler's caches are keyed by URL, and a lab that
    # rebuilds its channel at the same URL must not be answered from an older copy.
    with tempfile.TemporaryDirectory(prefix="gpuws-bundle-repodata-") as cache:
        gateway = rattler.Gateway(cache_dir=cache)
        try:
            records = asyncio.run(rattler.solve(
                [rattler.Channel(url) for url in channels],
                # MatchSpec() parses conda's classic NAME=VERSION=BUILD form leniently, as conda
                # does; plain strings would be parsed strictly and refuse it.
                [rattler.MatchSpec(spec) for spec in specs_of(stack)],
                gateway=gateway,
                platforms=[platform_name, "noarch"],
                virtual_packages=conda_virtual_packages(platform_name, stack),
                add_pip_as_python_dependency=True,
                channel_relations="disabled",
            ))
        except Exception as error:  # rattler raises its own types (SolverError, FetchRepoDataError...)
            if "error sending request" in str(error):
                raise BundleError(f"cannot reach conda channel {' or '.join(channels)}: "
                                  f"{_one_line(error)}") from None
            raise BundleError(f"conda solve of {', '.join(specs_of(stack))} on {', '.join(channels)} "
                              f"failed: {_one_line(error)}") from None
    return [entry_of(record) for record in sorted(records, key=lambda r: r.name.normalized)]


def entry_of(record):
    """A manifest entry (see manifest.py) for one solved RepoDataRecord."""
    return {
        "kind": "conda",
        "path": f"conda/{record.subdir}/{record.file_name}",
        "name": record.name.normalized,
        "version": str(record.version),
        "build": str(record.build),
        "sha256": record.sha256.hex() if record.sha256 else None,
        "md5": record.md5.hex() if record.md5 else None,
        "size": record.size,
        "url": str(record.url),
    }


def index_channel(channel_dir, platform_name):
    """Write repodata for DIR/conda (the platform's subdir and noarch) with rattler.index."""
    for subdir in (platform_name, "noarch"):
        os.makedirs(os.path.join(channel_dir, subdir), exist_ok=True)
    _in_child(_index, channel_dir)
    for subdir in (platform_name, "noarch"):
        # conda before 4.6 reads only repodata.json.bz2 from a file:// channel (conda/core/repodata.py
        # of 4.3: "file://" -> 'repodata.json.bz2'), as conda-index used to write it.
        repodata = os.path.join(channel_dir, subdir, "repodata.json")
        with open(repodata, "rb") as source, bz2.open(repodata + ".bz2", "wb") as target:
            target.write(source.read())


def _index(channel_dir):
    import rattler

    asyncio.run(rattler.index.index_fs(channel_dir, force=True))


def _in_child(function, *args):
    """`function(*args)` run in a fresh interpreter; its result or its exception comes back.

    py-rattler solves and indexes on native (tokio) worker threads that may still hold Python
    thread states when an interpreter finalizes, which aborted one run at exit ("PyGILState_Release
    ... finalizing") after the bundle was written. Those threads now end with a short-lived child
    process, so the CLI's own interpreter never loads rattler and exits normally.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def _one_line(error):
    """Rattler errors span lines (cause chains); the CLI prints one, so keep the informative part."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " / ".join(lines[:3]) if lines else type(error).__name__
