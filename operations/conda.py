"""Conda operations, one import away: Miniconda, .condarc, the env with its conda packages.

The code lives in small modules (conda_install, conda_config, conda_env); this module gathers
their public names so a deploy can write `from operations import conda` and call
`conda.miniconda(...)`, `conda.condarc(...)`, `conda.env(...)` (the env with its python and
conda packages).
"""

from .conda_config import PRESETS, condarc, condarc_preset, render_condarc
from .conda_env import env
from .conda_install import DEFAULT_MIN_FREE_MIB, PROFILE_HOOK_PATH, miniconda

__all__ = [
    "DEFAULT_MIN_FREE_MIB",
    "PRESETS",
    "PROFILE_HOOK_PATH",
    "condarc",
    "condarc_preset",
    "env",
    "miniconda",
    "render_condarc",
]
