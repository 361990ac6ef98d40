"""Conda facts: an installation (version, envs, .condarc) and the packages of one env.

Both read conda's own package records instead of starting conda. Why: `conda list --json` or
`conda env list --json` starts a Python interpreter and imports conda, seconds per call on an old
workstation, per env and per run, and breaks in the ways conda itself breaks (a bad .condarc, a
half-finished update; conda 23.7.0-23.7.1 even ignored --json). The records conda keeps in
`PREFIX/conda-meta/` are named `<name>-<version>-<build>.json` (conda's `dist_name`), so one fast
`ls`-like shell loop yields exactly what the operations compare: name, version and build string.
"""

from __future__ import annotations

import re
from typing import Any

from pyinfra.api import FactBase

from facts._sections import parse_sections, script_with_variables
from facts.cuda import ENV_LIBRARIES_PART, library_names
from facts.ownership import OWNER_PART, unsafe_paths


def parse_record_name(filename: str) -> dict | None:
    """
    Split a conda-meta record file name into name, version and build.

    + filename: e.g. ``cudatoolkit-10.1.243-h6bb024c_0.json`` (a path is fine too)

    Returns ``{"name": "cudatoolkit", "version": "10.1.243", "build": "h6bb024c_0"}``, or None for
    anything that is not a record (``history``, a stray file). Names may contain dashes
    (``conda-package-handling``); versions and builds cannot, so the last two dashes split.
    """
    base = re.split(r"[\\/]", filename.strip())[-1]
    if not base.endswith(".json"):
        return None
    parts = base[: -len(".json")].rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    name, version, build = parts
    return {"name": name, "version": version, "build": build}


# ---------------------------------------------------------------------------------------------
# CondaInstall
# ---------------------------------------------------------------------------------------------

_INSTALL_SCRIPT = OWNER_PART + r"""
printf '@@section prefix rc=0\n%s\n' "$P"
if [ -d "$P" ]; then echo '@@section exists rc=0'; fi
if [ -x "$P/bin/conda" ] && [ -d "$P/conda-meta" ]; then echo '@@section present rc=0'; fi
echo '@@section base rc=0'
for f in "$P"/conda-meta/conda-[0-9]*.json "$P"/conda-meta/python-[0-9]*.json; do
    if [ -e "$f" ]; then echo "${f##*/}"; fi
done
echo '@@section envs rc=0'
for e in "$P"/envs/*/; do
    if [ ! -d "${e}conda-meta" ]; then continue; fi
    echo "env ${e%/}"
    for f in "${e}"conda-meta/python-[0-9]*.json; do
        if [ -e "$f" ]; then echo "record ${f##*/}"; fi
    done
done
# before the .condarc, whose last line may have no newline
if [ -d "$P" ]; then
    gpuws_owners "$P" "$P/bin" "$P/bin/conda" "$P/bin/python" "$P/condabin" "$P/condabin/conda" \
        "$P/etc" "$P/etc/profile.d" "$P/etc/profile.d/conda.sh" "$P/lib" "$P"/lib/python*/site-packages \
        "$P/envs" "$P"/envs/*/ "$P"/envs/*/bin "$P"/envs/*/bin/python "$P"/envs/*/lib \
        "$P"/envs/*/lib/python*/site-packages "$P"/envs/*/etc "$P"/envs/*/etc/conda \
        "$P"/envs/*/etc/conda/*.d "$P"/envs/*/etc/conda/*.d/*
fi
if [ -f "$P/.condarc" ]; then echo '@@section condarc rc=0'; cat "$P/.condarc"; fi
echo '@@end'
"""


def _record_version(filenames: list[str], package: str) -> str | None:
    for filename in filenames:
        record = parse_record_name(filename)
        if record and record["name"] == package:
            return record["version"]
    return None


class CondaInstall(FactBase):
    """
    A conda installation (Miniconda/Anaconda) at a prefix, read from its records.

    + prefix: the installation prefix, e.g. ``/opt/miniconda3`` (``~/`` means the SSH user's home)

    Returns::

        {"present": bool,            # PREFIX/bin/conda and PREFIX/conda-meta exist
         "exists": bool,             # the directory exists (present False + exists True: a
                                     # half-finished install, which the installer refuses)
         "prefix": "/opt/miniconda3",
         "version": "4.8.3" | None,  # from PREFIX/conda-meta/conda-<ver>-<build>.json
         "python": "3.8.3" | None,   # the base env's python
         "envs": [{"name": "base", "path": "/opt/miniconda3", "python": "3.8.3"},
                  {"name": "tf21", "path": "/opt/miniconda3/envs/tf21", "python": "3.7.16"}],
         "condarc": str | None,      # content of PREFIX/.condarc
         "unsafe": [{"path", "owner", "mode"}]}  # paths root must not trust (facts/ownership.py):
                                     # the prefix, the folders above it, bin/conda, etc/profile.d/
                                     # conda.sh, each env's bin/python, site-packages and hooks

    Only envs under PREFIX/envs are listed (envs_dirs elsewhere are not scanned).

    **Example:**

    .. code:: python

        conda = host.get_fact(CondaInstall, prefix="/opt/miniconda3")
        has_env = any(env["name"] == "tf21" for env in conda["envs"])
    """

    def command(self, prefix: str):
        return script_with_variables(_INSTALL_SCRIPT, P=prefix)

    @staticmethod
    def default() -> dict:
        return {"present": False, "exists": False, "prefix": None, "version": None, "python": None,
                "envs": [], "condarc": None, "unsafe": []}

    def process(self, output: list[str]) -> dict:
        sections = parse_sections(output)
        result = self.default()
        if "prefix" in sections and sections["prefix"].lines:
            result["prefix"] = sections["prefix"].lines[0]  # with "~/" expanded by the target
        result["present"] = "present" in sections
        result["exists"] = "exists" in sections
        base_records = sections["base"].lines if "base" in sections else []
        result["version"] = _record_version(base_records, "conda")
        result["python"] = _record_version(base_records, "python")
        envs: list[dict[str, Any]] = []
        if result["present"]:
            envs.append({"name": "base", "path": result["prefix"], "python": result["python"]})
        for line in sections["envs"].lines if "envs" in sections else []:
            kind, _, value = line.partition(" ")
            if kind == "env":
                envs.append({"name": re.split(r"[\\/]", value)[-1], "path": value, "python": None})
            elif kind == "record" and envs:
                envs[-1]["python"] = _record_version([value], "python")
        result["envs"] = envs
        if "condarc" in sections:
            result["condarc"] = "\n".join(sections["condarc"].lines) + "\n"
        result["unsafe"] = unsafe_paths(sections)
        return result


# ---------------------------------------------------------------------------------------------
# CondaPackages
# ---------------------------------------------------------------------------------------------

# The records, then (same command, no extra round trip) the CUDA library names in ENV/lib by
# facts.cuda's rule, so the env operation sees a library deleted behind conda's back.
_PACKAGES_SCRIPT = r"""
if [ -d "$E/conda-meta" ]; then
    echo '@@section records rc=0'
    for f in "$E"/conda-meta/*.json; do
        if [ -e "$f" ]; then echo "${f##*/}"; fi
    done
fi""" + ENV_LIBRARIES_PART + r"""
echo '@@end'
"""

# With a root prefix: the same test as CondaInstall's "present", in the same command (a shell
# test, no extra round trip), so an operation can tell "no env yet" from "no conda at all".
_CONDA_TEST = r"""
if [ -x "$P/bin/conda" ] && [ -d "$P/conda-meta" ]; then
    echo '@@section conda rc=0'
    for f in "$P"/conda-meta/conda-[0-9]*.json; do
        if [ -e "$f" ]; then echo "${f##*/}"; fi
    done
else
    echo '@@section conda rc=1'
fi"""


class CondaPackages(FactBase):
    """
    The conda packages installed in one env, read from its conda-meta records (pip-installed
    packages have no record there: see `facts.pip_env.PipPackages`).

    + env_prefix: the env's directory, e.g. ``/opt/miniconda3/envs/tf21``
    + prefix: the conda root prefix the env belongs to, e.g. ``/opt/miniconda3``; when given, the
      same command also tests for ``PREFIX/bin/conda`` and ``PREFIX/conda-meta``

    Returns::

        {"present": bool,             # the env has a conda-meta folder
         "packages": {"cudatoolkit": {"version": "10.1.243", "build": "h6bb024c_0"}, ...},
         "python": "3.7.16" | None,   # the env's python record (None: no python in the env)
         "conda": bool | None,        # conda installed at ``prefix`` (None: prefix not given)
         "conda_version": "4.3.16" | None,  # its version, from its conda-meta record
         "libraries": ["libcudart.so.10.1", "libcudart.so.10.1.243", "libcudnn.so.7", ...]}

    ``libraries`` are the CUDA/cuDNN library names present in ``ENV/lib``, sorted, by the rule of
    `facts.cuda.EnvCudaLibraries` (sonames and fully versioned names, broken symlinks left out;
    empty when the env has no conda-meta or no lib folder): conda-meta still lists a package whose
    files were deleted by hand, these names do not.

    **Example:**

    .. code:: python

        pkgs = host.get_fact(CondaPackages, env_prefix="/opt/miniconda3/envs/tf21")["packages"]
        env = host.get_fact(CondaPackages, env_prefix="/opt/miniconda3/envs/tf21", prefix="/opt/miniconda3")
        if not env["conda"]:
            ...  # install Miniconda first
    """

    def command(self, env_prefix: str, prefix: str | None = None):
        if prefix is None:
            return script_with_variables(_PACKAGES_SCRIPT, E=env_prefix)
        return script_with_variables(_CONDA_TEST + _PACKAGES_SCRIPT, E=env_prefix, P=prefix)

    @staticmethod
    def default() -> dict:
        return {"present": False, "packages": {}, "python": None, "conda": None, "conda_version": None,
                "libraries": []}

    def process(self, output: list[str]) -> dict:
        sections = parse_sections(output)
        result = self.default()
        if "conda" in sections:  # only when asked (prefix given): rc=0 present, rc=1 absent
            result["conda"] = sections["conda"].rc == 0
            result["conda_version"] = _record_version(sections["conda"].lines, "conda")
        if "records" not in sections:
            return result
        if "libraries" in sections:
            result["libraries"] = library_names(sections["libraries"].lines)
        packages = {}
        for line in sections["records"].lines:
            record = parse_record_name(line)
            if record:
                packages[record["name"]] = {"version": record["version"], "build": record["build"]}
        result.update(present=True, packages=packages)
        result["python"] = packages["python"]["version"] if "python" in packages else None
        return result
