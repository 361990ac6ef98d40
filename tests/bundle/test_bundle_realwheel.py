"""Real-wheel tier: the full tf21 wheelhouse (about 460 MB from PyPI).

Runs only when asked: `pytest -m realwheel tests/bundle` or GPUWS_REALWHEEL=1.
The conda half uses the tiny stand-in channel (no conda channel is reachable here).
"""

import os
import time

import pytest
from packaging.version import Version

from tools.bundle import build, manifest, wheels

TF_GPU_210_SHA256 = "1e3e407b310e615bc63afc34b64157895a64181e1aebf9013f265f56fba04b79"  # versions.md §1b


@pytest.mark.realwheel
def test_full_tf21_wheelhouse(tmp_path, upstream, tiny_stack, installer, request):
    if "realwheel" not in (request.config.getoption("markexpr") or "") and not os.environ.get("GPUWS_REALWHEEL"):
        pytest.skip("460 MB of downloads: run with -m realwheel or GPUWS_REALWHEEL=1")
    import stacks

    tf21 = stacks.resolve("tf21", os="linux")
    stack = dict(tiny_stack, pip=tf21["pip"], pip_constraints=tf21["pip_constraints"])
    started = time.monotonic()
    result = build.run(build.Options(out=str(tmp_path / "bundle"), stack=stack, channels=[upstream.url],
                                     miniconda_file=str(installer[0]), python=wheels.find_python("3.7")))
    seconds = time.monotonic() - started
    data = manifest.load(tmp_path / "bundle")
    found = {e["name"]: e for e in manifest.files(data, "wheel")}
    assert found["tensorflow-gpu"]["sha256"] == TF_GPU_210_SHA256
    assert found["gast"]["version"] == "0.2.2" and found["gast"]["built_from"] == "sdists/gast-0.2.2.tar.gz"
    assert Version(found["protobuf"]["version"]) < Version("3.21")
    assert Version(found["h5py"]["version"]) < Version("3")
    assert Version(found["numpy"]["version"]) < Version("1.20")
    assert found["scipy"]["version"] == "1.4.1"
    assert "importlib-metadata" in found  # Markdown's python<3.8 dependency, via the target markers
    assert manifest.verify(tmp_path / "bundle") == []
    print(f"\ntf21 wheelhouse: {len(found)} wheels, {data['totals']['bytes'] / 1e6:.1f} MB, "
          f"{result.downloaded / 1e6:.1f} MB downloaded, {seconds:.0f} s")
