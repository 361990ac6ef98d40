"""Rebuild a lab part only when its inputs change.

Each build step names its inputs (source files under lab/, version pins, upstream artifacts);
their hash is written to ``stamps/<step>`` after a successful build. A step whose stamp matches
and whose output exists is skipped; a step forgets its stamp before it empties its output, so an
interrupted build is redone, not taken for current.
"""

import hashlib
import json
from pathlib import Path
from typing import Iterable


def hash_inputs(files: Iterable[Path] = (), values: object = None) -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in files):
        if path.is_dir():
            for sub in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
                digest.update(str(sub.relative_to(path)).encode())
                digest.update(sub.read_bytes())
        else:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    digest.update(json.dumps(values, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def is_current(stamp_dir: Path, step: str, digest: str, output: Path) -> bool:
    stamp = stamp_dir / step
    return output.exists() and stamp.exists() and stamp.read_text().strip() == digest


def record(stamp_dir: Path, step: str, digest: str) -> None:
    stamp_dir.mkdir(parents=True, exist_ok=True)
    (stamp_dir / step).write_text(digest + "\n")


def forget(stamp_dir: Path, step: str) -> None:
    (stamp_dir / step).unlink(missing_ok=True)
