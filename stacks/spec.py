"""Parse a stack spec: a stack name from stacks/data/stacks.yaml ("tf21") or "tensorflow==X.Y.Z".

Releases are PEP 440 versions as PyPI publishes them: X.Y.Z and post releases X.Y.Z.postN
(tensorflow 2.15.0.post1 exists because 2.15.0's and-cuda extra cannot be installed).
"""

from __future__ import annotations

import re

from . import knowledge as kb
from .errors import StackError

TENSORFLOW_NAMES = ("tensorflow", "tensorflow-gpu")
_SPEC = re.compile(r"^\s*(?P<name>[A-Za-z0-9_.-]+)\s*==\s*(?P<version>\d+\.\d+\.\d+(?:\.post\d+)?)\s*$")
SPEC_HELP = "tensorflow==X.Y.Z (or X.Y.Z.postN)"


def parse_spec(spec) -> dict:
    """A stack name or "tensorflow==X.Y.Z[.postN]" -> the declared fields (missing ones are None).

    + spec: "tf21", "tensorflow==2.3.0", "tensorflow-gpu==2.1.0", "tensorflow==2.15.0.post1"

    **Example:**

    .. code:: python

        parse_spec("tensorflow==2.4.4")["tensorflow"]  # "2.4.4"
    """
    names = ", ".join(kb.stack_names())
    if not isinstance(spec, str) or not spec.strip():
        raise StackError(f"malformed stack spec {spec!r}: use a stack name ({names}) or {SPEC_HELP}")
    spec = spec.strip()
    declaration = kb.stack_declaration(spec)
    if declaration is not None:
        return {
            "label": spec, "name": spec, "spec": spec,
            "tensorflow": declaration["tensorflow"],
            "package": declaration["tensorflow_package"],
            "python": declaration["python"],
            "cudatoolkit": declaration["cudatoolkit"],
            "cudnn": declaration["cudnn"],
            "min_driver": declaration["min_driver"],
            "conda_env": declaration["conda_env"],
            "packages": list(declaration["packages"]),
            "pip_rows": list(declaration["pip"]),
            "source": declaration["source"],
            "notes": [declaration["min_driver_note"]] if declaration.get("min_driver_note") else [],
        }
    match = _SPEC.match(spec)
    if match is None or match["name"].lower().replace("_", "-") not in TENSORFLOW_NAMES:
        if "==" not in spec and re.match(r"^[A-Za-z0-9_-]+$", spec):
            raise StackError(f"unknown stack {spec!r}: known stacks are {names}; or give {SPEC_HELP}")
        raise StackError(f"malformed stack spec {spec!r}: use a stack name ({names}) or {SPEC_HELP}")
    version = match["version"]
    return {
        "label": spec, "name": f"tensorflow-{version}", "spec": spec,
        "tensorflow": version,
        "package": match["name"].lower().replace("_", "-"),
        "python": None, "cudatoolkit": None, "cudnn": None, "min_driver": None,
        "conda_env": f"tf-{version}",
        "packages": [], "pip_rows": [],
        "source": f"derived from the spec {spec} and the tested-build, driver and architecture tables",
        "notes": [],
    }
