"""What a host already holds of an offline bundle: every file's size (and sha256 when the bundle
is not the one last synced), anything that is not a regular file, and the stamp of the last sync.

Sizes only when the stamp names the wanted bundle: hashing half a gigabyte on every host at every
run would cost more than the whole no-op run. When anything changed (no stamp, another bundle),
every file is hashed in the same command, so a same-size corrupt file is found and sent again.
Symlinks and other non-regular entries are listed apart: the sync removes them rather than
writing through them.
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
    if [ -n "$F" ] && ! grep -qF "\"$F\"" "$D/.gpuws-synced.json" 2>/dev/null; then
        echo '@@section sha256 rc=0'
        (cd "$D" && find . -type f ! -name '*.partial' ! -name .gpuws-synced.json -exec sha256sum {} +)
    fi
    echo '@@section other rc=0'
    (cd "$D" && find . ! -type d ! -type f -print)
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
    The files under a bundle folder on the host: ``{"present", "sizes": {relpath: bytes},
    "sha256": {relpath: hex}, "other": [relpath], "stamp"}``.

    + path: the folder, e.g. ``/var/cache/gpuws/bundle``
    + fingerprint: the wanted bundle's fingerprint; unless the stamp names it, every file is hashed

    **Example:**

    .. code:: python

        held = host.get_fact(BundleFiles, path="/var/cache/gpuws/bundle", fingerprint="3f2a...")
    """

    def command(self, path: str, fingerprint: str = ""):
        return script_with_variables(_SCRIPT, D=path, F=fingerprint)

    def process(self, output: list[str]) -> dict:
        sections = parse_sections(output)
        if "absent" in sections:
            return {"present": False, "sizes": {}, "sha256": {}, "other": [], "stamp": None}
        sizes = {}
        for line in (sections["sizes"].lines if "sizes" in sections else []):
            size, _, name = line.partition(" ")
            if not size.isdigit() or not name.startswith("./"):
                raise FactProcessError(f"unexpected line from stat: {line!r}")
            sizes[name[2:]] = int(size)
        sha256 = {}
        for line in (sections["sha256"].lines if "sha256" in sections else []):
            digest, _, name = line.partition("  ")
            if len(digest) != 64 or not name.startswith("./"):
                raise FactProcessError(f"unexpected line from sha256sum: {line!r}")
            sha256[name[2:]] = digest
        other = [line[2:] for line in (sections["other"].lines if "other" in sections else []) if line.startswith("./")]
        stamp = None
        stamp_lines = [line for line in (sections["stamp"].lines if "stamp" in sections else []) if line.strip()]
        if stamp_lines:
            try:
                stamp = json.loads("\n".join(stamp_lines))
            except ValueError:
                stamp = None  # a broken stamp is a stale stamp: the sync writes it again
        return {"present": True, "sizes": sizes, "sha256": sha256, "other": other, "stamp": stamp}
