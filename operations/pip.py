"""pip inside a conda env: requirements installed only when unsatisfied, and the env's pip.conf.

The comparison is operations/util/pip_plan.py's (PEP 440/503, not pyinfra's exact-string
`pip.packages`); pip runs once, as ``ENV/bin/python -m pip``, for what is missing.
"""

from __future__ import annotations

import posixpath

from pyinfra import host
from pyinfra.api import OperationValueError, QuoteString, StringCommand, operation

from facts.workstation import read  # this run's broad read (one remote command per host)
from facts.files_state import FileContent
from facts.pip_env import PipPackages

from .util.commands import MANAGED_HEADER, ROOT_PREFIX, absolute, fail_host, same_text, write_file
from .util.pip_conf import CONSTRAINTS_FILE, index_args, render_pip_conf
from .util.takeover import pip_conf_keys, replace_config
from .util.pip_plan import describe_satisfied, plan_requirements


@operation()
def requirements(
    python: str,
    requirements,
    constraints=(),
    index_url: str | None = None,
    find_links=(),
    no_index: bool = False,
    trusted_hosts=(),
    conflicts=(),
    extra_index_urls=(),
):
    """
    Install the pip requirements an env does not satisfy yet, in one pip call.

    + python: the env's interpreter, ``ENV/bin/python``
    + requirements: requirement strings (``tensorflow-gpu==2.1.0``, ``h5py<3``, ``pillow``)
    + constraints: requirement strings passed with ``-c``; an installed package violating one
      (protobuf 4.24.4 vs ``protobuf<3.21``) is reinstalled within it
    + index_url, extra_index_urls: a PyPI mirror, e.g. ``https://pypi.tuna.tsinghua.edu.cn/simple``
    + find_links, no_index: a wheelhouse (a folder on the host, or an http URL), offline with no_index
    + trusted_hosts: hosts pip may reach without TLS verification (pip 20 ignores an ``http://``
      index or find-links without it); only those given
    + conflicts: names that must not be installed (``tensorflow`` beside ``tensorflow-gpu``):
      uninstalled first, and a requirement sharing their files is reinstalled

    The constraints written to ``ENV/.gpuws/constraints.txt`` before the install are the stack's
    plus ``==`` pins of the requirements already satisfied, so pip does not move them.

    **Example:**

    .. code:: python

        pip.requirements(
            name="TensorFlow and pins",
            python="/opt/miniconda3/envs/tf21/bin/python",
            requirements=["tensorflow-gpu==2.1.0", "h5py<3"],
            constraints=["protobuf<3.21"],
            conflicts=["tensorflow"],
        )
    """
    python = absolute(python, "python")
    state = read(PipPackages, python=python)
    if not state or not state.get("present"):
        yield fail_host(f"no python with pip at {python}: create the conda env first (operations.conda.env)")
        return
    if state.get("error"):
        yield fail_host(f"pip does not work in {python}: {state['error']}")
        return
    try:
        plan = plan_requirements(
            state.get("packages") or {}, requirements, constraints, conflicts, state.get("python")
        )
    except ValueError as error:
        raise OperationValueError(str(error)) from None

    if not plan.changes:
        host.noop(describe_satisfied(plan.satisfied))
        return

    py = QuoteString(python)
    if plan.remove:
        yield StringCommand(
            *ROOT_PREFIX, py, "-I", "-m", "pip", "uninstall", "--disable-pip-version-check", "-y", "--",
            *[QuoteString(name) for name in plan.remove],
        )
    if not plan.install:
        return
    env_prefix = posixpath.dirname(posixpath.dirname(python))  # ENV for ENV/bin/python
    constraints_path = posixpath.join(env_prefix, CONSTRAINTS_FILE)
    header = f"{MANAGED_HEADER}: pip constraints of the last install (stack pins and kept versions)"
    yield write_file(constraints_path, "\n".join([header, *plan.constraints_lines]) + "\n", inside=env_prefix)
    yield StringCommand(
        *ROOT_PREFIX, py, "-I", "-m", "pip", "install", "--disable-pip-version-check", "-q",
        "-c", QuoteString(constraints_path),
        *index_args(index_url, extra_index_urls, find_links, no_index, trusted_hosts),
        # `--`: pip's optparse (20.0.2 as on the lab's hosts) reads the rest as requirements only
        "--", *[QuoteString(line) for line in plan.install],
    )


@operation()
def config(
    env_prefix: str,
    index_url: str | None = None,
    extra_index_urls=(),
    find_links=(),
    trusted_hosts=(),
    no_index: bool = False,
):
    """
    Write the env's own pip settings to ENV/pip.conf, when its content differs.

    + env_prefix: the conda env, e.g. ``/opt/miniconda3/envs/tf21``
    + index_url, extra_index_urls: a PyPI mirror
    + find_links: wheelhouses (folders or URLs)
    + trusted_hosts: hosts to reach without TLS checks; only those given (never guessed)
    + no_index: offline: only find_links

    pip (10 and later) reads ``sys.prefix/pip.conf`` as its *site* file, after the global and
    user files, so these settings apply to this env only, whoever runs its pip
    (https://pip.pypa.io/en/stable/topics/configuration/). With nothing configured, a pip.conf
    this tool wrote is removed; one it did not write is left alone. A pip.conf it did not write
    that must be replaced is first kept as ``pip.conf.gpuws-backup-<date>`` (mode kept) and its
    keys are logged (operations/util/takeover.py).

    **Example:**

    .. code:: python

        pip.config(
            name="pip mirror",
            env_prefix="/opt/miniconda3/envs/tf21",
            index_url="https://pypi.tuna.tsinghua.edu.cn/simple",
        )
    """
    env_prefix = absolute(env_prefix, "env prefix")
    path = posixpath.join(env_prefix, "pip.conf")
    wanted = render_pip_conf(index_url, extra_index_urls, find_links, trusted_hosts, no_index)
    current = read(FileContent, path=path)
    if wanted is None:
        if current is None:
            host.noop(f"no pip settings wanted and {path} absent")
        elif current.startswith(MANAGED_HEADER):
            yield StringCommand("rm", "-f", "--", QuoteString(path))
        else:
            host.noop(f"no pip settings wanted; {path} was not written by gpuws: left as it is")
        return
    if same_text(current, wanted):
        host.noop(f"{path} up to date")
        return
    # a pip.conf from before gpuws (proxy, cert) is kept beside it, never dropped silently
    yield replace_config(host, path, current, wanted, env_prefix, pip_conf_keys)
