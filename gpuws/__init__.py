"""gpuws: the project's rooms under one namespace, for a lab that composes the deploy into its own
pyinfra project (``pip install .`` of the repository):

.. code:: python

    from gpuws.deploys.workstation import gpu_workstation  # in the lab's own deploy file
    from gpuws.stacks import resolve

An installed copy maps the repository's top-level folders into this package
(``gpuws.deploys`` is the repository's ``deploys/``, see pyproject.toml). The code inside the rooms
imports its neighbours by their top-level names (``from deploys import settings``), as it does when
run from the repository, so importing ``gpuws`` adds one import alias: a top-level name of a room
(``deploys``, ``facts``, ``inventories``, ``operations``, ``stacks``, ``tools``) imported after
``import gpuws`` is the very module ``gpuws.<name>`` (one module object, never two copies with
two states). Without it the rooms would need relative imports everywhere, and ``python -m stacks``
in the repository (a top-level package run as a script) keeps working either way.

In a repository checkout (``import gpuws`` with the repository root on ``sys.path``) the package
also reaches the top-level folders, so ``gpuws.deploys`` is the same code in both layouts.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys

ROOMS = ("deploys", "facts", "inventories", "operations", "stacks", "tools")

# A checkout: gpuws/ sits beside the rooms, which are not inside it. An installed copy has them inside.
_HERE = os.path.dirname(os.path.abspath(__file__))
_CHECKOUT = os.path.dirname(_HERE)
if not os.path.isdir(os.path.join(_HERE, "deploys")) and os.path.isfile(os.path.join(_CHECKOUT, "deploys", "__init__.py")):
    __path__.append(_CHECKOUT)  # noqa: F821 (a package's __path__)


class _RoomAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`deploys.x` -> the module `gpuws.deploys.x` (imported once, registered under both names)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] not in ROOMS:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        # importlib keeps the returned module's own __name__/__spec__ (it only fills in missing ones)
        return importlib.import_module(f"{__name__}.{spec.name}")

    def exec_module(self, module):
        pass  # executed once, as gpuws.<name>


if not any(isinstance(finder, _RoomAlias) for finder in sys.meta_path):
    # First, so a room's name means this project's room in a process that imported gpuws; a
    # process that never imports gpuws (the repository's own `python -m stacks`) is untouched.
    sys.meta_path.insert(0, _RoomAlias())
