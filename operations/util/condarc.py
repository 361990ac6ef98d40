"""The .condarc of a conda install: channel presets and the file's rendering.

Why a file and not `-c URL --override-channels`: conda 4.3 still adds `defaults` with
--override-channels (so an unreachable repo.anaconda.com breaks an air-gapped install), and conda
>= 25.3 no longer has an implicit `defaults` at all. Setting `default_channels` (and
`custom_channels` for conda-forge & co.) in PREFIX/.condarc fixes what `defaults` means for every
conda command of that install (https://docs.conda.io/projects/conda/en/latest/user-guide/configuration/mirroring.html).
"""

from __future__ import annotations

import yaml

from .commands import MANAGED_HEADER

ANACONDA = "https://repo.anaconda.com/pkgs"

# The mirrorz template that TUNA and BFSU render ("Anaconda 软件仓库镜像使用帮助",
# https://mirrors.tuna.tsinghua.edu.cn/help/anaconda/): defaults from BASE/pkgs/*, community
# channels from BASE/cloud.
_MIRRORZ_DEFAULTS = ("pkgs/main", "pkgs/r", "pkgs/msys2")
_MIRRORZ_CLOUD = ("conda-forge", "msys2", "bioconda", "menpo", "pytorch", "pytorch-lts", "simpleitk")
_MIRRORZ_BASES = {
    "tuna": "https://mirrors.tuna.tsinghua.edu.cn/anaconda",
    "bfsu": "https://mirrors.bfsu.edu.cn/anaconda",
}

PRESETS = ("defaults", "conda-forge", "tuna", "bfsu", "mirror")

# The installer every preset serves: Miniconda3 py37 4.8.3 (the last one whose base python is 3.7,
# the TF 2.1 era); a mirror serves the same bytes, so the checksum is the same everywhere
# (https://docs.conda.io/en/latest/miniconda_hashes.html).
MINICONDA_INSTALLER = "Miniconda3-py37_4.8.3-Linux-x86_64.sh"
MINICONDA_SHA256 = "bb2e3cedd2e78a8bb6872ab3ab5b1266a90f8c7004a22d8dc2ea5effeb6a439a"
_MINICONDA_BASE = {
    "defaults": "https://repo.anaconda.com/miniconda",
    "conda-forge": "https://repo.anaconda.com/miniconda",
    # the mirrors' Miniconda folder beside their anaconda/pkgs (https://mirrors.tuna.tsinghua.edu.cn/help/anaconda/)
    "tuna": "https://mirrors.tuna.tsinghua.edu.cn/anaconda/miniconda",
    "bfsu": "https://mirrors.bfsu.edu.cn/anaconda/miniconda",
}
# The same mirrors' PyPI (https://mirrors.tuna.tsinghua.edu.cn/help/pypi/, https://mirrors.bfsu.edu.cn/help/pypi/);
# None: pip's own default, pypi.org.
_PIP_INDEX = {
    "tuna": "https://pypi.tuna.tsinghua.edu.cn/simple",
    "bfsu": "https://mirrors.bfsu.edu.cn/pypi/web/simple",
}


def preset_sources(name: str) -> dict:
    """The installer and pip index a channel preset implies: `miniconda_url`, `miniconda_sha256`,
    `pip_index_url` (None where the preset has no opinion: `mirror` is one conda channel of the
    lab's own layout, so its installer and pip index come from their own data keys).

    + name: a preset of `PRESETS`

    .. code:: python

        preset_sources("tuna")["pip_index_url"]  # "https://pypi.tuna.tsinghua.edu.cn/simple"
    """
    if name not in PRESETS:
        raise ValueError(f"unknown conda preset {name!r}: choose one of {', '.join(PRESETS)}")
    base = _MINICONDA_BASE.get(name)
    return {
        "miniconda_url": f"{base}/{MINICONDA_INSTALLER}" if base else None,
        "miniconda_sha256": MINICONDA_SHA256 if base else None,
        "pip_index_url": _PIP_INDEX.get(name),
    }


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
