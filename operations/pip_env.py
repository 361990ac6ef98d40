"""pip inside a conda env: the env's pip.conf, and requirements installed only when unsatisfied.

pyinfra's built-in pip.packages compares exact `==` strings as `pip freeze` spells them, so ranges,
normalised names (Keras_Applications / keras-applications) and local versions (2.1.0+cu101) make it
reinstall on every run (pyinfra-notes §4 item 8). Here the installed set (pip list, PEP 503 names)
is compared with PEP 440 specifiers from `packaging`, and pip runs once, for what is missing.

pip 20 (the era of TF 2.1, the lab's pip) uses the legacy resolver, which shapes two rules below:
it refuses the same name twice on the command line ("Double requirement given"), and for a name
that is in the constraints file it uses the constraint's specifier and drops the requirement's,
keeping only the first constraint line of a name. So each name appears once on the command line
and once in the constraints file, with every specifier known for it merged into that one line.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pyinfra import host
from pyinfra.api import OperationValueError, QuoteString, StringCommand, operation

from facts.pip_env import PipPackages

from .commands import MANAGED_HEADER, absolute, fail_host, read_text, same_text, write_file

CONSTRAINTS_FILE = ".gpuws/constraints.txt"


# --- comparing requirements with an installed set (pure) -------------------------------------


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


# --- pip options shared by the install and pip.conf -------------------------------------------


def _index_args(index_url, extra_index_urls, find_links, no_index, trusted_hosts) -> list:
    args: list = []
    if index_url:
        args += ["--index-url", QuoteString(index_url)]
    for url in extra_index_urls or ():
        args += ["--extra-index-url", QuoteString(url)]
    for link in find_links or ():
        args += ["--find-links", QuoteString(link)]
    if no_index:
        args.append("--no-index")
    for trusted in trusted_hosts or ():
        args += ["--trusted-host", QuoteString(trusted)]
    return args


def env_prefix_of_python(python: str) -> str:
    """ENV for ENV/bin/python."""
    return posixpath.dirname(posixpath.dirname(python))


@operation()
def requirements(
    python: str,
    requirements,
    constraints=(),
    index_url: str | None = None,
    find_links=(),
    no_index: bool = False,
    trusted_hosts=(),
    conflicts=(),
    extra_index_urls=(),
):
    """
    Install the pip requirements an env does not satisfy yet, in one pip call.

    + python: the env's interpreter, ``ENV/bin/python`` (pip runs as ``python -m pip``)
    + requirements: requirement strings (``tensorflow-gpu==2.1.0``, ``h5py<3``, ``pillow``)
    + constraints: requirement strings passed to pip with ``-c`` and also checked: an installed
      package that violates one (protobuf 4.24.4 vs ``protobuf<3.21``) is reinstalled within it
    + index_url, extra_index_urls: a PyPI mirror (e.g. TUNA's ``https://pypi.tuna.tsinghua.edu.cn/simple``)
    + find_links, no_index: a wheelhouse (a folder on the host, or an http URL), offline with no_index
    + trusted_hosts: hosts pip may reach without TLS verification; only what is given here (pip
      20 ignores an ``http://`` find-links or index without ``--trusted-host``)
    + conflicts: names that must not be installed (install exactly one of tensorflow and
      tensorflow-gpu); they are uninstalled first, and a requirement sharing their files
      (tensorflow-gpu for tensorflow) is reinstalled, since the uninstall deleted its modules

    Names are compared as PEP 503 names, versions with PEP 440 specifiers (``packaging``). Before
    installing, the constraints (the stack's plus ``==`` pins of the requirements already
    satisfied, so pip does not move them) are written to ``ENV/.gpuws/constraints.txt``.

    **Example:**

    .. code:: python

        requirements(
            name="TensorFlow and pins",
            python="/opt/miniconda3/envs/tf21/bin/python",
            requirements=stack["pip"],
            constraints=stack["pip_constraints"],
            conflicts=["tensorflow"],
        )
    """
    python = absolute(python, "python")
    state = host.get_fact(PipPackages, python=python)
    if not state or not state.get("present"):
        yield fail_host(f"no python with pip at {python}: create the conda env first (operations.conda.env)")
        return
    if state.get("error"):
        yield fail_host(f"pip does not work in {python}: {state['error']}")
        return
    try:
        plan = plan_requirements(
            state.get("packages") or {}, requirements, constraints, conflicts, state.get("python")
        )
    except ValueError as error:
        raise OperationValueError(str(error)) from None

    if not plan.changes:
        host.noop(describe_satisfied(plan.satisfied))
        return

    py = QuoteString(python)
    if plan.remove:
        yield StringCommand(
            py, "-m", "pip", "uninstall", "--disable-pip-version-check", "-y",
            *[QuoteString(name) for name in plan.remove],
        )
    if not plan.install:
        return
    env_prefix = env_prefix_of_python(python)
    constraints_path = posixpath.join(env_prefix, CONSTRAINTS_FILE)
    header = f"{MANAGED_HEADER}: pip constraints of the last install (stack pins and kept versions)"
    yield write_file(constraints_path, "\n".join([header, *plan.constraints_lines]) + "\n", inside=env_prefix)
    yield StringCommand(
        py, "-m", "pip", "install", "--disable-pip-version-check", "-q",
        "-c", QuoteString(constraints_path),
        *_index_args(index_url, extra_index_urls, find_links, no_index, trusted_hosts),
        *[QuoteString(line) for line in plan.install],
    )


# --- ENV/pip.conf -----------------------------------------------------------------------------


def render_pip_conf(
    index_url: str | None = None,
    extra_index_urls=(),
    find_links=(),
    trusted_hosts=(),
    no_index: bool = False,
) -> str | None:
    """The pip.conf text for these settings, or None when nothing is configured."""
    settings: list[tuple[str, list[str]]] = []
    if index_url:
        settings.append(("index-url", [index_url]))
    if extra_index_urls:
        settings.append(("extra-index-url", list(extra_index_urls)))
    if find_links:
        settings.append(("find-links", list(find_links)))
    if no_index:
        settings.append(("no-index", ["true"]))
    if trusted_hosts:
        settings.append(("trusted-host", list(trusted_hosts)))
    if not settings:
        return None
    lines = [
        f"{MANAGED_HEADER}: pip settings of this env (pip reads sys.prefix/pip.conf); "
        "edits are replaced on the next run.",
        "[global]",
    ]
    for key, values in settings:
        if len(values) == 1:
            lines.append(f"{key} = {values[0]}")
        else:  # pip splits list options on whitespace, continuation lines included
            lines.append(f"{key} =")
            lines.extend(f"    {value}" for value in values)
    return "\n".join(lines) + "\n"


@operation()
def pip_config(
    env_prefix: str,
    index_url: str | None = None,
    extra_index_urls=(),
    find_links=(),
    trusted_hosts=(),
    no_index: bool = False,
):
    """
    Write the env's own pip settings to ENV/pip.conf, when its content differs.

    + env_prefix: the conda env, e.g. ``/opt/miniconda3/envs/tf21``
    + index_url, extra_index_urls: a PyPI mirror
    + find_links: wheelhouses (folders or URLs)
    + trusted_hosts: hosts to reach without TLS checks; only those given (never guessed)
    + no_index: offline: only find_links

    pip (10 and later, 20 included) reads ``sys.prefix/pip.conf`` as its *site* file, after the
    global and user files, so these settings apply to this env only, whoever runs its pip; an
    ``http://`` index or find-links needs its host in ``trusted_hosts`` with pip 20. With nothing
    configured, a pip.conf this tool wrote is removed; one it did not write is left alone.

    **Example:**

    .. code:: python

        pip_config(
            name="pip mirror",
            env_prefix="/opt/miniconda3/envs/tf21",
            index_url="https://pypi.tuna.tsinghua.edu.cn/simple",
        )
    """
    env_prefix = absolute(env_prefix, "env prefix")
    path = posixpath.join(env_prefix, "pip.conf")
    wanted = render_pip_conf(index_url, extra_index_urls, find_links, trusted_hosts, no_index)
    current = read_text(path)
    if wanted is None:
        if current is None:
            host.noop(f"no pip settings wanted and {path} absent")
        elif current.startswith(MANAGED_HEADER):
            yield StringCommand("rm", "-f", QuoteString(path))
        else:
            host.noop(f"no pip settings wanted; {path} was not written by gpuws: left as it is")
        return
    if same_text(current, wanted):
        host.noop(f"{path} up to date")
        return
    yield write_file(path, wanted, inside=env_prefix)
