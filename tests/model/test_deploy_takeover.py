"""Taking over config files gpuws did not write: a converged workstation whose .condarc and
pip.conf were written by the site (a proxy, a CA file, envs_dirs) gets gpuws's files, the site's
are kept beside them as backups, the dropped keys are named in one warning line each, and the
next run changes nothing and makes no second backup."""

from __future__ import annotations

from tests.model.virtual_host import PREFIX, RTX_2080_TI, converged

ENV = f"{PREFIX}/envs/tf21"
SITE_CONDARC = """channels:
  - defaults
proxy_servers:
  http: http://proxy.campus.example:3128
ssl_verify: /etc/ssl/certs/campus-ca.pem
envs_dirs:
  - /data/conda-envs
"""
SITE_PIP_CONF = "[global]\nproxy = http://proxy.campus.example:3128\ncert = /etc/ssl/certs/campus-ca.pem\n"
MIRROR = ("--data", "pip_index_url=https://pypi.tuna.tsinghua.edu.cn/simple")


def _site_files(state):
    state["files"][f"{PREFIX}/.condarc"] = SITE_CONDARC
    state["files"][f"{ENV}/pip.conf"] = SITE_PIP_CONF
    return state


def test_unmanaged_condarc_and_pip_conf_are_kept_as_backups_once(run_deploy):
    run = run_deploy({"ws21": _site_files(converged("ws21", RTX_2080_TI, driver="535.183.01"))}, *MIRROR)
    assert run.returncode == 0, run.describe()
    assert run.changed("ws21") == ["Conda channels (.condarc)", "Env pip config"], run.describe()
    files = run.states["ws21"]["files"]
    backups = {path: text for path, text in files.items() if ".gpuws-backup-" in path}
    assert backups == {f"{PREFIX}/.condarc.gpuws-backup-run1": SITE_CONDARC,
                       f"{ENV}/pip.conf.gpuws-backup-run1": SITE_PIP_CONF}
    assert files[f"{PREFIX}/.condarc"].startswith("# managed by gpuws")
    assert "index-url = https://pypi.tuna.tsinghua.edu.cn/simple" in files[f"{ENV}/pip.conf"]
    warnings = [line for line in run.stderr.splitlines() if "was not written by gpuws" in line]
    assert len(warnings) >= 2 and all("ws21" in line for line in warnings), run.stderr[-3000:]
    assert any("(keys: channels, proxy_servers, ssl_verify, envs_dirs)" in line for line in warnings)
    assert any("(keys: global.proxy, global.cert)" in line for line in warnings)

    again = run_deploy(["ws21"], *MIRROR)
    assert again.returncode == 0, again.describe()
    assert again.changed("ws21") == [] and again.op_commands("ws21") == [], again.describe()
    assert sorted(p for p in again.states["ws21"]["files"] if ".gpuws-backup-" in p) == sorted(backups)
    assert "was not written by gpuws" not in again.stderr


def test_a_managed_condarc_edited_by_hand_is_rewritten_without_backup(run_deploy):
    state = converged("ws22", RTX_2080_TI, driver="535.183.01")
    state["files"][f"{PREFIX}/.condarc"] += "channel_priority: strict\n"  # the header is still there
    run = run_deploy({"ws22": state})
    assert run.changed("ws22") == ["Conda channels (.condarc)"], run.describe()
    assert not [p for p in run.states["ws22"]["files"] if ".gpuws-backup-" in p]
    assert "was not written by gpuws" not in run.stderr
