"""The pip part of a stack: TensorFlow itself, the stack's packages, and the pins with their reasons.

A pin on a package the stack lists by name becomes that requirement (h5py -> h5py<3); the other
pins are constraints (pip -c), binding a package only if it gets installed. The committed lock
adds exact `name==version` constraints on top (stacks/locks.py, applied by resolve).
"""

from __future__ import annotations

from . import knowledge as kb


def pip_part(declared: dict, tensorflow: str, package: str, via: dict) -> tuple[list, list, list]:
    """(pip requirements, pip constraints, pins with reasons) of a parsed spec.

    + declared: the parsed spec (stacks.spec.parse_spec)
    + tensorflow, package: the release and its distribution (tensorflow / tensorflow-gpu)
    + via: the release's `cuda_from` row: the `and-cuda` extra, or NVIDIA wheels listed by name

    **Example:**

    .. code:: python

        pip, constraints, pins = pip_part(parse_spec("tf21"), "2.1.0", "tensorflow-gpu", via)
        pip[0], constraints  # "tensorflow-gpu==2.1.0", ["protobuf<3.21", "gast==0.2.2"]
    """
    extra = f"[{via['pip_extra']}]" if via.get("pip_extra") else ""
    pip = [f"{package}{extra}=={tensorflow}", *via.get("pip", [])]
    pins = [{"requirement": row["requirement"], "reason": row["reason"], "source": row["source"]}
            for row in kb.pins_for(tensorflow)]
    pins += [{"requirement": row["requirement"], "reason": row["reason"], "source": row["source"]}
             for row in declared["pip_rows"]]
    pinned = {kb.requirement_name(pin["requirement"]): pin["requirement"] for pin in pins}
    listed = {kb.requirement_name(requirement) for requirement in pip}
    for name in declared["packages"]:
        key = kb.requirement_name(name)
        listed.add(key)
        pip.append(pinned.get(key, name))
    for row in declared["pip_rows"]:
        key = kb.requirement_name(row["requirement"])
        if key not in listed:
            listed.add(key)
            pip.append(row["requirement"])
    constraints = [req for key, req in pinned.items() if key not in listed]
    return pip, constraints, pins
