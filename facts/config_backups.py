"""The backups gpuws kept of a config file it took over (operations/util/takeover.py)."""

from __future__ import annotations

from pyinfra.api import FactBase

from facts._sections import script_with_variables

# The first backup's text follows a header with its number of lines (its `wc -l` plus the line the
# extra `echo` ends, as FileTexts counts), so its own lines can never be taken for a header.
_SCRIPT = r"""
_first=
for B in "$F".gpuws-backup-*; do
    if [ -f "$B" ]; then
        printf '@@backup %s\n' "$B"
        if [ -z "$_first" ]; then _first=$B; fi
    fi
done
if [ -n "$_first" ]; then
    printf '@@first %s\n' "$(($(wc -l < "$_first") + 1))"
    cat -- "$_first"
    echo
fi
echo '@@end'
"""


class ConfigBackups(FactBase):
    """
    The ``PATH.gpuws-backup-<date>`` files beside a config file, oldest first, and the text of the
    oldest (the file as it was before gpuws first replaced it).

    + path: the config file, e.g. ``/opt/miniconda3/.condarc``

    Returns::

        {"backups": ["/opt/miniconda3/.condarc.gpuws-backup-20250101T120000Z"],
         "first": "proxy_servers: ...\\n" | None}

    **Example:**

    .. code:: python

        kept = host.get_fact(ConfigBackups, path="/opt/miniconda3/.condarc")
    """

    def command(self, path: str):
        return script_with_variables(_SCRIPT, F=path)

    @staticmethod
    def default() -> dict:
        return {"backups": [], "first": None}

    def process(self, output: list[str]) -> dict:
        result = self.default()
        lines = iter(output)
        for line in lines:  # text before the first header (a noisy shell start-up) is skipped
            if line.strip() == "@@end":
                break
            if line.startswith("@@backup "):
                result["backups"].append(line[len("@@backup "):])
            elif line.startswith("@@first "):
                body = [next(lines, "") for _ in range(int(line.split()[1]))]
                if body and body[-1] == "":  # the script's extra echo
                    body = body[:-1]
                text = "\n".join(body)
                result["first"] = text + "\n" if text else ""
        return result
