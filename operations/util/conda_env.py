"""Pure helpers of the conda env operation: matching pythons and package files, the backup
command, the forced reinstall (with the flag of each conda generation)."""

from __future__ import annotations

import posixpath
import shlex

from packaging.version import InvalidVersion, Version
from pyinfra.api import OperationValueError, QuoteString, StringCommand
from pyinfra.api.command import make_formatted_string_command

from facts.cuda import listed_library
from stacks import conda_version_matches

from .commands import ROOT_PREFIX, conda_bin, env_prefix_of, fail_host

BACKUP_DIR = ".gpuws-backup"


def python_matches(installed: str | None, wanted: str) -> bool:
    """"3.7.16" satisfies "3.7"; "3.70.1" and "3.8.5" do not."""
    return installed is not None and (installed == wanted or installed.startswith(wanted + "."))


def backup_command(prefix: str, name: str) -> StringCommand:
    """Save what an env holds before it is removed: `conda list --export` (a spec file that
    `conda create --file` accepts) and `pip freeze` (if the env has a python), side by side in
    PREFIX/envs/.gpuws-backup/NAME-<UTC time>.{conda,pip}.txt. The removal runs only after it."""
    env_python = posixpath.join(env_prefix_of(prefix, name), "bin", "python")
    backup = posixpath.join(prefix, "envs", BACKUP_DIR)
    # One sh word: the quoted folder and name, then the time stamp the host's date prints.
    stem = "stem=" + shlex.quote(f"{backup}/{name}-") + "$(date -u +%Y%m%dT%H%M%SZ)"
    return make_formatted_string_command(
        "{stem} && mkdir -p -- {backup} && {conda} list -n {name} --export > {conda_txt} && "
        "{{ if [ -x {python} ]; then {python} -I -m pip freeze --disable-pip-version-check > {pip_txt} "
        "|| true; fi; }} && printf {saved} {stem_var}",
        stem=stem, backup=QuoteString(backup), conda=QuoteString(conda_bin(prefix)),
        name=QuoteString(name), python=QuoteString(env_python),
        conda_txt='"$stem.conda.txt"', pip_txt='"$stem.pip.txt"', stem_var='"$stem"',
        saved=QuoteString("saved the package lists of the old env to %s.*.txt\\n"),
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


def missing_libraries(state: dict, libraries, wanted: list[dict]) -> tuple[list[str], list[dict]]:
    """The wanted libraries missing from ENV/lib, and the wanted packages (in stack order) that
    ship them. Nothing when the fact predates its ``libraries`` key, or for a library name the
    fact cannot list (outside facts.cuda's globs: its absence would mean nothing)."""
    have = state.get("libraries")
    if not libraries or have is None:
        return [], []
    missing = [soname for soname in libraries if listed_library(soname) and soname not in have]
    owners = {library_package(soname) for soname in missing}
    return missing, [package for package in wanted if package["name"] in owners]


def describe_record(record: dict) -> str:
    return f"{record['version']} {record['build']}" if record.get("build") else record["version"]


def local_packages(local_files) -> list[dict]:
    """The explicit package files, named; an argument error for a file that is not
    NAME-VERSION-BUILD.tar.bz2 / .conda."""
    files = [parse_package_filename(f) or {"path": f} for f in local_files]
    unnamed = [f["path"] for f in files if "name" not in f]
    if unnamed:
        raise OperationValueError(f"not conda package file names (NAME-VERSION-BUILD.tar.bz2): {unnamed}")
    return files


def missing_local_file(files: list[dict], wrong: list[dict]) -> str | None:
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


def reinstall_flag(conda_version: str | None) -> str:
    """conda 4.6 brought --force-reinstall; before it the flag was --force (for named packages,
    with --no-deps implied), which conda 24.3 removed. Unknown version: today's flag."""
    try:
        old = conda_version is not None and Version(conda_version) < Version("4.6")
    except InvalidVersion:
        old = False
    return "--force" if old else "--force-reinstall"


def reinstall_commands(prefix: str, env_name: str, owners: list[dict], missing_libs: list[str], local_files,
                       conda_version: str | None):
    """One forced reinstall of the packages that ship ``missing_libs``: conda-meta says they are
    installed (a plain install would do nothing) but ENV/lib lacks their files, so TensorFlow
    cannot dlopen them. The exact specs (or files) keep them on the installed builds."""
    command = [*ROOT_PREFIX, QuoteString(conda_bin(prefix)), "install", "-y", "-q", "-n", QuoteString(env_name),
               reinstall_flag(conda_version), "--"]
    if not local_files:
        yield StringCommand(*command, *[QuoteString(o["spec"]) for o in owners])
        return
    files = local_packages(local_files)
    missing = missing_local_file(files, owners)
    if missing:
        yield fail_host(f"{', '.join(missing_libs)} missing from the env: {missing}")
        return
    by_name = {f["name"]: f for f in files}
    yield StringCommand(*command, *[QuoteString(by_name[o["name"]]["path"]) for o in owners])
