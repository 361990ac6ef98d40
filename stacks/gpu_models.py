"""GPU model name -> CUDA compute capability, for drivers whose nvidia-smi has no `compute_cap`.

The table is stacks/data/gpu_models.yaml (from NVIDIA's CUDA GPUs page). nvidia-smi prints names
with or without the "NVIDIA " prefix and with suffixes ("Tesla V100-SXM2-16GB", "A100 80GB PCIe"),
so a table name matches where it occurs in the printed name at word boundaries, and the longest
match wins ("RTX 2080 Ti" beats "RTX 2080"; "A10" does not match "A100").
"""

from __future__ import annotations

import functools
import re

from .data import load
from .errors import StackError


def _normalise(name: str) -> str:
    text = " ".join(name.split()).lower()
    return text[len("nvidia "):] if text.startswith("nvidia ") else text


@functools.lru_cache(maxsize=None)
def _patterns() -> tuple:
    """(length, pattern, cc) for every table name, longest first; checked once for conflicts."""
    seen: dict[str, str] = {}
    patterns = []
    for row in load("gpu_models.yaml")["models"]:
        for name in row["names"]:
            key = _normalise(name)
            if seen.get(key, row["cc"]) != row["cc"]:
                raise StackError(f"stacks/data/gpu_models.yaml: {name!r} listed as both {seen[key]} and {row['cc']}")
            seen[key] = row["cc"]
            # Word boundaries by hand: \b fails next to "(" in "TITAN X (Pascal)".
            pattern = re.compile(r"(?<![a-z0-9])" + re.escape(key) + r"(?![a-z0-9])")
            patterns.append((len(key), pattern, row["cc"]))
    patterns.sort(key=lambda item: -item[0])
    return tuple(patterns)


def compute_capability_for(name) -> str | None:
    """The compute capability "X.Y" of a GPU model name as nvidia-smi prints it, or None if unknown.

    + name: e.g. "GeForce RTX 2080 Ti", "NVIDIA A100-SXM4-40GB", "Tesla K80"

    **Example:**

    .. code:: python

        compute_capability_for("NVIDIA GeForce RTX 3090")  # "8.6"
        compute_capability_for("TITAN X (Pascal)")         # "6.1"
    """
    if not isinstance(name, str) or not name.strip():
        return None
    text = _normalise(name)
    for _length, pattern, cc in _patterns():
        if pattern.search(text):
            return cc
    return None
