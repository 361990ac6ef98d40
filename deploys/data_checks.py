"""The kinds of data values the settings table (deploys/settings.py) names, and their checks.

Every value is checked for its type AND its content before any host runs, because the deploy
runs as root and builds commands from these values: a package name starting with `-` reaches
apt-get as an option (`-oDpkg::Pre-Invoke::=...` runs a command), a newline in a pip index URL
adds a line to pip.conf, a relative prefix is resolved against whatever directory a shell is in.

`--data` values arrive as pyinfra's CLI parses them (`true`/`false` -> bool, `470` -> int, JSON,
else a string: pyinfra_cli.util.parse_cli_arg), so a value is first coerced the way people type
it: a number where a string is expected, a single item where a list is expected, yes/no/on/off
for booleans. Then it must match its kind exactly.
"""

from __future__ import annotations

import re
from typing import Any, Callable

# A path on the host: absolute, made of plain characters, no `.`/`..` component. The deploy quotes
# every argument, but a strict pattern also keeps shell-unsafe names out of tools that build
# their own commands (pyinfra's sudo upload, conda's activation scripts).
_HOST_PATH = re.compile(r"^(/[A-Za-z0-9_+@%=,:~][A-Za-z0-9._+@%=,:~-]*)+/?$")
_LOCAL_PATH = re.compile(r"^[A-Za-z0-9_./~+@%=,:][A-Za-z0-9._/+@%=,:~ -]*$")
# http(s) or file URL: RFC 3986's unreserved characters and the few reserved ones index and mirror
# URLs use (no spaces, quotes, backslashes, $ ( ) ; or other shell metacharacters: none is needed).
_URL = re.compile(r"^(https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|file://)(/[A-Za-z0-9._~%&+,=:@/?#-]*)?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Package names of apt (Debian policy: [a-z0-9][a-z0-9+.-]+), dnf module streams
# (`name:stream-profile`), conda and PyPI; `{branch}` is filled in by the driver operation.
_PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+:{}-]*$")
_HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
_CONDA_FILE = re.compile(r"^[A-Za-z0-9_.+-]+-[^-/]+-[^-/]+\.(tar\.bz2|conda)$")
_TEXT_BAD = re.compile(r"[\x00-\x1f\x7f]")
_CONDARC_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
# .condarc keys the channel preset writes (deploys/settings.py conda_channel_preset decides them)
_PRESET_KEYS = ("channels", "default_channels", "custom_channels", "show_channel_urls")

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class DataError(ValueError):
    """A value that does not fit its kind; the message says what was expected."""


def _text(value: Any, numbers: bool = True) -> str:
    """A str from what people type: `--data nvidia_driver_branch=470` arrives as the int 470."""
    if isinstance(value, bool):
        raise DataError("text, not a boolean")
    if isinstance(value, int) and numbers:
        return str(value)
    if isinstance(value, float):
        # json.loads("535.10") is 535.1: the digits people typed are lost, so ask for quotes
        raise DataError("text: quote a number with a dot, e.g. --data 'KEY=\"535.10\"'")
    if not isinstance(value, str) or value == "":
        raise DataError("a non-empty text")
    if _TEXT_BAD.search(value):
        raise DataError("text without newlines or control characters")
    if value.startswith("-"):
        raise DataError("text that does not start with '-' (it would reach a command as an option)")
    return value


def _pattern(pattern: re.Pattern, expected: str, numbers: bool = True) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = _text(value, numbers)
        if not pattern.match(text):
            raise DataError(expected)
        return text
    return check


def _host_path(value: Any) -> str:
    text = _pattern(_HOST_PATH, "an absolute path such as /opt/miniconda3 (letters, digits and ._+@%=,:~- only; no . or .. components)")(value)
    if any(part in (".", "..") for part in text.split("/")):
        raise DataError("an absolute path without . or .. components")
    return text.rstrip("/") or "/"


def _url(value: Any) -> str:
    text = _pattern(_URL, "an http(s):// or file:// URL without spaces, quotes or control characters")(value)
    if text.startswith("file://"):
        _host_path(text[len("file://"):])
    return text


def _sha256(value: Any) -> str:
    text = value.lower() if isinstance(value, str) else value
    return _pattern(_SHA256, "a sha256: 64 hexadecimal digits")(text)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise DataError("a boolean: true/false, yes/no, on/off or 1/0")


def _int(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DataError("a whole number >= 0")
    return value


def _list_of(item: Callable[[Any], Any], what: str) -> Callable[[Any], list]:
    def check(value: Any) -> list:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]  # `--data pip_find_links=/srv/wheels`: one item
        if not isinstance(value, (list, tuple)):
            raise DataError(f"a list of {what} (one item may be given alone)")
        checked = []
        for entry in value:
            try:
                checked.append(item(entry))
            except DataError as e:
                raise DataError(f"a list of {what}; {entry!r} is not {e}") from None
        return checked
    return check


def _location(value: Any) -> str:
    """pip --find-links: a folder on the host or a URL."""
    text = _text(value)
    return _host_path(text) if text.startswith("/") else _url(text)


def _condarc_value(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        if _TEXT_BAD.search(value):
            raise DataError("values without newlines or control characters")
        return value
    if depth < 2 and isinstance(value, (list, tuple)):
        return [_condarc_value(v, depth + 1) for v in value]
    if depth < 2 and isinstance(value, dict):
        return {_condarc_key(k): _condarc_value(v, depth + 1) for k, v in value.items()}
    raise DataError("plain values, lists or mappings of plain values")


def _condarc_key(key: Any) -> str:
    if not isinstance(key, str) or not _CONDARC_KEY.match(key):
        raise DataError(f"conda config keys (lowercase_with_underscores), not {key!r}")
    return key


def _condarc(value: Any) -> dict:
    if not isinstance(value, dict):
        raise DataError('a mapping of .condarc keys, e.g. {"channel_priority": "strict"}')
    clash = sorted(set(value) & set(_PRESET_KEYS))
    if clash:
        raise DataError(f".condarc keys other than {', '.join(clash)} (conda_channel_preset/conda_mirror_url write those)")
    if value.get("ssl_verify") is False:
        # TLS off means any network in between can serve packages that root installs
        raise DataError("ssl_verify true or the path of your proxy's CA bundle, never false")
    return {_condarc_key(k): _condarc_value(v) for k, v in value.items()}


def _dict(value: Any) -> dict:
    if not isinstance(value, dict):
        raise DataError("a mapping")
    return _condarc_value(value, 1) if value else {}


def _local_path(value: Any) -> str:
    return _pattern(_LOCAL_PATH, "a file name on the controller (letters, digits, spaces and ._/+@%=,:~- only)")(value)


def _conda_file(value: Any) -> str:
    """A package file on the host: /path/NAME-VERSION-BUILD.tar.bz2 or .conda (conda's file name)."""
    path = _host_path(value)
    if not _CONDA_FILE.match(path.rsplit("/", 1)[-1]):
        raise DataError("an absolute path of a conda package file NAME-VERSION-BUILD.tar.bz2 or .conda")
    return path


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


# no number is a package name: [1] in a YAML list is a mistake, not the package "1"
_NAMES = _list_of(_pattern(_PACKAGE, "a package name", numbers=False), "package names (letters, digits and ._+:{}-, not starting with -)")

def _verify_mode(value: Any) -> str:
    """verify_gpu: changed/always/never; the booleans of older data keep their meaning."""
    if isinstance(value, bool) or str(value).strip().lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return "changed" if _bool(value) else "never"
    text = str(value).strip().lower()
    if text not in ("changed", "always", "never"):
        raise DataError(f"expected changed, always or never, got {value!r}")
    return text


def _reboot_mode(value: Any) -> Any:
    """nvidia_driver_reboot: a boolean (true: reboot when nobody is on the host) or force."""
    if str(value).strip().lower() == "force":
        return "force"
    try:
        return _bool(value)
    except DataError:
        raise DataError("true, false or force")


# kind (the Setting's `kind`) -> check: returns the value as the deploy uses it, or raises DataError
KINDS: dict[str, Callable[[Any], Any]] = {
    "str": _text,
    "str|none": _optional(_text),
    "bool": _bool,
    "int": _int,
    "list": _list_of(_text, "texts"),
    "list|none": _optional(_list_of(_text, "texts")),
    "dict": _dict,
    "path": _host_path,
    "path|none": _optional(_host_path),
    "local_path|none": _optional(_local_path),
    "url|none": _optional(_url),
    "urls": _list_of(_url, "http(s):// or file:// URLs"),
    "locations": _list_of(_location, "absolute folders on the host or http(s)/file URLs"),
    "sha256|none": _optional(_sha256),
    "names": _NAMES,
    "names|none": _optional(_NAMES),
    "hosts": _list_of(_pattern(_HOST_NAME, "a host name"), "host names (host or host:port)"),
    "conda_files": _list_of(_conda_file, "absolute paths of conda package files on the host"),
    "condarc": _condarc,
    "verify_mode": _verify_mode,
    "reboot_mode": _reboot_mode,
}


def check(kind: str, value: Any) -> Any:
    """The value coerced and checked for `kind`; DataError says what was expected.

    + kind: a key of KINDS (the settings table's `kind` column)
    + value: the data value as pyinfra holds it

    .. code:: python

        check("str", 470)                    # "470"
        check("locations", "/srv/wheels")    # ["/srv/wheels"]
        check("bool", "yes")                 # True
    """
    return KINDS[kind](value)
