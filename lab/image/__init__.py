"""``python -m lab build``: every part of the lab, each cached under a stamp of its inputs.

Order matters only where one part consumes another: the conda channel before the Miniconda
installer (its payload is assembled from the channel). The Debian base is independent and slow,
so it is built in a background thread while the rest builds.
"""

import sys
import threading
import time

from ..paths import LabPaths
from . import base_rootfs, conda_channel, driver_repo, miniconda_installer, wheelhouse

PARTS = {
    "driver-repo": driver_repo.build,
    "conda-channel": conda_channel.build,
    "miniconda": miniconda_installer.build,
    "wheelhouse": wheelhouse.build,
}


def _log(message: str) -> None:
    print(f"lab build: {message}", file=sys.stderr, flush=True)


def build_all(paths: LabPaths, only: list[str] | None = None) -> dict[str, float]:
    """Build what is missing or stale; returns seconds per part (0 when it was current)."""
    wanted = set(only or ["base", *PARTS])
    unknown = wanted - {"base", *PARTS}
    if unknown:
        raise SystemExit(f"lab build: unknown part(s) {', '.join(sorted(unknown))} (parts: base, {', '.join(PARTS)})")
    timings: dict[str, float] = {}
    errors: list[BaseException] = []

    def timed(name, step):
        started = time.monotonic()
        step(paths, _log)
        timings[name] = round(time.monotonic() - started, 1)

    def base():
        try:
            timed("base", base_rootfs.build)
        except BaseException as error:  # reported after the join, in the main thread
            errors.append(error)

    from .python37 import require_python37
    require_python37()
    thread = threading.Thread(target=base) if "base" in wanted else None
    if thread:
        thread.start()
    for name, step in PARTS.items():
        if name in wanted:
            timed(name, step)
    if thread:
        thread.join()
    if errors:
        raise errors[0]
    _log("done: " + ", ".join(f"{k} {v}s" for k, v in timings.items()))
    return timings
