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


# Each file is announced with its path and the number of lines that follow (its newlines, as
# `wc -l` counts them, plus the line that the extra `echo` ends), so a file's own marker-like lines
# can never be taken for the next header. The shell counts them: no wc started per file and run.
_MANY_SCRIPT = r"""
for G in "$@"; do
    F=$G
    case "$F" in "~") F=$HOME;; "~/"*) F="$HOME/${F#??}";; esac
    if [ -f "$F" ]; then
        _n=1
        while IFS= read -r _l; do _n=$((_n + 1)); done < "$F"
        printf '@@file content %s %s\n' "$_n" "$G"
        cat -- "$F"
        echo
    else
        printf '@@file absent %s\n' "$G"
    fi
done
echo '@@end'
"""


class FileTexts(FactBase):
    """
    The contents of several regular files, read by ONE remote command: ``{path: content}``, with
    None for a file that does not exist (one round trip instead of one `FileContent` per file).

    + paths: the files (absolute, or ``~/``-relative), e.g. the activate.d and deactivate.d hooks
      of an env; a path may not contain a newline

    Each text is what `FileContent` returns for that path ("\\n" line ends, one final newline
    when the file is not empty). The result is keyed by the paths as given.

    **Example:**

    .. code:: python

        texts = host.get_fact(FileTexts, paths=[
            "/opt/miniconda3/envs/tf21/etc/conda/activate.d/gpuws-cuda.sh",
            "/opt/miniconda3/envs/tf21/etc/conda/deactivate.d/gpuws-cuda.sh",
        ])
    """

    def command(self, paths):
        from pyinfra.api import QuoteString, StringCommand

        # the paths become the script's "$@", each one quoted
        bits: list = ["set --"]
        for path in paths:
            bits += [" ", QuoteString(str(path))]
        return StringCommand(*bits, _MANY_SCRIPT, _separator="")

    @staticmethod
    def default() -> dict:
        return {}

    def process(self, output: list[str]) -> dict[str, str | None]:
        files: dict[str, str | None] = {}
        lines = iter(output)
        for line in lines:  # text before the first header (a noisy shell start-up) is skipped
            if line.strip() == "@@end":
                break
            if line.startswith("@@file absent "):
                files[line[len("@@file absent "):]] = None
            elif line.startswith("@@file content "):
                count, _, path = line[len("@@file content "):].partition(" ")
                body = [next(lines, "") for _ in range(int(count))]
                if body and body[-1] == "":  # the script's extra echo
                    body = body[:-1]
                text = "\n".join(body)
                files[path] = text + "\n" if text else ""
        return files
