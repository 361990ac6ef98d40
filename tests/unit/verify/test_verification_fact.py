"""facts.verification.GpuVerification: its command run for real by sh (the script from stdin,
through the env's activation hook, under CPython 3.7), and its parsing of what comes back."""

from __future__ import annotations

import json
import subprocess

import pytest

from facts.verification import (
    HEREDOC_END,
    GpuVerification,
    parse_verdict,
    verification_command,
)
from tests.unit.verify.conftest import host_has_nvidia_driver, params_json, pyenv_python


def run_fact(python: str, env_prefix: str, params: str):
    fact = GpuVerification()
    completed = subprocess.run(
        ["sh", "-c", fact.command(python=python, env_prefix=env_prefix, params_json=params)],
        capture_output=True, text=True, timeout=120,
    )
    # pyinfra hands process() the stdout lines of a command that exited 0
    assert completed.returncode == 0, completed.stderr
    return fact.process(completed.stdout.splitlines()), completed


def fake_env(tmp_path, python: str, hook: str | None):
    """An env prefix whose bin/python is the given interpreter and with an optional hook."""
    env = tmp_path / "envs" / "tf21"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").symlink_to(python)
    if hook is not None:
        hook_dir = env / "etc" / "conda" / "activate.d"
        hook_dir.mkdir(parents=True)
        (hook_dir / "gpuws-cuda.sh").write_text(hook)
    return env


def test_fact_runs_the_script_from_stdin_under_python37(tmp_path):
    env = fake_env(tmp_path, pyenv_python("3.7.16"), hook=None)
    verdict_path = tmp_path / "last-verdict.json"
    verdict, completed = run_fact(str(env / "bin" / "python"), str(env),
                                  params_json(env=str(env), verdict_path=verdict_path))
    assert verdict["python"] == "3.7.16"
    assert verdict["env_prefix"] == str(env)
    fingerprint = verdict.pop("fingerprint")
    assert json.loads(verdict_path.read_text()) == verdict
    # the state's fingerprint comes from shell tools (cksum), printed before the program runs
    assert fingerprint and all(part.isdigit() for part in fingerprint.split("-"))
    assert "@@gpuws-verify rc=" + ("0" if verdict["ok"] else "3") in completed.stdout
    if not host_has_nvidia_driver():
        assert verdict["failed_layer"] == "driver"


def test_fact_sources_the_env_activation_hook(tmp_path):
    # The hook puts a stand-in nvidia-smi on PATH: the driver layer passing proves it was sourced
    # (CPython 3.7 here has no pynvml, so nvidia-smi is what it asks).
    stand_in = tmp_path / "hook-bin"
    stand_in.mkdir()
    (stand_in / "nvidia-smi").write_text("#!/bin/sh\necho '0, GeForce RTX 2080 Ti, 440.100'\n")
    (stand_in / "nvidia-smi").chmod(0o755)
    hook = f'PATH="{stand_in}:$PATH"; export PATH\nGPUWS_HOOK_PREFIX="$CONDA_PREFIX"\n'
    env = fake_env(tmp_path, pyenv_python("3.7.16"), hook=hook)
    verdict, _ = run_fact(str(env / "bin" / "python"), str(env), params_json(env=str(env)))
    assert verdict["layers"][0] == {
        "name": "driver", "ok": True, "detail": "nvidia-smi: driver 440.100, 1 GPU(s): GeForce RTX 2080 Ti",
    }
    assert verdict["gpu"] == "GeForce RTX 2080 Ti"


def test_fact_without_the_env_python(tmp_path):
    env = tmp_path / "envs" / "gone"
    verdict, _ = run_fact(str(env / "bin" / "python"), str(env), params_json(env=str(env)))
    assert verdict == {
        "ok": False,
        "failed_layer": "environment",
        "hint": "the conda env is absent or broken: re-run the deploy to create it",
        "layers": [{"name": "environment", "ok": False, "detail": "the env's python is missing"}],
        "host": None,
        "tensorflow": None,
    }


def test_fact_when_the_script_crashes(tmp_path):
    # an "interpreter" that dies before printing anything: no verdict, the exit status is reported
    broken = tmp_path / "broken-python"
    broken.write_text("#!/bin/sh\necho 'Segmentation fault' >&2\nexit 139\n")
    broken.chmod(0o755)
    env = fake_env(tmp_path, str(broken), hook=None)
    verdict, _ = run_fact(str(env / "bin" / "python"), str(env), params_json(env=str(env)))
    assert verdict["failed_layer"] == "environment"
    assert verdict["layers"][0]["detail"] == "the verification script printed no verdict (exit status 139)"


def test_parse_verdict_takes_the_verdict_line_among_noise():
    verdict = {"ok": True, "failed_layer": None, "hint": None, "layers": [], "host": "ws01", "tensorflow": "2.1.0"}
    lines = ["motd: welcome", "{not json", json.dumps({"unrelated": 1}), json.dumps(verdict), "@@gpuws-verify rc=0"]
    assert parse_verdict(lines) == dict(verdict, fingerprint=None)


def test_parse_verdict_keeps_the_fingerprint_and_the_busy_note():
    verdict = {"ok": True, "failed_layer": None, "hint": None, "host": "ws01", "tensorflow": "2.1.0",
               "layers": [{"name": "driver", "ok": True, "detail": "ok"}]}
    lines = ["@@gpuws-verify fingerprint=123-456", "@@gpuws-verify busy=2", json.dumps(verdict), "@@gpuws-verify rc=0"]
    parsed = parse_verdict(lines)
    assert parsed["fingerprint"] == "123-456"
    assert parsed["note"].startswith("2 process(es) were using the GPU: the compute layers")


def test_parse_verdict_after_a_timeout():
    parsed = parse_verdict(["@@gpuws-verify fingerprint=1-2", "@@gpuws-verify rc=124"])
    assert parsed["failed_layer"] == "environment" and parsed["fingerprint"] == "1-2"
    assert parsed["layers"][0]["detail"] == "the verification did not finish in time (killed by timeout)"


def test_parse_verdict_without_output_is_an_environment_failure():
    assert GpuVerification.default()["failed_layer"] == "environment"
    assert parse_verdict(["@@gpuws-verify rc=1"])["layers"][0]["detail"] == (
        "the verification script printed no verdict (exit status 1)"
    )


def test_the_command_refuses_a_script_that_would_end_the_here_document():
    with pytest.raises(ValueError):
        verification_command("/e/bin/python", "/e", "{}", f"print(1)\n{HEREDOC_END}\n")


def test_the_command_limits_memory_and_time_and_respects_a_busy_gpu():
    from facts.verification import verification_command

    command = verification_command("/e/bin/python", "/e", "{}", "print(1)\n", timeout=42, busy_wait=30)
    assert "TF_FORCE_GPU_ALLOW_GROWTH=true; export TF_FORCE_GPU_ALLOW_GROWTH" in command
    assert "timeout -k 10 42" in command
    assert '[ "$_waited" -lt 30 ]' in command and "--layers driver,cuda_driver,libraries,tensorflow" in command
    assert "--layers" not in verification_command("/e/bin/python", "/e", "{}", "print(1)\n", busy="run")


def _fingerprint(env, program="p1"):
    from facts.verification import FINGERPRINT_SH

    script = f"{FINGERPRINT_SH}\ngpuws_fingerprint '{env}' '{program}'\n"
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60, check=True).stdout.strip()


def test_fingerprint_covers_records_distributions_hooks_and_the_program(tmp_path):
    """facts.verification.FINGERPRINT_SH run for real: the same state gives the same value; a
    package removed and put back at once (a new inode), an added record, an edited hook or another
    verification program each give a new one."""
    env = tmp_path / "envs" / "tf21"
    site = env / "lib" / "python3.7" / "site-packages"
    (env / "conda-meta").mkdir(parents=True)
    (env / "conda-meta" / "python-3.7.16-h0371630_0.json").write_text("{}")
    (site / "numpy-1.19.5.dist-info").mkdir(parents=True)
    hook = env / "etc" / "conda" / "activate.d" / "gpuws-cuda.sh"
    hook.parent.mkdir(parents=True)
    hook.write_text("export X=1\n")
    first = _fingerprint(env)
    assert first == _fingerprint(env) and first.replace("-", "").isdigit() and first.count("-") == 1
    seen = {first}

    (site / "numpy-1.19.5.dist-info").rename(tmp_path / "aside")  # pip uninstall + install, same second
    (site / "numpy-1.19.5.dist-info").mkdir()
    seen.add(_fingerprint(env))
    (env / "conda-meta" / "cudnn-7.6.5-cuda10.1_0.json").write_text("{}")
    seen.add(_fingerprint(env))
    (site / "wrapt-1.11.2-py3.7.egg-info").mkdir()
    seen.add(_fingerprint(env))
    hook.write_text("export X=2\n")
    seen.add(_fingerprint(env))
    seen.add(_fingerprint(env, program="p2"))
    assert len(seen) == 6
