"""Offline bundle: fetch a stack's conda packages, wheels and Miniconda installer once.

A lab of N workstations pulls from upstream once: the controller builds the bundle
(`python -m tools.bundle tf21 --platform linux-64 --out DIR`) and every host installs from
DIR (a conda channel, a wheelhouse, the installer), verified by DIR/manifest.json.

Modules: build (the run), conda (solve + index with py-rattler), wheels (pip wheelhouse,
sdist-only requirements built with the target python), fetch (verified downloads),
manifest (the data model and the functions the deploy uses: load, verify, upstream_bytes),
platforms (target tables), pip_target (pip with the target's marker environment).
"""

from .errors import BundleError

__all__ = ["BundleError"]
