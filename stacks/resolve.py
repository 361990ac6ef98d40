"""Resolve a stack spec ("tf21" or "tensorflow==2.3.0") + OS + GPU into a validated desired state.

Bad input stops here, before any host is touched: every StackError is one line naming the
problem and what to change. The returned dict is JSON-friendly (see INTERFACES.md section 1).
"""

from __future__ import annotations

import re

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from . import knowledge as kb
from .errors import StackError
from .versions import major_minor, parse_cc, parse_release

OSES = ("linux", "windows")
CHANNELS = ("defaults", "conda-forge")
OVERRIDE_KEYS = ("python", "cudatoolkit", "cudnn", "min_driver", "pip")
OVERRIDE_EXAMPLES = {"python": "3.7", "cudatoolkit": "10.1", "cudnn": "7.6.5", "min_driver": "418.96"}
TENSORFLOW_NAMES = ("tensorflow", "tensorflow-gpu")
CONDA_SUBDIR = {"linux": "linux-64", "windows": "win-64"}


def resolve(spec, os: str = "linux", gpu_cc=None, channel: str = "defaults", overrides=None) -> dict:
    """Resolve a stack spec into the concrete desired state of a workstation's env.

    + spec: a stack name from stacks/data/stacks.yaml ("tf21") or "tensorflow==X.Y.Z"
    + os: "linux" or "windows" (picks NVIDIA's driver column, wheels, conda subdir, DLL names)
    + gpu_cc: the GPU's compute capability "X.Y"; a GPU the stack cannot run is a StackError
    + channel: "defaults" or "conda-forge" (conda versions and build strings differ)
    + overrides: deploy data overriding python / cudatoolkit / cudnn / min_driver, and "pip":
      extra requirement strings; inconsistent values are rejected, never silently fixed

    **Example:**

    .. code:: python

        stack = resolve("tf21", os="linux", gpu_cc="7.5")
        stack["min_driver"], stack["min_driver_os_table"]  # "418.96", "418.39"
    """
    if os not in OSES:
        raise StackError(f"unknown os {os!r}: use linux or windows")
    if channel not in CHANNELS:
        raise StackError(f"unknown conda channel {channel!r}: use defaults or conda-forge")
    overrides = _check_overrides(overrides)
    declared = _parse_spec(spec)
    label = declared["label"]

    build = _build(declared, os)
    tensorflow = declared["tensorflow"]
    package = _package(declared, tensorflow)
    python, python_source = _python(declared, overrides, build, package)
    cuda = build["cuda"]
    cudatoolkit = _cudatoolkit(declared, overrides, build, label)
    cudnn = _cudnn(declared, overrides, build, label, package)
    min_driver, os_table, driver_sources = _drivers(declared, overrides, cuda, os, label)
    arch = kb.architectures(tensorflow, cuda)
    if arch is None:
        raise StackError(f"{label}: no architecture data for CUDA {cuda} in stacks/data/cuda_arch.yaml; add its row")
    via = kb.cuda_libraries_via(cuda)
    libraries, libraries_source = kb.libraries(cuda, cudnn, os)
    if libraries is None:
        raise StackError(f"{label}: no library names for CUDA {cuda} in stacks/data/libraries.yaml; add its row")
    conda, conda_sources = _conda(python, cudatoolkit, cudnn, channel, os, via)
    pip, constraints, pins = _pip(declared, overrides, tensorflow, package, via, label)

    stack = {
        "name": declared["name"],
        "spec": declared["spec"],
        "os": os,
        "tensorflow": tensorflow,
        "tensorflow_package": package,
        "python": python,
        "cuda": cuda,
        "cudatoolkit": cudatoolkit,
        "cudnn": cudnn,
        "min_driver": min_driver,
        "min_driver_os_table": os_table,
        "compute_capabilities": arch["sass"],
        "compute_capabilities_ptx": arch["ptx"],
        "compute_capabilities_basis": arch["basis"],
        "min_compute_capability": arch["min"],
        "max_compute_capability": arch["max"],
        "conda_env": declared["conda_env"],
        "channel": channel,
        "cuda_libraries_from": via["via"],
        "conda": conda,
        "pip": pip,
        "pip_constraints": constraints,
        "pins": pins,
        "libraries": libraries,
        "notes": declared["notes"],
        "sources": {
            "stack": declared["source"],
            "tensorflow_build": build["source"],
            "python": python_source,
            "package": kb.package_rule(tensorflow)["source"],
            **driver_sources,
            "compute_capabilities": arch["source"],
            "cuda_libraries_from": via["source"],
            "conda": conda_sources,
            "libraries": libraries_source,
        },
    }
    if gpu_cc is not None:
        ok, message, _suggestion = gpu_support(stack, gpu_cc)
        if not ok:
            raise StackError(message)
    return stack


def gpu_support(stack: dict, cc) -> tuple[bool, str | None, str | None]:
    """Whether a resolved stack runs on a GPU of compute capability `cc`, without raising.

    + stack: a dict returned by resolve()
    + cc: "X.Y" as reported by the GPU (None: unknown, not a reason to fail)

    Returns (ok, message, suggestion): message is one line naming the capability and the oldest
    TensorFlow release that runs it; suggestion is that release as a spec ("tensorflow==2.5.0"),
    or None when no pip release runs it. Operations use this to fail one host, never the run.

    **Example:**

    .. code:: python

        gpu_support(resolve("tf21"), "8.6")
        # (False, "tf21: GPU compute capability 8.6 is not supported ... use tensorflow==2.5.0 ...", "tensorflow==2.5.0")
    """
    if cc is None:
        return True, None, None
    try:
        parse_cc(cc, "GPU compute capability")
    except StackError as error:
        return False, str(error), None
    if kb.runs_on(cc, stack["compute_capabilities"], stack["compute_capabilities_ptx"],
                  stack["min_compute_capability"], stack["max_compute_capability"]):
        return True, None, None
    label = stack["spec"]
    runs = (f"{label} ({stack['tensorflow_package']} {stack['tensorflow']}, CUDA {stack['cuda']}) "
            f"runs compute capability {stack['min_compute_capability']} to {stack['max_compute_capability']}")
    if parse_cc(cc) < parse_cc(stack["min_compute_capability"]):
        # Older than the stack: only an OLDER TensorFlow (older CUDA) can still run it.
        older = [row for row in kb.builds(stack["os"]) if kb.build_runs_on(row, cc)
                 and Version(row["tensorflow"]) < Version(stack["tensorflow"])]
        if not older:
            return False, (f"{label}: GPU compute capability {cc} is too old; {runs}; no TensorFlow pip "
                           f"release runs it (they need {kb.tensorflow_min_cc()} or higher): use a newer GPU or build "
                           f"TensorFlow from source"), None
        suggestion = f"tensorflow=={older[-1]['tensorflow']}"
        return False, (f"{label}: GPU compute capability {cc} is too old; {runs}; use {suggestion} "
                       f"(CUDA {older[-1]['cuda']}) or earlier"), suggestion
    build = kb.oldest_build(stack["os"], lambda row: kb.build_runs_on(row, cc))
    where = ""
    if build is None and stack["os"] == "windows":
        build = kb.oldest_build("linux", lambda row: kb.build_runs_on(row, cc))
        where = f" on Linux/WSL2 (native Windows GPU builds end at {kb.windows_gpu_last()['last']})"
    if build is None:
        return False, (f"{label}: GPU compute capability {cc} is not supported; {runs}; no TensorFlow "
                       f"release in the tested-build table runs it"), None
    suggestion = f"tensorflow=={build['tensorflow']}"
    return False, (f"{label}: GPU compute capability {cc} is not supported; {runs}; use {suggestion} "
                   f"(CUDA {build['cuda']}) or later{where}"), suggestion


# -- the steps of resolve -------------------------------------------------------------------------

def _check_overrides(overrides) -> dict:
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise StackError(f"stack overrides must be a mapping of {', '.join(OVERRIDE_KEYS)}, not {type(overrides).__name__}")
    unknown = sorted(set(overrides) - set(OVERRIDE_KEYS))
    if unknown:
        raise StackError(f"unknown stack override(s) {', '.join(map(str, unknown))}: use {', '.join(OVERRIDE_KEYS)}")
    checked = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "pip":
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                raise StackError("override pip must be a list of requirement strings such as ['tqdm', 'numpy<1.20']")
            for requirement in value:
                try:
                    Requirement(requirement)
                except (InvalidRequirement, TypeError):
                    raise StackError(f"override pip: malformed requirement {requirement!r}; write it as pip does, e.g. 'tqdm>=4'") from None
            checked[key] = list(value)
        else:
            # A float from YAML/Python (3.10 -> 3.1) would silently be another version.
            if not isinstance(value, str):
                raise StackError(f"override {key} must be a quoted string such as \"{OVERRIDE_EXAMPLES[key]}\", not {value!r}")
            parse_release(value, f"override {key}")
            checked[key] = value.strip()
    return checked


_SPEC = re.compile(r"^\s*(?P<name>[A-Za-z0-9_.-]+)\s*==\s*(?P<version>\d+\.\d+\.\d+)\s*$")


def _parse_spec(spec) -> dict:
    """A stack name or "tensorflow==X.Y.Z" -> the declared fields (missing ones derived later)."""
    if not isinstance(spec, str) or not spec.strip():
        raise StackError(f"malformed stack spec {spec!r}: use a stack name ({', '.join(kb.stack_names())}) or tensorflow==X.Y.Z")
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
            raise StackError(f"unknown stack {spec!r}: known stacks are {', '.join(kb.stack_names())}; or give tensorflow==X.Y.Z")
        raise StackError(f"malformed stack spec {spec!r}: use a stack name ({', '.join(kb.stack_names())}) or tensorflow==X.Y.Z")
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


def _build(declared: dict, os: str) -> dict:
    label, tensorflow = declared["label"], declared["tensorflow"]
    last_windows = kb.windows_gpu_last()["last"]
    if os == "windows" and Version(tensorflow) > Version(last_windows):
        raise StackError(f"{label}: TensorFlow {tensorflow} has no native Windows GPU build (CUDA builds "
                         f"for Windows end at {last_windows}); use tensorflow=={last_windows} or --os linux (WSL2)")
    build = kb.build_for(tensorflow, os)
    if build is None:
        known = kb.known_releases(os)
        series = [v for v in known if Version(v).release[:2] == Version(tensorflow).release[:2]]
        if series:
            raise StackError(f"{label}: TensorFlow {tensorflow} is not in the tested-build table for {os}; "
                             f"use tensorflow=={series[-1]} (same {Version(tensorflow).major}."
                             f"{Version(tensorflow).minor} series) or add its row to stacks/data/tf_builds.yaml")
        raise StackError(f"{label}: TensorFlow {tensorflow} is not in the tested-build table for {os} "
                         f"(known: {known[0]} to {known[-1]}, e.g. {', '.join(known[-3:])}); "
                         f"use one of those or add its row to stacks/data/tf_builds.yaml")
    return build


def _package(declared: dict, tensorflow: str) -> str:
    rule = kb.package_rule(tensorflow)
    wanted = declared["package"]
    if wanted in rule["allowed"]:
        return wanted
    if declared["name"] == declared["spec"] or wanted == "tensorflow-gpu":
        # A stack that declares it, or an explicit tensorflow-gpu==, cannot be quietly swapped.
        raise StackError(f"{declared['label']}: {wanted} {tensorflow} is not a GPU build on PyPI "
                         f"({rule['reason']}); use {rule['default']}=={tensorflow}")
    declared["notes"].append(f"tensorflow {tensorflow}: the GPU build is {rule['default']} ({rule['reason']})")
    return rule["default"]


def _wheel_range(pythons: list[str]) -> str:
    tags = [f"cp{p.replace('.', '')}" for p in pythons if p.startswith("3.")]
    return f"{tags[0]}-{tags[-1]}" if len(tags) > 1 else tags[0]


def _python(declared: dict, overrides: dict, build: dict, package: str) -> tuple[str, str]:
    label, tensorflow = declared["label"], declared["tensorflow"]
    pythons, source = kb.wheel_pythons(build)
    py3 = sorted((p for p in pythons if Version(p).major == 3), key=Version)
    wanted = overrides.get("python") or declared["python"]
    if wanted is None:
        # The newest Python that has a wheel: the longest-supported interpreter for this release.
        return py3[-1], source
    wanted = major_minor(wanted)
    if wanted in py3:
        return wanted, source
    if Version(wanted).major < 3:
        raise StackError(f"{label}: python {wanted} is not supported here (the env's verification runs "
                         f"Python 3); set python to {py3[-1]}")
    other = kb.oldest_build(build["os"], lambda row: wanted in kb.wheel_pythons(row)[0]
                            and Version(row["tensorflow"]) > Version(tensorflow))
    other_text = f" or use tensorflow=={other['tensorflow']}" if other else ""
    raise StackError(f"{label}: python {wanted} has no {package} {tensorflow} wheel "
                     f"({_wheel_range(py3)} only); set python to {py3[-1]}{other_text}")


def _cudatoolkit(declared: dict, overrides: dict, build: dict, label: str) -> str:
    cuda = build["cuda"]
    wanted = overrides.get("cudatoolkit") or declared["cudatoolkit"] or cuda
    if major_minor(wanted) != cuda:
        # TensorFlow dlopens the exact runtime it was built with (libcudart.so.10.1 for 10.1).
        other = kb.oldest_build(build["os"], lambda row: row["cuda"] == major_minor(wanted))
        other_text = f" or use tensorflow=={other['tensorflow']}" if other else ""
        raise StackError(f"{label}: cudatoolkit {wanted} does not match TensorFlow {build['tensorflow']}, "
                         f"which is built against CUDA {cuda}; set cudatoolkit to {cuda}{other_text}")
    return wanted


def _cudnn(declared: dict, overrides: dict, build: dict, label: str, package: str) -> str:
    built = build["cudnn"]
    wanted = overrides.get("cudnn") or declared["cudnn"] or built
    have, need = parse_release(wanted, "cudnn"), Version(built)
    if have.major != need.major or have < need:
        # Same major (libcudnn.so.<major> is what TF loads) and at least the minor it was built with.
        other = kb.oldest_build(build["os"], lambda row: Version(row["cudnn"]).major == have.major
                                and Version(row["cudnn"]) <= have)
        other_text = (f" or use tensorflow=={other['tensorflow']} (cuDNN {other['cudnn']}, CUDA {other['cuda']})"
                      if other and have.major != need.major else "")
        raise StackError(f"{label}: cudnn {wanted} does not fit {package} {build['tensorflow']}, which loads "
                         f"libcudnn.so.{need.major} and was built with cuDNN {built} (CUDA {build['cuda']}); "
                         f"set cudnn to {declared['cudnn'] or built}{other_text}")
    return wanted


def _drivers(declared: dict, overrides: dict, cuda: str, os: str, label: str):
    """(declared minimum, Table 3 figure for this OS, sources)."""
    table, row = kb.table3_minimum(cuda, os)
    if table is None:
        raise StackError(f"{label}: NVIDIA publishes no {os} driver minimum for CUDA {cuda} "
                         f"(Table 3 {'prints N/A' if row else 'has no row'}); use --os linux")
    sources = {"min_driver_os_table": f"{row['source']} (row {row['release']}, {os})"}
    floor, floor_what = table, f"NVIDIA Table 3 minimum for CUDA {cuda} on {os}"
    family = kb.compat_minimum(cuda)
    if family is not None and family[os] is not None:
        # CUDA >= 11: minor-version compatibility lets any driver of the family's branch run it.
        floor = family[os]
        floor_what = f"CUDA {family['family']} minor-version-compatibility minimum on {os}"
        sources["min_driver"] = f"{family['source']} (family {family['family']}, {os})"
    else:
        sources["min_driver"] = sources["min_driver_os_table"]
    wanted = overrides.get("min_driver") or declared["min_driver"]
    if wanted is None:
        return floor, table, sources
    if parse_release(wanted, "min_driver") < parse_release(floor):
        raise StackError(f"{label}: min_driver {wanted} is below the {floor_what} ({floor}); "
                         f"set min_driver to {floor} or higher")
    sources["min_driver"] = f"declared by {declared['name']}" + (" (override)" if overrides.get("min_driver") else "")
    return wanted, table, sources


def _conda(python: str, cudatoolkit: str, cudnn: str, channel: str, os: str, via: dict):
    """(conda entries, python first; their sources as one line)."""
    entries, sources = [_conda_entry("python", python, None)], []
    if via["via"] != "conda":
        return entries, f"CUDA libraries from pip: {via['source']}"
    for name, version in (("cudatoolkit", cudatoolkit), ("cudnn", cudnn)):
        known = kb.conda_package(channel, CONDA_SUBDIR[os], name, version)
        if known is not None:
            entries.append(_conda_entry(name, known["version"], known.get("build")))
            sources.append(f"{name}: {known['source']}")
        else:
            # No verified file for this channel/subdir: let conda pick within the version prefix.
            entries.append(_conda_entry(name, version, None))
            sources.append(f"{name}: no verified {channel} {CONDA_SUBDIR[os]} file in stacks/data/conda.yaml; "
                           f"version prefix from the tested-build table")
    return entries, "; ".join(sources)


def _conda_entry(name: str, version: str, build) -> dict:
    spec = f"{name}={version}" + (f"={build}" if build else "")
    return {"name": name, "version": version, "build": build, "spec": spec}


def _pip(declared: dict, overrides: dict, tensorflow: str, package: str, via: dict, label: str):
    """(pip requirements, pip constraints, pins with reasons)."""
    extra = f"[{via['pip_extra']}]" if via["via"] == "pip" else ""
    pip = [f"{package}{extra}=={tensorflow}"]
    pins = [{"requirement": row["requirement"], "reason": row["reason"], "source": row["source"]}
            for row in kb.pins_for(tensorflow)]
    pins += [{"requirement": row["requirement"], "reason": row["reason"], "source": row["source"]}
             for row in declared["pip_rows"]]
    pinned = {kb.requirement_name(pin["requirement"]): pin["requirement"] for pin in pins}
    listed = set()
    for name in declared["packages"]:
        key = kb.requirement_name(name)
        listed.add(key)
        pip.append(pinned.get(key, name))
    for row in declared["pip_rows"]:
        key = kb.requirement_name(row["requirement"])
        if key not in listed:
            listed.add(key)
            pip.append(row["requirement"])
    for requirement in overrides.get("pip", []):
        _check_extra(requirement, pinned, label)
        key = kb.requirement_name(requirement)
        if key not in listed:
            listed.add(key)
            pip.append(requirement)
    constraints = [req for key, req in pinned.items() if key not in listed]
    return pip, constraints, pins


def _check_extra(requirement: str, pinned: dict, label: str) -> None:
    """Reject extra pip requirements that fight the stack (a 2nd TensorFlow, or against a pin)."""
    parsed = Requirement(requirement)
    key = kb.requirement_name(requirement)
    if key in TENSORFLOW_NAMES or key.startswith("tf-nightly"):
        raise StackError(f"{label}: extra pip requirement {requirement!r} would install a second TensorFlow "
                         f"(install exactly one of tensorflow / tensorflow-gpu); remove it and choose the "
                         f"release with the stack spec")
    if key not in pinned:
        return
    pin = Requirement(pinned[key])
    exact = [spec.version for spec in parsed.specifier if spec.operator == "=="]
    pin_exact = [spec.version for spec in pin.specifier if spec.operator == "=="]
    clash = any(not pin.specifier.contains(version, prereleases=True) for version in exact) or \
        any(not parsed.specifier.contains(version, prereleases=True) for version in pin_exact)
    if clash:
        raise StackError(f"{label}: extra pip requirement {requirement!r} conflicts with the pin "
                         f"{pinned[key]!r}; drop it or use a version within {pinned[key]}")
