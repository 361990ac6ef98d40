"""Load the YAML knowledge under stacks/data once, and validate it at load time.

Every row of every data file must carry a non-empty `source`, have its required keys, and hold
versions that parse. A broken file stops with a StackError naming the file and the row, rather
than surfacing later as a wrong desired state.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from .errors import StackError
from .versions import parse_cc, parse_release

DATA_DIR = Path(__file__).resolve().parent / "data"


# -- field checks: each returns None when the value is fine, else what is wrong ----------------

def _str(value):
    return None if isinstance(value, str) and value.strip() else "expected a non-empty string"


def _release(value):
    # Unquoted YAML numbers (10.1 as a float) are refused: 10.10 would silently become 10.1.
    try:
        parse_release(value)
    except StackError as error:
        return str(error)
    return None


def _pypi_release(value):
    # A release as PyPI publishes it: dotted digits, or a post release (2.15.0.post1).
    text = value[: value.rfind(".post")] if isinstance(value, str) and ".post" in value else value
    return _release(text) or (None if not isinstance(value, str) or ".post" not in value
                              or value.rsplit(".post", 1)[1].isdigit() else f"malformed post release {value!r}")


def _release_or_null(value):
    return None if value is None else _release(value)


def _cc_list(value):
    if not isinstance(value, list) or not value:
        return "expected a non-empty list of X.Y compute capabilities"
    for item in value:
        try:
            parse_cc(item)
        except StackError as error:
            return str(error)
    return None


def _release_list(value):
    if not isinstance(value, list) or not value:
        return "expected a non-empty list of versions"
    return next((problem for problem in map(_release, value) if problem), None)


def _str_list(value):
    if not isinstance(value, list) or not value:
        return "expected a non-empty list of strings"
    return next((problem for problem in map(_str, value) if problem), None)


def _specifier(value):
    try:
        SpecifierSet(value)
    except (InvalidSpecifier, TypeError):
        return f"malformed version range {value!r}"
    return None


def _requirement(value):
    try:
        Requirement(value)
    except (InvalidRequirement, TypeError):
        return f"malformed pip requirement {value!r}"
    return None


def _os(value):
    return None if value in ("linux", "windows") else f"os must be linux or windows, not {value!r}"


def _channel(value):
    return None if value in ("defaults", "conda-forge") else f"unknown channel {value!r}"


def _pip_rows(value):
    if not isinstance(value, list):
        return "expected a list of {requirement, reason, source}"
    for index, row in enumerate(value):
        if not isinstance(row, dict):
            return f"pip[{index}]: expected a mapping"
        for key, check in (("requirement", _requirement), ("reason", _str), ("source", _str)):
            problem = "missing" if key not in row else check(row[key])
            if problem:
                return f"pip[{index}].{key}: {problem}"
    return None


# -- the schema: file -> section -> (kind, required keys with their checks) --------------------

ROWS, SINGLE = "rows", "single"

SCHEMA = {
    "tf_builds.yaml": {
        "builds": (ROWS, {"tensorflow": _release, "os": _os, "python": _release_list,
                          "cuda": _release, "cudnn": _release, "label": _str}),
        "wheel_pythons": (ROWS, {"tensorflow": _release, "os": _os, "python": _release_list}),
        "patch_releases": (ROWS, {"tensorflow": _pypi_release, "build": _release, "os": _os}),
        "refused": (ROWS, {"tensorflow": _release, "os": _os, "use": _pypi_release, "reason": _str}),
        "packages": (ROWS, {"tensorflow": _specifier, "allowed": _str_list, "default": _str,
                            "reason": _str}),
        "windows_gpu": (SINGLE, {"last": _release}),
        "cuda_from": (ROWS, {"tensorflow": _specifier,
                             "via": lambda v: None if v in ("conda", "conda+pip", "pip") else f"unknown route {v!r}"}),
    },
    "cuda_drivers.yaml": {
        "table3": (ROWS, {"release": _str, "cuda": _release, "linux": _release,
                          "windows": _release_or_null}),
        "minor_version_compat": (ROWS, {"family": _str, "cuda_min": _release, "cuda_max": _release,
                                        "linux": _release, "windows": _release_or_null}),
    },
    "cuda_arch.yaml": {
        "toolkit_archs": (ROWS, {"cuda_min": _release, "cuda_max": _release, "cc": _cc_list}),
        "binary_compatibility": (SINGLE, {}),
        "tensorflow_min_cc": (SINGLE, {"cc": lambda v: _cc_list([v])}),
        "tensorflow_binaries": (ROWS, {"tensorflow": _specifier, "sass": _cc_list, "ptx": _cc_list,
                                       "basis": _str}),
        "jetson_only": (SINGLE, {"cc": _cc_list}),
        "tf21_by_generation": (ROWS, {"cc": _str, "status": _str, "detail": _str}),
    },
    "libraries.yaml": {
        "cuda": (ROWS, {"cuda_min": _release, "cuda_max": _release, "sonames": _str_list}),
        "cudnn": (SINGLE, {"soname": _str}),
        "windows": (SINGLE, {"rule": _str}),
    },
    "conda.yaml": {
        "packages": (ROWS, {"channel": _channel, "subdir": _str, "name": _str, "version": _release}),
        "build_collisions": (ROWS, {"name": _str, "build": _str, "versions": _release_list}),
    },
    "pins.yaml": {
        "pins": (ROWS, {"tensorflow": _specifier, "requirement": _requirement, "reason": _str}),
    },
    "gpu_models.yaml": {
        "models": (ROWS, {"cc": lambda v: _cc_list([v]), "names": _str_list}),
    },
    "driver_branches.yaml": {
        "branches": (ROWS, {"branch": _str, "end_of_life": _str,
                            "long_term": lambda v: None if isinstance(v, bool) else "expected true or false"}),
        "oldest_installable": (SINGLE, {"branch": _str}),
    },
    "stacks.yaml": {
        "stacks": (ROWS, {"name": _str, "tensorflow": _release, "tensorflow_package": _str,
                          "python": _release, "cudatoolkit": _release, "cudnn": _release,
                          "min_driver": _release, "conda_env": _str, "packages": _str_list,
                          "pip": _pip_rows}),
    },
}


def _row_label(row) -> str:
    """A short human name for a row, to point at it in an error ("tensorflow 2.1.0")."""
    if isinstance(row, dict):
        for key in ("name", "tensorflow", "release", "cuda_min", "family", "cc", "requirement"):
            if isinstance(row.get(key), str):
                return f" ({key} {row[key]})"
    return ""


def validate(file_name: str, document) -> dict:
    """Check one parsed data file against SCHEMA; return it, or raise StackError naming file and row."""
    where = f"stacks/data/{file_name}"
    sections = SCHEMA[file_name]
    if not isinstance(document, dict):
        raise StackError(f"{where}: expected a mapping of sections at the top")
    # `sources` holds the YAML anchors that rows refer to; it is not a section of rows.
    unknown = set(document) - set(sections) - {"sources"}
    if unknown:
        raise StackError(f"{where}: unknown section(s) {', '.join(sorted(unknown))}")
    for section, (kind, required) in sections.items():
        if section not in document:
            raise StackError(f"{where}: missing section {section!r}")
        rows = document[section]
        if kind == SINGLE:
            rows = [rows]
        elif not isinstance(rows, list) or not rows:
            raise StackError(f"{where}: {section} must be a non-empty list of rows")
        for index, row in enumerate(rows):
            at = section if kind == SINGLE else f"{section}[{index}]{_row_label(row)}"
            if not isinstance(row, dict):
                raise StackError(f"{where}: {at}: expected a mapping")
            for key, check in {"source": _str, **required}.items():
                if key not in row:
                    raise StackError(f"{where}: {at}: missing {key!r}")
                problem = check(row[key])
                if problem:
                    raise StackError(f"{where}: {at}: {key}: {problem}")
    return document


def load_file(path: Path) -> dict:
    """Parse and validate one data file (any path, so tests can feed broken copies)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise StackError(f"stacks/data/{path.name}: cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise StackError(f"stacks/data/{path.name}: not valid YAML: {error}") from None
    return validate(path.name, document)


@functools.lru_cache(maxsize=None)
def load(file_name: str) -> dict:
    """The validated content of stacks/data/<file_name>, parsed once per process."""
    if file_name not in SCHEMA:
        raise StackError(f"stacks/data/{file_name}: not a known data file")
    return load_file(DATA_DIR / file_name)


def load_all() -> dict:
    """Every data file, validated: {file name: content}."""
    return {name: load(name) for name in SCHEMA}
