"""The fleet report names the keys of a config file gpuws took over (kept as a backup) or will
take over (unmanaged now), from the same reads the report makes over SSH."""

from __future__ import annotations

from types import SimpleNamespace

from facts.config_backups import ConfigBackups
from facts.files_state import FileContent
from tools.report.collect import _takeover_lines

FIRST = SimpleNamespace(config={"conda_prefix": "/opt/miniconda3"}, env_prefix="/opt/miniconda3/envs/tf21")


def reader(backups: dict, files: dict):
    def read(cls, path):
        if cls is ConfigBackups:
            return backups.get(path) or ConfigBackups.default()
        assert cls is FileContent
        return files.get(path)
    return read


def test_kept_backup_of_the_condarc_names_its_keys():
    kept = {"/opt/miniconda3/.condarc": {
        "backups": ["/opt/miniconda3/.condarc.gpuws-backup-20250101T120000Z"],
        "first": "proxy_servers:\n  http: http://p:3128\nenvs_dirs:\n  - /data/envs\n"}}
    install = {"condarc": "# managed by gpuws: conda channels\nchannels: [defaults]\n"}
    lines = _takeover_lines(reader(kept, {}), install, FIRST, [FIRST])
    assert lines == ["kept backup of unmanaged .condarc (keys: proxy_servers, envs_dirs) at "
                     "/opt/miniconda3/.condarc.gpuws-backup-20250101T120000Z: its settings are no longer in effect"]


def test_unmanaged_pip_conf_before_the_first_run():
    files = {"/opt/miniconda3/envs/tf21/pip.conf": "[global]\ncert = /etc/ca.pem\n"}
    lines = _takeover_lines(reader({}, files), {"condarc": None}, FIRST, [FIRST])
    assert lines == ["unmanaged /opt/miniconda3/envs/tf21/pip.conf (keys: global.cert): a run that replaces it "
                     "keeps it as pip.conf.gpuws-backup-<date>"]


def test_managed_files_and_no_files_say_nothing():
    files = {"/opt/miniconda3/envs/tf21/pip.conf": "# managed by gpuws: pip\n[global]\n"}
    assert _takeover_lines(reader({}, files), {"condarc": "# managed by gpuws: x\n"}, FIRST, [FIRST]) == []
    assert _takeover_lines(reader({}, {}), {"condarc": None}, FIRST, [FIRST]) == []
