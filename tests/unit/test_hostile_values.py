"""Hostile data values through the real `pyinfra` CLI: each run stops with one line before any host
command runs (issue 12 item 1).

The host is pyinfra's @fake connector, its command and file-transfer methods wrapped to count
every call; the count must stay 0. Every value of the settings unit test
(tests/unit/settings/test_data_checks.py HOSTILE) goes through the real CLI here: one run per value,
in a few parallel subprocesses, since each pyinfra run stops at the first bad value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.unit.settings.test_data_checks import HOSTILE

ROOT = Path(__file__).resolve().parents[2]
PYINFRA = Path(sys.executable).with_name("pyinfra")

_INVENTORY = '''
import json, os
from pyinfra.connectors.fake import FakeConnector

COUNT = os.environ["HOSTILE_COUNT"]


def _counted(method):
    def run(self, *args, **kwargs):
        with open(COUNT, "a") as handle:
            handle.write(method.__name__ + "\\n")
        return method(self, *args, **kwargs)
    return run


# every command and file transfer the @fake host is asked for is counted
for _name in ("run_shell_command", "put_file", "get_file"):
    setattr(FakeConnector, _name, _counted(getattr(FakeConnector, _name)))

DATA = json.loads(os.environ["HOSTILE_DATA"])
workstations = [("@fake/ws01", dict(DATA, fake_delay=0, fake_delay_jitter=0))]
'''


def _run(tmp_path: Path, index: int, data: dict) -> tuple[int, str, int]:
    count = tmp_path / f"count_{index}"
    count.write_text("")
    inventory = tmp_path / "inventory_hostile.py"
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOSTILE_COUNT=str(count), HOSTILE_DATA=json.dumps(data))
    proc = subprocess.run(
        [str(PYINFRA), "-y", str(inventory), "deploys/tf21.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    return proc.returncode, proc.stdout + proc.stderr, len(count.read_text().splitlines())


def test_every_hostile_value_is_refused_before_any_host_command(tmp_path):
    (tmp_path / "inventory_hostile.py").write_text(_INVENTORY)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda item: _run(tmp_path, item[0], item[1][0]), enumerate(HOSTILE)))
    refused = 0
    for (data, expected), (returncode, output, commands) in zip(HOSTILE, results):
        assert returncode != 0, f"{data} was accepted:\n{output[-2000:]}"
        assert commands == 0, f"{data}: {commands} host command(s) ran before the refusal"
        assert expected in output and "Traceback" not in output, f"{data}:\n{output[-2000:]}"
        refused += 1
    assert refused == len(HOSTILE) >= 45


def test_the_same_run_with_good_data_does_reach_the_host(tmp_path):
    """The counter works: valid data (typed as people type it) gets as far as host commands."""
    (tmp_path / "inventory_hostile.py").write_text(_INVENTORY)
    returncode, output, commands = _run(tmp_path, 0, {"nvidia_driver_branch": 470, "pip_find_links": "/srv/wheels"})
    assert commands > 0, output[-2000:]


def _planted(folder: Path) -> Path:
    """A json.py and a pip/ package that leave a mark when imported (what a student could plant)."""
    mark = folder / "IMPORTED"
    (folder / "json.py").write_text(f"open({str(mark)!r}, 'a').write('json')\n")
    (folder / "pip").mkdir()
    (folder / "pip" / "__init__.py").write_text(f"open({str(mark)!r}, 'a').write('pip')\n")
    (folder / "pip" / "__main__.py").write_text(f"open({str(mark)!r}, 'a').write('pip')\n")
    return mark


def test_the_pip_fact_as_root_never_imports_the_working_directory(tmp_path):
    from facts.pip_env import PipPackages

    mark = _planted(tmp_path)
    command = PipPackages().command(python=sys.executable)
    out = subprocess.run(["sh", "-c", str(command.get_raw_value() if hasattr(command, "get_raw_value") else command)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert not mark.exists(), out.stdout[-500:]
    assert PipPackages().process(out.stdout.splitlines())["present"]


def test_the_verification_as_root_never_imports_the_working_directory(tmp_path):
    from facts.verification import verification_command

    mark = _planted(tmp_path)
    script = "import json, sys\nprint('loaded ' + json.__file__)\n"
    command = verification_command(sys.executable, str(tmp_path / "env"), "{}", script)
    out = subprocess.run(["sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "loaded " in out.stdout and str(tmp_path) not in out.stdout.split("loaded ", 1)[1].splitlines()[0]
    assert not mark.exists()


def test_pip_and_conda_run_as_root_with_umask_022_and_python_I():
    """The exact commands of the operation specs: every pip/conda call starts `umask 022 && `."""
    for spec in (ROOT / "tests" / "spec" / "operations").glob("*/*.yaml"):
        for line in spec.read_text().splitlines():
            if " -m pip install " in line or " -m pip uninstall " in line or "/bin/conda install -y" in line:
                assert line.startswith("- umask 022 && "), f"{spec.name}: {line[:120]}"
                assert " -m pip " not in line or "/bin/python -I -m pip " in line, f"{spec.name}: {line[:120]}"
