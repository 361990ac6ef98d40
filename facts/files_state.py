"""A file's content, for operations that rewrite small config files (hooks, pip.conf, .condarc).

Unlike pyinfra's `files.File` (stat data) this returns the text itself, so an operation can
compare it with what it would write and noop when equal.
"""

from __future__ import annotations

from pyinfra.api import FactBase

from facts._sections import script_with_variables

_SCRIPT = r"""
if [ -f "$F" ]; then
    echo '@@section content rc=0'
    cat -- "$F"
    echo
    echo '@@end'
else
    echo '@@section absent rc=0'
fi
"""


class FileContent(FactBase):
    """
    The content of a regular file, or None when it does not exist.

    + path: the file, e.g. ``/opt/miniconda3/envs/tf21/etc/conda/activate.d/gpuws.sh``

    The text comes back with "\\n" line ends and one final newline when the file is not empty
    (whether the file itself ended with one is not kept: compare texts with that in mind).

    **Example:**

    .. code:: python

        current = host.get_fact(FileContent, path="/opt/miniconda3/.condarc")
    """

    def command(self, path: str):
        return script_with_variables(_SCRIPT, F=path)

    def process(self, output: list[str]) -> str | None:
        # not parse_sections: the file may itself contain marker-like lines, so take everything
        # between the first marker and the LAST end marker
        if "@@section content rc=0" not in output:
            return None
        start = output.index("@@section content rc=0") + 1
        end = len(output) - 1 - output[::-1].index("@@end") if "@@end" in output else len(output)
        lines = output[start:end]
        # the script adds one "echo" so that a last line without newline still ends before
        # the marker; drop that extra (empty) line
        if lines and lines[-1] == "":
            lines = lines[:-1]
        text = "\n".join(lines)
        return text + "\n" if text else ""
