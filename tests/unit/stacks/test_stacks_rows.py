"""Every stack row: post and patch releases, refusals with the nearest row that works, the
compute capabilities measured from the wheels, and the committed locks (offline)."""

import json
import re

import pytest

import stacks
from stacks import StackError, gpu_support, installable, knowledge, locks, resolve


@pytest.mark.parametrize("spec, build", [
    ("tensorflow==2.15.0.post1", "2.15.0"), ("tensorflow==2.4.4", "2.4.0"),
    ("tensorflow==2.16.2", "2.16.1"), ("tensorflow==2.19.1", "2.19.0"), ("tensorflow==1.13.2", "1.13.1"),
])
def test_post_and_patch_releases_on_pypi_share_their_series_build(spec, build):
    stack = resolve(spec, channel="conda-forge")
    assert stack["tensorflow"] == spec.split("==")[1]
    assert stack["pip"][0].endswith(f"=={stack['tensorflow']}")
    assert stack["sources"]["tensorflow_build"] and stack["cuda"] == knowledge.build_for(build, "linux")["cuda"]


def test_2_15_0_cannot_be_installed_and_names_its_post_release():
    with pytest.raises(StackError, match=r"tensorrt-libs==8.6.1, which is not on PyPI.*; use tensorflow==2.15.0.post1$"):
        resolve("tensorflow==2.15.0")
    for spec in ("tensorflow==2.14.0", "tensorflow==2.14.1"):
        with pytest.raises(StackError, match=r"tensorrt==8.5.3.1, which PyPI does not serve.*; use tensorflow==2.15.0.post1$"):
            resolve(spec)


def test_an_unknown_patch_release_names_its_series():
    with pytest.raises(StackError, match=r"use tensorflow==2.4.4 \(same 2.4 series\)"):
        resolve("tensorflow==2.4.9")
    with pytest.raises(StackError, match=r"malformed stack spec"):
        resolve("tensorflow==2.15.0.dev1")


@pytest.mark.parametrize("spec, sass, ptx", [
    ("tensorflow==2.5.0", ["3.5", "5.0", "6.0", "7.0", "7.5", "8.0"], ["8.0"]),
    ("tensorflow==2.15.0.post1", ["5.0", "6.0", "7.0", "7.5", "8.0"], ["8.0"]),
    ("tensorflow==2.16.1", ["5.0", "6.0", "7.0", "8.0", "9.0"], ["9.0"]),
    ("tensorflow==2.20.0", ["6.0", "7.0", "8.0", "8.9", "9.0"], ["9.0"]),
    ("tensorflow==2.2.0", ["3.5", "3.7", "5.2", "6.0", "6.1", "7.0"], ["3.5", "3.7", "5.2", "6.0", "6.1", "7.0"]),
])
def test_compute_capabilities_are_what_the_wheel_contains(spec, sass, ptx):
    stack = resolve(spec, channel="conda-forge")
    assert (stack["compute_capabilities"], stack["compute_capabilities_ptx"]) == (sass, ptx)
    assert stack["compute_capabilities_basis"] in ("build-info", "measured")
    assert "files.pythonhosted.org" in stack["sources"]["compute_capabilities"]
    assert "docs.nvidia.com/cuda/cuda-c-programming-guide" in stack["sources"]["compute_capabilities"]


def test_tf_2_17_and_later_refuse_maxwell_and_point_to_2_16():
    with pytest.raises(StackError, match=r"5.2 is too old.*use tensorflow==2.16.1 \(CUDA 12.3\) or earlier"):
        resolve("tensorflow==2.20.0", gpu_cc="5.2")
    assert gpu_support(resolve("tensorflow==2.16.1"), "5.2")[0] is True


def test_sm_80_code_runs_on_8_6_and_8_9_within_the_toolkit():
    assert gpu_support(resolve("tensorflow==2.17.0"), "8.6")[0] is True    # sm_80 SASS on 8.6
    assert gpu_support(resolve("tensorflow==2.16.1"), "8.9")[0] is True    # sm_80 SASS on 8.9
    assert gpu_support(resolve("tensorflow==2.5.0", channel="conda-forge"), "8.9")[0] is False  # CUDA 11.2 ends at 8.6


@pytest.mark.parametrize("cc", ["5.3", "6.2", "7.2", "8.7"])
def test_jetson_capabilities_are_refused_for_desktop_wheels(cc):
    ok, message, suggestion = gpu_support(resolve("tensorflow==2.16.1"), cc)
    assert (ok, suggestion) == (False, None)
    assert "Jetson" in message and cc in message


@pytest.mark.parametrize("spec, route, conda", [
    ("tensorflow==1.15.0", "conda", ["cudatoolkit=10.0.130=0", "cudnn=7.6.5=cuda10.0_0"]),
    ("tensorflow==2.3.0", "conda", ["cudatoolkit=10.1.243=h6bb024c_0", "cudnn=7.6.5=cuda10.1_0"]),
])
def test_cuda_10_rows_take_a_cudnn_build_that_exists_on_defaults(spec, route, conda):
    stack = resolve(spec)
    assert stack["cuda_from"] == route and [e["spec"] for e in stack["conda"][1:]] == conda


def test_cuda_11_2_rows_need_conda_forge_where_tensorflow_took_them():
    with pytest.raises(StackError, match=r"no known cudatoolkit 11.2 build .* defaults .*use --channel conda-forge"):
        resolve("tensorflow==2.8.0")
    stack = resolve("tensorflow==2.8.0", channel="conda-forge")
    assert [e["spec"] for e in stack["conda"][1:]] == ["cudatoolkit=11.2", "cudnn=8.1.0.77"]
    assert stack["cudnn_package"] == "conda conda-forge cudnn=8.1.0.77"


def test_rows_cover_every_linux_release_and_the_named_stacks():
    specs = stacks.rows()
    assert specs[0] == "tf21" and specs.index("tensorflow==2.15.0.post1") == specs.index("tensorflow==2.15.0") + 1
    assert len(specs) == 1 + 25 + 1


def test_every_row_is_installable_with_a_current_lock_or_refused_naming_one_that_is():
    verdicts = {spec: installable.check_row(spec) for spec in stacks.rows()}
    refused = {spec for spec, v in verdicts.items() if v["status"] == "refused"}
    assert refused == {"tensorflow==2.14.0", "tensorflow==2.15.0"}
    for spec in refused:
        assert verdicts[spec]["reason"].endswith("use tensorflow==2.15.0.post1")
        assert verdicts["tensorflow==2.15.0.post1"]["status"] == "installable"
    for spec, verdict in verdicts.items():
        if spec not in refused:
            assert verdict["status"] == "installable", verdict
            assert verdict["lock"].startswith("stacks/locks/")


def test_lock_for_tf21_is_the_exact_closure_for_cpython_3_7_16():
    lock = stacks.lock_for("tf21")
    assert lock["python"] == "3.7.16" and lock["pip"] == "24.0"
    packages = lock["packages"]
    # pandas 1.3.5 needs Python >= 3.7.1: a resolver reading python "3.7" as 3.7.0 picks 1.1.5
    assert (packages["pandas"], packages["numpy"], packages["protobuf"], packages["gast"]) == \
        ("1.3.5", "1.19.5", "3.20.3", "0.2.2")
    assert packages["tensorflow-gpu"] == "2.1.0" and packages["scipy"] == "1.4.1"
    assert lock["files"]["gast"]["file"] == "gast-0.2.2.tar.gz"   # the sdist, built by CPython 3.7
    assert all(re.fullmatch(r"[0-9a-f]{64}", f["sha256"]) for f in lock["files"].values())
    assert set(lock["files"]) == set(packages)


def test_resolve_pins_the_lock_but_not_the_envs_seed_tools():
    stack = resolve("tf21")
    assert stack["lock"]["file"] == "stacks/locks/tf21.json" and stack["lock"]["python"] == "3.7.16"
    pins = [c for c in stack["pip_constraints"] if "==" in c]
    names = {c.split("==")[0] for c in pins}
    assert not names & set(locks.ENV_SEED)
    assert "absl-py==" + stacks.lock_for("tf21")["packages"]["absl-py"] in stack["pip_constraints"]
    assert len(set(stack["pip_constraints"])) == len(stack["pip_constraints"])


def test_a_stale_lock_is_refused_with_the_command_that_refreshes_it(tmp_path, monkeypatch):
    lock = json.loads((locks.LOCK_DIR / "tf21.json").read_text())
    lock["inputs"]["requirements"] = lock["inputs"]["requirements"][:-1]
    (tmp_path / "tf21.json").write_text(json.dumps(lock))
    monkeypatch.setattr(locks, "LOCK_DIR", tmp_path)
    locks._read.cache_clear()
    try:
        with pytest.raises(StackError, match=r"tf21.json is stale: the stack's pip part changed .* "
                                             r"run python -m stacks lock tf21 --update$"):
            resolve("tf21")
        assert installable.check_row("tf21")["status"] == "stale"
    finally:
        locks._read.cache_clear()


def test_windows_stacks_carry_no_lock():
    stack = resolve("tf21", os="windows")
    assert stack["lock"] is None and stack["pip_constraints"] == stack["pip_constraints_declared"]


def test_a_row_whose_python_has_no_pyenv_build_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    verdict = installable.verify_row("tf21")
    assert verdict["status"] == "unchecked"
    assert re.search(r"no CPython 3.7 built by pyenv under .*: run `pyenv install 3.7`", verdict["reason"])
