"""Real pyinfra runs over the @local connector: real facts, real sh, run twice.

The first run writes the activation hooks and pip.conf into a scratch "env" folder; the second
changes nothing. `requirements` reads the real PipPackages fact of the interpreter running these
tests, whose own dependencies are satisfied: a noop both times (no network is needed).
"""

import sys

from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.operation import add_op
from pyinfra.api.operations import run_ops

from operations import hooks, pip
from operations.hooks import hook_paths, render_activate_hook


def run_once(env_prefix: str, **config) -> list[tuple[bool, bool]]:
    inventory = Inventory((["@local"], {}))
    state = State(inventory=inventory, config=Config(**config))
    connect_all(state)
    try:
        results = [
            add_op(state, hooks.cuda_activation, env_prefix=env_prefix),
            add_op(state, pip.config, env_prefix=env_prefix,
                   index_url="https://pypi.tuna.tsinghua.edu.cn/simple"),
            add_op(state, pip.requirements, python=sys.executable,
                   requirements=["Packaging>=20", "pyyaml", "pyinfra<4"], constraints=["pyinfra>=3.10"]),
        ]
        run_ops(state)
        host = inventory.get_host("@local")
        return [(result[host].did_change(), result[host].did_succeed()) for result in results]
    finally:
        disconnect_all(state)


def test_second_run_changes_nothing(tmp_path):
    env_prefix = tmp_path / "envs" / "tf21"
    env_prefix.mkdir(parents=True)
    assert run_once(str(env_prefix)) == [(True, True), (True, True), (False, True)]
    activate, deactivate = hook_paths(str(env_prefix))
    with open(activate) as f:
        assert f.read() == render_activate_hook(str(env_prefix))
    assert (env_prefix / "pip.conf").read_text().splitlines()[-1] == \
        "index-url = https://pypi.tuna.tsinghua.edu.cn/simple"
    assert run_once(str(env_prefix)) == [(False, True), (False, True), (False, True)]


def test_drift_is_corrected(tmp_path):
    env_prefix = tmp_path / "envs" / "tf21"
    env_prefix.mkdir(parents=True)
    run_once(str(env_prefix))
    _, deactivate = hook_paths(str(env_prefix))
    import os

    os.remove(deactivate)
    (env_prefix / "pip.conf").write_text("[global]\nindex-url = https://pypi.org/simple\n")
    assert run_once(str(env_prefix))[:2] == [(True, True), (True, True)]
    assert os.path.exists(deactivate)


def test_diff_shows_the_managed_files_changes(tmp_path, caplog):
    env_prefix = tmp_path / "envs" / "tf21"
    env_prefix.mkdir(parents=True)
    (env_prefix / "pip.conf").write_text("[global]\nindex-url = https://pypi.org/simple\n")
    with caplog.at_level("INFO", logger="pyinfra"):
        run_once(str(env_prefix), DIFF=True)
    text = "\n".join(record.getMessage() for record in caplog.records)
    activate, _ = hook_paths(str(env_prefix))
    assert f"Will create {activate}" in text
    assert f"Will modify {env_prefix}/pip.conf" in text
    assert "- index-url = https://pypi.org/simple" in text
    assert "+ index-url = https://pypi.tuna.tsinghua.edu.cn/simple" in text
