"""pip's index settings: the same options on the install's command line and in ENV/pip.conf."""

from __future__ import annotations

from pyinfra.api import QuoteString

from .commands import MANAGED_HEADER

CONSTRAINTS_FILE = ".gpuws/constraints.txt"


def index_args(index_url, extra_index_urls, find_links, no_index, trusted_hosts) -> list:
    """pip options for an index, extra indexes, wheelhouses, offline and trusted hosts."""
    args: list = []
    if index_url:
        args += ["--index-url", QuoteString(index_url)]
    for url in extra_index_urls or ():
        args += ["--extra-index-url", QuoteString(url)]
    for link in find_links or ():
        args += ["--find-links", QuoteString(link)]
    if no_index:
        args.append("--no-index")
    for trusted in trusted_hosts or ():
        args += ["--trusted-host", QuoteString(trusted)]
    return args


def render_pip_conf(
    index_url: str | None = None,
    extra_index_urls=(),
    find_links=(),
    trusted_hosts=(),
    no_index: bool = False,
) -> str | None:
    """The pip.conf text for these settings, or None when nothing is configured."""
    settings: list[tuple[str, list[str]]] = []
    if index_url:
        settings.append(("index-url", [index_url]))
    if extra_index_urls:
        settings.append(("extra-index-url", list(extra_index_urls)))
    if find_links:
        settings.append(("find-links", list(find_links)))
    if no_index:
        settings.append(("no-index", ["true"]))
    if trusted_hosts:
        settings.append(("trusted-host", list(trusted_hosts)))
    if not settings:
        return None
    lines = [
        f"{MANAGED_HEADER}: pip settings of this env (pip reads sys.prefix/pip.conf); "
        "edits are replaced on the next run.",
        "[global]",
    ]
    for key, values in settings:
        if len(values) == 1:
            lines.append(f"{key} = {values[0]}")
        else:  # pip splits list options on whitespace, continuation lines included
            lines.append(f"{key} =")
            lines.extend(f"    {value}" for value in values)
    return "\n".join(lines) + "\n"
