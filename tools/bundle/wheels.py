"""The pip half of a bundle: a wheelhouse of the stack's requirements for the target python.

Resolution runs the controller's pip (`pip install --dry-run --report`) with the target's
tags (`--python-version 3.7.16 --abi cp37m --platform manylinux...`) and the target's marker
environment (see pip_target.py). The target python is the exact version the env gets (the conda
solve's, else the stack's lock's: target_python), and the stack's pip constraints carry its
lock's `name==version` pins, so the wheelhouse holds exactly the locked versions. The report names every file with its URL and sha256; the
files themselves are fetched by fetch.py like the conda packages.

Requirements that exist only as an sdist (gast==0.2.2, pinned by TF 2.1; PyPI has no wheel of it:
https://pypi.org/project/gast/0.2.2/#files) make a binary-only resolution fail with "No matching distribution found for
gast==0.2.2". For each such requirement the sdist is fetched and built into a wheel with the
*target* interpreter (`python3.7 -m pip wheel --no-deps`), then the resolution runs again
with the built wheels as --find-links, until it succeeds.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

from . import fetch
from deploys.bundle_manifest import BundleError
from .platforms import platform, python_abi

DEFAULT_INDEX_URL = "https://pypi.org/simple"
MAX_SDIST_ROUNDS = 10
NO_MATCH = re.compile(r"No matching distribution found for (\S+)")
# The controller's pip configuration (pip.conf, PIP_INDEX_URL, PIP_FIND_LINKS, a global
# constraint file...) is not part of the bundle's inputs: it would make the wheelhouse depend
# on who builds it. Only transport settings pass through.
PIP_ENV_KEPT = {"PIP_CERT", "PIP_CLIENT_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_PROXY", "PIP_RETRIES",
                "PIP_TRUSTED_HOST"}


def pip_environment():
    """os.environ for pip runs: no pip config file, no PIP_* settings but transport ones."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PIP_") or key in PIP_ENV_KEPT}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def target_markers(platform_name, python_full_version):
    """PEP 508 marker values of the target interpreter (python version from the conda solve)."""
    major_minor = ".".join(python_full_version.split(".")[:2])
    markers = dict(platform(platform_name)["markers"])
    markers.update(python_version=major_minor, python_full_version=python_full_version,
                   implementation_name="cpython", implementation_version=python_full_version,
                   platform_python_implementation="CPython")
    return markers


def target_python(stack, solved=None):
    """The exact python version the wheels are resolved for: the conda solve's, else the lock's.

    + stack: a resolved stack (stacks.resolve); its "lock" names the CPython the lock was made on
    + solved: the python version of the conda solve ("3.7.16"), or None

    A bare "3.7" is never used: pip would read it as 3.7.0 and pick older releases than the lock.

    **Example:**

    .. code:: python

        target_python({"python": "3.7", "lock": {"python": "3.7.16"}})  # "3.7.16"
    """
    lock_python = (stack.get("lock") or {}).get("python")
    if solved:
        if lock_python and solved.split(".")[:2] != lock_python.split(".")[:2]:
            raise BundleError(f"the conda solve gives python {solved}, the stack's lock is for {lock_python}: "
                              f"solve for python {stack['python']}")
        return solved
    if lock_python:
        return lock_python
    raise BundleError(f"no exact python version for the wheels: the conda solve has no python and the "
                      f"stack {stack.get('name')} has no lock (python -m stacks lock SPEC --update)")


def find_python(version, explicit=None):
    """Path of a CPython `version` (X.Y) interpreter on the controller, to build sdists.

    Looks at `explicit` (--python), $PYXY (e.g. $PY37), $(pyenv root)/versions/X.Y.*, then
    pythonX.Y on PATH; each candidate must report the right version.
    """
    nodot = version.replace(".", "")
    candidates = [explicit] if explicit else []
    if not explicit:
        if os.environ.get(f"PY{nodot}"):
            candidates.append(os.environ[f"PY{nodot}"])
        pyenv = shutil.which("pyenv")
        if pyenv:
            root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
            found = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")))
            candidates.extend(reversed(found))
        if shutil.which(f"python{version}"):
            candidates.append(shutil.which(f"python{version}"))
    for candidate in candidates:
        try:
            answer = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                    capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            continue
        if answer == version:
            return candidate
    where = f"--python {explicit} is not" if explicit else "found no"
    raise BundleError(f"{where} a CPython {version} interpreter, needed to build sdist-only requirements "
                      f"into wheels: pass --python PATH or set PY{nodot}")


class Wheelhouse:
    """Resolves one stack's requirements; `plan()` returns manifest entries (see manifest.py).

    + requirements: requirement strings (stack["pip"])
    + constraints: constraint strings (stack["pip_constraints"]), given to pip as -c
    + platform_name: conda subdir of the target (platforms.py)
    + python_full_version: the target python, e.g. "3.7.16" (the conda solve's python)
    + index_url: the simple index to use (default PyPI)
    + workdir: a scratch folder for the requirement files, sdists and built wheels
    + python: explicit target interpreter (--python), else find_python() when one is needed
    """

    def __init__(self, requirements, constraints, platform_name, python_full_version, index_url,
                 workdir, python=None):
        self.requirements, self.constraints = list(requirements), list(constraints)
        self.platform_name, self.python_full_version = platform_name, python_full_version
        self.python_version = ".".join(python_full_version.split(".")[:2])
        self.index_url = index_url or DEFAULT_INDEX_URL
        self.workdir, self.explicit_python = workdir, python
        self.built_dir = os.path.join(workdir, "built")
        self.sdist_dir = os.path.join(workdir, "sdists")
        self.downloaded = 0  # bytes of sdists fetched while planning

    # -- pip invocations --------------------------------------------------------------
    def _pip(self, args):
        markers = json.dumps(target_markers(self.platform_name, self.python_full_version))
        command = [sys.executable, "-m", "tools.bundle.pip_target", markers, *args]
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = pip_environment()
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        return subprocess.run(command, capture_output=True, text=True, env=env)

    def _target_options(self):
        # The FULL version: pip reads "--python-version 3.7" as 3.7.0 for Requires-Python, so a
        # ">=3.7.1" release (pandas 1.3.5) would be skipped for pandas 1.1.5; the tags need only X.Y.
        options = ["--python-version", self.python_full_version, "--implementation", "cp",
                   "--abi", python_abi(self.python_version)]
        for tag in platform(self.platform_name)["pip_platforms"]:
            options += ["--platform", tag]
        return options

    def _report(self, extra, report_name):
        """pip install --dry-run --report for the target; (completed process, report dict|None)."""
        report = os.path.join(self.workdir, report_name)
        args = ["install", "--dry-run", "--ignore-installed", "--report", report,
                "--target", os.path.join(self.workdir, "never-installed"),
                "--index-url", self.index_url, *self._target_options(), *extra]
        done = self._pip(args)
        if done.returncode != 0:
            return done, None
        with open(report) as handle:
            return done, json.load(handle)

    # -- the plan -------------------------------------------------------------------
    def plan(self):
        """Resolve the whole requirement set -> wheel (and sdist) entries, building sdist-only ones."""
        if not self.requirements:
            return []
        os.makedirs(self.built_dir, exist_ok=True)
        requirements = os.path.join(self.workdir, "requirements.txt")
        constraints = os.path.join(self.workdir, "constraints.txt")
        with open(requirements, "w") as handle:
            handle.write("\n".join(self.requirements) + "\n")
        with open(constraints, "w") as handle:
            handle.write("\n".join(self.constraints) + "\n")
        sdists = {}  # requirement string -> sdist entry
        for _round in range(MAX_SDIST_ROUNDS):
            done, report = self._report(["--only-binary=:all:", "--find-links", self.built_dir,
                                         "-r", requirements, "-c", constraints], "report.json")
            if report is not None:
                return self._entries(report, sdists)
            # pip names an sdist-only requirement in one of two ways: "No matching distribution
            # found for gast==0.2.2", or, when a constraint pins it too, a conflict whose
            # causes list "tensorflow-gpu 2.1.0 depends on gast==0.2.2". Each requirement named
            # is probed alone; those with no wheel for the target are built from their sdist.
            # (pip prints the causes on stdout, the ERROR lines on stderr.)
            suspects = [r for r in _named_requirements(done.stdout + done.stderr) if r not in sdists]
            sdist_only = [r for r in suspects if not self._has_wheel(r, constraints)]
            if not sdist_only:
                raise BundleError(f"pip cannot resolve the wheelhouse for {python_abi(self.python_version)} "
                                  f"{self.platform_name}: {_last_error(done.stderr)}")
            for requirement in sdist_only:
                if not self._has_wheel(requirement, constraints):  # an earlier build may cover it
                    sdists[requirement] = self._build_from_sdist(requirement, constraints)
        raise BundleError(f"more than {MAX_SDIST_ROUNDS} rounds of sdist-only requirements: giving up")

    def _has_wheel(self, requirement, constraints):
        """Whether `requirement` alone resolves to a wheel for the target (no dependencies)."""
        done, report = self._report(["--only-binary=:all:", "--no-deps", "--find-links", self.built_dir,
                                     requirement, "-c", constraints], "probe-report.json")
        return report is not None

    def _build_from_sdist(self, requirement, constraints):
        """Fetch the sdist of a requirement that has no wheel for the target, build its wheel."""
        done, report = self._report(["--no-deps", "--no-binary=:all:", requirement, "-c", constraints],
                                    "sdist-report.json")
        if report is None or not report["install"]:
            raise BundleError(f"no wheel for cp{self.python_version} {self.platform_name} and no sdist for "
                              f"{requirement}: {_last_error(done.stderr)}")
        item = report["install"][0]
        url = item["download_info"]["url"]
        sha256 = item["download_info"]["archive_info"]["hashes"]["sha256"]
        name = _file_name(url)
        path = os.path.join(self.sdist_dir, name)
        if not fetch.matches(path, sha256=sha256):
            self.downloaded += fetch.download(url, path, sha256=sha256)
        entry = {"kind": "sdist", "path": f"sdists/{name}", "name": _normalize(item["metadata"]["name"]),
                 "version": item["metadata"]["version"], "sha256": sha256,
                 "size": os.path.getsize(path), "url": url}
        build_wheel(self.python(), path, self.built_dir, self.index_url)
        return entry

    def stage_with_pip(self, entries, staging):
        """Have pip put the planned wheels in `staging` -> {entry path: staged file}.

        The resolution already made pip download every wheel into its HTTP cache (the old
        tensorflow-gpu wheel publishes no separate metadata, so pip reads the 422 MB file to
        learn its dependencies). `pip download --no-deps` of the exact pins is then served
        from that cache, so the bundle does not pull the same bytes a second time. A file
        pip does not produce, or that differs from the plan's sha256, is left to fetch.py.
        """
        wanted = [e for e in entries if e["kind"] == "wheel" and "built_from" not in e]
        if not wanted:
            return {}
        os.makedirs(staging, exist_ok=True)
        pins = [f"{e['name']}=={e['version']}" for e in wanted]
        self._pip(["download", "--no-deps", "--only-binary=:all:", *self._target_options(),
                   "--index-url", self.index_url, "-d", staging, *pins])
        staged = {}
        for entry in wanted:
            candidate = os.path.join(staging, os.path.basename(entry["path"]))
            if fetch.matches(candidate, sha256=entry["sha256"]):
                staged[entry["path"]] = candidate
        return staged

    def python(self):
        if not hasattr(self, "_python"):
            self._python = find_python(self.python_version, self.explicit_python)
        return self._python

    def _entries(self, report, sdists):
        """Manifest entries from pip's report; built wheels point at the sdist they came from."""
        by_name = {entry["name"]: entry for entry in sdists.values()}
        entries = []
        for item in report["install"]:
            url = item["download_info"]["url"]
            name = _normalize(item["metadata"]["name"])
            entry = {"kind": "wheel", "path": f"wheels/{_file_name(url)}", "name": name,
                     "version": item["metadata"]["version"]}
            if name in by_name and url.startswith("file:"):
                local = urllib.request.url2pathname(urllib.parse.urlparse(url).path)
                sdist = by_name[name]
                entry.update(sha256=fetch.file_digest(local), size=os.path.getsize(local), url=sdist["url"],
                             built_from=sdist["path"], built=local)
                entries.extend([sdist, entry])
            else:
                hashes = item["download_info"].get("archive_info", {}).get("hashes", {})
                if "sha256" not in hashes:
                    raise BundleError(f"the index gave no sha256 for {url}: use an index that publishes hashes")
                entry.update(sha256=hashes["sha256"], size=None, url=url)
                entries.append(entry)
        return sorted(entries, key=lambda e: e["path"])


def build_wheel(python, sdist, outdir, index_url):
    """`python -m pip wheel --no-deps` of one sdist into `outdir`; returns the wheel's path.

    The target interpreter builds it, so a setup.py that only works on the target python
    still builds, and the wheel's tags are the ones the target accepts. --use-pep517: a
    setup.py-only sdist (gast 0.2.2) otherwise needs the `wheel` package installed in that
    interpreter ("invalid command 'bdist_wheel'"); PEP 517 build isolation brings setuptools
    and wheel from the same index instead.
    """
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=outdir, prefix=".build-") as scratch:
        done = subprocess.run([python, "-m", "pip", "wheel", "--no-deps", "--use-pep517", "--quiet", "--index-url", index_url,
                               "-w", scratch, sdist], capture_output=True, text=True, env=pip_environment())
        wheels = glob.glob(os.path.join(scratch, "*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            raise BundleError(f"building a wheel from {os.path.basename(sdist)} with {python} failed: "
                              f"{_last_error(done.stderr)}")
        built = os.path.join(outdir, os.path.basename(wheels[0]))
        os.replace(wheels[0], built)
    return built


def _named_requirements(stderr):
    """Requirement strings a failed pip resolution names as missing or as conflict causes."""
    found = NO_MATCH.findall(stderr)
    found += re.findall(r"^\s+\S+ \S+ depends on (\S+)\s*$", stderr, re.MULTILINE)
    found += re.findall(r"^\s+The user requested (?:\(constraint\) )?(\S+)\s*$", stderr, re.MULTILINE)
    return list(dict.fromkeys(found))


def _file_name(url):
    return urllib.parse.unquote(os.path.basename(urllib.parse.urlparse(url).path))


def _normalize(name):
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _last_error(stderr):
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["(no output)"])[-1]
