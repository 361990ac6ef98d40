"""A named conda env with the stack's python and the stack's conda packages, in one operation.

conda is always called as PREFIX/bin/conda with `-n NAME`: no `conda activate`, no `conda run`
(conda 4.3 has neither), no PATH set-up on the target.
"""

from __future__ import annotations

import posixpath
import shlex

from pyinfra import host
from pyinfra.api import OperationValueError, QuoteString, StringCommand, operation

from facts.conda import CondaPackages
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
    needs_python = create or have_python is None
    if not needs_python and not wrong:
        host.noop(f"env {env_name} present with python {have_python}" + (f", {', '.join(found)}" if found else ""))
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
