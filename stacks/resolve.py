"""Resolve a stack spec ("tf21" or "tensorflow==2.3.0") + OS + GPU into a validated desired state.

Bad input stops here, before any host is touched: every StackError is one line naming the
problem and what to change. The returned dict is JSON-friendly; its keys are listed in
docs/knowledge/stack-rows.md. The steps that pick the CUDA libraries and the pip part live in
stacks/cuda_part.py and stacks/pip_part.py.
"""

from __future__ import annotations

from packaging.version import Version

from . import knowledge as kb
from . import locks
from .cuda_part import CHANNELS, CONDA_SUBDIR, conda_part
from .errors import StackError
from .gpu_support import gpu_support
from .pip_part import pip_part
from .spec import parse_spec
from .versions import major_minor, parse_release

OSES = ("linux", "windows")

__all__ = ["CHANNELS", "CONDA_SUBDIR", "OSES", "gpu_support", "resolve"]


def resolve(spec, os: str = "linux", gpu_cc=None, channel: str = "defaults", locked: bool = True) -> dict:
    """Resolve a stack spec into the concrete desired state of a workstation's env.

    + spec: a stack name from stacks/data/stacks.yaml ("tf21") or "tensorflow==X.Y.Z[.postN]"
    + os: "linux" or "windows" (picks NVIDIA's driver column, wheels, conda subdir, DLL names)
    + gpu_cc: the GPU's compute capability "X.Y"; a GPU the stack cannot run is a StackError
    + channel: "defaults" or "conda-forge" (conda versions and build strings differ)
    + locked: add the committed lock's pins to pip_constraints (False: the declared pip part
      only, which is what a lock is made from)

    **Example:**

    .. code:: python

        stack = resolve("tf21", os="linux", gpu_cc="7.5")
        stack["min_driver"], stack["lock"]["python"]  # "418.96", "3.7.16"
    """
    if os not in OSES:
        raise StackError(f"unknown os {os!r}: use linux or windows")
    if channel not in CHANNELS:
        raise StackError(f"unknown conda channel {channel!r}: use defaults or conda-forge")
    declared = parse_spec(spec)
    label = declared["label"]

    build = _build(declared, os)
    tensorflow = declared["tensorflow"]
    package = _package(declared, tensorflow)
    python, python_source = _python(declared, build, package)
    cuda = build["cuda"]
    cudatoolkit = _cudatoolkit(declared, build, label)
    cudnn = _cudnn(declared, build, label, package)
    min_driver, os_table, driver_sources = _drivers(declared, cuda, os, label)
    arch = kb.architectures(tensorflow, cuda)
    if arch is None:
        raise StackError(f"{label}: no architecture data for CUDA {cuda} in stacks/data/cuda_arch.yaml; add its row")
    via = kb.cuda_from(tensorflow)
    libraries, libraries_source = kb.libraries(cuda, cudnn, os)
    if libraries is None:
        raise StackError(f"{label}: no library names for CUDA {cuda} in stacks/data/libraries.yaml; add its row")
    cuda_part = conda_part(label, build, python, cudatoolkit, cudnn, channel, os, via)
    pip, constraints, pins = pip_part(declared, tensorflow, package, via)

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
        "cuda_from": via["via"],
        "cudatoolkit_package": cuda_part["cudatoolkit_package"],
        "cudnn_package": cuda_part["cudnn_package"],
        "min_driver": min_driver,
        "min_driver_os_table": os_table,
        "compute_capabilities": arch["sass"],
        "compute_capabilities_ptx": arch["ptx"],
        "compute_capabilities_basis": arch["basis"],
        "min_compute_capability": arch["min"],
        "max_compute_capability": arch["max"],
        "conda_env": declared["conda_env"],
        "channel": channel,
        # The name the deploy and the report read (kept): where the env's CUDA libraries come from.
        "cuda_libraries_from": via["via"],
        "conda": cuda_part["conda"],
        "pip": pip,
        "pip_constraints": list(constraints),
        "pip_constraints_declared": list(constraints),
        "pins": pins,
        "lock": None,
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
            "conda": cuda_part["source"],
            "libraries": libraries_source,
        },
    }
    if locked:
        _apply_lock(stack)
    if gpu_cc is not None:
        ok, message, _suggestion = gpu_support(stack, gpu_cc)
        if not ok:
            raise StackError(message)
    return stack


def _apply_lock(stack: dict) -> None:
    """Pin the committed lock's versions (pip_constraints) and say which lock it is (stack["lock"])."""
    lock = locks.committed_lock(stack)
    if lock is None:
        stack["sources"]["lock"] = (f"no committed lock: python -m stacks lock {stack['spec']} --update makes one"
                                    if stack["os"] == "linux" else "locks are resolved for Linux x86-64 wheels")
        return
    stale = locks.stale_reason(stack, lock)
    if stale:
        raise StackError(f"{stack['spec']}: stacks/locks/{locks.lock_path(stack).name} is stale: {stale}")
    stack["pip_constraints"] = stack["pip_constraints_declared"] + locks.lock_constraints(stack, lock)
    stack["lock"] = {"file": f"stacks/locks/{locks.lock_path(stack).name}", "python": lock["python"],
                     "pip": lock["pip"], "date": lock["date"], "packages": len(lock["packages"])}
    stack["sources"]["lock"] = (f"pip {lock['pip']} resolver on CPython {lock['python']} against "
                                f"{lock['index']} ({lock['date']}, {lock['platform']})")


# -- the steps of resolve -------------------------------------------------------------------------

def _build(declared: dict, os: str) -> dict:
    label, tensorflow = declared["label"], declared["tensorflow"]
    last_windows = kb.windows_gpu_last()["last"]
    if os == "windows" and Version(tensorflow) > Version(last_windows):
        raise StackError(f"{label}: TensorFlow {tensorflow} has no native Windows GPU build (CUDA builds "
                         f"for Windows end at {last_windows}); use tensorflow=={last_windows} or --os linux (WSL2)")
    refused = kb.refused_release(tensorflow, os)
    if refused is not None:
        raise StackError(f"{label}: {refused['reason']}; use tensorflow=={refused['use']}")
    build = kb.build_for(tensorflow, os)
    if build is None:
        known = kb.known_releases(os)
        series = [v for v in known if Version(v).release[:2] == Version(tensorflow).release[:2]]
        if series:
            raise StackError(f"{label}: TensorFlow {tensorflow} is not a known release for {os}; "
                             f"use tensorflow=={series[-1]} (same {Version(tensorflow).major}."
                             f"{Version(tensorflow).minor} series) or add it to stacks/data/tf_builds.yaml")
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


def _python(declared: dict, build: dict, package: str) -> tuple[str, str]:
    label, tensorflow = declared["label"], declared["tensorflow"]
    pythons, source = kb.wheel_pythons(build)
    py3 = sorted((p for p in pythons if Version(p).major == 3), key=Version)
    wanted = declared["python"]
    if wanted is None:
        # The newest Python that has a wheel: the longest-supported interpreter for this release.
        return py3[-1], source
    wanted = major_minor(wanted)
    if wanted in py3:
        return wanted, source
    other = kb.oldest_build(build["os"], lambda row: wanted in kb.wheel_pythons(row)[0]
                            and Version(row["tensorflow"]) > Version(tensorflow))
    other_text = f" or use tensorflow=={kb.installable_release(other)}" if other else ""
    raise StackError(f"{label}: python {wanted} has no {package} {tensorflow} wheel "
                     f"({_wheel_range(py3)} only); set python to {py3[-1]}{other_text}")


def _cudatoolkit(declared: dict, build: dict, label: str) -> str:
    cuda = build["cuda"]
    wanted = declared["cudatoolkit"] or cuda
    if major_minor(wanted) != cuda:
        # TensorFlow dlopens the exact runtime it was built with (libcudart.so.10.1 for 10.1).
        other = kb.oldest_build(build["os"], lambda row: row["cuda"] == major_minor(wanted))
        other_text = f" or use tensorflow=={kb.installable_release(other)}" if other else ""
        raise StackError(f"{label}: cudatoolkit {wanted} does not match TensorFlow {build['tensorflow']}, "
                         f"which is built against CUDA {cuda}; set cudatoolkit to {cuda}{other_text}")
    return wanted


def _cudnn(declared: dict, build: dict, label: str, package: str) -> str:
    built = build["cudnn"]
    wanted = declared["cudnn"] or built
    have, need = parse_release(wanted, "cudnn"), Version(built)
    if have.major != need.major or have < need:
        # Same major (libcudnn.so.<major> is what TF loads) and at least the minor it was built with.
        other = kb.oldest_build(build["os"], lambda row: Version(row["cudnn"]).major == have.major
                                and Version(row["cudnn"]) <= have)
        other_text = (f" or use tensorflow=={kb.installable_release(other)} (cuDNN {other['cudnn']}, "
                      f"CUDA {other['cuda']})" if other and have.major != need.major else "")
        raise StackError(f"{label}: cudnn {wanted} does not fit {package} {build['tensorflow']}, which loads "
                         f"libcudnn.so.{need.major} and was built with cuDNN {built} (CUDA {build['cuda']}); "
                         f"set cudnn to {built}{other_text}")
    return wanted


def _drivers(declared: dict, cuda: str, os: str, label: str):
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
    wanted = declared["min_driver"]
    if wanted is None:
        return floor, table, sources
    if parse_release(wanted, "min_driver") < parse_release(floor):
        raise StackError(f"{label}: min_driver {wanted} is below the {floor_what} ({floor}); "
                         f"set min_driver to {floor} or higher")
    sources["min_driver"] = f"declared by {declared['name']}"
    return wanted, table, sources
