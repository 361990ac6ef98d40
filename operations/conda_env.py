"""A named conda env with the stack's python and the stack's conda packages, in one operation.

conda is always called as PREFIX/bin/conda with `-n NAME`: no `conda activate`, no `conda run`
(conda 4.3 has neither), no PATH set-up on the target.
"""

from __future__ import annotations

import posixpath
import shlex

from packaging.version import InvalidVersion, Version

from pyinfra import host
from pyinfra.api import OperationValueError, QuoteString, StringCommand, operation

from facts.conda import CondaPackages
from facts.cuda import listed_library
from facts.host import FreeDisk
from stacks import conda_version_matches

from .commands import absolute, conda_bin, env_prefix_of, fail_host

BACKUP_DIR = ".gpuws-backup"


def python_matches(installed: str | None, wanted: str) -> bool:
    """"3.7.16" satisfies "3.7"; "3.70.1" and "3.8.5" do not."""
    return installed is not None and (installed == wanted or installed.startswith(wanted + "."))


def _channel_args(channels, offline: bool) -> list:
    args: list = []
    for channel in channels or ():
        args += ["-c", QuoteString(channel)]
    if offline:
        args.append("--offline")
    return args


def backup_command(prefix: str, name: str) -> StringCommand:
    """Save what an env holds before it is removed: `conda list --export` (a spec file that
    `conda create --file` accepts) and `pip freeze` (if the env has a python), side by side in
    PREFIX/envs/.gpuws-backup/NAME-<UTC time>.{conda,pip}.txt. The removal runs only after it."""
    env_python = posixpath.join(env_prefix_of(prefix, name), "bin", "python")
    backup = posixpath.join(prefix, "envs", BACKUP_DIR)
    # One sh word: the quoted folder and name, then the time stamp the host's date prints.
    stem = "stem=" + shlex.quote(f"{backup}/{name}-") + "$(date -u +%Y%m%dT%H%M%SZ)"
    return StringCommand(
        stem, "&&", "mkdir", "-p", QuoteString(backup), "&&",
        QuoteString(conda_bin(prefix)), "list", "-n", QuoteString(name), "--export", ">", '"$stem.conda.txt"',
        "&&", "{", "if", "[", "-x", QuoteString(env_python), "];", "then",
        QuoteString(env_python), "-m", "pip", "freeze", "--disable-pip-version-check", ">", '"$stem.pip.txt"',
        "||", "true;", "fi;", "}", "&&",
        "printf", QuoteString("saved the package lists of the old env to %s.*.txt\\n"), '"$stem"',
    )


def parse_package_filename(path: str) -> dict | None:
    """name, version and build of a conda package file ("cudnn-7.6.5-cuda10.1_0.tar.bz2"); None
    when the file name is not NAME-VERSION-BUILD.tar.bz2 / .conda."""
    base = posixpath.basename(path)
    for suffix in (".tar.bz2", ".conda"):
        if base.endswith(suffix):
            parts = base[: -len(suffix)].rsplit("-", 2)
            if len(parts) == 3 and all(parts):
                return {"name": parts[0], "version": parts[1], "build": parts[2], "path": path}
    return None


def library_package(soname: str) -> str:
    """The stack's conda package that ships a CUDA library: ``cudnn`` for ``libcudnn*``,
    ``cudatoolkit`` for the others (cudart, cublas, cufft, curand, cusolver, cusparse)."""
    return "cudnn" if soname.startswith("libcudnn") else "cudatoolkit"


def _missing_libraries(state: dict, libraries, wanted: list[dict]) -> tuple[list[str], list[dict]]:
    """The wanted libraries missing from ENV/lib, and the wanted packages (in stack order) that
    ship them. Nothing when the fact predates its ``libraries`` key, or for a library name the
    fact cannot list (outside facts.cuda's globs: its absence would mean nothing)."""
    have = state.get("libraries")
    if not libraries or have is None:
        return [], []
    missing = [soname for soname in libraries if listed_library(soname) and soname not in have]
    owners = {library_package(soname) for soname in missing}
    return missing, [package for package in wanted if package["name"] in owners]


def _describe(record: dict) -> str:
    return f"{record['version']} {record['build']}" if record.get("build") else record["version"]


def _local_packages(local_files) -> list[dict]:
    """The explicit package files, named; an argument error for a file that is not
    NAME-VERSION-BUILD.tar.bz2 / .conda."""
    files = [parse_package_filename(f) or {"path": f} for f in local_files]
    unnamed = [f["path"] for f in files if "name" not in f]
    if unnamed:
        raise OperationValueError(f"not conda package file names (NAME-VERSION-BUILD.tar.bz2): {unnamed}")
    return files


def _missing_local_file(files: list[dict], wrong: list[dict]) -> str | None:
    """The failure message when a wanted package has no matching local file, else None."""
    by_name = {f["name"]: f for f in files}
    for wanted in wrong:
        found = by_name.get(wanted["name"])
        if found is None or not conda_version_matches(found["version"], found["build"], wanted):
            have = posixpath.basename(found["path"]) if found else "none"
            return (
                f"no local package file for {wanted['spec']} (local file: {have}); "
                "add it to conda_local_files or install from a channel"
            )
    return None


@operation()
def env(
    prefix: str,
    env_name: str,
    python: str,
    packages=None,
    recreate: bool = False,
    channels=None,
    local_files=None,
    offline: bool = False,
    libraries=None,
    min_free_mib: int | None = None,
):
    """
    Make the conda env ``env_name``: python ``X.Y`` and the stack's conda packages, each one
    installed only when missing or wrong, in one conda call.

    + prefix: the conda root prefix (``PREFIX/bin/conda`` is called)
    + env_name: the env's name, e.g. ``tf21`` (not ``name``: that is pyinfra's operation title);
      it lives in ``PREFIX/envs/NAME``
    + python: the stack's python, major.minor (``3.7``)
    + packages: the stack's ``conda`` entries, ``{"name", "version", "build", "spec"}``; a
      ``python`` entry among them is skipped (``python`` decides)
    + recreate: rebuild an env whose python is wrong; its ``conda list --export`` and
      ``pip freeze`` are saved to ``PREFIX/envs/.gpuws-backup/`` first
    + channels: extra ``-c`` channels, e.g. a local channel folder ``file:///srv/conda-channel``
      (put the same channel in .condarc: conda 4.3 adds ``defaults`` to any ``-c``)
    + local_files: package files already on the host (``.tar.bz2`` for conda < 4.7); conda
      installs explicit files with ``--no-deps``, so list their dependencies' files too
      (e.g. libgcc-ng) unless the env has them; a file is installed only when that exact
      package (name, version, build) is not in the env
    + offline: pass ``--offline`` (a local channel or the package cache only)
    + libraries: the CUDA library sonames the env must hold in ``ENV/lib`` (the stack's
      ``libraries`` when its CUDA libraries come from conda, else None: no check)
    + min_free_mib: free disk (MiB) needed under ``prefix`` before an env is created; checked only
      then (one more remote command), never on a present env

    One fact, ``CondaPackages`` with the root prefix, answers everything in one remote command:
    whether conda is there, whether the env is (its conda-meta), its python and its packages.

    A missing env is created with python and the packages in one ``conda create`` (one solve). An
    env with the right python gets one ``conda install`` of what is missing or wrong; an env
    without python (``conda create -n NAME`` with no packages) gets python in the same call: it
    loses nothing. An env with another python is drift that fails the host with what to do,
    unless ``recreate`` allows rebuilding it: a user's extra packages are never deleted silently.

    A package matches when its version equals the wanted one or extends it (10.1 -> 10.1.243)
    and, when a build is given, its build is equal (h6bb024c_0 is also cudatoolkit 11.0's build).
    A wrong build is replaced by conda itself.

    conda-meta still records a package whose files were deleted by hand (``rm ENV/lib/libcudnn*``),
    so with ``libraries`` the same fact's ``ENV/lib`` names are checked too: when every package
    matches but a library is missing, one ``conda install --force-reinstall`` of the packages that
    ship it (``libcudnn*``: the cudnn entry, the others: cudatoolkit) puts its files back. Fact
    data without library names skips that check.

    With ``local_files``, conda cannot take package specs and explicit files in one call (an
    explicit install skips the solver), so a missing env is created with python first and the
    files are installed by a second call; every wanted package must have its file, which is
    checked before anything runs.

    **Example:**

    .. code:: python

        env(
            name="Env tf21 (python 3.7, cudatoolkit, cudnn)",
            prefix="/opt/miniconda3", env_name="tf21", python="3.7", packages=stack["conda"],
        )
    """
    if not python or python.count(".") != 1:
        raise OperationValueError(f"python must be major.minor such as 3.7, not {python!r}")
    prefix = absolute(prefix, "conda prefix")
    env_prefix = env_prefix_of(prefix, env_name)
    state = host.get_fact(CondaPackages, env_prefix=env_prefix, prefix=prefix)
    if not state or not state.get("conda"):
        yield fail_host(f"no conda at {prefix}: install Miniconda first (operations.conda.miniconda)")
        return

    present = bool(state.get("present"))
    installed = (state.get("packages") or {}) if present else {}
    have_python = state.get("python") if present else None
    if present and have_python is not None and not python_matches(have_python, python):
        if not recreate:
            yield fail_host(
                f"env {env_name} has python {have_python} but {env_name} needs {python}; set conda_env_recreate=True "
                f"to rebuild it (its conda and pip package lists are saved to {prefix}/envs/{BACKUP_DIR}/ "
                f"first; extra packages are not reinstalled), or remove it by hand ({env_prefix})"
            )
            return
        rebuild = True
        installed = {}
    else:
        rebuild = False

    wanted = [p for p in packages or () if p["name"] != "python"]
    wrong: list[dict] = []
    found: list[str] = []
    for package in wanted:
        record = installed.get(package["name"])
        if record is not None and conda_version_matches(record["version"], record.get("build"), package):
            found.append(f"{package['name']} {_describe(record)}")
        else:
            wrong.append(package)

    create = not present or rebuild
    if create and min_free_mib:
        # The env and what pip puts in it next (TensorFlow 2.1 alone is about 1.5 GB) need room:
        # fail now, with the figures, rather than half-way through an install.
        disk = host.get_fact(FreeDisk, path=prefix)
        if disk and disk.get("free_mib") is not None and disk["free_mib"] < min_free_mib:
            yield fail_host(
                f"not enough free disk for env {env_name} under {prefix}: {disk['free_mib']} MiB free, "
                f"{min_free_mib} MiB needed (the env and its pip packages); free some space"
            )
            return
    needs_python = create or have_python is None
    if not needs_python and not wrong:
        missing_libs, owners = _missing_libraries(state, libraries, wanted)
        if not owners:
            host.noop(f"env {env_name} present with python {have_python}" + (f", {', '.join(found)}" if found else ""))
            return
        # Why a forced reinstall: conda-meta says the package is installed (so a plain install is
        # a no-op for conda too) but ENV/lib lacks its libraries (missing_libs, deleted by hand),
        # and TensorFlow cannot dlopen them. --force-reinstall relinks the package's files from
        # the package cache (or the channel); the exact specs keep it on the installed builds.
        yield from _reinstall(prefix, env_name, owners, missing_libs, channels, local_files, offline,
                              state.get("conda_version"))
        return

    files: list[dict] = []
    if local_files and wrong:
        files = _local_packages(local_files)
        missing = _missing_local_file(files, wrong)
        if missing:
            yield fail_host(missing)
            return
        # Explicit files imply --no-deps: a file goes in when that exact build is not in the env.
        files = [
            f
            for f in files
            if not (
                f["name"] in installed
                and installed[f["name"]]["version"] == f["version"]
                and installed[f["name"]].get("build") == f["build"]
            )
        ]

    conda = QuoteString(conda_bin(prefix))
    name = QuoteString(env_name)
    specs = [QuoteString(f"python={python}")] if needs_python else []
    if not local_files:
        specs += [QuoteString(w["spec"]) for w in wrong]
    extra = _channel_args(channels, offline)

    if rebuild:
        yield backup_command(prefix, env_name)
        yield StringCommand(conda, "remove", "-y", "-q", "-n", name, "--all", *_channel_args((), offline))
    if specs:
        verb = "create" if create else "install"
        yield StringCommand(conda, verb, "-y", "-q", "-n", name, *specs, *extra)
    if files:
        yield StringCommand(
            conda, "install", "-y", "-q", "-n", name,
            *_channel_args((), offline), *[QuoteString(f["path"]) for f in files],
        )


def reinstall_flag(conda_version: str | None) -> str:
    """conda 4.6 brought --force-reinstall; before it the flag was --force (for named packages,
    with --no-deps implied), which conda 24.3 removed. Unknown version: today's flag."""
    try:
        old = conda_version is not None and Version(conda_version) < Version("4.6")
    except InvalidVersion:
        old = False
    return "--force" if old else "--force-reinstall"


def _reinstall(prefix: str, env_name: str, owners: list[dict], missing_libs: list[str], channels,
               local_files, offline: bool, conda_version: str | None):
    """One ``conda install --force-reinstall`` of the packages that ship ``missing_libs``: their
    specs, or with ``local_files`` their files."""
    conda = QuoteString(conda_bin(prefix))
    name = QuoteString(env_name)
    if local_files:
        files = _local_packages(local_files)
        missing = _missing_local_file(files, owners)
        if missing:
            yield fail_host(f"{', '.join(missing_libs)} missing from the env: {missing}")
            return
        by_name = {f["name"]: f for f in files}
        yield StringCommand(
            conda, "install", "-y", "-q", "-n", name, reinstall_flag(conda_version),
            *_channel_args((), offline), *[QuoteString(by_name[o["name"]]["path"]) for o in owners],
        )
        return
    yield StringCommand(
        conda, "install", "-y", "-q", "-n", name, reinstall_flag(conda_version),
        *[QuoteString(o["spec"]) for o in owners], *_channel_args(channels, offline),
    )
