"""The pip half against a private PEP 503 index (https://peps.python.org/pep-0503/), the kind an
admin mirrors for an offline site: Requires-Python must be judged for the *target* python.

A wheel's Requires-Python lives in two places: the index page's `data-requires-python`, which
pip's finder checks against --python-version, and the wheel's METADATA, which pip's resolver
checks. pip 23.2's `install` checked the latter against the controller's own python, so a
py3.7-only wheel failed a 3.7 bundle built on a 3.11 controller ("requires a different Python:
3.11.x not in '==3.7.*'"), and a wheel for >=3.8 only slipped into it when the index did not
publish the attribute. The wheels here are STAND-IN pure-python wheels built on the fly.
"""

import hashlib
import html
import sys
import zipfile

import pytest

from tools.bundle import wheels

TARGET = "3.7.16"
# (project, version, Requires-Python in METADATA, published as data-requires-python on the page)
WHEELS = [
    ("only37", "1.0", "==3.7.*", True),      # what the lab's stand-in tensorflow-gpu looks like
    ("later", "1.0", None, False),
    ("later", "2.0", ">=3.8", False),         # the index leaves the attribute out: METADATA only
]


def make_wheel(directory, name, version, requires_python):
    """A minimal valid py3-none-any wheel: METADATA, WHEEL, RECORD."""
    path = directory / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    members = {f"{name}/__init__.py": "# STAND-IN\n", f"{info}/METADATA": metadata,
               f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: gpuws-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    members[f"{info}/RECORD"] = "".join(f"{member},,\n" for member in [*members, f"{info}/RECORD"])
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in members.items():
            archive.writestr(member, text)
    return path


@pytest.fixture()
def private_index(tmp_path, serve):
    """root/simple/<project>/ pages linking root/files/*.whl with #sha256= (what pip wants of an index)."""
    files = tmp_path / "files"
    files.mkdir()
    pages = {}
    for name, version, requires_python, published in WHEELS:
        wheel = make_wheel(files, name, version, requires_python)
        attribute = f' data-requires-python="{html.escape(requires_python)}"' if published and requires_python else ""
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        pages.setdefault(name, []).append(f'<a href="../../files/{wheel.name}#sha256={digest}"{attribute}>{wheel.name}</a>')
    for name, links in pages.items():
        (tmp_path / "simple" / name).mkdir(parents=True)
        (tmp_path / "simple" / name / "index.html").write_text("<html><body>\n" + "<br>\n".join(links) + "\n</body></html>\n")
    return serve(tmp_path).url + "/simple/"


def test_requires_python_of_the_metadata_is_judged_for_the_target(tmp_path, private_index):
    # The reproduction needs a controller python that the py3.7-only wheel excludes.
    assert sys.version_info[:2] != (3, 7), "the controller runs python 3.7: this test cannot show the bug"
    house = wheels.Wheelhouse(["only37", "later"], [], "linux-64", TARGET, private_index, str(tmp_path / "work"))
    (tmp_path / "work").mkdir()
    versions = {entry["name"]: entry["version"] for entry in house.plan()}
    assert versions == {"only37": "1.0", "later": "1.0"}
