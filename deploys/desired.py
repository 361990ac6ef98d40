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

from packaging.version import Version
from pyinfra.api.exceptions import PyinfraError

import stacks
from deploys import settings
from operations.util.condarc import preset_sources

# The deploy's steps, in the order they run (data `only` / `skip` name them).
STEPS = ("driver", "conda", "env", "packages", "hook", "verify")


@dataclass(frozen=True)
class DesiredState:
    """What one host should have: every data key validated, the resolved stack, and what follows."""

    config: dict  # every data key of deploys/settings.py, validated, defaults filled in
    stack: dict  # stacks.resolve() of config["stack"]
    env_prefix: str  # the stack's conda env under config["conda_prefix"]
    python: str  # the env's python version, as the stack's conda part pins it
    conflicts: tuple[str, ...]  # pip packages that must not be installed beside the stack's TensorFlow
    steps: tuple[str, ...] = STEPS  # the steps of STEPS this run converges (data only/skip)
    specs: tuple[str, ...] = ()  # every stack spec of the host (data stacks), this one included


def desired_state(data: Any) -> DesiredState:
    """Validate a host's data and resolve the stack it names; bad input raises PyinfraError (one line).

    + data: pyinfra host data (``host.data``) or a plain mapping of data keys; a missing key takes
      its default from the settings table (deploys/settings.py), `stack` included

    .. code:: python

        desired = desired_state(host.data)
        desired.env_prefix  # "/opt/miniconda3/envs/tf21"
        desired_state({"stack": "tensorflow==2.3.0"}).conflicts  # ("tensorflow-gpu",)
    """
    return desired_states(data)[0]


def desired_states(data: Any) -> list[DesiredState]:
    """One DesiredState per env of the host: data `stacks` (or the one `stack`), in that order.

    + data: as for `desired_state`

    Bad input raises PyinfraError (one line): `stack` and `stacks` that disagree, two stacks in the
    same env, an unknown step in `only`/`skip`.

    .. code:: python

        [d.env_prefix for d in desired_states({"stacks": ["tf21", "tensorflow==2.15.0.post1"]})]
    """
    config = with_preset_sources(settings.validate(data if hasattr(data, "dict") else _Data(data)))
    specs = stack_specs(config)
    steps = run_steps(config)
    states, envs = [], {}
    for spec in specs:
        stack = resolve_stack(spec, "linux", config["conda_channel_family"])
        if stack["conda_env"] in envs:
            raise PyinfraError(
                f"data stacks: {envs[stack['conda_env']]} and {spec} both install into env {stack['conda_env']}: "
                "list each stack once")
        envs[stack["conda_env"]] = spec
        python = next(package["version"] for package in stack["conda"] if package["name"] == "python")
        states.append(DesiredState(
            config=dict(config, stack=spec),  # each env's config names its own stack
            stack=stack,
            env_prefix=posixpath.join(config["conda_prefix"], "envs", stack["conda_env"]),
            python=python,
            conflicts=tensorflow_conflicts(stack["tensorflow_package"]),
            steps=steps,
            specs=tuple(specs),
        ))
    return states


def driver_state(states: list[DesiredState]) -> DesiredState:
    """The env whose stack needs the newest driver: a driver that satisfies it satisfies them all
    (CUDA's minimum driver only rises with the toolkit: NVIDIA's CUDA Toolkit release notes, Table 3)."""
    return max(states, key=lambda state: Version(str(state.stack["min_driver"])))


def stack_specs(config: dict) -> list[str]:
    """Data `stacks`, or `[stack]`; both set and different is an error (one line)."""
    many = [str(spec) for spec in config["stacks"]]
    if not many:
        return [config["stack"]]
    default = settings.SETTINGS["stack"].default
    if config["stack"] != default and many != [config["stack"]]:
        raise PyinfraError(
            f"data stack={config['stack']!r} and stacks={many!r} disagree: set only stacks (stack is its one-stack shorthand)")
    return many


def run_steps(config: dict) -> tuple[str, ...]:
    """The steps of STEPS this run converges: data `only` (empty: all) minus data `skip`."""
    for key in ("only", "skip"):
        unknown = [step for step in config[key] if step not in STEPS]
        if unknown:
            raise PyinfraError(f"data {key}={list(config[key])!r}: unknown step {unknown[0]!r}; steps are {', '.join(STEPS)}")
    only = set(config["only"]) or set(STEPS)
    return tuple(step for step in STEPS if step in only and step not in config["skip"])


def with_preset_sources(config: dict) -> dict:
    """The Miniconda installer and pip index of data conda_channel_preset, where their own keys are
    unset (None): one key moves a lab to a mirror, and each source can still be overridden."""
    sources = preset_sources(config["conda_channel_preset"])
    config = dict(config)
    if config["miniconda_url"] is None and config["miniconda_file"] is None:
        config["miniconda_url"] = sources["miniconda_url"]
        if config["miniconda_sha256"] is None:
            config["miniconda_sha256"] = sources["miniconda_sha256"]
    elif config["miniconda_sha256"] is None and config["miniconda_url"] is None:
        # a pushed installer file: the preset's checksum, as before a file had the default one
        config["miniconda_sha256"] = sources["miniconda_sha256"]
    if config["pip_index_url"] is None and not config["pip_no_index"]:
        config["pip_index_url"] = sources["pip_index_url"]
    return config


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
