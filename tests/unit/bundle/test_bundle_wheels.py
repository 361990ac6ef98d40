"""The pip half: a cp37 manylinux wheelhouse from real PyPI, sdist-only gast built with CPython 3.7."""

import json
import os
import socket
import subprocess
import sys
import zipfile

import pytest

from deploys import bundle_manifest as manifest
from tools.bundle import build, wheels

SIX_SHA256 = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"  # six-1.16.0 wheel on PyPI


def pypi_reachable():
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def pypi():
    """These tests download real wheels: without PyPI they fail, saying so (never a silent skip)."""
    if not pypi_reachable():
        pytest.fail("the wheelhouse tests need network access to pypi.org (port 443)", pytrace=False)


@pytest.fixture(scope="module")
def python37():
    try:
        return wheels.find_python("3.7")
    except Exception as error:
        pytest.fail(f"CPython 3.7 missing ({error}); install it: pyenv install 3.7.16", pytrace=False)


@pytest.mark.usefixtures("pypi")
def test_wheelhouse_builds_sdist_only_gast_with_python37(tmp_path, upstream, tiny_stack, installer, python37):
    stack = dict(tiny_stack, pip=["six==1.16.0", "gast"], pip_constraints=["gast==0.2.2"])
    out = tmp_path / "bundle"
    first = build.run(build.Options(out=str(out), stack=stack, channels=[upstream.url],
                                    miniconda_file=str(installer[0]), python=python37))
    data = manifest.load(out)
    wheel_entries = {e["name"]: e for e in manifest.files(data, "wheel")}
    assert set(wheel_entries) == {"six", "gast"}
    assert wheel_entries["six"]["sha256"] == SIX_SHA256
    assert wheel_entries["six"]["url"].startswith("https://files.pythonhosted.org/")
    gast = wheel_entries["gast"]
    assert gast["path"] == "wheels/gast-0.2.2-py3-none-any.whl" and gast["version"] == "0.2.2"
    (sdist,) = manifest.files(data, "sdist")
    assert gast["built_from"] == sdist["path"] == "sdists/gast-0.2.2.tar.gz"
    assert gast["url"] == sdist["url"] and sdist["url"].endswith("/gast-0.2.2.tar.gz")
    with zipfile.ZipFile(out / gast["path"]) as archive:
        wheel_meta = archive.read("gast-0.2.2.dist-info/WHEEL").decode()
    assert "Tag: py3-none-any" in wheel_meta
    assert manifest.upstream_bytes(data) == data["totals"]["bytes"] - gast["size"]
    assert manifest.verify(out) == []
    assert first.downloaded > 0
    # offline install into CPython 3.7 from the wheelhouse alone
    target = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    subprocess.run([python37, "-m", "pip", "install", "--no-index", "--find-links", str(out / "wheels"),
                    "--target", str(target), "six==1.16.0", "gast==0.2.2"], check=True, env=env,
                   capture_output=True)
    probe = subprocess.run([python37, "-c", "import gast, six; print(six.__version__, gast.Name.__name__)"],
                           env=dict(env, PYTHONPATH=str(target)), capture_output=True, text=True, check=True)
    assert probe.stdout.split() == ["1.16.0", "Name"]
    # resumed: nothing downloaded; a deleted built wheel is rebuilt from the bundled sdist
    again = build.run(build.Options(out=str(out), stack=stack, channels=[upstream.url],
                                    miniconda_file=str(installer[0]), python=python37))
    assert (again.downloaded, again.fetched) == (0, 0)
    (out / gast["path"]).unlink()
    rebuilt = build.run(build.Options(out=str(out), stack=stack, channels=[upstream.url],
                                      miniconda_file=str(installer[0]), python=python37))
    assert (rebuilt.downloaded, rebuilt.fetched) == (0, 1)
    assert (out / gast["path"]).exists() and manifest.verify(out) == []


@pytest.mark.usefixtures("pypi")
def test_markers_are_evaluated_for_the_target_python(tmp_path):
    """Markdown 3.3.4 needs importlib-metadata on python < 3.8: a 3.11 controller must still bundle it."""
    house = wheels.Wheelhouse(["markdown==3.3.4"], [], "linux-64", "3.7.16", None, str(tmp_path))
    names = {e["name"] for e in house.plan()}
    assert {"markdown", "importlib-metadata", "zipp", "typing-extensions"} <= names
    newer = wheels.Wheelhouse(["markdown==3.3.4"], [], "linux-64", "3.10.4", None, str(tmp_path / "b"))
    os.makedirs(tmp_path / "b")
    assert {e["name"] for e in newer.plan()} == {"markdown"}


def test_target_markers_and_abi():
    markers = wheels.target_markers("linux-64", "3.7.16")
    assert markers["python_version"] == "3.7" and markers["python_full_version"] == "3.7.16"
    assert markers["sys_platform"] == "linux" and markers["platform_machine"] == "x86_64"
    from tools.bundle.platforms import python_abi
    assert (python_abi("3.7"), python_abi("3.8")) == ("cp37m", "cp38")


def test_pip_environment_drops_the_controllers_pip_config(monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", "/somewhere")
    monkeypatch.setenv("PIP_CERT", "/etc/ssl/certs/ca.pem")
    env = wheels.pip_environment()
    assert "PIP_FIND_LINKS" not in env and env["PIP_CERT"] == "/etc/ssl/certs/ca.pem"
    assert env["PIP_CONFIG_FILE"] == os.devnull


def test_missing_python_is_one_clear_line(tmp_path):
    with pytest.raises(wheels.BundleError, match=r"--python .* is not a CPython 3\.7 interpreter"):
        wheels.find_python("3.7", explicit=str(tmp_path / "no-python"))


def test_target_python_is_exact_from_the_solve_or_the_lock():
    stack = {"name": "tf21", "python": "3.7", "lock": {"python": "3.7.16"}}
    assert wheels.target_python(stack) == "3.7.16"
    assert wheels.target_python(stack, "3.7.12") == "3.7.12"
    with pytest.raises(wheels.BundleError, match=r"conda solve gives python 3.8.18, the stack's lock is for 3.7.16"):
        wheels.target_python(stack, "3.8.18")
    with pytest.raises(wheels.BundleError, match=r"no exact python version .* no lock"):
        wheels.target_python({"name": "x", "python": "3.7", "lock": None})


def test_pip_is_told_the_full_python_version(tmp_path):
    house = wheels.Wheelhouse(["pandas<1.4"], [], "linux-64", "3.7.16", None, str(tmp_path))
    options = house._target_options()
    assert options[options.index("--python-version") + 1] == "3.7.16"
    assert options[options.index("--abi") + 1] == "cp37m"


@pytest.mark.usefixtures("pypi")
def test_the_bundle_resolves_the_locked_pandas_for_python_3_7_16(tmp_path):
    """pandas 1.3.5 requires Python >= 3.7.1: read as 3.7.0, pip would pick pandas 1.1.5 (offline != online)."""
    import stacks

    tf21 = stacks.resolve("tf21")
    pandas = [c for c in tf21["pip_constraints"] if c.startswith("pandas==")]
    house = wheels.Wheelhouse(["pandas<1.4"], pandas, "linux-64", wheels.target_python(tf21), None, str(tmp_path))
    versions = {e["name"]: e["version"] for e in house.plan()}
    assert versions["pandas"] == stacks.lock_for("tf21")["packages"]["pandas"] == "1.3.5"
