"""The controller installs as a lab admin would: `pip install` of the repository (not editable) into a
fresh virtualenv, then the console commands, the gpuws.* namespace and the deploy from another
directory. Needs PyPI or a pip cache holding the dependencies (about a minute the first time)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("deploys", "facts", "inventories", "operations", "stacks", "tools")


def test_every_package_of_a_room_is_installed():
    """pyproject's explicit package list is the folders with an __init__.py: a new subpackage can't be forgotten."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"gpuws"} | {
        "gpuws." + str(init.parent.relative_to(ROOT)).replace(os.sep, ".")
        for room in ROOMS for init in (ROOT / room).rglob("__init__.py") if "__pycache__" not in init.parts
    }
    assert listed == found


def _run(args, cwd, env=None, check=True):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} -> {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtualenv with a non-editable install of a copy of the working tree."""
    base = tmp_path_factory.mktemp("install")
    source = base / "src"
    files = _run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=base)
    _run([str(venv / "bin/python"), "-m", "pip", "install", "-q", str(source)], cwd=base)
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    # the venv's commands, without this test process's PYTHONPATH (pytest's pythonpath is the repo)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    return {"venv": venv, "source": source, "cwd": elsewhere, "env": env}


def test_console_commands(installed):
    cwd, env, bin_ = installed["cwd"], installed["env"], installed["venv"] / "bin"
    resolved = json.loads(_run([bin_ / "gpuws-stacks", "resolve", "tf21", "--json"], cwd, env).stdout)
    assert resolved["tensorflow"] == "2.1.0" and resolved["cudatoolkit"] == "10.1"
    assert "usage:" in _run([bin_ / "gpuws-report", "--help"], cwd, env).stdout
    bundle = _run([bin_ / "gpuws-bundle", "tf21", "--out", "b"], cwd, env, check=False)
    # py-rattler is the `bundle` extra, not a dependency: one line that says what to install
    assert bundle.returncode == 2 and bundle.stderr.count("\n") == 1 and "pip install 'gpuws[bundle]'" in bundle.stderr


def test_one_namespace_and_no_generic_top_level_names(installed):
    probe = (
        "import json, importlib.util, gpuws.deploys.settings as s, gpuws.facts.gpu, gpuws.operations.driver, "
        "gpuws.stacks, gpuws.tools.report.collect, gpuws.inventories.hostlist; "
        "import deploys.settings; "  # the rooms' own imports: the same module object, not a copy
        "print(json.dumps({'same': deploys.settings is s, 'file': s.__file__, "
        "'locks': len(gpuws.stacks.knowledge.__name__) > 0}))"
    )
    out = json.loads(_run([installed["venv"] / "bin/python", "-c", probe], installed["cwd"], installed["env"]).stdout)
    assert out["same"] and "site-packages/gpuws/deploys/settings.py" in out["file"]
    site = next((installed["venv"] / "lib").glob("python3*/site-packages"))
    assert not any((site / room).exists() for room in ROOMS)  # no generic top-level names installed
    assert (site / "gpuws/stacks/data/stacks.yaml").is_file() and list((site / "gpuws/stacks/locks").glob("*.json"))


@pytest.mark.parametrize("where", ["checkout", "installed"])
def test_pyinfra_runs_the_deploy_from_another_directory(installed, where):
    site = next((installed["venv"] / "lib").glob("python3*/site-packages"))
    deploy = installed["source"] / "deploys/tf21.py" if where == "checkout" else site / "gpuws/deploys/tf21.py"
    result = _run([installed["venv"] / "bin/pyinfra", "@local", str(deploy), "--dry", "-y"],
                  installed["cwd"], installed["env"])
    assert "ModuleNotFoundError" not in result.stdout + result.stderr
    assert "Ready:" in result.stdout + result.stderr
