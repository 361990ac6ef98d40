"""Offline bundle: fetch a stack's conda packages, wheels and Miniconda installer once.

A lab of N workstations pulls from upstream once: the controller builds the bundle
(`python -m tools.bundle tf21 --platform linux-64 --out DIR`) and every host installs from
DIR (a conda channel, a wheelhouse, the installer), verified by DIR/manifest.json.

Modules: build (the run), conda (solve + index with py-rattler), wheels (pip wheelhouse,
sdist-only requirements built with the target python), fetch (verified downloads),
platforms (target tables), pip_target (pip with the target's marker environment). The manifest
format itself is the deploy's input and lives below it, in deploys/bundle_manifest.py.
"""

from deploys.bundle_manifest import BundleError

__all__ = ["BundleError"]
