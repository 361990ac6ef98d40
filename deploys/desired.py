"""The desired state of one host: its validated data and the stack that data names.

The deploy (deploys/workstation.py), the fleet report (tools/report) and the benchmark (lab/bench)
all call `desired_state`, so they cannot disagree about which stack a host gets, where its env
lives, which python it has or which TensorFlow package must not sit beside the stack's.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from pyinfra.api.exceptions import PyinfraError

import stacks
from deploys import settings


@dataclass(frozen=True)
class DesiredState:
    """What one host should have: every data key validated, the resolved stack, and what follows."""

    config: dict  # every data key of deploys/settings.py, validated, defaults filled in
    stack: dict  # stacks.resolve() of config["stack"]
    env_prefix: str  # the stack's conda env under config["conda_prefix"]
    python: str  # the env's python version, as the stack's conda part pins it
    conflicts: tuple[str, ...]  # pip packages that must not be installed beside the stack's TensorFlow


def desired_state(data: Any) -> DesiredState:
    """Validate a host's data and resolve the stack it names; bad input raises PyinfraError (one line).

    + data: pyinfra host data (``host.data``) or a plain mapping of data keys; a missing key takes
      its default from the settings table (deploys/settings.py), `stack` included

    .. code:: python

        desired = desired_state(host.data)
        desired.env_prefix  # "/opt/miniconda3/envs/tf21"
        desired_state({"stack": "tensorflow==2.3.0"}).conflicts  # ("tensorflow-gpu",)
    """
    config = settings.validate(data if hasattr(data, "dict") else _Data(data))
    stack = resolve_stack(config["stack"], config["target_os"], config["conda_channel_family"])
    python = next(package["version"] for package in stack["conda"] if package["name"] == "python")
    return DesiredState(
        config=config,
        stack=stack,
        env_prefix=posixpath.join(config["conda_prefix"], "envs", stack["conda_env"]),
        python=python,
        conflicts=tensorflow_conflicts(stack["tensorflow_package"]),
    )


@lru_cache(maxsize=None)
def resolve_stack(spec: str, target_os: str, channel: str) -> dict:
    """`stacks.resolve`, once per run (the deploy file runs once per host); StackError -> PyinfraError."""
    try:
        return stacks.resolve(spec, os=target_os, channel=channel)
    except stacks.StackError as e:
        raise PyinfraError(str(e))


def tensorflow_conflicts(tensorflow_package: str) -> tuple[str, ...]:
    """The TensorFlow distribution that must go: the `tensorflow` and `tensorflow-gpu` wheels both
    install the `tensorflow` package directory (whichever went in last wins), so exactly one of
    them may be installed."""
    return ("tensorflow",) if tensorflow_package == "tensorflow-gpu" else ("tensorflow-gpu",)


class _Data(dict):
    """A plain mapping with the one method of pyinfra's HostData that settings.validate needs."""

    def __init__(self, values: Mapping):
        super().__init__(values)

    def dict(self) -> dict:
        return dict(self)
