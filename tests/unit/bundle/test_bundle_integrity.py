"""The bundle's integrity on the controller: manifest shape, paths that stay inside the bundle,
the push list from the manifest (never a folder walk, never a symlink) (issue 12 item 4)."""

import hashlib
import json

import pytest
from pyinfra.api.exceptions import PyinfraError

from deploys import bundle_manifest, offline
from deploys.bundle_manifest import BundleError


def make_bundle(tmp_path, files):
    (tmp_path / "wheels").mkdir()
    entries = []
    for path, data in files.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        entries.append({"kind": "wheel", "path": path, "name": "six", "version": "1", "size": len(data),
                        "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"format": 1, "fingerprint": "f" * 16, "stack": {"name": "tf21"}, "files": entries}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def test_the_push_list_comes_from_the_manifest_with_sha256(tmp_path):
    manifest = make_bundle(tmp_path, {"wheels/six-1.16.0-py2.py3-none-any.whl": b"wheel"})
    (tmp_path / "wheels" / "stray.whl").write_bytes(b"not listed")
    files = offline.push_list(str(tmp_path), bundle_manifest.load(str(tmp_path)))
    assert [f[0] for f in files] == ["manifest.json", "wheels/six-1.16.0-py2.py3-none-any.whl"]
    assert files[1] == ["wheels/six-1.16.0-py2.py3-none-any.whl", 5, manifest["files"][0]["sha256"]]


def test_a_symlink_in_the_bundle_is_refused_not_followed(tmp_path):
    make_bundle(tmp_path, {"wheels/six-1.16.0-py2.py3-none-any.whl": b"wheel"})
    wheel = tmp_path / "wheels" / "six-1.16.0-py2.py3-none-any.whl"
    wheel.unlink()
    wheel.symlink_to("/etc/passwd")
    with pytest.raises(PyinfraError, match="is a symlink or not a regular file"):
        offline.push_list(str(tmp_path), bundle_manifest.load(str(tmp_path)))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m["files"][0].update(path="../../etc/cron.d/x"), "leaves the bundle"),
        (lambda m: m["files"][0].update(path="/etc/cron.d/x"), "leaves the bundle"),
        (lambda m: m["files"][0].update(path="wheels/a b.whl"), "unusual characters"),
        (lambda m: m["files"][0].update(kind="installer", path="miniconda/x/../../y.sh"), "leaves the bundle"),
        (lambda m: m["files"][0].update(kind="installer", path="miniconda/sub/x.sh"), "directly in miniconda/"),
        (lambda m: m["files"][0].update(sha256="abc"), "no valid sha256"),
        (lambda m: m["files"][0].update(size="5"), "no valid size"),
        (lambda m: m.update(files={"a": 1}), "`files` is not a list"),
        (lambda m: m["files"].append("wheels/x.whl"), "is not an object"),
    ],
)
def test_manifests_of_the_wrong_shape_give_one_line(tmp_path, change, message):
    manifest = make_bundle(tmp_path, {"wheels/six-1.16.0-py2.py3-none-any.whl": b"wheel"})
    change(manifest)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError) as error:
        bundle_manifest.load(str(tmp_path))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_manifest_that_is_not_an_object_gives_one_line(tmp_path):
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(BundleError, match="not a bundle manifest"):
        bundle_manifest.load(str(tmp_path))
