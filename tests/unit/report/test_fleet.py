"""The fleet report's identity check (tools/report/fleet.py) and its rendering, on recorded facts:
exact versions against the stack's lock and against the fleet's majority, every env shown."""

from __future__ import annotations

import json

import stacks
from tools.report.collect import EnvReport, HostReport
from tools.report.fleet import compare, lock_of
from tools.report.render import as_json, as_table

TF21_LOCK = stacks.lock_for("tf21")
TF21_PINS = {"cudatoolkit": "10.1.243 h6bb024c_0", "cudnn": "7.6.5 cuda10.1_0"}
# what the lab's converged tf21 env holds (the lock's closure, conda's seed, the pinned CUDA records)
TF21_CONDA = {"python": "3.7.16 h7a1cb2a_0", "pip": "22.3.1 py37h06a4308_0", **TF21_PINS}
TF15_LOCK = stacks.lock_for("tensorflow==2.15.0.post1")


def tf21_env(**pip_changes) -> EnvReport:
    pip = {**TF21_LOCK["packages"], "pip": "22.3.1"}
    for name, version in pip_changes.items():
        name = name.replace("_", "-")
        if version is None:
            pip.pop(name)
        else:
            pip[name] = version
    return EnvReport(name="tf21", stack="tf21", spec="tf21", path="/opt/miniconda3/envs/tf21", present=True,
                     python="3.7.16", conda=dict(TF21_CONDA), pip=pip, conda_pins=dict(TF21_PINS),
                     tensorflow="tensorflow-gpu 2.1.0", verdict={"ok": True})


def tf15_env() -> EnvReport:
    return EnvReport(name="tf-2.15.0.post1", stack="tensorflow-2.15.0.post1", spec="tensorflow==2.15.0.post1",
                     path="/opt/miniconda3/envs/tf-2.15.0.post1", present=True, python="3.11.7",
                     conda={"python": "3.11.7 h955ad1f_0"}, pip=dict(TF15_LOCK["packages"]),
                     tensorflow="tensorflow 2.15.0.post1", verdict={"ok": True})


def host(name: str, *envs: EnvReport, driver: str = "535.183.01") -> HostReport:
    report = HostReport(name=name, connected=True, stack=envs[0].stack, driver=driver, min_driver="525.60.13",
                        driver_ok=True, conda="4.8.3", envs=list(envs))
    first = envs[0]
    report.env, report.env_python, report.tensorflow, report.verdict = first.name, first.python, first.tensorflow, first.verdict
    return report


def test_identical_fleet_has_no_differences_and_says_so():
    fleet = [host(f"ws0{i}", tf21_env(), tf15_env()) for i in range(1, 4)]
    compare(fleet)
    assert [r.differences for r in fleet] == [[], [], []]
    data = json.loads(as_json(fleet))
    assert data["identical"] is True and data["differing_hosts"] == []
    assert "3/3 hosts converged; 3/3 identical" in as_table(fleet)


def test_a_host_off_the_lock_and_off_the_fleet_is_named_with_how():
    fleet = [host("ws01", tf21_env()), host("ws02", tf21_env()), host("ws03", tf21_env(numpy="1.18.5", scipy=None))]
    fleet[2].envs[0].conda["cudnn"] = "7.6.5 cuda10.2_0"
    compare(fleet)
    assert fleet[0].differences == [] and fleet[1].differences == []
    got = {(d["against"], d["kind"], d["name"], d["have"], d["want"]) for d in fleet[2].differences}
    assert got == {
        ("lock", "conda", "cudnn", "7.6.5 cuda10.2_0", "7.6.5 cuda10.1_0"),
        ("lock", "pip", "numpy", "1.18.5", "1.19.5"),
        ("lock", "pip", "scipy", None, "1.4.1"),
        ("fleet", "conda", "cudnn", "7.6.5 cuda10.2_0", "7.6.5 cuda10.1_0"),
        ("fleet", "pip", "numpy", "1.18.5", "1.19.5"),
        ("fleet", "pip", "scipy", None, "1.4.1"),
    }
    data = json.loads(as_json(fleet))
    assert data["identical"] is False and data["differing_hosts"] == ["ws03"]
    exact = data["hosts"][2]["envs"][0]
    assert exact["pip"]["numpy"] == "1.18.5" and exact["conda"]["cudatoolkit"] == "10.1.243 h6bb024c_0"
    table = as_table(fleet)
    assert "ws03: env tf21: 3 differ from the lock: conda cudnn 7.6.5 cuda10.2_0, lock 7.6.5 cuda10.1_0" in table
    assert "pip scipy absent, fleet 1.4.1" in table
    assert "1/3 identical" not in table and "2/3 identical" in table


def test_a_users_extra_package_differs_from_the_fleet_not_from_the_lock():
    fleet = [host("ws01", tf21_env()), host("ws02", tf21_env(student_notes="0.1")), host("ws03", tf21_env())]
    compare(fleet)
    assert fleet[1].differences == [{"env": "tf21", "against": "fleet", "kind": "pip", "name": "student-notes",
                                     "have": "0.1", "want": None}]


def test_env_seed_is_not_compared_with_the_lock():
    env = tf21_env(setuptools="65.6.3", wheel="0.38.4")
    fleet = [host("ws01", env)]
    compare(fleet)
    assert fleet[0].differences == []


def test_a_tie_is_a_split_naming_every_value_and_the_driver_is_compared_across_hosts():
    fleet = [host("ws01", tf21_env(), driver="535.183.01"), host("ws02", tf21_env(), driver="470.256.02")]
    compare(fleet)
    for report in fleet:
        [item] = report.differences
        assert item["kind"] == "driver" and item["want"] is None
        assert item["split"] == {"535.183.01": ["ws01"], "470.256.02": ["ws02"]}
    assert "fleet split: 535.183.01 on ws01; 470.256.02 on ws02" in as_table(fleet)


def test_envs_are_compared_with_the_hosts_holding_them_and_every_env_is_a_row():
    one = host("ws01", tf21_env(), tf15_env())
    two = host("ws02", tf21_env(), tf15_env())
    three = host("ws03", tf21_env(), tf15_env())
    four = host("ws04", tf21_env())  # without the second env: not counted in its majority
    three.envs[1].pip["keras"] = "2.15.1"
    compare([one, two, three, four])
    assert one.differences == [] and two.differences == [] and four.differences == []
    assert {(d["against"], d["name"], d["have"]) for d in three.differences} == {
        ("lock", "keras", "2.15.1"), ("fleet", "keras", "2.15.1")}
    lines = as_table([one, two, three, four]).splitlines()
    rows = [line for line in lines if "tf-2.15.0.post1" in line and "tensorflow 2.15.0.post1" in line]
    assert len(rows) == 3 and all(row.startswith(" ") for row in rows)  # continuation rows


def test_unreachable_and_failing_hosts_are_left_out_of_the_majority():
    down = HostReport(name="ws-down")
    bad = HostReport(name="ws-bad", connected=True, error="data stacks: ...")
    fleet = [host("ws01", tf21_env()), down, bad]
    compare(fleet)
    assert fleet[0].differences == [] and down.differences == [] and bad.differences == []
    assert json.loads(as_json(fleet))["identical"] is False  # an unread host proves nothing


def test_a_stack_without_a_committed_lock_compares_its_conda_pins_only():
    assert lock_of("tensorflow==9.9.9") is None
    env = tf21_env(numpy="1.18.5")
    env.conda["cudatoolkit"] = "10.1.243 h0_1"
    fleet = [host("ws01", env)]
    compare(fleet, lock_for=lambda spec: None)
    assert [(d["kind"], d["name"]) for d in fleet[0].differences] == [("conda", "cudatoolkit")]
