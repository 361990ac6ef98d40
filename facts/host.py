"""Host facts that pyinfra does not have built in.

The OS and distribution come from pyinfra's own `pyinfra.facts.server.LinuxDistribution`
(``{"name": "Ubuntu", "major": 18, "minor": 4, "release_meta": {"ID": "ubuntu", ...}}``); it is
not rewritten here.
"""

from __future__ import annotations

import re

from pyinfra.api import FactBase

from facts._sections import parse_sections, script_with_variables

# df -P: "Filesystem 1024-blocks Used Available Capacity Mounted on"; the mount point may
# contain spaces, so it is the rest of the line.
_DF_ROW = re.compile(r"^(?P<fs>.+?)\s+(?P<total>\d+)\s+(?P<used>\d+)\s+(?P<avail>\d+)\s+"
                     r"(?P<capacity>\d+%|-)\s+(?P<mount>/.*)$")

_FREE_DISK_SCRIPT = r"""
printf '@@section path rc=0\n%s\n' "$D"
p=$D
while [ ! -e "$p" ]; do
    parent=$(dirname -- "$p")
    if [ "$parent" = "$p" ]; then break; fi
    p=$parent
done
printf '@@section checked rc=0\n%s\n' "$p"
echo '@@section df rc=0'
df -Pk -- "$p" 2>&1
echo '@@end'
"""


def parse_df(text: str) -> dict | None:
    """
    Parse ``df -Pk PATH`` output (the last data row): ``{"free_mib", "total_mib", "mount"}``,
    or None when there is no data row (df failed).
    """
    for line in reversed((text or "").splitlines()):
        match = _DF_ROW.match(line.strip())
        if match:
            return {
                "free_mib": int(match["avail"]) // 1024,
                "total_mib": int(match["total"]) // 1024,
                "mount": match["mount"],
            }
    return None


class FreeDisk(FactBase):
    """
    Free space on the filesystem that holds (or will hold) a path. A path that does not exist yet
    (a prefix about to be created) is measured at its nearest existing parent.

    + path: e.g. ``/opt/miniconda3``

    Returns ``{"path": "/opt/miniconda3", "checked_path": "/opt", "free_mib": 51200,
    "total_mib": 102400, "mount": "/"}``, or None when df fails.

    **Example:**

    .. code:: python

        disk = host.get_fact(FreeDisk, path="/opt/miniconda3")
        if disk and disk["free_mib"] < 8000: ...
    """

    def command(self, path: str):
        return script_with_variables(_FREE_DISK_SCRIPT, D=path)

    def process(self, output: list[str]) -> dict | None:
        sections = parse_sections(output)
        if "df" not in sections:
            return None
        df = parse_df(sections["df"].text)
        if df is None:
            return None
        checked = sections["checked"].lines[0] if "checked" in sections else None
        path = sections["path"].lines[0] if "path" in sections else None
        return {"path": path, "checked_path": checked, **df}
