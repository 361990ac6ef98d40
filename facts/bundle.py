"""What a host already holds of an offline bundle: every file's size, and the stamp of the last sync.

Sizes rather than checksums: hashing half a gigabyte on every host at every run would cost more
than the whole no-op run. Content is still verified where it matters: the Miniconda installer by
sha256 before it runs, conda packages by conda against the channel's repodata, and the stamp
records which manifest (by its fingerprint) was completely synced.
"""

from __future__ import annotations

import json

from pyinfra.api import FactBase, FactProcessError

from facts._sections import parse_sections, script_with_variables

STAMP = ".gpuws-synced.json"

_SCRIPT = r"""
if [ -d "$D" ]; then
    echo '@@section sizes rc=0'
    (cd "$D" && find . -type f ! -name '*.partial' ! -name .gpuws-synced.json -exec stat -c '%s %n' {} +)
    if [ -f "$D/.gpuws-synced.json" ]; then
        echo '@@section stamp rc=0'
        cat "$D/.gpuws-synced.json"
        echo
    fi
else
    echo '@@section absent rc=0'
fi
"""


class BundleFiles(FactBase):
    """
    The files under a bundle folder on the host: ``{"present", "sizes": {relpath: bytes}, "stamp"}``.

    + path: the folder, e.g. ``/var/cache/gpuws/bundle``

    **Example:**

    .. code:: python

        held = host.get_fact(BundleFiles, path="/var/cache/gpuws/bundle")
    """

    def command(self, path: str):
        return script_with_variables(_SCRIPT, D=path)

    def process(self, output: list[str]) -> dict:
        sections = parse_sections(output)
        if "absent" in sections:
            return {"present": False, "sizes": {}, "stamp": None}
        sizes = {}
        for line in (sections["sizes"].lines if "sizes" in sections else []):
            size, _, name = line.partition(" ")
            if not size.isdigit() or not name.startswith("./"):
                raise FactProcessError(f"unexpected line from stat: {line!r}")
            sizes[name[2:]] = int(size)
        stamp = None
        stamp_lines = [line for line in (sections["stamp"].lines if "stamp" in sections else []) if line.strip()]
        if stamp_lines:
            try:
                stamp = json.loads("\n".join(stamp_lines))
            except ValueError:
                stamp = None  # a broken stamp is a stale stamp: the sync writes it again
        return {"present": True, "sizes": sizes, "stamp": stamp}
