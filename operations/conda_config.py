"""The root prefix's .condarc: channels and mirrors written explicitly, with presets.

Why a file and not `-c URL --override-channels`: conda 4.3 still adds `defaults` with
--override-channels (so an unreachable repo.anaconda.com breaks an air-gapped install), and conda
>= 25.3 no longer has an implicit `defaults` at all. Setting `default_channels` (and
`custom_channels` for conda-forge & co.) in PREFIX/.condarc fixes what `defaults` means for every
conda command of that install, whoever runs it. A user's own ~/.condarc is read after it and can
still add channels; this file is the install's baseline.
"""

from __future__ import annotations

import posixpath

import yaml
from pyinfra import host
from pyinfra.api import operation

from facts.conda import CondaInstall

from .commands import MANAGED_HEADER, absolute, fail_host, same_text, write_file

ANACONDA = "https://repo.anaconda.com/pkgs"

# The mirrorz template that TUNA and BFSU render ("Anaconda 软件仓库镜像使用帮助"), see
# shared/reference/versions.md §6a: defaults from BASE/pkgs/*, community channels from BASE/cloud.
_MIRRORZ_DEFAULTS = ("pkgs/main", "pkgs/r", "pkgs/msys2")
_MIRRORZ_CLOUD = ("conda-forge", "msys2", "bioconda", "menpo", "pytorch", "pytorch-lts", "simpleitk")
_MIRRORZ_BASES = {
    "tuna": "https://mirrors.tuna.tsinghua.edu.cn/anaconda",
    "bfsu": "https://mirrors.bfsu.edu.cn/anaconda",
}

PRESETS = ("defaults", "conda-forge", "tuna", "bfsu", "mirror")


def condarc_preset(name: str, base_url: str | None = None) -> dict:
    """The `condarc` arguments of a named channel setup.

    + name: ``defaults`` (repo.anaconda.com main and r), ``conda-forge`` (conda-forge first, the
      official defaults behind it), ``tuna`` / ``bfsu`` (the Chinese mirrors' template),
      ``mirror`` (one channel URL standing for ``defaults``: a lab mirror, or a local channel
      folder as ``file:///srv/conda-channel`` for offline installs)
    + base_url: for ``tuna``/``bfsu``, another address of the same mirror layout (e.g. a campus
      reverse proxy); for ``mirror``, the channel URL (required)

    Raises ValueError for an unknown name or a ``mirror`` without URL: it is deploy
    configuration, checked before any host is touched.

    **Example:**

    .. code:: python

        condarc(name="Channels", prefix="/opt/miniconda3", **condarc_preset("tuna"))
    """
    if name == "defaults":
        return {
            "channels": ["defaults"],
            "default_channels": [f"{ANACONDA}/main", f"{ANACONDA}/r"],
            "custom_channels": {},
            "show_channel_urls": True,
        }
    if name == "conda-forge":
        return {
            "channels": ["conda-forge", "defaults"],
            "default_channels": [f"{ANACONDA}/main", f"{ANACONDA}/r"],
            "custom_channels": {},
            "show_channel_urls": True,
        }
    if name in _MIRRORZ_BASES:
        base = (base_url or _MIRRORZ_BASES[name]).rstrip("/")
        return {
            "channels": ["defaults"],
            "default_channels": [f"{base}/{path}" for path in _MIRRORZ_DEFAULTS],
            "custom_channels": {channel: f"{base}/cloud" for channel in _MIRRORZ_CLOUD},
            "show_channel_urls": True,
        }
    if name == "mirror":
        if not base_url:
            raise ValueError("conda preset 'mirror' needs a base_url: the channel URL that stands for defaults")
        return {
            "channels": ["defaults"],
            "default_channels": [base_url.rstrip("/")],
            "custom_channels": {},
            "show_channel_urls": True,
        }
    raise ValueError(f"unknown conda preset {name!r}: choose one of {', '.join(PRESETS)}")


def render_condarc(
    channels,
    default_channels=None,
    custom_channels=None,
    show_channel_urls: bool = True,
    extra: dict | None = None,
) -> str:
    """The .condarc text: a header, then the keys in a fixed order (channels, default_channels,
    custom_channels sorted by name, show_channel_urls, extra keys sorted), so the same settings
    always give the same bytes and the operation can compare by content."""
    extra = dict(extra or {})
    clash = {"channels", "default_channels", "custom_channels", "show_channel_urls"} & set(extra)
    if clash:
        raise ValueError(f"condarc extra repeats {', '.join(sorted(clash))}: pass it as its own argument")
    settings: dict = {"channels": list(channels)}
    if default_channels:
        settings["default_channels"] = list(default_channels)
    if custom_channels:
        settings["custom_channels"] = {key: custom_channels[key] for key in sorted(custom_channels)}
    settings["show_channel_urls"] = bool(show_channel_urls)
    for key in sorted(extra):
        settings[key] = extra[key]
    body = yaml.safe_dump(settings, default_flow_style=False, sort_keys=False)
    return f"{MANAGED_HEADER}: conda channels of this install; edits are replaced on the next run.\n{body}"


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
    + extra: more .condarc keys (e.g. ``{"auto_update_conda": False}``)

    ``condarc_preset(name, base_url)`` gives these arguments for defaults, conda-forge, TUNA, BFSU
    or one mirror URL. The file is compared with the current one (CondaInstall.condarc) and
    rewritten whole; no conda command runs.

    **Example:**

    .. code:: python

        condarc(
            name="Channels from the lab mirror",
            prefix="/opt/miniconda3",
            **condarc_preset("mirror", "http://10.250.0.1:8080/conda/lab"),
        )
    """
    prefix = absolute(prefix, "conda prefix")
    wanted = render_condarc(channels, default_channels, custom_channels, show_channel_urls, extra)
    path = posixpath.join(prefix, ".condarc")
    install = host.get_fact(CondaInstall, prefix=prefix)
    if not install or not install.get("present"):
        yield fail_host(f"no conda at {prefix}: install Miniconda first (operations.conda.miniconda)")
        return
    if same_text(install.get("condarc"), wanted):
        host.noop(f"{path} up to date")
        return
    yield write_file(path, wanted, inside=prefix)
