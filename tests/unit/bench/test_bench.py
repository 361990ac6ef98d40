"""lab/bench's pure parts: the table and ratios from given figures, and the floor's commands
equal to what the deploy's operations run on a fresh host. No lab, no timing assertions."""

import json
import shlex

import pytest
from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.operations import parse_commands
from pyinfra_testing.util import FakeState, create_host

from deploys.desired import desired_state
from operations import conda, pip
from operations.util.condarc import condarc_preset
from lab.bench.figures import NOOP_COMMANDS_TARGET, Scenario, noop_commands, ratios, render, targets
from lab.bench.floor import (
    condarc_text, conda_create_command, constraints_text, floor_steps, pip_conf_text, pip_install_command,
    verbatim_in_deploy,
)
from lab.pyinfra_run import ROOT, parse

MIRROR = "http://10.250.0.1:8080"
# The lab's deploy data (lab/inventory.py deploy_data) for a mirror at this address.
LAB_DATA = {
    "miniconda_url": f"{MIRROR}/miniconda/Miniconda3-lab-py37_4.3.16-Linux-x86_64.sh",
    "miniconda_sha256": "7726b9bb8c1512c74680beeae67aecc088ff367901e5b427fed1fc1b132b4ad5",
    "conda_channel_preset": "mirror",
    "conda_mirror_url": f"{MIRROR}/conda/lab",
    "conda_mirror_allow_http": True,  # the lab's mirror is plain http, and says so
    "pip_find_links": [f"{MIRROR}/wheels/"],
    "pip_no_index": True,
    "pip_trusted_hosts": ["10.250.0.1"],
}
PREFIX = "/opt/miniconda3"
ENV = f"{PREFIX}/envs/tf21"


@pytest.fixture(scope="module")
def desired():
    return desired_state(LAB_DATA)


def figures():
    return [
        Scenario("fresh1", "fresh converge", 1, [15.0], {"ws-bench": 22}, "fresh host"),
        Scenario("floor1", "floor (typed over ssh)", 1, [12.0], {"ws-bench": 8}),
        Scenario("noop1", "no-op (converged)", 1, [1.6, 1.4, 1.5], {"ws-bench": 3}, "median of 3", [0.7, 0.1]),
        Scenario("fresh8", "fresh converge", 8, [60.0], {f"ws{i}": 22 for i in range(8)}),
        Scenario("noop8", "no-op (converged)", 8, [4.0, 3.0, 3.5], {"ws0": 3, "ws1": 4}, "", [0.84, 0.8]),
        Scenario("noop8_1", "no-op, 1 host of the 8", 1, [1.2, 1.4, 1.3], {"ws0": 3}, "", [0.6, 0.05]),
        Scenario("noop_si", "no-op, stand-in TF host", 1, [1.5, 1.7, 1.6], {"ws0": 3}),
        Scenario("noop_tf", "no-op, real TF host", 1, [1.8, 1.7, 2.4], {"ws7": 3}),
        Scenario("noop16", "no-op (converged)", 16, [2.9, 3.1, 3.0], {f"ws{i}": 3 for i in range(16)}),
        Scenario("noop16_1", "no-op, 1 host of the 16", 1, [1.5, 1.6, 1.4], {"ws0": 3}),
    ]


EIGHT = "no-op 8 hosts / 1 of them alone (wall, side by side)"
SIXTEEN = "no-op 16 hosts / 1 of them alone (wall, side by side)"


def test_ratios_use_medians():
    values = ratios(figures())
    assert values["fresh converge / floor (1 host)"] == pytest.approx(1.25)
    assert values[EIGHT] == pytest.approx(3.5 / 1.3)  # against the host of the same lab alone
    assert values[SIXTEEN] == pytest.approx(3.0 / 1.5)
    assert values["no-op 8 hosts / no-op of the 1-host lab (wall)"] == pytest.approx(3.5 / 1.5)  # shown beside
    assert values["no-op real-TF host / stand-in host (wall)"] == pytest.approx(1.8 / 1.6)
    assert values["fresh converge 8 hosts / 1 host (wall)"] == pytest.approx(4.0)
    assert ratios(figures()[:1])["fresh converge / floor (1 host)"] is None


def test_targets_are_judged_on_the_measured_figures():
    found = {t.label: t for t in targets(figures())}
    commands = found["converged no-op: remote commands per host (most of any no-op row)"]
    assert (commands.value, commands.limit, commands.met) == (4, NOOP_COMMANDS_TARGET, True)  # noop8's ws1
    assert found["fresh converge / floor (1 host)"].met is False        # 1.25 > 1.10
    assert found[EIGHT].met is False    # 2.69 > 1.5
    assert found[SIXTEEN].met is True   # 2.00 <= 2.0: at the limit is met
    assert found["no-op real-TF host / stand-in host (wall)"].met is True  # 1.125 <= 1.2
    assert len(found) == 5  # the scaling ratios and the ones against the 1-host lab are figures without a target
    partial = {t.label: t for t in targets(figures()[:3])}
    assert partial[SIXTEEN].met is None
    assert partial[SIXTEEN].line().endswith("not measured")


def test_each_extra_host_is_judged_against_one_host_of_the_same_lab():
    from lab.bench.figures import per_extra_host

    lines = per_extra_host(figures())
    assert lines[0].startswith("no-op, each host beyond the first (8 hosts): +0.314 s wall")  # (3.5 - 1.3) / 7
    without = [s for s in figures() if s.key != "noop8_1"]  # not measured: the 1-host lab's no-op
    assert per_extra_host(without)[0].startswith("no-op, each host beyond the first (8 hosts): +0.286 s wall")


def test_noop_commands_count_only_noop_rows():
    assert noop_commands(figures()) == 4
    assert noop_commands([figures()[0]]) is None  # a fresh converge's 22 commands are no no-op
    many = figures() + [Scenario("noop_x", "no-op", 1, [1.0], {"h": 10})]
    assert next(t for t in targets(many) if t.unit == "").line().endswith(": 10: NOT MET")


def test_table_has_one_row_per_scenario_then_the_ratios_and_targets():
    text = render(figures(), ["floor steps: ..."])
    lines = text.splitlines()
    assert [c.strip() for c in lines[0].split("|")] == ["scenario", "hosts", "wall s", "remote commands/host",
                                                        "CPU s controller/hosts", "note"]
    rows = [[c.strip() for c in line.split("|")] for line in lines[2:12]]
    assert rows[0] == ["fresh converge", "1", "15.00", "22", "-", "fresh host"]
    assert rows[2][4] == "0.70 / 0.10" and rows[4][4] == "0.84 / 0.80"
    assert rows[2][:4] == ["no-op (converged)", "1", "1.50", "3"]
    assert rows[4][:4] == ["no-op (converged)", "8", "3.50", "3-4"]  # differing hosts: a range
    assert rows[5][:4] == ["no-op, 1 host of the 8", "1", "1.30", "3"]
    assert rows[7][:4] == ["no-op, real TF host", "1", "1.80", "3"]
    assert rows[8][:4] == ["no-op (converged)", "16", "3.00", "3"]
    assert lines[12] == ""
    assert "fresh converge / floor (1 host): 1.25x" in lines
    assert f"{EIGHT}: 2.69x" in lines
    assert "no-op real-TF host / stand-in host (wall): 1.12x" in lines
    # against the host of the same lab alone: (3.5 - 1.3) / 7 wall, (0.84 - 0.6) / 7 controller,
    # (0.8 - 0.05) / 7 hosts
    assert ("no-op, each host beyond the first (8 hosts): +0.314 s wall, +0.034 s controller CPU, "
            "+0.107 s hosts' CPU") in lines
    assert not any("(16 hosts)" in line and "CPU" in line for line in lines)  # noop16 has no CPU figures
    assert "targets (issue 11; ratios from this run):" in lines
    assert "  converged no-op: remote commands per host (most of any no-op row) <= 4: 4: met" in lines
    assert "  fresh converge / floor (1 host) <= 1.10x: 1.25x: NOT MET" in lines
    assert f"  {SIXTEEN} <= 2.00x: 2.00x: met" in lines
    assert lines[-1] == "floor steps: ..."
    json.dumps([s.as_json() for s in figures()])  # --json can print them
    json.dumps([t.as_json() for t in targets(figures())])


def test_bench16_spec_is_sixteen_lean_identical_hosts():
    from deploys.settings import SETTINGS
    from lab.spec import DEFAULT_DISK_MIB, load

    hosts = load(ROOT / "lab/specs/bench16.yaml").hosts
    assert len(hosts) == 16 and len({h.name for h in hosts}) == 16
    assert {(h.driver, h.disk_mib, len(h.gpus)) for h in hosts} == {(hosts[0].driver, hosts[0].disk_mib, 1)}
    # the tmpfs cap clears the deploy's free-disk gate, and stays below a lab host's default
    assert SETTINGS["min_free_mib"].default < hosts[0].disk_mib < DEFAULT_DISK_MIB


def _deploy_commands(op, facts, **kwargs) -> list[str]:
    """What a deploy operation runs on a host with these facts (pyinfra's own test harness)."""
    state = FakeState()
    host = create_host(state, facts=facts)
    with ctx_state.use(state), ctx_host.use(host):
        commands = parse_commands(list(op._inner(**kwargs)))
    return [c if isinstance(c, str) else c["raw"] for c in commands]


def test_floor_conda_create_is_the_deploys(desired):
    facts = {"conda.CondaPackages": {f"env_prefix={ENV}, prefix={PREFIX}": {
        "conda": True, "present": False, "packages": {}, "python": None}}}
    deploy = _deploy_commands(conda.env, facts, prefix=PREFIX, env_name="tf21", python="3.7",
                              packages=desired.stack["conda"])
    assert deploy == [conda_create_command(desired)]
    assert deploy == ["umask 022 && /opt/miniconda3/bin/conda create -y -q -n tf21 -- python=3.7 "
                      "cudatoolkit=10.1.243=h6bb024c_0 cudnn=7.6.5=cuda10.1_0"]


def test_floor_pip_install_and_constraints_are_the_deploys(desired):
    facts = {"pip_env.PipPackages": {f"python={ENV}/bin/python": {
        "present": True, "python": "3.7.16", "error": None,
        "packages": {"pip": "20.0.2", "setuptools": "45.2.0", "wheel": "0.34.2", "certifi": "2020.6.20"}}}}
    write, install = _deploy_commands(pip.requirements, facts, python=f"{ENV}/bin/python",
                                      requirements=desired.stack["pip"], constraints=desired.stack["pip_constraints"],
                                      conflicts=["tensorflow"])
    assert install == pip_install_command(desired)
    assert shlex.quote(constraints_text(desired)) in write


def test_floor_files_are_the_deploys(desired):
    facts = {"conda.CondaInstall": {f"prefix={PREFIX}": {"present": True, "condarc": None}}}
    (condarc,) = _deploy_commands(conda.condarc, facts, prefix=PREFIX,
                                  **condarc_preset("mirror", LAB_DATA["conda_mirror_url"]))
    assert shlex.quote(condarc_text(desired)) in condarc
    facts = {"files_state.FileContent": {f"path={ENV}/pip.conf": None}}
    (pip_conf,) = _deploy_commands(pip.config, facts, env_prefix=ENV, find_links=LAB_DATA["pip_find_links"],
                                   trusted_hosts=LAB_DATA["pip_trusted_hosts"], no_index=True)
    assert shlex.quote(pip_conf_text(desired)) in pip_conf


def test_floor_installs_miniconda_from_the_same_url_and_checksum(desired):
    facts = {
        "conda.CondaInstall": {f"prefix={PREFIX}": {"present": False, "exists": False, "condarc": None}},
        "host.FreeDisk": {f"path={PREFIX}": {"free_mib": 16000}},
    }
    deploy = " ; ".join(_deploy_commands(conda.miniconda, facts, prefix=PREFIX, min_free_mib=4096,
                                         installer_url=LAB_DATA["miniconda_url"],
                                         installer_sha256=LAB_DATA["miniconda_sha256"]))
    steps = dict(floor_steps(desired))
    installer = "/opt/miniconda3.gpuws-installer.sh"
    assert f"curl -fsSL --retry 3 --connect-timeout 30 --max-time 1800 -o {installer} -- {LAB_DATA['miniconda_url']}" in deploy
    assert steps["download installer"] == f"curl -fsSL --retry 3 --connect-timeout 30 --max-time 1800 -o {installer} -- {LAB_DATA['miniconda_url']}"
    assert LAB_DATA["miniconda_sha256"] in deploy and LAB_DATA["miniconda_sha256"] in steps["sha256sum"]
    assert f"bash -- {installer} -b -p {PREFIX}" in deploy
    assert steps["install Miniconda"].startswith(f"bash -- {installer} -b -p {PREFIX}")
    assert list(steps) == ["download installer", "sha256sum", "install Miniconda", "write .condarc",
                           "conda create (one solve)", "write pip.conf", "write pip constraints", "pip install"]


def test_floor_commands_are_found_in_a_debug_log(desired):
    steps = floor_steps(desired)
    log = "\n".join(f"    [pyinfra.connectors.ssh] Running command on ws: (pty=False) sh -c {shlex.quote(c)}"
                    for _, c in steps)
    assert verbatim_in_deploy(steps, log) == {"conda create (one solve)": True, "pip install": True}
    assert verbatim_in_deploy(steps, log.replace("python=3.7", "python=3.8")) == {
        "conda create (one solve)": False, "pip install": True}
    assert parse(0, log, 1.0).commands == {"ws": len(steps)}
