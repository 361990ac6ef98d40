"""Taking over an unmanaged .condarc / pip.conf: the keys the new file drops are named, and the
backup command, run by a real sh, keeps the old file (mode included) beside the new one."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

from operations.util.commands import MANAGED_HEADER, write_file
from operations.util.takeover import (
    BACKUP_INFIX, keep_backup, condarc_keys, pip_conf_keys, takeover_message, unmanaged,
)

SH = shutil.which("dash") or shutil.which("sh")

CAMPUS_CONDARC = """proxy_servers:
  http: http://proxy.campus.example:3128
ssl_verify: /etc/ssl/certs/campus-ca.pem
envs_dirs:
  - /data/conda-envs
"""


def test_condarc_keys_in_file_order():
    assert condarc_keys(CAMPUS_CONDARC) == ["proxy_servers", "ssl_verify", "envs_dirs"]


def test_condarc_keys_of_a_file_conda_would_refuse():
    assert condarc_keys("channels:\n  - defaults\nproxy_servers: {http: [\n") == ["channels", "proxy_servers"]


def test_pip_conf_keys_as_pip_config_names_them():
    text = "[global]\nproxy = http://p:3128\ncert = /etc/ca.pem\n[install]\ntrusted-host =\n    pypi.campus\n"
    assert pip_conf_keys(text) == ["global.proxy", "global.cert", "install.trusted-host"]


def test_only_files_without_the_header_are_unmanaged():
    assert unmanaged(CAMPUS_CONDARC)
    assert not unmanaged(f"{MANAGED_HEADER}: conda channels\nchannels: [defaults]\n")
    assert not unmanaged(None)


def test_message_names_every_key():
    line = takeover_message("/opt/miniconda3/.condarc", ["proxy_servers", "envs_dirs"])
    assert "(keys: proxy_servers, envs_dirs)" in line and "\n" not in line


def test_backup_then_write_keeps_the_old_file_and_its_mode(tmp_path):
    path = tmp_path / "conda prefix" / ".condarc"
    path.parent.mkdir()
    path.write_text(CAMPUS_CONDARC)
    os.chmod(path, 0o600)
    new = "channels: [x]\n"
    command = f"{keep_backup(str(path)).get_raw_value()} {write_file(str(path), new).get_raw_value()}"
    subprocess.run([SH, "-c", command], check=True)
    backups = [p for p in path.parent.iterdir() if p.name.startswith(".condarc" + BACKUP_INFIX)]
    assert len(backups) == 1
    assert backups[0].read_text() == CAMPUS_CONDARC
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    assert path.read_text() == "channels: [x]\n"


def test_a_failed_backup_writes_nothing(tmp_path):
    path = tmp_path / "missing" / "pip.conf"  # cp fails: no file to keep
    command = f"{keep_backup(str(path)).get_raw_value()} {write_file(str(path), 'x').get_raw_value()}"
    assert subprocess.run([SH, "-c", command], capture_output=True).returncode == 1
    assert not path.exists()
