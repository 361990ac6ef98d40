"""Taking over a config file gpuws did not write (.condarc, pip.conf): keep it, name its keys.

A `.condarc` or `pip.conf` that was there before the first run often carries what a site needs
and gpuws does not manage: a proxy (`proxy_servers`, pip's `proxy`), a CA certificate
(`ssl_verify`, pip's `cert`), `envs_dirs`. The operation that replaces it first copies it beside
itself as ``PATH.gpuws-backup-<UTC date and time>`` (``cp -p``: mode, owner and times kept), in the
same remote command as the write, and logs the keys the new file drops; the fleet report reads
the backup and shows the same keys. Once gpuws has written the file it carries the managed header,
so a later run makes no second backup.
"""

from __future__ import annotations

import configparser
import re

import yaml
from pyinfra.api import QuoteString
from pyinfra.api.command import make_formatted_string_command

from pyinfra import logger
from pyinfra.api import StringCommand

from .commands import MANAGED_HEADER, log_diff, write_file

BACKUP_INFIX = ".gpuws-backup-"


def unmanaged(text: str | None) -> bool:
    """Whether a file's current text exists and was not written by gpuws (no managed header)."""
    return text is not None and not text.startswith(MANAGED_HEADER)


def keep_backup(path: str):
    """``cp -p -- PATH PATH.gpuws-backup-YYYYmmddTHHMMSSZ || exit 1;``: the prefix of the command
    that replaces an unmanaged file (the date is the host's, in UTC, so the name sorts by time)."""
    return make_formatted_string_command(
        "cp -p -- {0} {0}" + BACKUP_INFIX + "$(date -u +%Y%m%dT%H%M%SZ) || exit 1;",
        QuoteString(path),
    )


def condarc_keys(text: str) -> list[str]:
    """The top-level keys of a .condarc text, in file order. A file that is not valid YAML
    (conda itself would refuse it) still gives its ``key:`` lines."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict):
        return [str(key) for key in data]
    return re.findall(r"^([A-Za-z_][\w-]*)\s*:", text or "", flags=re.M)


def pip_conf_keys(text: str) -> list[str]:
    """The settings of a pip.conf text as ``section.key`` (the names ``pip config list`` prints:
    ``global.proxy``, ``install.trusted-host``), in file order."""
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text or "")
    except configparser.Error:
        return re.findall(r"^([A-Za-z][\w-]*)\s*[=:]", text or "", flags=re.M)
    return [f"{section}.{key}" for section in parser.sections() for key in parser[section]]


def takeover_message(path: str, keys: list[str]) -> str:
    """The one warning line of a takeover."""
    listed = ", ".join(keys) if keys else "none"
    return (f"{path} was not written by gpuws: kept as {path}{BACKUP_INFIX}<date> (keys: {listed}); "
            "the managed file replaces it, carry over what you need through data")


def replace_config(host, path: str, current: str | None, wanted: str, inside: str, keys_of):
    """The command that writes a managed config file over its current text: shown with --diff; an
    unmanaged file (`keys_of` names its settings) is first kept as a backup, with one warning line."""
    log_diff(host, path, current, wanted)
    if not unmanaged(current):
        return write_file(path, wanted, inside=inside)
    logger.warning(f"{host.name}: {takeover_message(path, keys_of(current))}")
    return StringCommand(keep_backup(path), write_file(path, wanted, inside=inside))
