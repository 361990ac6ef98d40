"""Every host/group data key the deploy reads: its default, its type and what it means.

This table is the single source for `@deploy(data_defaults=...)`, for the validation that stops a
run with one clear line before any operation runs, and for the data table in README.md (a test
checks that the README lists every key with this default).

Data precedence is pyinfra's: `--data` > host data > group data > these defaults.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pyinfra.api.exceptions import PyinfraError

from deploys import data_checks
from deploys.data_checks import DataError


@dataclass(frozen=True)
class Setting:
    """One data key: its default, its kind (type and content, deploys/data_checks.py) and the README's help."""

    default: Any
    kind: str  # a key of deploys/data_checks.KINDS: "str", "bool", "int", "path", "url|none", "names", ...
    help: str



SETTINGS: dict[str, Setting] = {
    # What to install
    "stack": Setting("tf21", "str", "Stack to converge: a stack name (`tf21`) or `tensorflow==X.Y.Z`."),
    "stacks": Setting(
        [], "list",
        "Several stacks, each converged into its own env (e.g. `[\"tf21\", \"tensorflow==2.15.0.post1\"]`); the "
        "driver satisfies all of them. Empty: the one `stack` (setting both is an error unless they agree).",
    ),
    "stack_unsupported": Setting(
        "skip_env", "str",
        "A stack of `stacks` the host's GPU cannot run: `skip_env` (that env fails with one line, the others "
        "converge) or `fail_host`.",
    ),
    "only": Setting([], "list", "Run only these steps: `driver`, `conda`, `env`, `packages`, `hook`, `verify` (empty: all)."),
    "skip": Setting([], "list", "Skip these steps (same names as `only`); a skipped driver below a stack's minimum is named in a warning."),
    "jupyter_kernels": Setting(False, "bool", "Write a Jupyter kernelspec per env (e.g. \"TensorFlow 2.1 (GPU, CUDA 10.1)\") into jupyter_kernels_dir."),
    "jupyter_kernels_dir": Setting("/usr/local/share/jupyter/kernels", "path", "The shared kernels folder every user's Jupyter searches (`jupyter --paths`, data)."),
    "conda_channel_family": Setting(
        "defaults", "str",
        "Which channel family's package builds to pin: `defaults` (pkgs/main builds) or `conda-forge`.",
    ),
    # NVIDIA driver
    "nvidia_driver_branch": Setting(
        "auto", "str",
        "Driver branch installed when the running driver is absent or too old: `auto` chooses per host from its GPUs' "
        "PCI ids and NVIDIA's supported-chips lists (470 for Kepler, 580 for Maxwell to Blackwell); a branch that "
        "cannot drive a host's GPU fails that host before any change.",
    ),
    "nvidia_driver_kernel_modules": Setting(
        "auto", "str",
        "`auto` (open modules where the GPU needs them, Blackwell and Grace Hopper, or where NVIDIA's installer prefers "
        "them: Turing and newer from branch 560), `open` or `proprietary`.",
    ),
    "nvidia_driver_version": Setting(
        None, "str|none",
        "One exact driver version for the whole fleet (e.g. `580.95.05`): installed with apt `pkg=VERSION-*` / dnf "
        "`pkg-VERSION`; a host running another version is drift.",
    ),
    "nvidia_driver_packages": Setting(
        None, "names|none",
        "Driver packages (`{branch}` is substituted). Default by distro: Ubuntu `nvidia-driver-{branch}`, "
        "Debian `nvidia-driver`, RHEL family dnf module `nvidia-driver:{branch}-dkms`.",
    ),
    "nvidia_driver_package_manager": Setting(
        None, "str|none",
        "`apt` or `dnf` for nvidia_driver_packages; None: by distro (the distro is read only when an install is needed).",
    ),
    "nvidia_driver_upgrade": Setting(True, "bool", "Install/upgrade the driver when it is below the stack's minimum; False fails the host instead."),
    "nvidia_driver_hold": Setting(True, "bool", "Hold the driver packages against silent upgrades (apt-mark hold / dnf versionlock)."),
    "nvidia_driver_reboot": Setting(
        True, "reboot_mode",
        "Reboot after the driver package changed: `true` only when nobody is logged in and no GPU process runs (else the "
        "host fails with 'reboot pending'), `force` anyway, `false` fails the host with 'reboot, then run again'.",
    ),
    "nvidia_driver_secure_boot_ok": Setting(False, "bool", "Install DKMS modules although Secure Boot is on (set when your modules are signed / a MOK is enrolled)."),
    "allow_local_reboot": Setting(False, "bool", "Allow rebooting the controller itself when the target is `@local`."),
    "reboot_delay": Setting(20, "int", "Seconds to wait after `reboot` before reconnecting (pyinfra crashes if it reconnects to the old sshd)."),
    "reboot_timeout": Setting(600, "int", "Seconds to wait for the host to come back after a reboot."),
    # Miniconda
    "conda_prefix": Setting("/opt/miniconda3", "path", "Where Miniconda is (or gets) installed; conda is always called by absolute path."),
    "miniconda_url": Setting(None, "url|none", "Installer URL downloaded on the host when conda is absent; None: Miniconda3-py37_4.8.3 from conda_channel_preset's server (repo.anaconda.com, TUNA or BFSU)."),
    "miniconda_sha256": Setting(None, "sha256|none", "sha256 of the installer (refused without one unless allowed); None: the preset installer's, unless miniconda_url is set."),
    "miniconda_file": Setting(None, "local_path|none", "Installer file on the controller, pushed to the host instead of downloading."),
    "miniconda_allow_unverified": Setting(False, "bool", "Install a Miniconda installer that has no sha256 (not recommended)."),
    "conda_profile_hook": Setting(False, "bool", "Write /etc/profile.d/gpuws-conda.sh so interactive login shells can `conda activate` (never touches users' rc files)."),
    "min_free_mib": Setting(4096, "int", "Free disk (MiB) required at the conda prefix before installing Miniconda or the env."),
    # Channels and mirrors
    "conda_channel_preset": Setting(
        "defaults", "str",
        "Mirror preset: `defaults`, `conda-forge`, `tuna`, `bfsu` (conda channels, the Miniconda installer and the pip index, each overridable by its own key), or `mirror` (conda channels from conda_mirror_url).",
    ),
    "conda_mirror_url": Setting(None, "url|none", "Base URL of a conda channel mirror, for the `mirror` preset (e.g. a lab or LAN mirror)."),
    "conda_mirror_allow_http": Setting(False, "bool", "Allow a plain-http conda_mirror_url (packages and their index then travel unprotected; use https where you can)."),
    "condarc_extra": Setting({}, "condarc", "Extra `.condarc` keys merged over the preset (e.g. `{\"channel_priority\": \"strict\"}`); not the channel keys the preset writes."),
    "conda_local_files": Setting([], "conda_files", "Conda package files already on the host, installed explicitly (implies --no-deps)."),
    "pip_index_url": Setting(None, "url|none", "pip index URL for the env (written to ENV/pip.conf); None: conda_channel_preset's (TUNA/BFSU PyPI), else pypi.org."),
    "pip_extra_index_urls": Setting([], "urls", "Extra pip index URLs."),
    "pip_find_links": Setting([], "locations", "pip --find-links locations (a wheelhouse directory or URL)."),
    "pip_no_index": Setting(False, "bool", "Install only from pip_find_links (offline)."),
    "pip_trusted_hosts": Setting([], "hosts", "Hosts pip may reach over plain HTTP; only what you list here is trusted."),
    # Offline
    "bundle": Setting(
        None, "local_path|none",
        "Offline bundle folder on the controller (`python -m tools.bundle`): pushed once to each host, then "
        "Miniconda, conda and pip install from it with no other network.",
    ),
    "bundle_dest": Setting("/var/cache/gpuws/bundle", "path", "Where the offline bundle is kept on each host."),
    # Env
    "conda_env_recreate": Setting(False, "bool", "Rebuild an env whose python is wrong (a backup of its package lists is kept); False fails the host."),
    # Verification
    "verify_gpu": Setting("changed", "verify_mode", "When to run the layered GPU verification: `changed` (the state it verified changed, or the last verdict failed), `always`, `never`; `True`/`False` mean `changed`/`never`."),
    "verify_timeout": Setting(600, "int", "Seconds before the GPU verification is stopped (coreutils `timeout`); the host then fails with a timeout verdict."),
    "verify_busy_gpu": Setting(0, "int", "Seconds the verification waits while other processes use the GPU; then its compute layers are skipped with a note in the verdict (never a failure)."),
    # One run per host at a time (operations/lock.py)
    "lock_wait": Setting(30, "int", "Seconds a run waits for another gpuws run's lock on the same host before failing that host."),
    "lock_stale_after": Setting(10800, "int", "Seconds after which a run lock is taken over (its run presumed dead, e.g. a controller killed mid-run)."),
    # Downloads (the Miniconda installer)
    "download_connect_timeout": Setting(30, "int", "Seconds to reach a download server (curl --connect-timeout; wget --connect-timeout and --read-timeout)."),
    "download_timeout": Setting(1800, "int", "Seconds a whole download may take (curl --max-time; wget under coreutils timeout); then the host fails."),
}


def defaults() -> dict[str, Any]:
    """The data defaults for `@deploy(data_defaults=...)` (copies, so no run mutates the table)."""
    return {key: _copy(setting.default) for key, setting in SETTINGS.items()}


def _copy(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return type(value)(value)
    return value


# Values that must be one of a few words; the kind's check runs first.
_CHOICES = {
    "conda_channel_family": ("defaults", "conda-forge"),
    "conda_channel_preset": ("defaults", "conda-forge", "tuna", "bfsu", "mirror"),
    "stack_unsupported": ("skip_env", "fail_host"),
    "nvidia_driver_kernel_modules": ("auto", "open", "proprietary"),
    "nvidia_driver_package_manager": (None, "apt", "dnf"),
}
# Values with a shape of their own (checked after the kind); the text says what is expected.
_SHAPES = {
    "nvidia_driver_branch": (re.compile(r"^(auto|[0-9]{3,4})$"), "`auto` or a driver branch number such as 535"),
}


def validate(data: Any) -> dict[str, Any]:
    """Read every setting from pyinfra host data; raise PyinfraError (one line) on a bad value.

    + data: pyinfra host data, or anything with its `get(key, default)` and `dict()` methods

    .. code:: python

        cfg = validate(host.data)  # {"stack": "tf21", "conda_prefix": "/opt/miniconda3", ...}

    Values are coerced as people type them (`--data nvidia_driver_branch=470` gives the int 470:
    it becomes "470"; one path where a list is expected becomes a list; yes/no for booleans), then
    checked for type and content (deploys/data_checks.py). PyinfraError makes the CLI print
    `pyinfra error in deploys/...: <message>` and exit non-zero while the deploy is still being
    prepared, i.e. before any command runs on any host.
    """
    _reject_unknown_keys(data.dict())
    values = {}
    for key, setting in SETTINGS.items():
        value = data.get(key, setting.default)
        try:
            value = data_checks.check(setting.kind, value)
            if key in _CHOICES and value not in _CHOICES[key]:
                raise DataError("one of " + ", ".join(str(c) for c in _CHOICES[key]))
            if key in _SHAPES and value is not None and not _SHAPES[key][0].match(str(value)):
                raise DataError(_SHAPES[key][1])
        except DataError as e:
            raise PyinfraError(_bad_value(key, value, str(e)))
        values[key] = value
    _check_combinations(values)
    return values


def _bad_value(key: str, value: Any, expected: str) -> str:
    """One line: the value, what was expected, how to fix it, then (apart) what the key is for."""
    return (
        f"data {key}={value!r} is not valid: expected {expected}; fix it in the inventory/group data "
        f"or with --data {key}=... [{key}: {SETTINGS[key].help}]"
    )


def _check_combinations(values: dict) -> None:
    installer = values["miniconda_file"]
    if installer and not os.path.isfile(installer):
        raise PyinfraError(f"data miniconda_file={installer!r} is not a file on the controller: give the installer's path")
    version, branch = values["nvidia_driver_version"], str(values["nvidia_driver_branch"])
    if version and not re.match(r"^[0-9]{3,4}(\.[0-9]+){1,2}(-\S+)?$", version):
        raise PyinfraError(f"data nvidia_driver_version={version!r} is not a driver version: give one such as 580.95.05")
    if version and branch != "auto" and version.split(".")[0] != branch:
        raise PyinfraError(
            f"data nvidia_driver_version={version!r} is not in nvidia_driver_branch={branch!r}: "
            f"set nvidia_driver_branch=auto or {version.split('.')[0]}")
    if values["conda_channel_preset"] == "mirror" and not values["conda_mirror_url"]:
        raise PyinfraError("data conda_channel_preset='mirror' needs conda_mirror_url (the channel's base URL)")
    mirror = values["conda_mirror_url"]
    if mirror and mirror.startswith("http://") and not values["conda_mirror_allow_http"]:
        raise PyinfraError(
            f"data conda_mirror_url={mirror!r} is plain http: conda would install root-owned packages that anyone "
            f"on the network can swap; use https, or opt in with conda_mirror_allow_http=true"
        )


# Data keys that are not the deploy's but pass: pyinfra's global-argument overrides (`_sudo`,
# `_sudo_user`, ...: https://docs.pyinfra.com/en/3.x/arguments.html), the connectors' own keys
# (ssh_*, docker_*, fake_*: each connector's `data_meta`), the simulated lab's `lab_*` keys, and
# `site_*`: the prefix for a lab's own data (README, "Data keys"). Anything else is a typo
# (`stak=tf22`) that would otherwise be ignored while the default is converged.
SITE_PREFIXES = ("_", "lab_", "site_")


@lru_cache(maxsize=1)
def _connector_keys() -> frozenset:
    from pyinfra.api.connectors import get_all_connectors

    return frozenset(key for connector in get_all_connectors().values() for key in (getattr(connector, "data_meta", None) or {}))


def _reject_unknown_keys(data: dict) -> None:
    for key in data:
        if key in SETTINGS or (isinstance(key, str) and key.startswith(SITE_PREFIXES)) or key in _connector_keys():
            continue
        close = difflib.get_close_matches(str(key), SETTINGS, n=1)
        hint = f"did you mean {close[0]}?" if close else "see the data table in README.md"
        raise PyinfraError(
            f"unknown data key {key}: {hint} (a lab's own data keys start with site_; pyinfra's start with _ or "
            f"their connector's prefix, e.g. ssh_)"
        )


def markdown_table() -> str:
    """The README's data table (README.md must contain it verbatim; a test checks)."""
    rows = ["| data key | default | meaning |", "|---|---|---|"]
    for key, setting in SETTINGS.items():
        default = "(by distro)" if key == "nvidia_driver_packages" else f"`{setting.default!r}`"
        rows.append(f"| `{key}` | {default} | {setting.help} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
