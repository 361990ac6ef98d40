"""Guards between the deploy's steps when data `only` / `skip` leave some out.

A step that works inside an env (packages, hook, verify) run without the step that creates it
(env) would otherwise fail deep inside pip or the verification with a confusing error, or, worse,
create a half env by hand. Here the host stops first, with one line that names the step to run.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import operation

from facts.conda import CondaPackages
from facts.workstation import read  # this run's broad read (one remote command per host)

from .util.commands import env_prefix_of, fail_host


@operation()
def env_installed(prefix: str, env_name: str, steps: list[str]):
    """
    Fail the host, with one line, when the env the given steps work in is not installed.

    + prefix: the conda root prefix, e.g. ``/opt/miniconda3``
    + env_name: the env, e.g. ``tf21``
    + steps: the steps of this run that need the env (e.g. ``["verify"]``), named in the line

    Reads the env's conda records with the arguments the env step reads them with, so a planned
    deploy answers it from its one broad read.

    **Example:**

    .. code:: python

        steps.env_installed(name="Env tf21 installed", prefix="/opt/miniconda3", env_name="tf21", steps=["verify"])
    """
    prefix = prefix.rstrip("/") or "/"
    env_prefix = env_prefix_of(prefix, env_name)
    records = read(CondaPackages, env_prefix=env_prefix, prefix=prefix)
    if records.get("present"):
        host.noop(f"env {env_name} is installed at {env_prefix}")
        return
    yield fail_host(
        f"env {env_name} is not installed at {env_prefix}, and step {', '.join(steps)} needs it: "
        "run the env step too (add env to data only, or take it out of data skip)")
