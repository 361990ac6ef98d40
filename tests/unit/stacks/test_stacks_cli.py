"""`python -m stacks` as a user runs it: JSON, summary, list, and exit status 2 with one line."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run(*args):
    return subprocess.run([sys.executable, "-m", "stacks", *args], cwd=ROOT, capture_output=True, text=True)


def test_resolve_tf21_json_has_the_contract_keys():
    result = run("resolve", "tf21", "--json")
    assert result.returncode == 0, result.stderr
    stack = json.loads(result.stdout)
    for key in ("tensorflow", "python", "cudatoolkit", "cudnn", "min_driver", "compute_capabilities", "pip"):
        assert key in stack
    assert (stack["tensorflow"], stack["python"], stack["min_driver"]) == ("2.1.0", "3.7", "418.96")
    assert "numpy<1.20" in stack["pip"]


def test_resolve_with_os_and_gpu_cc_that_fit():
    result = run("resolve", "tensorflow==2.3.0", "--os", "windows", "--gpu-cc", "7.5", "--json")
    assert result.returncode == 0, result.stderr
    stack = json.loads(result.stdout)
    assert (stack["os"], stack["min_driver"], stack["cudatoolkit"]) == ("windows", "418.96", "10.1")


def test_ampere_gpu_for_tf21_exits_2_with_one_line():
    result = run("resolve", "tf21", "--gpu-cc", "8.6", "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stacks: ")
    assert "8.6" in lines[0] and "tensorflow==2.5.0" in lines[0] and "Traceback" not in result.stderr


def test_unknown_and_inconsistent_specs_exit_2():
    for args in (["resolve", "tf99"], ["resolve", "tensorflow==2.12.0", "--os", "windows"],
                 ["resolve", "tensorflow==7.0.0"], ["resolve", "tf21", "--gpu-cc", "x.y"]):
        result = run(*args)
        assert result.returncode == 2, args
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("stacks: ")


def test_argparse_errors_exit_2():
    assert run("resolve", "tf21", "--os", "beos").returncode == 2
    assert run("frobnicate").returncode == 2
    assert run().returncode == 2


def test_summary_is_aligned_text():
    result = run("resolve", "tf21")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "tf21"]
    value_columns = {len(line) - len(line.split("  ", 1)[1].lstrip()) for line in lines}
    assert len(value_columns) == 1   # every value starts in the same column
    assert any(line.startswith("min_driver_os_table") and line.endswith("418.39") for line in lines)


def test_list_names_stacks_and_releases():
    result = run("list")
    assert result.returncode == 0
    assert "tf21" in result.stdout and "2.1.0" in result.stdout and "2.21.0" in result.stdout


def test_lock_json_is_the_contract_shape():
    result = run("lock", "tf21", "--json")
    assert result.returncode == 0, result.stderr
    lock = json.loads(result.stdout)
    assert lock["python"] == "3.7.16" and lock["packages"]["pandas"] == "1.3.5"
    assert all(isinstance(v, str) for v in lock["packages"].values())


def test_check_all_prints_every_row_installable_or_refused():
    result = run("check", "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 27
    for line in lines:
        spec, status = line.split()[:2]
        assert status in ("installable", "refused"), line
        if status == "installable":
            assert "stacks/locks/" in line


def test_lock_and_check_bad_input_exit_2_with_one_line():
    for args in (["lock", "tf99"], ["lock", "tensorflow==2.15.0"], ["check"], ["lock", "--all"],
                 ["check", "--all", "--jobs", "0"]):
        result = run(*args)
        assert result.returncode == 2, args
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("stacks: "), (args, result.stderr)
    refused = run("lock", "tensorflow==2.15.0")
    assert "use tensorflow==2.15.0.post1" in refused.stderr
