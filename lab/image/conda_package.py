"""Write conda packages (v1 ``.tar.bz2`` format) from a staged prefix tree.

What conda 4.3 and py-rattler read: ``info/index.json``, ``info/files``, ``info/paths.json``
(with ``prefix_placeholder``/``file_mode`` for text files that embed the build prefix) and
``info/has_prefix``; the placeholder is conda's classic ``/opt/anaconda1anaconda2anaconda3``.
"""

import hashlib
import json
import os
import tarfile
import time
import zipfile
from pathlib import Path

PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
ENTRY_POINT = '''#!{placeholder}/bin/python
# -*- coding: utf-8 -*-
import re
import sys
from {module} import {function}
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])
    sys.exit({function}())
'''


def write_package(stage: Path, index: dict, summary: str, channel: Path) -> Path:
    """Pack ``stage`` as NAME-VERSION-BUILD.tar.bz2 into ``channel/<subdir>/``."""
    files, paths, has_prefix = [], [], []
    for path in sorted(stage.rglob("*")):
        rel = path.relative_to(stage).as_posix()
        if rel.startswith("info/") or (path.is_dir() and not path.is_symlink()):
            continue
        files.append(rel)
        if path.is_symlink():
            paths.append({"_path": rel, "path_type": "softlink", "size_in_bytes": 0,
                          "sha256": hashlib.sha256(os.readlink(path).encode()).hexdigest()})
            continue
        data = path.read_bytes()
        entry = {"_path": rel, "path_type": "hardlink", "sha256": hashlib.sha256(data).hexdigest(),
                 "size_in_bytes": len(data)}
        if PLACEHOLDER.encode() in data and b"\0" not in data[:8192]:
            entry.update(file_mode="text", prefix_placeholder=PLACEHOLDER)
            has_prefix.append(f"{PLACEHOLDER} text {rel}")
        paths.append(entry)
    index = {"arch": "x86_64", "platform": "linux", "subdir": "linux-64", "build_number": 0,
             "license": "see upstream", "timestamp": int(time.time() * 1000), "depends": [], **index}
    if index["subdir"] == "noarch":
        index.pop("arch")
        index.pop("platform")
    info = stage / "info"
    info.mkdir(exist_ok=True)
    (info / "index.json").write_text(json.dumps(index, indent=2, sort_keys=True))
    (info / "about.json").write_text(json.dumps({"summary": summary}, indent=2))
    (info / "files").write_text("\n".join(files) + "\n")
    (info / "paths.json").write_text(json.dumps({"paths": paths, "paths_version": 1}, indent=2))
    if has_prefix:
        (info / "has_prefix").write_text("\n".join(has_prefix) + "\n")
    subdir = channel / index["subdir"]
    subdir.mkdir(parents=True, exist_ok=True)
    out = subdir / f"{index['name']}-{index['version']}-{index['build']}.tar.bz2"
    with tarfile.open(out, "w:bz2") as tar:
        for item in sorted(info.iterdir()):
            tar.add(item, arcname=f"info/{item.name}")
        for rel in files:
            tar.add(stage / rel, arcname=rel, recursive=False)
    return out


def stage_wheel(stage: Path, wheel: Path, python: str = "3.7") -> None:
    """Unpack a pure (or this python's) wheel into ``stage`` as conda would lay it out
    (lib/pythonX.Y/site-packages + bin)."""
    site = stage / f"lib/python{python}/site-packages"
    site.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
        for name in archive.namelist():
            if not name.endswith(".dist-info/entry_points.txt"):
                continue
            section = None
            for line in archive.read(name).decode().splitlines():
                line = line.strip()
                if line.startswith("["):
                    section = line.strip("[]")
                elif section == "console_scripts" and "=" in line:
                    script, target = (x.strip() for x in line.split("=", 1))
                    module, function = target.split(":")
                    out = stage / "bin" / script
                    out.parent.mkdir(exist_ok=True)
                    out.write_text(ENTRY_POINT.format(placeholder=PLACEHOLDER, module=module,
                                                      function=function.split(".")[0]))
                    out.chmod(0o755)
    for dist_info in site.glob("*.dist-info"):
        # conda-installed, as pip sees it; RECORD would name paths conda relocates
        (dist_info / "INSTALLER").write_text("conda\n")
        (dist_info / "RECORD").unlink(missing_ok=True)
    for data_dir in site.glob("*.data"):  # wheel .data dirs (scripts) are not used by these wheels
        import shutil
        shutil.rmtree(data_dir)
