"""conda operations: Miniconda in a prefix, the prefix's ``.condarc``, and a named env with the
stack's python and conda packages.

conda is always called as PREFIX/bin/conda with ``-n NAME``: no ``conda activate``, no
``conda run`` (conda 4.3 has neither), no PATH set-up on the target.
"""

from __future__ import annotations

import os
import posixpath

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationValueError, QuoteString, StringCommand, operation

from facts.workstation import read  # this run's broad read (one remote command per host)
from facts.conda import CondaInstall, CondaPackages
from facts.files_state import FileContent
from facts.host import FreeDisk
from facts.ownership import unsafe_message
from stacks import conda_version_matches

from .util.commands import ROOT_PREFIX, absolute, conda_bin, env_prefix_of, fail_host, log_diff, same_text, write_file
from .util.conda_env import (
    BACKUP_DIR, backup_command, describe_record, local_packages, missing_libraries, missing_local_file,
    python_matches, reinstall_commands,
)
from .util.condarc import render_condarc
from .util.takeover import condarc_keys, replace_config
from .util.miniconda import (
    PROFILE_HOOK_PATH, SHA256, download_command, install_command, installer_path, render_profile_hook,
    verify_sha256_command,
)


def _short_of_disk(prefix: str, min_free_mib: int | None, what: str):
    """The one free-disk check of the conda prefix, made just before it grows (Miniconda, a new
    env): refusing early beats a half-unpacked prefix. Yields a failing command, or nothing."""
    if not min_free_mib:
        return
    disk = read(FreeDisk, path=prefix)
    if disk and disk.get("free_mib") is not None and disk["free_mib"] < min_free_mib:
        yield fail_host(
            f"not enough free disk for {what} under {disk.get('checked_path') or prefix}: "
            f"{disk['free_mib']} MiB free, {min_free_mib} MiB needed; free some space or choose "
            "another conda_prefix"
        )


@operation()
def prefix_trusted(prefix: str):
    """
    Fail the host when another user could change code that root runs from the conda prefix.

    Checked: the prefix, the folders above it, bin/conda, etc/profile.d/conda.sh (sourced by
    root's login shells through the profile hook), each env, its bin/python, site-packages and
    activation hooks; each must be owned by root (or the deploy's user) and not group- or
    world-writable. Reads the broad conda read (facts/ownership.py): no extra remote command.

    + prefix: the root prefix, e.g. ``/opt/miniconda3``

    **Example:**

    .. code:: python

        conda.prefix_trusted(name="Conda prefix ownership", prefix="/opt/miniconda3")
    """
    prefix = absolute(prefix, "conda prefix")
    install = read(CondaInstall, prefix=prefix) or {}
    unsafe = install.get("unsafe") or []
    if unsafe:
        yield fail_host(unsafe_message(unsafe))
        return
    if not install.get("exists"):
        host.noop(f"no conda prefix at {prefix} yet")
        return
    host.noop(f"{prefix} and its envs are owned by root (or the deploy user) and not group/world-writable")


@operation()
def miniconda(
    prefix: str,
    installer_url: str | None = None,
    installer_sha256: str | None = None,
    installer_file: str | None = None,
    allow_unverified: bool = False,
    min_free_mib: int | None = None,
    profile_hook: bool = False,
    download_connect_timeout: int = 30,
    download_timeout: int = 1800,
):
    """
    Install Miniconda into ``prefix`` when no conda is there, checksum-verified.

    + prefix: the root prefix, e.g. ``/opt/miniconda3``
    + installer_url: where the host downloads the installer (curl or wget, or a ``file://`` copy)
    + installer_sha256: the installer's sha256; required unless ``allow_unverified``
    + installer_file: a controller-side installer to push instead of downloading (offline sites)
    + allow_unverified: install without a checksum (not recommended)
    + min_free_mib: free disk (MiB) needed under ``prefix`` for Miniconda and the env; None: no check
    + profile_hook: write /etc/profile.d/gpuws-conda.sh, giving interactive login shells a
      ``conda`` command (no ``conda init`` in users' rc files)
    + download_connect_timeout: seconds to reach the installer's server (and, for wget, of silence)
    + download_timeout: seconds for the whole download; then the host fails

    A present conda is left as it is; a prefix folder without a working conda is never
    overwritten. A bad checksum, source or short disk fails the host before anything is fetched.

    **Example:**

    .. code:: python

        conda.miniconda(
            name="Install Miniconda",
            prefix="/opt/miniconda3",
            installer_url="https://repo.anaconda.com/miniconda/Miniconda3-py37_4.8.3-Linux-x86_64.sh",
            installer_sha256="bb2e3cedd2e78a8bb6872ab3ab5b1266a90f8c7004a22d8dc2ea5effeb6a439a",
            min_free_mib=4096,
        )
    """
    prefix = absolute(prefix, "miniconda prefix")
    install = read(CondaInstall, prefix=prefix)

    if install and install.get("present"):
        done = f"conda {install.get('version') or '(version unknown)'} already installed at {prefix}"
        if not profile_hook:
            host.noop(done)
            return
        hook = render_profile_hook(prefix)
        current = read(FileContent, path=PROFILE_HOOK_PATH)
        if same_text(current, hook):
            host.noop(f"{done}; {PROFILE_HOOK_PATH} up to date")
            return
        log_diff(host, PROFILE_HOOK_PATH, current, hook)
        yield write_file(PROFILE_HOOK_PATH, hook)
        return

    # Everything that can be refused is refused before anything is downloaded.
    if install and install.get("exists"):
        # A user's data or a broken install; the installer would refuse it anyway.
        yield fail_host(
            f"{prefix} exists but holds no working conda (bin/conda, conda-meta): move it away "
            "or set another conda_prefix; it is never overwritten"
        )
        return
    sha256 = (installer_sha256 or "").strip().lower()
    if not installer_url and not installer_file:
        yield fail_host("no Miniconda installer: set miniconda_url (or miniconda_file)")
        return
    if not sha256 and not allow_unverified:
        yield fail_host(
            "no sha256 for the Miniconda installer: set miniconda_sha256 "
            "(or miniconda_allow_unverified=True)"
        )
        return
    if sha256 and not SHA256.match(sha256):
        yield fail_host(f"miniconda_sha256 is not a sha256 (64 hex digits): {installer_sha256!r}")
        return
    if installer_file and not os.path.isfile(installer_file):
        yield fail_host(f"Miniconda installer {installer_file} not found on the controller")
        return
    refusal = list(_short_of_disk(prefix, min_free_mib, "Miniconda and the env"))
    if refusal:
        yield from refusal
        return

    installer = installer_path(prefix)
    yield StringCommand("mkdir", "-p", "--", QuoteString(posixpath.dirname(prefix) or "/"))
    if installer_file:
        yield FileUploadCommand(installer_file, installer, remote_temp_filename=host.get_temp_filename(installer))
    else:
        yield download_command(installer_url, installer, download_connect_timeout, download_timeout)
    if sha256:
        yield verify_sha256_command(installer, installer_file or installer_url, sha256)
    yield install_command(installer, prefix)
    if profile_hook:
        yield write_file(PROFILE_HOOK_PATH, render_profile_hook(prefix))


@operation()
def condarc(
    prefix: str,
    channels,
    default_channels=None,
    custom_channels=None,
    show_channel_urls: bool = True,
    extra: dict | None = None,
):
    """
    Write PREFIX/.condarc with these channel settings, when its content differs.

    + prefix: the conda root prefix (conda must be installed there)
    + channels: the channel list, e.g. ``["defaults"]``
    + default_channels: the URLs that ``defaults`` stands for
    + custom_channels: ``{channel name: base URL}``, e.g. conda-forge on a mirror
    + show_channel_urls: show each package's channel in conda's output
    + extra: more .condarc keys, e.g. ``{"auto_update_conda": False}``

    ``operations.util.condarc.condarc_preset(name, base_url)`` gives these arguments for
    defaults, conda-forge, TUNA, BFSU or one mirror URL. A .condarc gpuws did not write (a proxy,
    a CA file, envs_dirs) is first kept as ``.condarc.gpuws-backup-<date>`` (mode kept) and its
    keys are logged (operations/util/takeover.py); a managed one is simply replaced.

    **Example:**

    .. code:: python

        conda.condarc(
            name="Channels from the lab mirror",
            prefix="/opt/miniconda3",
            **condarc_preset("mirror", "http://10.250.0.1:8080/conda/lab"),
        )
    """
    prefix = absolute(prefix, "conda prefix")
    wanted = render_condarc(channels, default_channels, custom_channels, show_channel_urls, extra)
    path = posixpath.join(prefix, ".condarc")
    # The CondaInstall fact carries the file's text: no read of its own.
    install = read(CondaInstall, prefix=prefix)
    if not install or not install.get("present"):
        yield fail_host(f"no conda at {prefix}: install Miniconda first (operations.conda.miniconda)")
        return
    if same_text(install.get("condarc"), wanted):
        host.noop(f"{path} up to date")
        return
    # a .condarc from before gpuws (proxy, CA file, envs_dirs) is kept beside it, never dropped silently
    yield replace_config(host, path, install.get("condarc"), wanted, prefix, condarc_keys)


@operation()
def env(
    prefix: str,
    env_name: str,
    python: str,
    packages=None,
    recreate: bool = False,
    local_files=None,
    libraries=None,
    min_free_mib: int | None = None,
):
    """
    Make the conda env ``env_name`` with the stack's python and conda packages, in one conda call.

    + prefix: the conda root prefix (``PREFIX/bin/conda`` is called)
    + env_name: the env's name, e.g. ``tf21``; it lives in ``PREFIX/envs/NAME``
    + python: the stack's python, major.minor (``3.7``)
    + packages: the stack's ``conda`` entries ``{"name", "version", "build", "spec"}``; a ``python``
      entry is skipped (``python`` decides)
    + recreate: rebuild an env whose python is wrong, after saving its ``conda list --export`` and
      ``pip freeze`` to ``PREFIX/envs/.gpuws-backup/``; False fails the host instead
    + local_files: package files already on the host, installed explicitly (``--no-deps``: list
      their dependencies' files too); each only when that exact build is not in the env
    + libraries: CUDA sonames the env must hold in ``ENV/lib``; one missing (deleted by hand while
      conda-meta still lists its package) gets its package force-reinstalled
    + min_free_mib: free disk (MiB) needed under ``prefix`` before an env is created; None: no check

    Only what is missing or wrong is installed: a package matches when its version equals or
    extends the wanted one (10.1 -> 10.1.243) and its build is equal when one is given. A user's
    extra packages are never deleted silently.

    **Example:**

    .. code:: python

        conda.env(
            name="Env tf21 (python 3.7, cudatoolkit, cudnn)",
            prefix="/opt/miniconda3", env_name="tf21", python="3.7",
            packages=[{"name": "cudnn", "version": "7.6.5", "build": "cuda10.1_0",
                       "spec": "cudnn=7.6.5=cuda10.1_0"}],
        )
    """
    if not python or python.count(".") != 1:
        raise OperationValueError(f"python must be major.minor such as 3.7, not {python!r}")
    prefix = absolute(prefix, "conda prefix")
    env_prefix = env_prefix_of(prefix, env_name)
    # One read answers everything: conda there, the env there, its python, packages and libraries.
    state = read(CondaPackages, env_prefix=env_prefix, prefix=prefix)
    if not state or not state.get("conda"):
        yield fail_host(f"no conda at {prefix}: install Miniconda first (operations.conda.miniconda)")
        return

    present = bool(state.get("present"))
    installed = (state.get("packages") or {}) if present else {}
    have_python = state.get("python") if present else None
    rebuild = present and have_python is not None and not python_matches(have_python, python)
    if rebuild and not recreate:
        yield fail_host(
            f"env {env_name} has python {have_python} but {env_name} needs {python}; set conda_env_recreate=True "
            f"to rebuild it (its conda and pip package lists are saved to {prefix}/envs/{BACKUP_DIR}/ "
            f"first; extra packages are not reinstalled), or remove it by hand ({env_prefix})"
        )
        return
    if rebuild:
        installed = {}

    wanted = [p for p in packages or () if p["name"] != "python"]
    wrong: list[dict] = []
    found: list[str] = []
    for package in wanted:
        record = installed.get(package["name"])
        if record is not None and conda_version_matches(record["version"], record.get("build"), package):
            found.append(f"{package['name']} {describe_record(record)}")
        else:
            wrong.append(package)

    create = not present or rebuild
    if create:
        # the env and the pip packages that follow (TensorFlow 2.1 alone is about 1.5 GB)
        refusal = list(_short_of_disk(prefix, min_free_mib, f"env {env_name}"))
        if refusal:
            yield from refusal
            return
    needs_python = create or have_python is None
    if not needs_python and not wrong:
        missing_libs, owners = missing_libraries(state, libraries, wanted)
        if not owners:
            host.noop(f"env {env_name} present with python {have_python}" + (f", {', '.join(found)}" if found else ""))
            return
        yield from reinstall_commands(prefix, env_name, owners, missing_libs, local_files, state.get("conda_version"))
        return

    files: list[dict] = []
    if local_files and wrong:
        files = local_packages(local_files)
        missing = missing_local_file(files, wrong)
        if missing:
            yield fail_host(missing)
            return
        # Explicit files imply --no-deps: a file goes in when that exact build is not in the env.
        files = [
            f for f in files
            if not (f["name"] in installed and installed[f["name"]]["version"] == f["version"]
                    and installed[f["name"]].get("build") == f["build"])
        ]

    conda = QuoteString(conda_bin(prefix))
    name = QuoteString(env_name)
    specs = [QuoteString(f"python={python}")] if needs_python else []
    if not local_files:
        specs += [QuoteString(w["spec"]) for w in wrong]

    if rebuild:
        yield backup_command(prefix, env_name)
        yield StringCommand(*ROOT_PREFIX, conda, "remove", "-y", "-q", "-n", name, "--all")
    if specs:
        # conda cannot take specs and explicit files in one call (an explicit install skips the
        # solver): with local_files, python comes first and the files follow
        # `--`: conda's argparse ends options there (checked on the lab's conda 4.3.16), so a spec
        # or file from data is never read as an option
        yield StringCommand(*ROOT_PREFIX, conda, "create" if create else "install", "-y", "-q", "-n", name, "--", *specs)
    if files:
        yield StringCommand(*ROOT_PREFIX, conda, "install", "-y", "-q", "-n", name, "--",
                            *[QuoteString(f["path"]) for f in files])

