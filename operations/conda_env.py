"""A named conda env with the stack's python, and the stack's conda packages inside it.

conda is always called as PREFIX/bin/conda with `-n NAME`: no `conda activate`, no `conda run`
(conda 4.3 has neither), no PATH set-up on the target.
"""

from __future__ import annotations

import posixpath
import shlex

from pyinfra import host
from pyinfra.api import OperationValueError, QuoteString, StringCommand, operation

from facts.conda import CondaInstall, CondaPackages
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


def _find_env(install: dict, prefix: str, name: str) -> dict | None:
    path = env_prefix_of(prefix, name)
    for env in install.get("envs") or []:
        if env.get("name") == name or env.get("path") == path:
            return env
    return None


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


@operation()
def env(
    prefix: str,
    env_name: str,
    python: str,
    recreate: bool = False,
    channels=None,
    offline: bool = False,
):
    """
    Create the conda env ``env_name`` with python ``X.Y`` when it is missing.

    + prefix: the conda root prefix (``PREFIX/bin/conda`` is called)
    + env_name: the env's name, e.g. ``tf21`` (not ``name``: that is pyinfra's operation title)
    + python: the stack's python, major.minor (``3.7``)
    + recreate: rebuild an env whose python is wrong; its ``conda list --export`` and
      ``pip freeze`` are saved to ``PREFIX/envs/.gpuws-backup/`` first
    + channels: extra ``-c`` channels for the create (normally .condarc decides)
    + offline: pass ``--offline`` (a local channel or the package cache only)

    An env with the right python is left alone. An env with another python is drift that fails
    the host with what to do, unless ``recreate`` allows rebuilding it: a user's extra packages
    are never deleted silently. An env without python gets python installed into it.

    **Example:**

    .. code:: python

        env(name="Conda env tf21", prefix="/opt/miniconda3", env_name="tf21", python="3.7")
    """
    if not python or python.count(".") != 1:
        raise OperationValueError(f"python must be major.minor such as 3.7, not {python!r}")
    prefix = absolute(prefix, "conda prefix")
    install = host.get_fact(CondaInstall, prefix=prefix)
    if not install or not install.get("present"):
        yield fail_host(f"no conda at {prefix}: install Miniconda first (operations.conda.miniconda)")
        return

    conda = QuoteString(conda_bin(prefix))
    spec = QuoteString(f"python={python}")
    extra = _channel_args(channels, offline)
    create = StringCommand(conda, "create", "-y", "-q", "-n", QuoteString(env_name), spec, *extra)

    current = _find_env(install, prefix, env_name)
    if current is None:
        yield create
        return
    installed = current.get("python")
    if python_matches(installed, python):
        host.noop(f"env {env_name} present with python {installed}")
        return
    if installed is None:
        # An empty env (e.g. `conda create -n tf21` without packages): adding python loses nothing.
        yield StringCommand(conda, "install", "-y", "-q", "-n", QuoteString(env_name), spec, *extra)
        return
    path = current.get("path") or env_prefix_of(prefix, env_name)
    if not recreate:
        yield fail_host(
            f"env {env_name} has python {installed} but {env_name} needs {python}; set conda_env_recreate=True "
            f"to rebuild it (its conda and pip package lists are saved to {prefix}/envs/{BACKUP_DIR}/ "
            f"first; extra packages are not reinstalled), or remove it by hand ({path})"
        )
        return
    yield backup_command(prefix, env_name)
    yield StringCommand(conda, "remove", "-y", "-q", "-n", QuoteString(env_name), "--all", *_channel_args((), offline))
    yield create


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


@operation()
def packages(
    prefix: str,
    env: str,
    packages,
    channels=None,
    local_files=None,
    offline: bool = False,
):
    """
    Install the stack's conda packages that are missing or wrong in env ``env``, in one conda call.

    + prefix: the conda root prefix
    + env: the env's name (it lives in ``PREFIX/envs/NAME``)
    + packages: the stack's ``conda`` entries, ``{"name", "version", "build", "spec"}``
    + channels: extra ``-c`` channels, e.g. a local channel folder ``file:///srv/conda-channel``
      (put the same channel in .condarc: conda 4.3 adds ``defaults`` to any ``-c``)
    + local_files: package files already on the host (``.tar.bz2`` for conda < 4.7); conda
      installs explicit files with ``--no-deps``, so list their dependencies' files too
      (e.g. libgcc-ng) unless the env has them; a file is installed only when that exact
      package (name, version, build) is not in the env
    + offline: pass ``--offline``

    A package matches when its version equals the wanted one or extends it (10.1 -> 10.1.243)
    and, when a build is given, its build is equal (h6bb024c_0 is also cudatoolkit 11.0's build).
    A wrong build is replaced by conda itself. python is checked but not installed here: the
    ``env`` operation owns it.

    **Example:**

    .. code:: python

        packages(name="CUDA libraries", prefix="/opt/miniconda3", env="tf21", packages=stack["conda"])
    """
    prefix = absolute(prefix, "conda prefix")
    env_prefix = env_prefix_of(prefix, env)
    state = host.get_fact(CondaPackages, env_prefix=env_prefix)
    if not state or not state.get("present"):
        yield fail_host(f"no conda env {env} at {env_prefix}: create it first (operations.conda.env)")
        return
    installed = state.get("packages") or {}

    wrong: list[dict] = []
    present: list[str] = []
    for wanted in packages:
        record = installed.get(wanted["name"])
        ok = record is not None and conda_version_matches(record["version"], record.get("build"), wanted)
        if wanted["name"] == "python":
            if not ok:
                have = f"python {record['version']}" if record else "no python"
                yield fail_host(
                    f"env {env} has {have} but needs python {wanted['version']}: "
                    "rebuild it with the env operation (conda_env_recreate=True)"
                )
                return
            continue
        if ok:
            present.append(f"{wanted['name']} {_describe(record)}")
        else:
            wrong.append(wanted)

    if not wrong:
        host.noop(f"{', '.join(present)} present" if present else f"env {env}: no conda packages wanted")
        return

    conda = QuoteString(conda_bin(prefix))
    if local_files:
        files = [parse_package_filename(f) or {"path": f} for f in local_files]
        unnamed = [f["path"] for f in files if "name" not in f]
        if unnamed:
            raise OperationValueError(f"not conda package file names (NAME-VERSION-BUILD.tar.bz2): {unnamed}")
        by_name = {f["name"]: f for f in files}
        for wanted in wrong:
            found = by_name.get(wanted["name"])
            if found is None or not conda_version_matches(found["version"], found["build"], wanted):
                have = posixpath.basename(found["path"]) if found else "none"
                yield fail_host(
                    f"no local package file for {wanted['spec']} (local file: {have}); "
                    "add it to conda_local_files or install from a channel"
                )
                return
        # Explicit files imply --no-deps: a file goes in when that exact build is not in the env.
        needed = [
            f
            for f in files
            if not (
                f["name"] in installed
                and installed[f["name"]]["version"] == f["version"]
                and installed[f["name"]].get("build") == f["build"]
            )
        ]
        yield StringCommand(
            conda, "install", "-y", "-q", "-n", QuoteString(env),
            *_channel_args((), offline), *[QuoteString(f["path"]) for f in needed],
        )
        return

    yield StringCommand(
        conda, "install", "-y", "-q", "-n", QuoteString(env),
        *[QuoteString(w["spec"]) for w in wrong], *_channel_args(channels, offline),
    )
