"""The floor: the deploy's package commands, typed directly on a host (pure: builds text only).

What a person who knows the answer would type on a fresh workstation, from the same mirror, with
no checks: download the Miniconda installer, check its sha256, run it, write the same .condarc,
create the env in one conda solve, write the same pip.conf and constraints file, and run the same
pip install. The conda create and pip install lines are the deploy's, byte for byte (see
operations/conda_env.py and operations/pip_env.py); the file contents come from the deploy's own
renderers. The deploy's facts, CUDA activation hook and GPU verification are not in the floor:
they are what the converge adds on top.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field

from operations.commands import MANAGED_HEADER
from operations.conda_config import condarc_preset, render_condarc
from operations.pip_env import CONSTRAINTS_FILE, plan_requirements, render_pip_conf

# The fresh env's python: what pip's environment markers are evaluated against (the lab's 3.7.16).
ENV_PYTHON_VERSION = "3.7.16"


@dataclass(frozen=True)
class Sources:
    """Where the packages come from and where they go: the deploy's data for the host."""

    installer_url: str
    installer_sha256: str
    conda_mirror_url: str
    pip_find_links: tuple = ()
    pip_no_index: bool = False
    pip_trusted_hosts: tuple = ()
    prefix: str = "/opt/miniconda3"
    condarc_extra: dict = field(default_factory=dict)


def lab_sources(prefix: str = "/opt/miniconda3") -> Sources:
    """The lab mirror, exactly as the lab's inventory gives it to the deploy (lab/inventory.py)."""
    from lab.inventory import deploy_data
    from lab.paths import MIRROR_URL, LabPaths

    data = deploy_data(MIRROR_URL, LabPaths.default())
    return Sources(
        installer_url=data["miniconda_url"],
        installer_sha256=data["miniconda_sha256"],
        conda_mirror_url=data["conda_mirror_url"],
        pip_find_links=tuple(data["pip_find_links"]),
        pip_no_index=data["pip_no_index"],
        pip_trusted_hosts=tuple(data["pip_trusted_hosts"]),
        prefix=prefix,
    )


def installer_path(prefix: str) -> str:
    return prefix.rstrip("/") + ".gpuws-installer.sh"


def env_prefix(sources: Sources, stack: dict) -> str:
    return posixpath.join(sources.prefix, "envs", stack["conda_env"])


def condarc_text(sources: Sources) -> str:
    return render_condarc(extra=sources.condarc_extra, **condarc_preset("mirror", sources.conda_mirror_url))


def pip_conf_text(sources: Sources) -> str | None:
    return render_pip_conf(
        find_links=sources.pip_find_links, trusted_hosts=sources.pip_trusted_hosts, no_index=sources.pip_no_index,
    )


def conda_create_command(sources: Sources, stack: dict) -> str:
    """The deploy's one-solve `conda create` for a fresh host (operations/conda_env.py: python
    first, then the stack's other conda packages, each as its spec)."""
    python = next(p for p in stack["conda"] if p["name"] == "python")
    specs = [f"python={python['version']}"] + [p["spec"] for p in stack["conda"] if p["name"] != "python"]
    conda = posixpath.join(sources.prefix, "bin", "conda")
    return shlex.join([conda, "create", "-y", "-q", "-n", stack["conda_env"], *specs])


def pip_plan(stack: dict):
    """What the deploy's pip step installs into a fresh env (nothing of the stack there yet)."""
    other = "tensorflow" if stack["tensorflow_package"] == "tensorflow-gpu" else "tensorflow-gpu"
    return plan_requirements({}, stack["pip"], stack["pip_constraints"], conflicts=[other],
                             python_version=ENV_PYTHON_VERSION)


def constraints_text(stack: dict) -> str:
    header = f"{MANAGED_HEADER}: pip constraints of the last install (stack pins and kept versions)"
    return "\n".join([header, *pip_plan(stack).constraints_lines]) + "\n"


def pip_install_command(sources: Sources, stack: dict) -> str:
    """The deploy's pip install (operations/pip_env.py `requirements`): the index settings come
    from the env's pip.conf, so the command line holds only the constraints file and the names."""
    env = env_prefix(sources, stack)
    python = posixpath.join(env, "bin", "python")
    constraints = posixpath.join(env, CONSTRAINTS_FILE)
    return shlex.join([python, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                       "-c", constraints, *pip_plan(stack).install])


def _write(path: str, content: str) -> str:
    return shlex.join(["mkdir", "-p", posixpath.dirname(path)]) + " && " + shlex.join(["printf", "%s", content]) \
        + " > " + shlex.quote(path)


def floor_steps(sources: Sources, stack: dict) -> list[tuple[str, str]]:
    """[(label, shell command)], in order; each runs as its own ssh session on the host."""
    installer = installer_path(sources.prefix)
    env = env_prefix(sources, stack)
    steps = [
        ("download installer", shlex.join(["curl", "-fsSL", "--retry", "3", "-o", installer, sources.installer_url])),
        ("sha256sum", f"echo {shlex.quote(sources.installer_sha256 + '  ' + installer)} | sha256sum -c -"),
        ("install Miniconda", shlex.join(["bash", installer, "-b", "-p", sources.prefix])
         + " && " + shlex.join(["rm", "-f", installer])),
        ("write .condarc", _write(posixpath.join(sources.prefix, ".condarc"), condarc_text(sources))),
        ("conda create (one solve)", conda_create_command(sources, stack)),
    ]
    pip_conf = pip_conf_text(sources)
    if pip_conf is not None:
        steps.append(("write pip.conf", _write(posixpath.join(env, "pip.conf"), pip_conf)))
    steps += [
        ("write pip constraints", _write(posixpath.join(env, CONSTRAINTS_FILE), constraints_text(stack))),
        ("pip install", pip_install_command(sources, stack)),
    ]
    return steps


def verbatim_in_deploy(steps: list[tuple[str, str]], deploy_output: str) -> dict[str, bool]:
    """Whether the floor's conda create and pip install appear byte for byte among the remote
    commands of a deploy run (pyinfra --debug prints each as `sh -c QUOTED`)."""
    wanted = {label: command for label, command in steps if label in ("conda create (one solve)", "pip install")}
    return {label: f"sh -c {shlex.quote(command)}" in deploy_output for label, command in wanted.items()}
