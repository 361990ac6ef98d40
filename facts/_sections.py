"""The section protocol shared by the multi-part facts.

A fact that gathers several things in one remote command prints each part after a marker line::

    @@section NAME rc=N
    ...output of that part (stdout and stderr together)...

`RUN_SECTION` is the POSIX sh function that prints such a part; `parse_sections` reads them back.
Why markers rather than one JSON document: targets need no Python or jq, and a part whose tool is
missing or broken simply prints its error text under its own marker instead of spoiling the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# POSIX sh (dash, busybox): no `local`, no arrays. `_out` stays set after the call on purpose, so
# a caller can inspect the text of the part it just printed (see the compute_cap retry in gpu.py).
RUN_SECTION = r"""
run_section() {
    _name=$1; shift
    _out=$("$@" 2>&1); _rc=$?
    printf '@@section %s rc=%s\n' "$_name" "$_rc"
    if [ -n "$_out" ]; then printf '%s\n' "$_out"; fi
    return $_rc
}
"""

_MARKER = re.compile(r"^@@section (?P<name>\S+) rc=(?P<rc>-?\d+)\s*$")
END_MARKER = "@@end"


@dataclass
class Section:
    rc: int
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def parse_sections(lines: list[str]) -> dict[str, Section]:
    """Split a probe's output lines into {section name: Section}; text before the first marker
    (a noisy shell start-up, a motd) is ignored, and so is everything after `@@end`."""
    sections: dict[str, Section] = {}
    current: Section | None = None
    for line in lines:
        if line.strip() == END_MARKER:
            break
        marker = _MARKER.match(line)
        if marker:
            current = Section(rc=int(marker["rc"]))
            sections[marker["name"]] = current
        elif current is not None:
            current.lines.append(line)
    return sections


def script_with_variables(script: str, **variables: str):
    """A StringCommand that sets shell variables to user-supplied values (each one quoted by
    pyinfra's QuoteString) and then runs `script`, which refers to them as "$NAME"::

        NAME='/opt/my conda'
        ...script...

    A leading "~/" is expanded to the target user's $HOME by the script itself: quoting would
    otherwise keep the tilde literal.
    """
    from pyinfra.api import QuoteString, StringCommand

    bits: list = []
    for name, value in variables.items():
        bits += [f"{name}=", QuoteString(str(value)), "\n"]
        bits += [f'case "${name}" in "~") {name}=$HOME;; "~/"*) {name}="$HOME/${{{name}#??}}";; esac\n']
    return StringCommand(*bits, script, _separator="")
