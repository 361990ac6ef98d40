"""The operations' shell commands and scripts, run for real by the local POSIX sh.

The JSON/YAML cases pin the exact command text; these tests check that the text does what it says
when a shell runs it: quoting of arbitrary file content, the checksum gate, the download fallback,
the installer clean-up, the env backup, and the activation / profile hooks (sourced twice,
deactivated, interactive vs non-interactive).
"""

import hashlib
import os
import shutil
import subprocess

import pytest

from operations.util.commands import fail_host, write_file
from operations.util.conda_env import backup_command
from operations.util.miniconda import download_command, install_command, render_profile_hook, verify_sha256_command
from operations.hooks import render_activate_hook, render_deactivate_hook

SH = shutil.which("sh")
assert SH, "these tests run the operations' commands in a POSIX sh: install dash or bash"


def run(command, env=None, shell_args=("-c",)):
    text = command if isinstance(command, str) else command.get_raw_value()
    return subprocess.run([SH, *shell_args, text], capture_output=True, text=True, env=env, timeout=30)


def test_fail_host_prints_and_exits_non_zero():
    result = run(fail_host("no sha256 for the Miniconda installer: it's 'quoted' $HOME"))
    assert result.returncode == 1
    assert result.stderr == "no sha256 for the Miniconda installer: it's 'quoted' $HOME\n"


def test_write_file_keeps_content_byte_for_byte(tmp_path):
    content = "# managed\nif [ \"$X\" != 'y' ]; then echo `date` \\n %s; fi\n\nlast line without newline"
    target = tmp_path / "env" / "etc" / "conda" / "activate.d" / "hook.sh"
    (tmp_path / "env").mkdir()
    result = run(write_file(str(target), content, inside=str(tmp_path / "env")))
    assert result.returncode == 0, result.stderr
    assert target.read_text() == content


def test_write_file_refuses_a_missing_env(tmp_path):
    result = run(write_file(str(tmp_path / "env" / "pip.conf"), "x", inside=str(tmp_path / "env")))
    assert result.returncode == 1
    assert "does not exist: cannot write" in result.stderr
    assert not (tmp_path / "env").exists()


def test_checksum_gate_keeps_a_good_file_and_removes_a_bad_one(tmp_path):
    installer = tmp_path / "Miniconda3.sh"
    installer.write_bytes(b"#!/bin/sh\necho stand-in\n")
    good = hashlib.sha256(installer.read_bytes()).hexdigest()
    assert run(verify_sha256_command(str(installer), "http://mirror/Miniconda3.sh", good)).returncode == 0
    assert installer.exists()

    wrong = "0" * 64
    result = run(verify_sha256_command(str(installer), "http://mirror/Miniconda3.sh", wrong))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"checksum mismatch for http://mirror/Miniconda3.sh: expected {wrong}, got {good}; "
        "the download is corrupt or the mirror serves another file")
    assert not installer.exists()


def test_download_of_a_file_url_is_a_copy(tmp_path):
    # an offline bundle's installer is already on the host: no curl or wget involved
    source = tmp_path / "source.sh"
    source.write_text("payload\n")
    dest = tmp_path / "installer.sh"
    result = run(download_command(f"file://{source}", str(dest)), env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert dest.read_text() == "payload\n"


def test_download_without_curl_or_wget_fails_with_what_to_do(tmp_path):
    bare = tmp_path / "bin"
    bare.mkdir()
    result = run(download_command("http://mirror.invalid/installer.sh", str(tmp_path / "x.sh")), env={"PATH": str(bare)})
    assert result.returncode == 1
    assert "neither curl nor wget on this host" in result.stderr


def test_download_without_curl_or_wget_says_so(tmp_path):
    result = run(download_command("http://mirror/Miniconda3.sh", str(tmp_path / "i.sh")),
                 env={"PATH": str(tmp_path / "empty-bin")})
    assert result.returncode == 1
    assert "neither curl nor wget on this host" in result.stderr


def test_install_command_removes_the_installer_and_keeps_the_status(tmp_path):
    installer = tmp_path / "installer.sh"
    installer.write_text('echo "$@" > "$3.args"; exit 7\n')
    prefix = tmp_path / "miniconda3"
    result = run(install_command(str(installer), str(prefix)))
    assert result.returncode == 7
    assert not installer.exists()
    assert (tmp_path / "miniconda3.args").read_text() == f"-b -p {prefix}\n"


def test_backup_saves_conda_and_pip_lists_before_removal(tmp_path):
    prefix = tmp_path / "miniconda3"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "envs" / "tf21" / "bin").mkdir(parents=True)
    conda = prefix / "bin" / "conda"
    conda.write_text('#!/bin/sh\necho "# platform: linux-64"; echo "python=3.8.5=h7579374_1"\n')
    python = prefix / "envs" / "tf21" / "bin" / "python"
    python.write_text('#!/bin/sh\necho "keras==2.3.1"\n')
    conda.chmod(0o755)
    python.chmod(0o755)
    result = run(backup_command(str(prefix), "tf21"))
    assert result.returncode == 0, result.stderr
    saved = sorted(p.name for p in (prefix / "envs" / ".gpuws-backup").iterdir())
    assert len(saved) == 2 and saved[0].startswith("tf21-") and saved[0].endswith(".conda.txt")
    assert saved[1].endswith(".pip.txt")
    backup = prefix / "envs" / ".gpuws-backup"
    assert "python=3.8.5=h7579374_1" in (backup / saved[0]).read_text()
    assert (backup / saved[1]).read_text() == "keras==2.3.1\n"
    assert "saved the package lists of the old env to" in result.stdout


def test_backup_fails_when_conda_cannot_list_so_nothing_is_removed(tmp_path):
    prefix = tmp_path / "miniconda3"
    (prefix / "bin").mkdir(parents=True)
    conda = prefix / "bin" / "conda"
    conda.write_text("#!/bin/sh\nexit 1\n")
    conda.chmod(0o755)
    assert run(backup_command(str(prefix), "tf21")).returncode != 0


# --- activation hooks -------------------------------------------------------------------------

ENV = "/opt/miniconda3/envs/tf21"


def hook_session(tmp_path, steps, initial=None):
    """Source the hooks in one sh session and print LD_LIBRARY_PATH ("<unset>" when unset)."""
    (tmp_path / "activate.sh").write_text(render_activate_hook(ENV))
    (tmp_path / "deactivate.sh").write_text(render_deactivate_hook(ENV))
    script = ['show() { if [ -n "${LD_LIBRARY_PATH+set}" ]; then echo "[$LD_LIBRARY_PATH]"; else echo "<unset>"; fi; }']
    if initial is None:
        script.append("unset LD_LIBRARY_PATH")
    else:
        script.append(f"LD_LIBRARY_PATH='{initial}'; export LD_LIBRARY_PATH")
    for step in steps:
        script.append(f". {tmp_path}/{step}.sh; show")
    result = run("\n".join(script), env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_activation_prepends_and_is_idempotent_then_restores(tmp_path):
    out = hook_session(tmp_path, ["activate", "activate", "deactivate"], initial="/usr/local/cuda/lib64")
    assert out == [f"[{ENV}/lib:/usr/local/cuda/lib64]", f"[{ENV}/lib:/usr/local/cuda/lib64]",
                   "[/usr/local/cuda/lib64]"]


def test_activation_from_unset_restores_unset(tmp_path):
    assert hook_session(tmp_path, ["activate", "deactivate"]) == [f"[{ENV}/lib]", "<unset>"]


def test_activation_from_empty_restores_empty(tmp_path):
    assert hook_session(tmp_path, ["activate", "deactivate"], initial="") == [f"[{ENV}/lib]", "[]"]


def test_deactivate_without_activate_changes_nothing(tmp_path):
    assert hook_session(tmp_path, ["deactivate"], initial="/x") == ["[/x]"]


def test_reactivation_after_deactivation_works(tmp_path):
    out = hook_session(tmp_path, ["activate", "deactivate", "activate"], initial="/x")
    assert out == [f"[{ENV}/lib:/x]", "[/x]", f"[{ENV}/lib:/x]"]


# --- profile hook -----------------------------------------------------------------------------

def test_profile_hook_only_acts_in_interactive_shells(tmp_path):
    prefix = tmp_path / "miniconda3"
    (prefix / "bin").mkdir(parents=True)
    hook = tmp_path / "gpuws-conda.sh"
    hook.write_text(render_profile_hook(str(prefix)))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    plain = run(f'. {hook}; echo "$PATH"', env=env)
    assert plain.stdout.strip() == "/usr/bin:/bin"
    interactive = run(f'. {hook}; . {hook}; echo "$PATH"', env=env, shell_args=("-i", "-c"))
    # conda 4.3 (no etc/profile.d/conda.sh): bin appended once, after the system's python
    assert interactive.stdout.strip().splitlines()[-1] == f"/usr/bin:/bin:{prefix}/bin"


def test_profile_hook_prefers_conda_sh_when_conda_has_it(tmp_path):
    prefix = tmp_path / "miniconda3"
    (prefix / "etc" / "profile.d").mkdir(parents=True)
    (prefix / "etc" / "profile.d" / "conda.sh").write_text("GPUWS_TEST_CONDA_SH=sourced\n")
    hook = tmp_path / "gpuws-conda.sh"
    hook.write_text(render_profile_hook(str(prefix)))
    result = run(f'. {hook}; echo "$GPUWS_TEST_CONDA_SH $PATH"', env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                 shell_args=("-i", "-c"))
    assert result.stdout.strip().splitlines()[-1] == "sourced /usr/bin:/bin"
