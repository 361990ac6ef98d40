"""Every host/group data key the deploy reads: its default, its type and what it means.

This table is the single source for `@deploy(data_defaults=...)`, for the validation that stops a
run with one clear line before any operation runs, and for the data table in README.md (a test
checks that the README lists every key with this default).

Data precedence is pyinfra's: `--data` > host data > group data > these defaults.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from pyinfra.api.exceptions import PyinfraError


@dataclass(frozen=True)
class Setting:
    """One data key: its default, its kind (a key of `_CHECKS`) and the README's one-line help."""

    default: Any
    kind: str  # "str", "bool", "int", "list", "dict", "str|none"
    help: str


# Miniconda3 py37 4.8.3, the last installer whose base python is 3.7 (the TF 2.1 era). Checksum from
# https://docs.conda.io/en/latest/miniconda_hashes.html (Miniconda3-py37_4.8.3-Linux-x86_64.sh).
_MINICONDA_URL = "https://repo.anaconda.com/miniconda/Miniconda3-py37_4.8.3-Linux-x86_64.sh"
_MINICONDA_SHA256 = "bb2e3cedd2e78a8bb6872ab3ab5b1266a90f8c7004a22d8dc2ea5effeb6a439a"

SETTINGS: dict[str, Setting] = {
    # What to install
    "stack": Setting("tf21", "str", "Stack to converge: a stack name (`tf21`) or `tensorflow==X.Y.Z`."),
    "conda_channel_family": Setting(
        "defaults", "str",
        "Which channel family's package builds to pin: `defaults` (pkgs/main builds) or `conda-forge`.",
    ),
    "target_os": Setting("linux", "str", "Target OS for the stack's driver minimum (`linux`; `windows` for reports)."),
    # NVIDIA driver
    "nvidia_driver_branch": Setting("535", "str", "Driver branch installed when the running driver is absent or too old."),
    "nvidia_driver_packages": Setting(
        None, "list|none",
        "Driver packages (`{branch}` is substituted). Default by distro: Ubuntu `nvidia-driver-{branch}`, "
        "Debian `nvidia-driver`, RHEL family dnf module `nvidia-driver:{branch}-dkms`.",
    ),
    "nvidia_driver_package_manager": Setting(
        None, "str|none",
        "`apt` or `dnf` for nvidia_driver_packages; None: by distro (the distro is read only when an install is needed).",
    ),
    "nvidia_driver_upgrade": Setting(True, "bool", "Install/upgrade the driver when it is below the stack's minimum; False fails the host instead."),
    "nvidia_driver_hold": Setting(True, "bool", "Hold the driver packages against silent upgrades (apt-mark hold / dnf versionlock)."),
    "nvidia_driver_reboot": Setting(True, "bool", "Reboot after the driver package changed; False fails the host with 'reboot, then run again'."),
    "nvidia_driver_secure_boot_ok": Setting(False, "bool", "Install DKMS modules although Secure Boot is on (set when your modules are signed / a MOK is enrolled)."),
    "allow_local_reboot": Setting(False, "bool", "Allow rebooting the controller itself when the target is `@local`."),
    "reboot_delay": Setting(20, "int", "Seconds to wait after `reboot` before reconnecting (pyinfra crashes if it reconnects to the old sshd)."),
    "reboot_timeout": Setting(600, "int", "Seconds to wait for the host to come back after a reboot."),
    # Miniconda
    "conda_prefix": Setting("/opt/miniconda3", "str", "Where Miniconda is (or gets) installed; conda is always called by absolute path."),
    "miniconda_url": Setting(_MINICONDA_URL, "str|none", "Installer URL (a mirror works) downloaded on the host when conda is absent."),
    "miniconda_sha256": Setting(_MINICONDA_SHA256, "str|none", "sha256 of the installer; the install is refused without one unless allowed."),
    "miniconda_file": Setting(None, "str|none", "Installer file on the controller, pushed to the host instead of downloading."),
    "miniconda_allow_unverified": Setting(False, "bool", "Install a Miniconda installer that has no sha256 (not recommended)."),
    "conda_profile_hook": Setting(False, "bool", "Write /etc/profile.d/gpuws-conda.sh so interactive login shells can `conda activate` (never touches users' rc files)."),
    "min_free_mib": Setting(4096, "int", "Free disk (MiB) required at the conda prefix before installing Miniconda or the env."),
    # Channels and mirrors
    "conda_channel_preset": Setting(
        "defaults", "str",
        "`.condarc` preset: `defaults`, `conda-forge`, `tuna`, `bfsu`, or `mirror` (uses conda_mirror_url).",
    ),
    "conda_mirror_url": Setting(None, "str|none", "Base URL of a conda channel mirror, for the `mirror` preset (e.g. a lab or LAN mirror)."),
    "condarc_extra": Setting({}, "dict", "Extra `.condarc` keys merged over the preset (e.g. `{\"ssl_verify\": false}`)."),
    "conda_local_files": Setting([], "list", "Conda package files already on the host, installed explicitly (implies --no-deps)."),
    "pip_index_url": Setting(None, "str|none", "pip index URL for the env (written to ENV/pip.conf), e.g. a TUNA mirror."),
    "pip_extra_index_urls": Setting([], "list", "Extra pip index URLs."),
    "pip_find_links": Setting([], "list", "pip --find-links locations (a wheelhouse directory or URL)."),
    "pip_no_index": Setting(False, "bool", "Install only from pip_find_links (offline)."),
    "pip_trusted_hosts": Setting([], "list", "Hosts pip may reach over plain HTTP; only what you list here is trusted."),
    # Offline
    "bundle": Setting(
        None, "str|none",
        "Offline bundle folder on the controller (`python -m tools.bundle`): pushed once to each host, then "
        "Miniconda, conda and pip install from it with no other network.",
    ),
    "bundle_dest": Setting("/var/cache/gpuws/bundle", "str", "Where the offline bundle is kept on each host."),
    # Env
    "conda_env_recreate": Setting(False, "bool", "Rebuild an env whose python is wrong (a backup of its package lists is kept); False fails the host."),
    # Verification
    "verify_gpu": Setting(True, "bool", "Run the layered GPU verification at the end of the deploy."),
}


def defaults() -> dict[str, Any]:
    """The data defaults for `@deploy(data_defaults=...)` (copies, so no run mutates the table)."""
    return {key: _copy(setting.default) for key, setting in SETTINGS.items()}


def _copy(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return type(value)(value)
    return value


_CHECKS = {
    "str": lambda v: isinstance(v, str) and v != "",
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "list": lambda v: isinstance(v, (list, tuple)),
    "dict": lambda v: isinstance(v, dict),
    "str|none": lambda v: v is None or (isinstance(v, str) and v != ""),
    "list|none": lambda v: v is None or isinstance(v, (list, tuple)),
}

_CHOICES = {
    "conda_channel_family": ("defaults", "conda-forge"),
    "conda_channel_preset": ("defaults", "conda-forge", "tuna", "bfsu", "mirror"),
    "target_os": ("linux", "windows"),
    "nvidia_driver_package_manager": (None, "apt", "dnf"),
}


def validate(data: Any) -> dict[str, Any]:
    """Read every setting from pyinfra host data; raise PyinfraError (one line) on a bad value.

    + data: pyinfra host data, or anything with its `get(key, default)` and `dict()` methods

    .. code:: python

        cfg = validate(host.data)  # {"stack": "tf21", "conda_prefix": "/opt/miniconda3", ...}

    PyinfraError makes the CLI print `pyinfra error in deploys/...: <message>` and exit non-zero
    while the deploy is still being prepared, i.e. before any operation runs on any host.
    """
    _reject_misspelt_keys(data.dict())
    values = {key: data.get(key, setting.default) for key, setting in SETTINGS.items()}
    for key, value in values.items():
        setting = SETTINGS[key]
        if not _CHECKS[setting.kind](value):
            raise PyinfraError(
                f"data {key}={value!r} is not a valid {setting.kind}: {setting.help} "
                f"(fix it in the inventory/group data or with --data {key}=...)"
            )
        if key in _CHOICES and value not in _CHOICES[key]:
            raise PyinfraError(
                f"data {key}={value!r} is not one of {', '.join(str(c) for c in _CHOICES[key])} "
                f"(fix it in the inventory/group data or with --data {key}=...)"
            )
    if values["conda_channel_preset"] == "mirror" and not values["conda_mirror_url"]:
        raise PyinfraError("data conda_channel_preset='mirror' needs conda_mirror_url (the channel's base URL)")
    for key in ("conda_prefix", "bundle_dest"):
        if not values[key].startswith("/"):
            raise PyinfraError(f"data {key}={values[key]!r} must be an absolute path")
    return values


# Data keys with these prefixes belong to this project: an unknown one is a typo that would
# otherwise be ignored silently (pyinfra's own keys, such as ssh_user or _sudo, are left alone).
_OUR_PREFIXES = ("nvidia_", "conda_", "miniconda_", "pip_", "condarc_", "reboot_", "verify_", "bundle_")


def _reject_misspelt_keys(data: dict) -> None:
    for key in data:
        if key.startswith(_OUR_PREFIXES) and key not in SETTINGS:
            close = difflib.get_close_matches(key, SETTINGS, n=1)
            hint = f"did you mean {close[0]}?" if close else "see the data table in README.md"
            raise PyinfraError(f"unknown data key {key}: {hint}")


def markdown_table() -> str:
    """The README's data table (README.md must contain it verbatim; a test checks)."""
    rows = ["| data key | default | meaning |", "|---|---|---|"]
    for key, setting in SETTINGS.items():
        default = "(by distro)" if key == "nvidia_driver_packages" else f"`{setting.default!r}`"
        rows.append(f"| `{key}` | {default} | {setting.help} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
