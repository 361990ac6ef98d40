"""The floor: the deploy's package commands, typed directly on a host (pure: builds text only).

What a person who knows the answer would type on a fresh workstation, from the same mirror, with
no checks: download the Miniconda installer, check its sha256, run it, write the same .condarc,
create the env in one conda solve, write the same pip.conf and constraints file, and run the same
pip install. The conda create and pip install lines are the deploy's, byte for byte (see
operations/conda.py and operations/pip.py); the file contents come from the deploy's own
renderers. The deploy's facts, CUDA activation hook and GPU verification are not in the floor:
they are what the converge adds on top.
"""

from __future__ import annotations

import posixpath
import shlex

from deploys.desired import DesiredState, desired_state
from operations.util.commands import MANAGED_HEADER, ROOT_PREFIX
from operations.util.condarc import condarc_preset, render_condarc
from operations.util.pip_conf import CONSTRAINTS_FILE, render_pip_conf
from operations.util.pip_plan import plan_requirements

# The fresh env's python: what pip's environment markers are evaluated against (the lab's 3.7.16).
ENV_PYTHON_VERSION = "3.7.16"


def lab_desired() -> DesiredState:
    """The deploy's desired state for a lab host, from the data the lab's inventory gives the
    deploy (lab/inventory.py): every package source is the lab mirror."""
    from lab.inventory import deploy_data
    from lab.paths import MIRROR_URL, LabPaths

    return desired_state(deploy_data(MIRROR_URL, LabPaths.default()))


def installer_path(prefix: str) -> str:
    return prefix.rstrip("/") + ".gpuws-installer.sh"


def condarc_text(desired: DesiredState) -> str:
    cfg = desired.config
    return render_condarc(extra=cfg["condarc_extra"],
                          **condarc_preset(cfg["conda_channel_preset"], cfg["conda_mirror_url"]))


def pip_conf_text(desired: DesiredState) -> str | None:
    cfg = desired.config
    return render_pip_conf(
        index_url=cfg["pip_index_url"], extra_index_urls=cfg["pip_extra_index_urls"],
        find_links=cfg["pip_find_links"], trusted_hosts=cfg["pip_trusted_hosts"], no_index=cfg["pip_no_index"],
    )


def conda_create_command(desired: DesiredState) -> str:
    """The deploy's one-solve `conda create` for a fresh host (operations/conda.py `env`: python
    first, then the stack's other conda packages, each as its spec)."""
    stack = desired.stack
    specs = [f"python={desired.python}"] + [p["spec"] for p in stack["conda"] if p["name"] != "python"]
    conda = posixpath.join(desired.config["conda_prefix"], "bin", "conda")
    return _as_root(conda, "create", "-y", "-q", "-n", stack["conda_env"], "--", *specs)


def pip_plan(desired: DesiredState):
    """What the deploy's pip step installs into a fresh env (nothing of the stack there yet)."""
    stack = desired.stack
    return plan_requirements({}, stack["pip"], stack["pip_constraints"], conflicts=list(desired.conflicts),
                             python_version=ENV_PYTHON_VERSION)


def constraints_text(desired: DesiredState) -> str:
    header = f"{MANAGED_HEADER}: pip constraints of the last install (stack pins and kept versions)"
    return "\n".join([header, *pip_plan(desired).constraints_lines]) + "\n"


def pip_install_command(desired: DesiredState) -> str:
    """The deploy's pip install (operations/pip.py `requirements`): the index settings come
    from the env's pip.conf, so the command line holds only the constraints file and the names."""
    python = posixpath.join(desired.env_prefix, "bin", "python")
    constraints = posixpath.join(desired.env_prefix, CONSTRAINTS_FILE)
    return _as_root(python, "-I", "-m", "pip", "install", "--disable-pip-version-check", "-q",
                    "-c", constraints, "--", *pip_plan(desired).install)


def _as_root(*argv: str) -> str:
    """A conda or pip command as the deploy runs it: under umask 022 (operations/util/commands.py)."""
    return " ".join(ROOT_PREFIX) + " " + shlex.join(argv)


def _write(path: str, content: str) -> str:
    return shlex.join(["mkdir", "-p", posixpath.dirname(path)]) + " && " + shlex.join(["printf", "%s", content]) \
        + " > " + shlex.quote(path)


def floor_steps(desired: DesiredState) -> list[tuple[str, str]]:
    """[(label, shell command)], in order; each runs as its own ssh session on the host."""
    cfg, env = desired.config, desired.env_prefix
    prefix = cfg["conda_prefix"]
    installer = installer_path(prefix)
    steps = [
        ("download installer", shlex.join(["curl", "-fsSL", "--retry", "3", "--connect-timeout", str(cfg["download_connect_timeout"]), "--max-time", str(cfg["download_timeout"]), "-o", installer, "--", cfg["miniconda_url"]])),
        ("sha256sum", f"echo {shlex.quote(cfg['miniconda_sha256'] + '  ' + installer)} | sha256sum -c -"),
        ("install Miniconda", shlex.join(["bash", "--", installer, "-b", "-p", prefix])
         + " && " + shlex.join(["rm", "-f", "--", installer])),
        ("write .condarc", _write(posixpath.join(prefix, ".condarc"), condarc_text(desired))),
        ("conda create (one solve)", conda_create_command(desired)),
    ]
    pip_conf = pip_conf_text(desired)
    if pip_conf is not None:
        steps.append(("write pip.conf", _write(posixpath.join(env, "pip.conf"), pip_conf)))
    steps += [
        ("write pip constraints", _write(posixpath.join(env, CONSTRAINTS_FILE), constraints_text(desired))),
        ("pip install", pip_install_command(desired)),
    ]
    return steps


def verbatim_in_deploy(steps: list[tuple[str, str]], deploy_output: str) -> dict[str, bool]:
    """Whether the floor's conda create and pip install appear byte for byte among the remote
    commands of a deploy run (pyinfra --debug prints each as `sh -c QUOTED`)."""
    wanted = {label: command for label, command in steps if label in ("conda create (one solve)", "pip install")}
    return {label: f"sh -c {shlex.quote(command)}" in deploy_output for label, command in wanted.items()}
