"""Build (or resume) a bundle: plan, fetch what is missing or wrong, index, write the manifest.

Order of work, so that bad input never leaves a half-written bundle behind:
1. check every input (stack, platform, installer options, output folder) - nothing written;
2. plan: solve conda, resolve pip (building sdist-only wheels in a scratch folder); a plan
   already on disk for the same inputs (manifest.json or an interrupted run's .plan.json) is
   re-used, so a resumed run needs no network for anything it already has;
3. fetch each planned file unless it is there and matches its sha256 (a corrupted one is
   fetched again), always through NAME.partial + verification + rename;
4. index DIR/conda, drop payload files the plan no longer names, write manifest.json last.
"""

import copy
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from deploys import bundle_manifest as manifest
from deploys.bundle_manifest import BundleError

from . import conda, fetch, wheels
from .platforms import platform

PAYLOAD_DIRS = ("conda", "miniconda", "sdists", "wheels")
PAYLOAD_SUFFIXES = (".tar.bz2", ".conda", ".whl", ".tar.gz", ".zip", ".sh", ".exe")
STACK_KEYS = ("name", "python", "conda", "pip", "pip_constraints")
OS_OF_PLATFORM = {"linux-64": "linux", "win-64": "windows"}


@dataclass
class Options:
    """What to bundle and where (the CLI's arguments).

    + out: the bundle directory (created; must be new, empty or an earlier bundle)
    + spec: a stack name or tensorflow==X.Y.Z, resolved with stacks.resolve()
    + stack: an already resolved stack dict (tests, --stack-file); wins over spec
    + platform: conda subdir of the target hosts
    + channels: conda channel URLs (default: the stack's / channel_name's)
    + channel_name: the channel data name given to stacks.resolve (e.g. defaults)
    + index_url: the simple index for wheels (default PyPI)
    + miniconda_url, miniconda_sha256, miniconda_file: the installer source (url needs the sha256)
    + python: the target CPython, to build sdist-only requirements
    + refresh: solve and resolve again even when a plan for the same inputs exists
    """
    out: str
    spec: str = None
    stack: dict = None
    platform: str = "linux-64"
    channels: list = field(default_factory=list)
    channel_name: str = "defaults"
    index_url: str = None
    miniconda_url: str = None
    miniconda_sha256: str = None
    miniconda_file: str = None
    python: str = None
    refresh: bool = False


@dataclass
class Result:
    manifest: dict
    downloaded: int      # bytes transferred for the bundle's files in this run
    fetched: int         # files transferred or built in this run
    removed: int         # stale payload files deleted
    seconds: float


def log(message):
    print(message, file=sys.stderr, flush=True)


def load_stack(options):
    """The resolved stack dict: options.stack, else stacks.resolve(spec, os=..., channel=...)."""
    if options.stack is not None:
        stack = options.stack
    elif not options.spec:
        raise BundleError("no stack: give SPEC (e.g. tf21) or --stack-file JSON")
    else:
        try:
            import stacks
        except ImportError as error:  # pragma: no cover - the project ships stacks/
            raise BundleError(f"cannot import the stacks package ({error}): run from the project root") from None
        try:
            stack = stacks.resolve(options.spec, os=OS_OF_PLATFORM.get(options.platform, "linux"),
                                   channel=options.channel_name)
        except ValueError as error:  # stacks.StackError is a ValueError
            raise BundleError(str(error).splitlines()[0]) from None
    missing = [key for key in STACK_KEYS if key not in stack]
    if missing:
        raise BundleError(f"the stack lacks {', '.join(missing)}: give a dict shaped like stacks.resolve()'s")
    if not all(isinstance(entry, dict) and entry.get("spec") for entry in stack["conda"]):
        raise BundleError("every entry of the stack's conda list needs a 'spec' (conda MatchSpec string)")
    return stack


def check_inputs(options):
    """Everything that can be checked before the network: raises BundleError, writes nothing."""
    platform(options.platform)
    if options.miniconda_url and options.miniconda_file:
        raise BundleError("give --miniconda-url or --miniconda-file, not both")
    if options.miniconda_url and not options.miniconda_sha256:
        raise BundleError("--miniconda-url needs --miniconda-sha256 HEX: an installer is never used unverified")
    if options.miniconda_sha256 and not re.fullmatch(r"[0-9a-fA-F]{64}", options.miniconda_sha256):
        raise BundleError(f"--miniconda-sha256 {options.miniconda_sha256!r} is not a sha256 (64 hex digits)")
    if options.miniconda_file and not os.path.isfile(options.miniconda_file):
        raise BundleError(f"--miniconda-file {options.miniconda_file}: no such file")
    out = Path(options.out)
    if out.exists() and not out.is_dir():
        raise BundleError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not ((out / manifest.MANIFEST).exists() or (out / manifest.PLAN).exists()):
        raise BundleError(f"--out {out} is not empty and holds no bundle: choose a new or empty directory")


def inputs_of(options, stack):
    """The inputs a plan depends on; their digest decides whether a plan on disk is re-used."""
    installer = None
    if options.miniconda_url:
        installer = {"url": options.miniconda_url, "sha256": options.miniconda_sha256.lower()}
    elif options.miniconda_file:
        installer = {"file": os.path.basename(options.miniconda_file),
                     "sha256": fetch.file_digest(options.miniconda_file)}
        if options.miniconda_sha256 and installer["sha256"] != options.miniconda_sha256.lower():
            raise BundleError(f"--miniconda-file {options.miniconda_file}: sha256 {installer['sha256']} "
                              f"!= --miniconda-sha256 {options.miniconda_sha256}")
    channels = options.channels or conda.default_channels(stack, options.channel_name)
    return {"channels": channels, "index_url": options.index_url or wheels.DEFAULT_INDEX_URL,
            "miniconda": installer}


def fingerprint(platform_name, inputs, stack):
    text = json.dumps({"format": manifest.FORMAT, "platform": platform_name, "inputs": inputs, "stack": stack},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def installer_entry(options, inputs):
    info = inputs["miniconda"]
    if info is None:
        return None
    if "url" in info:
        name = urllib.parse.unquote(os.path.basename(urllib.parse.urlparse(info["url"]).path))
        url = info["url"]
    else:
        name, url = info["file"], Path(options.miniconda_file).resolve().as_uri()
    version = re.match(r"(?:Miniconda|Anaconda)\d*-(.+?)-(?:Linux|Windows|MacOSX)", name)
    return {"kind": "installer", "path": f"miniconda/{name}", "name": "miniconda",
            "version": version.group(1) if version else None, "sha256": info["sha256"], "size": None, "url": url}


def plan(options, stack, inputs, workdir):
    """Solve and resolve -> (target python version, entries, wheelhouse)."""
    entries = conda.solve(stack, inputs["channels"], options.platform)
    log(f"conda: {len(entries)} packages solved for {', '.join(conda.specs_of(stack))} "
        f"from {', '.join(inputs['channels'])}")
    pythons = [e["version"] for e in entries if e["name"] == "python"]
    python_version = wheels.target_python(stack, pythons[0] if pythons else None)
    house = wheels.Wheelhouse(stack["pip"], stack["pip_constraints"], options.platform, python_version,
                              inputs["index_url"], workdir, python=options.python)
    if stack["pip"]:
        planned = house.plan()
        log(f"wheels: {len(planned)} files resolved for python {python_version} {options.platform}")
        entries += planned
    installer = installer_entry(options, inputs)
    if installer:
        entries.append(installer)
    return python_version, sorted(entries, key=lambda e: e["path"]), house


def run(options):
    """Build or resume the bundle described by `options` -> Result. Raises BundleError."""
    started = time.monotonic()
    check_inputs(options)
    stack = load_stack(options)
    inputs = inputs_of(options, stack)
    digest = fingerprint(options.platform, inputs, stack)
    out = os.path.abspath(options.out)
    previous = None
    if not options.refresh:
        for name in (manifest.MANIFEST, manifest.PLAN):
            candidate = manifest.read_plan(out, name)
            if candidate and candidate.get("fingerprint") == digest:
                previous = candidate
                break
    downloaded = 0
    with tempfile.TemporaryDirectory(prefix="gpuws-bundle-") as workdir:
        if previous:
            log(f"re-using the plan in {out} ({len(previous['files'])} files; --refresh solves again)")
            python_version, entries = previous["python"], copy.deepcopy(previous["files"])
            house = wheels.Wheelhouse(stack["pip"], stack["pip_constraints"], options.platform, python_version,
                                      inputs["index_url"], workdir, python=options.python)
        else:
            python_version, entries, house = plan(options, stack, inputs, workdir)
            downloaded += house.downloaded
        # Files already on this machine after planning: wheels built from sdists, and the sdists.
        local = {e["path"]: e.pop("built") for e in entries if "built" in e}
        for entry in entries:
            sdist = os.path.join(house.sdist_dir, os.path.basename(entry["path"]))
            if entry["kind"] == "sdist" and fetch.matches(sdist, sha256=entry["sha256"]):
                local[entry["path"]] = sdist
        record = {"format": manifest.FORMAT, "created": manifest.now(), "platform": options.platform,
                  "python": python_version, "fingerprint": digest, "inputs": inputs, "stack": stack,
                  "files": entries}
        os.makedirs(out, exist_ok=True)
        fetch.remove_partials(out)
        if not previous:
            # Mark DIR as unfinished before changing it: the old manifest no longer describes it.
            manifest.write(out, manifest.PLAN, record)
            _remove(os.path.join(out, manifest.MANIFEST))
            missing = [e for e in entries if e["kind"] == "wheel" and "built_from" not in e
                       and not fetch.matches(os.path.join(out, e["path"]), sha256=e["sha256"])]
            local.update(house.stage_with_pip(missing, os.path.join(workdir, "pip-staging")))
        got, fetched = _fetch_all(out, entries, local, house, options)
        downloaded += got
    removed = _remove_stale(out, entries)
    log("indexing the conda channel")
    conda.index_channel(os.path.join(out, "conda"), options.platform)
    record["files"] = entries
    record["totals"] = manifest.totals(entries)
    manifest.write(out, manifest.MANIFEST, record)
    _remove(os.path.join(out, manifest.PLAN))
    return Result(record, downloaded, fetched, removed, time.monotonic() - started)


def _fetch_all(out, entries, local, house, options):
    """Bring every planned file into place -> (bytes downloaded, files fetched or built).

    `local` maps entry paths to verified files already on this machine (built wheels, sdists
    fetched while planning, wheels pip placed from its cache): they are moved, not fetched.
    """
    downloaded = fetched = 0
    for entry in entries:
        dest = os.path.join(out, entry["path"])
        if fetch.matches(dest, sha256=entry["sha256"], md5=entry.get("md5"), size=entry["size"]):
            entry["size"] = os.path.getsize(dest)  # pip's report and the installer options give no size
            continue
        fetched += 1
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        source = local.get(entry["path"])
        if source and os.path.isfile(source):
            shutil.move(source, dest + ".partial")
            os.replace(dest + ".partial", dest)
            if entry["kind"] == "wheel" and "built_from" not in entry:
                downloaded += os.path.getsize(dest)  # pip transferred it (or took it from its cache)
        elif "built_from" in entry:
            log(f"building {os.path.basename(entry['path'])} from {entry['built_from']}")
            built = wheels.build_wheel(house.python(), os.path.join(out, entry["built_from"]),
                                       os.path.join(house.workdir, "rebuilt"), house.index_url)
            shutil.move(built, dest + ".partial")
            os.replace(dest + ".partial", dest)
        elif entry["kind"] == "installer" and options.miniconda_file:
            fetch.copy_verified(options.miniconda_file, dest, sha256=entry["sha256"])
        else:
            downloaded += fetch.download(entry["url"], dest, sha256=entry["sha256"], md5=entry.get("md5"),
                                         size=entry["size"])
        if "built_from" in entry:  # a build is not byte-reproducible: the manifest records this one
            entry["sha256"] = fetch.file_digest(dest)
        entry["size"] = os.path.getsize(dest)
    return downloaded, fetched


def _remove_stale(out, entries):
    """Delete payload files (packages, wheels, installers) the plan does not name -> count."""
    keep = {os.path.normpath(os.path.join(out, e["path"])) for e in entries}
    removed = 0
    for top in PAYLOAD_DIRS:
        for folder, _dirs, names in os.walk(os.path.join(out, top)):
            for name in names:
                path = os.path.normpath(os.path.join(folder, name))
                if name.endswith(PAYLOAD_SUFFIXES) and path not in keep:
                    os.remove(path)
                    removed += 1
    return removed


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
