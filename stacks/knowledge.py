"""Questions answered from the data tables: builds, drivers, architectures, libraries, pins, conda.

Plain lookups with `packaging` ordering; the resolver (resolve.py) composes them and owns the
error messages. Nothing here raises for a missing answer: it returns None and lets the caller say
what to change.
"""

from __future__ import annotations

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from .data import load
from .versions import parse_cc, parse_release


# -- TensorFlow builds --------------------------------------------------------------------------

def builds(os: str) -> list[dict]:
    """Tested-build rows for an OS, oldest TensorFlow first."""
    rows = [row for row in load("tf_builds.yaml")["builds"] if row["os"] == os]
    return sorted(rows, key=lambda row: Version(row["tensorflow"]))


def build_for(tensorflow: str, os: str) -> dict | None:
    """The tested-build row of a release (patch and post releases map to their series' row)."""
    wanted = Version(tensorflow)
    for patch in load("tf_builds.yaml")["patch_releases"]:
        if patch["os"] == os and Version(patch["tensorflow"]) == wanted:
            wanted = Version(patch["build"])
    return next((row for row in builds(os) if Version(row["tensorflow"]) == wanted), None)


def refused_release(tensorflow: str, os: str) -> dict | None:
    """The `refused` row of a release that exists but cannot be installed as a GPU stack, else None."""
    wanted = Version(tensorflow)
    return next((row for row in load("tf_builds.yaml")["refused"]
                 if row["os"] == os and Version(row["tensorflow"]) == wanted), None)


def installable_release(build: dict) -> str | None:
    """The release to install for a tested-build row: itself, its fixed re-upload of the same build
    (2.15.0 -> 2.15.0.post1), or None when no release of the build can be installed (2.14)."""
    refused = refused_release(build["tensorflow"], build["os"])
    if refused is None:
        return build["tensorflow"]
    fixed = build_for(refused["use"], build["os"])
    return refused["use"] if fixed is not None and fixed["tensorflow"] == build["tensorflow"] else None


def installable_builds(os: str) -> list[dict]:
    """Tested-build rows that have an installable release, oldest first (for suggestions)."""
    return [row for row in builds(os) if installable_release(row) is not None]


def nearest_build(os: str, tensorflow: str, accepts) -> dict | None:
    """The tested build closest in version to `tensorflow` (newer first on a tie) that `accepts`."""
    target = Version(tensorflow).release[:2]

    def distance(row):
        release = Version(row["tensorflow"]).release[:2]
        return (abs((release[0] - target[0]) * 100 + release[1] - target[1]), -release[0], -release[1])

    candidates = [row for row in installable_builds(os) if row["tensorflow"] != tensorflow and accepts(row)]
    return min(candidates, key=distance, default=None)


def known_releases(os: str | None = None) -> list[str]:
    """Every TensorFlow release the data knows (tested-build rows plus known patch releases)."""
    data = load("tf_builds.yaml")
    versions = {row["tensorflow"] for row in data["builds"] if os in (None, row["os"])}
    rows = set(versions)
    versions |= {patch["tensorflow"] for patch in data["patch_releases"]
                 if patch["build"] in rows and os in (None, patch["os"])}
    return sorted(versions, key=Version)


def wheel_pythons(build: dict) -> tuple[list[str], str]:
    """(python major.minor list with real wheels, source) for a build row."""
    for row in load("tf_builds.yaml")["wheel_pythons"]:
        if row["os"] == build["os"] and row["tensorflow"] == build["tensorflow"]:
            return list(row["python"]), row["source"]
    return list(build["python"]), build["source"]


def package_rule(tensorflow: str) -> dict:
    """The tensorflow / tensorflow-gpu distribution rule row covering a release."""
    version = Version(tensorflow)
    return next(row for row in load("tf_builds.yaml")["packages"]
                if version in SpecifierSet(row["tensorflow"]))


def windows_gpu_last() -> dict:
    return load("tf_builds.yaml")["windows_gpu"]


def cuda_from(tensorflow: str) -> dict:
    """How a release's CUDA libraries are installed: conda, conda+pip or pip (TensorFlow's own route)."""
    version = Version(tensorflow)
    return next(row for row in load("tf_builds.yaml")["cuda_from"]
                if version in SpecifierSet(row["tensorflow"]))


def oldest_build(os: str, accepts) -> dict | None:
    """The oldest installable tested build on an OS for which `accepts(row)` is true."""
    return next((row for row in installable_builds(os) if accepts(row)), None)


# -- drivers --------------------------------------------------------------------------------------

def table3_minimum(cuda: str, os: str) -> tuple[str | None, dict | None]:
    """NVIDIA Table 3 minimum driver for a CUDA major.minor on an OS.

    Several rows share a major.minor (GA and updates); the highest minimum is returned so that
    any update of that toolkit runs (conda's 10.1.243 is 10.1 Update 2, covered by the one row).
    (None, None) when the table has no row; (None, row) when NVIDIA prints N/A for the OS.
    """
    rows = [row for row in load("cuda_drivers.yaml")["table3"] if row["cuda"] == cuda]
    if not rows:
        return None, None
    with_figure = [row for row in rows if row[os] is not None]
    if not with_figure:
        return None, rows[0]
    best = max(with_figure, key=lambda row: parse_release(row[os]))
    return best[os], best


def compat_minimum(cuda: str) -> dict | None:
    """The minor-version-compatibility family row covering a CUDA >= 11 toolkit, else None."""
    version = Version(cuda)
    for row in load("cuda_drivers.yaml")["minor_version_compat"]:
        if Version(row["cuda_min"]) <= version <= Version(row["cuda_max"]):
            return row
    return None


# -- architectures ------------------------------------------------------------------------------

def toolkit_archs(cuda: str) -> dict | None:
    version = Version(cuda)
    return next((row for row in load("cuda_arch.yaml")["toolkit_archs"]
                 if Version(row["cuda_min"]) <= version <= Version(row["cuda_max"])), None)


def architectures(tensorflow: str, cuda: str) -> dict | None:
    """What a TensorFlow build runs on: SASS and PTX lists, the lowest and highest CC, basis, source.

    The lists are what the release's wheel contains (its build_info.py, or its measured fatbin).
    The lowest CC is the lowest of them; the highest is bounded by the CUDA toolkit: its cuDNN and
    cuBLAS have no code for newer GPUs (TF 2.1's compute_70 PTX does not make it run on Ampere).
    """
    toolkit = toolkit_archs(cuda)
    if toolkit is None:
        return None
    arch = load("cuda_arch.yaml")
    version = Version(tensorflow)
    binaries = next((row for row in arch["tensorflow_binaries"]
                     if version in SpecifierSet(row["tensorflow"])), None)
    if binaries is None:
        return None
    toolkit_ccs = sorted(map(parse_cc, toolkit["cc"]))
    lowest = min(map(parse_cc, binaries["sass"] + binaries["ptx"]))
    return {
        "sass": list(binaries["sass"]),
        "ptx": list(binaries["ptx"]),
        "min": str(lowest),
        "max": str(toolkit_ccs[-1]),
        "basis": binaries["basis"],
        "source": (f"{binaries['source']}; toolkit range: {toolkit['source']}; "
                   f"{arch['binary_compatibility']['source']}"),
    }


def jetson_only() -> dict:
    """Compute capabilities of Jetson (Tegra) GPUs only: never run by x86-64 desktop wheels."""
    return load("cuda_arch.yaml")["jetson_only"]


def tensorflow_min_cc() -> str:
    """The lowest compute capability any TensorFlow pip package supports."""
    return load("cuda_arch.yaml")["tensorflow_min_cc"]["cc"]


def runs_on(cc: str, sass: list[str], ptx: list[str], lowest: str, highest: str) -> bool:
    """Whether code with these SASS/PTX targets, within [lowest, highest], runs on a GPU of `cc`.

    SASS for X.Y runs on X.Z with Z >= Y (same major only); PTX for X.Y JIT-compiles for any CC
    >= X.Y.
    """
    gpu = parse_cc(cc)
    if not parse_cc(lowest) <= gpu <= parse_cc(highest):
        return False
    native = any(s.major == gpu.major and s.minor <= gpu.minor for s in map(parse_cc, sass))
    return native or any(p <= gpu for p in map(parse_cc, ptx))


def build_runs_on(build: dict, cc: str) -> bool:
    info = architectures(build["tensorflow"], build["cuda"])
    return info is not None and runs_on(cc, info["sass"], info["ptx"], info["min"], info["max"])


# -- libraries ------------------------------------------------------------------------------------

def windows_dll(soname: str) -> str:
    """libcudart.so.10.1 -> cudart64_101.dll; libcublas.so.10 -> cublas64_10.dll (TF's Windows names)."""
    stem, _, version = soname.partition(".so.")
    return f"{stem.removeprefix('lib')}64_{version.replace('.', '')}.dll"


def libraries(cuda: str, cudnn: str, os: str) -> tuple[list[str] | None, str]:
    """(library names TensorFlow loads, source) for a CUDA major.minor and cuDNN version."""
    data = load("libraries.yaml")
    version = Version(cuda)
    row = next((row for row in data["cuda"]
                if Version(row["cuda_min"]) <= version <= Version(row["cuda_max"])), None)
    if row is None:
        return None, ""
    names = [name.replace("{cuda}", cuda) for name in row["sonames"]]
    names.append(data["cudnn"]["soname"].replace("{major}", str(parse_release(cudnn).major)))
    source = f"{row['source']}; cuDNN: {data['cudnn']['source']}"
    if os == "windows":
        names = [windows_dll(name) for name in names]
        source += f"; Windows names: {data['windows']['source']}"
    return names, source


# -- pins and conda -------------------------------------------------------------------------------

def pins_for(tensorflow: str) -> list[dict]:
    version = Version(tensorflow)
    return [row for row in load("pins.yaml")["pins"] if version in SpecifierSet(row["tensorflow"])]


def requirement_name(requirement: str) -> str:
    """PEP 503 normalised project name of a requirement string ("Pillow<10" -> "pillow")."""
    return Requirement(requirement).name.lower().replace("_", "-").replace(".", "-")


def conda_file(channel: str, subdir: str, name: str, cuda: str, version: str) -> dict | None:
    """A known conda build of cudatoolkit or cudnn on a channel, for a CUDA major.minor, or None.

    cudatoolkit: the row whose version starts with the toolkit's major.minor. cudnn: a row built
    for that CUDA whose version starts with `version`, else the newest of the same major that is
    at least `version` (TF built with cuDNN 7.4 loads libcudnn.so.7 and runs with 7.6.5).
    """
    rows = [row for row in load("conda.yaml")["packages"]
            if (row["channel"], row["subdir"], row["name"]) == (channel, subdir, name)]
    if name == "cudatoolkit":
        return next((row for row in rows if row["version"] == cuda or row["version"].startswith(cuda + ".")), None)
    rows = [row for row in rows if cuda in row.get("cuda", [])]
    exact = next((row for row in rows if row["version"] == version or row["version"].startswith(version + ".")), None)
    if exact is not None:
        return exact
    wanted = parse_release(version)
    fitting = [row for row in rows if parse_release(row["version"]).major == wanted.major
               and parse_release(row["version"]) >= wanted]
    return max(fitting, key=lambda row: parse_release(row["version"]), default=None)


def stack_declaration(name: str) -> dict | None:
    return next((row for row in load("stacks.yaml")["stacks"] if row["name"] == name), None)


def stack_names() -> list[str]:
    return [row["name"] for row in load("stacks.yaml")["stacks"]]


