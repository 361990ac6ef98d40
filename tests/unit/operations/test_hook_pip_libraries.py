"""The activation hook of a stack whose CUDA libraries come from pip (nvidia-*-cu12 wheels):
sourced by a real POSIX sh against a real directory tree, it puts ENV/lib and each
site-packages/nvidia/*/lib on LD_LIBRARY_PATH, once, and the deactivate hook restores the value."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from operations.hooks import pip_libraries, render_activate_hook, render_deactivate_hook

SH = shutil.which("dash") or shutil.which("sh")


def session(env, steps, initial=None):
    """Source the hooks of `env` in one sh session; LD_LIBRARY_PATH after each step, and whether
    the hook's loop variables leaked."""
    os.makedirs(env / "etc", exist_ok=True)
    (env / "etc" / "activate.sh").write_text(render_activate_hook(str(env), pip_libraries=True))
    (env / "etc" / "deactivate.sh").write_text(render_deactivate_hook(str(env)))
    script = ['show() { if [ -n "${LD_LIBRARY_PATH+set}" ]; then echo "[$LD_LIBRARY_PATH]"; else echo "<unset>"; fi; }',
              "unset LD_LIBRARY_PATH" if initial is None else f"LD_LIBRARY_PATH='{initial}'; export LD_LIBRARY_PATH"]
    script += [f". '{env}/etc/{step}.sh'; show" for step in steps]
    script.append('echo "leaked:${gpuws_path-}${gpuws_dir-}"')
    result = subprocess.run([SH, "-c", "\n".join(script)], capture_output=True, text=True,
                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.fixture
def env(tmp_path):
    """An env with two nvidia wheels' lib directories, one wheel without lib/, and a name that
    needs quoting."""
    prefix = tmp_path / "envs" / "tf 2.15"
    nvidia = prefix / "lib" / "python3.11" / "site-packages" / "nvidia"
    for wheel in ("cudnn/lib", "cublas/lib", "cuda_nvcc/bin"):
        (nvidia / wheel).mkdir(parents=True)
    return prefix


def test_the_wheels_lib_directories_follow_env_lib_and_the_previous_value(env):
    nvidia = f"{env}/lib/python3.11/site-packages/nvidia"
    out = session(env, ["activate", "activate", "deactivate"], initial="/usr/local/cuda/lib64")
    wanted = f"[{env}/lib:{nvidia}/cublas/lib:{nvidia}/cudnn/lib:/usr/local/cuda/lib64]"
    assert out == [wanted, wanted, "[/usr/local/cuda/lib64]", "leaked:"]


def test_from_unset_back_to_unset(env):
    nvidia = f"{env}/lib/python3.11/site-packages/nvidia"
    assert session(env, ["activate", "deactivate"]) == [
        f"[{env}/lib:{nvidia}/cublas/lib:{nvidia}/cudnn/lib]", "<unset>", "leaked:"]


def test_an_env_without_wheels_gets_env_lib_only(tmp_path):
    assert session(tmp_path / "bare", ["activate", "deactivate"], initial="/x") == [
        f"[{tmp_path}/bare/lib:/x]", "[/x]", "leaked:"]


def test_which_stacks_take_libraries_from_pip():
    assert pip_libraries({"cuda_from": "pip"}) and pip_libraries({"cuda_from": "conda+pip"})
    assert not pip_libraries({"cuda_from": "conda"}) and not pip_libraries({})
    # the conda-only hook is unchanged by the new parameter
    assert render_activate_hook("/e") == render_activate_hook("/e", pip_libraries=False)
    assert "site-packages/nvidia" not in render_activate_hook("/e")
