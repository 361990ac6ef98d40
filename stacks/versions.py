"""Version ordering with `packaging`, for drivers, CUDA, compute capabilities and conda packages.

Driver strings have 2 or 3 parts (418.39, 450.51.06, 418.87.01); `packaging` compares them as
integer tuples (so 418.87.01 < 418.96 and 418.39 == 418.39.0), which string comparison gets wrong.
"""

from __future__ import annotations

import re

from packaging.version import Version

from .errors import StackError

_RELEASE = re.compile(r"^\d+(\.\d+)*$")
_CC = re.compile(r"^\d+\.\d+$")


def parse_release(text, what: str = "version") -> Version:
    """Parse a plain dotted release ("418.87.01", "10.1", "7.6.5.32"); StackError otherwise.

    Plain digits only: "418.39-1" or "v10.1" are rejected rather than guessed at.
    """
    if not isinstance(text, str) or not _RELEASE.match(text.strip()):
        raise StackError(f"malformed {what} {text!r}: expected dotted digits such as 418.96")
    return Version(text.strip())


def driver_satisfies(version, minimum) -> bool:
    """Whether a driver `version` is at or above `minimum`, compared with `packaging`.

    + version: the running driver ("418.87.01"); None or unparsable means no usable driver: False
    + minimum: the stack's minimum ("418.96"); a malformed minimum is a declaration error (StackError)

    **Example:**

    .. code:: python

        driver_satisfies("418.87.01", "418.96")  # False
        driver_satisfies("455.32", "450.51.06")  # True
    """
    wanted = parse_release(minimum, "minimum driver")
    if version is None:
        return False
    try:
        return parse_release(version, "driver") >= wanted
    except StackError:
        return False


def major_minor(text: str) -> str:
    """"10.1.243" -> "10.1"; "10" -> "10.0" (the Windows build table prints CUDA 10.0 as "10")."""
    release = parse_release(text).release
    return f"{release[0]}.{release[1] if len(release) > 1 else 0}"


def parse_cc(text, what: str = "compute capability") -> Version:
    """A compute capability "X.Y" (a string: 8.6 as a float would turn 7.10 into 7.1)."""
    if not isinstance(text, str) or not _CC.match(text.strip()):
        raise StackError(f"malformed {what} {text!r}: expected X.Y such as 7.5")
    return Version(text.strip())


def conda_version_matches(installed_version: str, installed_build: str | None, wanted: dict) -> bool:
    """Whether an installed conda package satisfies a wanted `{"version", "build"}` entry.

    + installed_version: the installed package's version ("10.1.243", conda-forge "7.6.5.32")
    + installed_build: its build string ("h6bb024c_0")
    + wanted: an entry of a resolved stack's "conda" list

    The version matches when equal to the wanted version or starting with it plus "." (as conda's
    `name=10.1` does), so "10.1" matches "10.1.243" and "7.6.5" matches "7.6.5.32" but "10.1" does
    not match "10.10". When the wanted build is not None the build must be equal too: the build
    string alone is ambiguous (h6bb024c_0 is also cudatoolkit 11.0.221's).

    **Example:**

    .. code:: python

        conda_version_matches("11.0.221", "h6bb024c_0", {"version": "10.1.243", "build": "h6bb024c_0"})  # False
    """
    version = wanted["version"]
    if installed_version != version and not installed_version.startswith(version + "."):
        return False
    build = wanted.get("build")
    return build is None or installed_build == build
