"""The pip requirement planner: an env's installed set and the stack's requirements in, what to
uninstall, install and constrain out (pure: no host, no pip).

Names are compared as PEP 503 names, versions with PEP 440 specifiers (`packaging`), so ranges,
normalised names (Keras_Applications / keras-applications) and local versions (2.1.0+cu101) are
satisfied where pyinfra's `pip.packages` (exact `==` strings as `pip freeze` spells them,
https://docs.pyinfra.com/en/3.x/operations/pip.html) would reinstall on every run.

pip 20 (the era of TF 2.1) uses the legacy resolver, which shapes two rules below: it refuses the
same name twice on the command line ("Double requirement given"), and for a name that is in the
constraints file it uses the constraint's specifier and drops the requirement's, keeping only the
first constraint line of a name. So each name appears once on the command line and once in the
constraints file, with every specifier known for it merged into that one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version


def version_satisfies(specifier: SpecifierSet, version: str | None) -> bool:
    """Whether an installed `version` meets `specifier` (PEP 440).

    No specifier: any installed version will do. Pre-releases count only when the specifier names
    one (`>=2.2.0rc0`), as pip decides. A local version (2.1.0+cu101) meets ==2.1.0 (PEP 440
    ignores the local label against a public one). An unparsable installed version meets nothing
    but a bare name.
    """
    if version is None:
        return False
    if not str(specifier):
        return True
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    return specifier.contains(parsed, prereleases=bool(specifier.prereleases))


# Suffixes that name a build variant of the same package, not another package: the variants ship
# the same import modules (tensorflow/ and tensorflow_core/ for tensorflow, tensorflow-gpu and
# tensorflow-cpu; cv2/ for opencv-python and opencv-python-headless).
VARIANT_SUFFIXES = ("-gpu", "-cpu", "-headless")


def _variant_base(name: str) -> str:
    name = canonicalize_name(name)
    for suffix in VARIANT_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def shares_files(name: str, other: str) -> bool:
    """Whether two distributions are build variants of one package (tensorflow / tensorflow-gpu,
    opencv-python / opencv-python-headless): uninstalling one deletes the other's modules.
    tensorflow and tensorflow-estimator are different packages."""
    return canonicalize_name(name) != canonicalize_name(other) and _variant_base(name) == _variant_base(other)


@dataclass
class _Wanted:
    """Everything asked of one distribution name."""

    display: str  # the name as first written (kept for messages and the command line)
    requirements: list[Requirement] = field(default_factory=list)
    constraints: list[Requirement] = field(default_factory=list)

    @property
    def specifier(self) -> SpecifierSet:
        merged = SpecifierSet()
        for req in self.requirements + self.constraints:
            merged &= req.specifier
        return merged

    @property
    def url(self) -> str | None:
        return next((req.url for req in self.requirements if req.url), None)

    def requirement_line(self) -> str:
        """What goes on the pip command line for this name (one entry per name)."""
        if len(self.requirements) == 1 and not self.constraints:
            req = self.requirements[0]
            return f"{req.name}{_extras(req)} @ {req.url}" if req.url else f"{req.name}{_extras(req)}{req.specifier}"
        if self.url:
            return f"{self.display} @ {self.url}"
        extras = sorted({extra for req in self.requirements for extra in req.extras})
        extras_text = f"[{','.join(extras)}]" if extras else ""
        return f"{self.display}{extras_text}{self.specifier}"


def _extras(req: Requirement) -> str:
    return f"[{','.join(sorted(req.extras))}]" if req.extras else ""


@dataclass
class RequirementPlan:
    """What `requirements` will do: uninstall `remove`, then install `install` in one pip call
    with `constraints_lines` as the constraints file. `satisfied` is [(name, version)]."""

    satisfied: list[tuple[str, str]]
    install: list[str]
    remove: list[str]
    constraints_lines: list[str]

    @property
    def changes(self) -> bool:
        return bool(self.install or self.remove)


def _marker_environment(python_version: str | None) -> dict:
    """Markers are evaluated for the TARGET's python (a Linux conda env), not the controller's."""
    env = default_environment()
    env.update({"os_name": "posix", "sys_platform": "linux", "platform_system": "Linux"})
    if python_version:
        parts = python_version.split(".")
        env["python_version"] = ".".join(parts[:2])
        env["python_full_version"] = python_version
    return env


def _parse(lines, what: str) -> list[Requirement]:
    parsed = []
    for line in lines:
        try:
            parsed.append(Requirement(line))
        except InvalidRequirement as error:
            raise ValueError(f"invalid {what} {line!r}: {str(error).splitlines()[0]}") from None
    return parsed


def plan_requirements(
    installed: dict,
    requirements,
    constraints=(),
    conflicts=(),
    python_version: str | None = None,
) -> RequirementPlan:
    """Compare an env's installed set with what the stack asks (pure: no host, no pip).

    + installed: ``{name: version}`` as PipPackages returns it (names are normalised again here)
    + requirements: requirement strings the env must satisfy
    + constraints: requirement strings that bind a package only if it is (or gets) installed;
      an installed package violating one is reinstalled within it (protobuf 4.24.4 vs <3.21)
    + conflicts: names that must not be installed (tensorflow when tensorflow-gpu is wanted);
      a requirement sharing files with a removed conflict is removed and reinstalled with it
    + python_version: the env's python, for environment markers

    Raises ValueError for an invalid requirement, or a name both required and a conflict.
    """
    have = {canonicalize_name(name): version for name, version in (installed or {}).items()}
    marker_env = _marker_environment(python_version)

    wanted: dict[str, _Wanted] = {}
    for req in _parse(requirements, "requirement"):
        if req.marker is not None and not req.marker.evaluate(marker_env):
            continue
        wanted.setdefault(canonicalize_name(req.name), _Wanted(req.name)).requirements.append(req)
    bound: dict[str, _Wanted] = {}
    for req in _parse(constraints, "constraint"):
        if req.marker is not None and not req.marker.evaluate(marker_env):
            continue
        key = canonicalize_name(req.name)
        (wanted[key] if key in wanted else bound.setdefault(key, _Wanted(req.name))).constraints.append(req)

    conflict_names = {canonicalize_name(name): name for name in conflicts}
    both = sorted(set(conflict_names) & set(wanted))
    if both:
        raise ValueError(f"{', '.join(both)} is both a requirement and a conflict")
    removed = [key for key in conflict_names if key in have]
    for key in list(wanted):
        if key in have and any(shares_files(key, gone) for gone in removed):
            removed.append(key)
    removed_set = set(removed)

    def current(key: str) -> str | None:
        return None if key in removed_set else have.get(key)

    satisfied: list[tuple[str, str]] = []
    install: list[str] = []
    pins: dict[str, str] = {}
    for key, item in wanted.items():
        version = current(key)
        if version is not None and version_satisfies(item.specifier, version):
            satisfied.append((item.display, version))
            if not item.url and _is_version(version):
                pins[key] = version  # keep it where it is while pip installs the others
        else:
            install.append(item.requirement_line())
    for key, item in bound.items():
        version = current(key)
        if version is not None and not version_satisfies(item.specifier, version):
            install.append(item.requirement_line())

    constraints_lines = []
    for key, item in list(wanted.items()) + list(bound.items()):
        if item.url or (not item.constraints and key not in pins):
            continue
        spec = item.specifier
        if key in pins:
            spec &= SpecifierSet(f"=={pins[key]}")
        constraints_lines.append(f"{item.display}{spec}")

    remove_names = [conflict_names.get(key) or wanted[key].display for key in removed]
    return RequirementPlan(satisfied, install, remove_names, constraints_lines)


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def describe_satisfied(satisfied: list[tuple[str, str]], shown: int = 3) -> str:
    """"14 requirements satisfied (tensorflow-gpu 2.1.0, numpy 1.18.5, h5py 2.10.0, …)"."""
    count = len(satisfied)
    noun = "requirement" if count == 1 else "requirements"
    names = ", ".join(f"{name} {version}" for name, version in satisfied[:shown])
    more = ", …" if count > shown else ""
    return f"{count} {noun} satisfied ({names}{more})" if count else "no requirements"
