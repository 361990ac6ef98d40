"""Shell-command builders shared by the operations.

* `fail_host` fails ONE host with a message: raising inside an operation aborts the run on every
  host, a command that exits non-zero fails only its own (https://docs.pyinfra.com/en/3.x/api/operations.html).
* `write_file` writes a small managed text file (.condarc, pip.conf, activation hooks, a
  constraints file) in one remote command, its exact content visible in the operation specs.
"""

from __future__ import annotations

import posixpath

from pyinfra import logger
from pyinfra.api import OperationValueError, QuoteString, StringCommand
from pyinfra.api.command import make_formatted_string_command
from pyinfra.operations.util.files import generate_color_diff

# The first line of every file these operations write. The operations recognise their own files by
# it (pip.config removes an unused pip.conf only when it carries this header).
MANAGED_HEADER = "# managed by gpuws"
# Before every conda and pip command run as root: files they create are readable for the
# workstation's users whatever root's umask is (a umask of 077 would leave students unable to import
# TensorFlow while root's own verification passes). Python runs with -I wherever the deploy starts
# it, so a json.py or pip/ in the working directory is never imported as root.
ROOT_PREFIX = ("umask", "022", "&&")
# The temporary file write_file renames into place (same folder: same file system).
TMP_SUFFIX = ".gpuws-new"


class HostFailure(StringCommand):
    """The command `fail_host` yields; it keeps its message so the fleet report can show it."""

    def __init__(self, message: str):
        # printf rather than echo: dash's echo would interpret backslashes inside the message.
        super().__init__("printf", QuoteString("%s\\n"), QuoteString(message), ">&2;", "exit", "1")
        self.message = message


def fail_host(message: str) -> StringCommand:
    """A command that fails this host only, with `message` on stderr.

    Outside the execute phase (``--dry``, or the change detection before a run without ``-y``)
    the command will not run, so the host is marked failed now, with its one line: a dry run
    then shows the host failing and pyinfra's exit status is 1 (pyinfra_cli exits 1 when
    ``state.failed_hosts`` is not empty). Only ``failed_hosts`` is touched, not the active hosts,
    so a real run still executes the command and fails the host the usual way.
    """
    from pyinfra.context import ctx_host, ctx_state

    state, current = ctx_state.get(), ctx_host.get()
    if state is not None and current is not None and not getattr(state, "is_executing", True):
        failed = getattr(state, "failed_hosts", None)
        if isinstance(failed, set) and current not in failed:
            failed.add(current)
            current.log_styled(f"would fail: {message}", fg="red", log_func=logger.error)
    return HostFailure(message)


def write_file(path: str, content: str, inside: str | None = None, mode: str = "644") -> StringCommand:
    """A command that writes `content` to `path` atomically, creating the file's folder.

    The text goes to ``PATH.gpuws-new`` in the same folder, gets its mode, then is renamed over
    ``PATH`` (rename(2) within one file system is atomic): a full disk or a lost connection
    leaves the old file as it was and removes the partial one.

    + inside: a folder that must already exist (e.g. the conda env): when it is missing the host
      fails with a message instead of the folder being created, because an env folder made by
      `mkdir -p` would look like a broken env to conda.
    + mode: the file's octal mode, set explicitly (a umask of 077 must not hide a hook from users)
    """
    tmp = f"{path}{TMP_SUFFIX}"
    write = make_formatted_string_command(
        "mkdir -p -- {0} && printf %s {1} > {2} && chmod {3} -- {2} && mv -f -- {2} {4} || {{ rm -f -- {2}; exit 1; }}",
        QuoteString(posixpath.dirname(path)), QuoteString(content), QuoteString(tmp),
        QuoteString(mode), QuoteString(path),
    )
    if inside is None:
        return write
    guard = make_formatted_string_command(
        "test -d {0} || {{ printf {1} {2} >&2; exit 1; }};",
        QuoteString(inside), QuoteString("%s\\n"), QuoteString(f"{inside} does not exist: cannot write {path}"),
    )
    return StringCommand(guard, write)


def log_diff(host, path: str, current: str | None, wanted: str) -> None:
    """With ``--diff``, show what writing ``wanted`` over ``current`` changes, as pyinfra's
    files.put does; the operations already hold both texts, so this costs no remote command."""
    config = getattr(getattr(host, "state", None), "config", None)
    if not getattr(config, "DIFF", False):
        return
    host.log(f"Will {'create' if current is None else 'modify'} {path}", logger.info)
    for line in generate_color_diff((current or "").splitlines(), wanted.splitlines()):
        logger.info("  %s", line)


def same_text(current: str | None, wanted: str) -> bool:
    """Whether a file's text (as the file facts read it) already holds `wanted`. Trailing
    newlines are not compared: FileContent does not keep whether the file ended with one."""
    return current is not None and current.rstrip("\n") == wanted.rstrip("\n")


def conda_bin(prefix: str) -> str:
    """conda by absolute path: a non-interactive shell has no `conda activate` and no PATH entry."""
    return posixpath.join(prefix, "bin", "conda")


def env_prefix_of(prefix: str, name: str) -> str:
    """Where `conda create -n NAME` puts an env of the root prefix (the root's envs dir)."""
    return posixpath.join(prefix, "envs", name)


def absolute(path: str, what: str) -> str:
    """`path` without a trailing slash; an argument error unless it is absolute (every command
    quotes its paths, so "~/miniconda3" would not be expanded by the shell)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise OperationValueError(f"{what} must be an absolute path, not {path!r}")
    return path.rstrip("/") or "/"
