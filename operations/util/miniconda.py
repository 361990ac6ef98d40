"""Command builders of the Miniconda install: fetch the installer, check its sha256, run it; and
the opt-in login-shell hook.

Why not `files.download(..., sha256sum=...)`: its check only greps sha256sum's output and leaves a
corrupt file behind with "SHA256 did not match!", it reads two facts first (File, Which) and needs
curl for a file:// URL (an offline bundle already on the host); the installer is removed after the
install anyway, so its "already downloaded" logic has nothing to keep.
"""

from __future__ import annotations

import re
import shlex

from pyinfra.api import QuoteString, StringCommand
from pyinfra.api.command import make_formatted_string_command

from .commands import MANAGED_HEADER

PROFILE_HOOK_PATH = "/etc/profile.d/gpuws-conda.sh"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def installer_path(prefix: str) -> str:
    """Where the installer is put on the host: next to the prefix, on the disk that was checked
    (not /tmp, which is often a small tmpfs)."""
    return prefix.rstrip("/") + ".gpuws-installer.sh"


def download_command(url: str, dest: str, connect_timeout: int = 30, timeout: int = 1800) -> StringCommand:
    """curl or wget, whichever the host has, in one sh command (never `curl | bash`); a file://
    URL (an offline bundle already on the host) is copied.

    A mirror that does not answer, or stalls mid-file, fails the host instead of hanging the run:
    curl gets ``--connect-timeout`` and ``--max-time``; wget has no total limit of its own, so it
    runs under coreutils ``timeout`` (when the host has it) with ``--connect-timeout`` and
    ``--read-timeout``.
    """
    if url.startswith("file://"):
        return StringCommand("cp", "--", QuoteString(url[len("file://"):]), QuoteString(dest))
    connect, total = int(connect_timeout), int(timeout)
    return make_formatted_string_command(
        "if command -v curl >/dev/null 2>&1; then "
        "curl -fsSL --retry 3 --connect-timeout {connect} --max-time {total} -o {dest} -- {url} ; "
        "elif command -v wget >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then "
        "timeout -k 10 {total} wget -q --tries=3 --connect-timeout={connect} --read-timeout={connect} -O {dest} -- {url} ; "
        "elif command -v wget >/dev/null 2>&1; then "
        "wget -q --tries=3 --connect-timeout={connect} --read-timeout={connect} -O {dest} -- {url} ; "
        "else printf {line} {message} >&2; exit 1; fi",
        dest=QuoteString(dest), url=QuoteString(url), line=QuoteString("%s\\n"),
        connect=QuoteString(str(connect)), total=QuoteString(str(total)),
        message=QuoteString(
            "neither curl nor wget on this host: install one, or push the installer with miniconda_file"
        ),
    )


def verify_sha256_command(path: str, source: str, sha256: str) -> StringCommand:
    """Compare the file's sha256; on mismatch remove the file and fail with both sums."""
    return make_formatted_string_command(
        "actual=$(sha256sum -- {path} | cut -d {space} -f 1) && "
        "if [ {actual} != {sha256} ]; then rm -f -- {path} ; printf {message} {source} {sha256} {actual} >&2; "
        "exit 1; fi",
        path=QuoteString(path), space=QuoteString(" "), actual='"$actual"', sha256=QuoteString(sha256),
        source=QuoteString(source),
        message=QuoteString(
            "checksum mismatch for %s: expected %s, got %s; "
            "the download is corrupt or the mirror serves another file\\n"
        ),
    )


def install_command(installer: str, prefix: str) -> StringCommand:
    """Run the installer in batch mode, then remove it whatever happened, keeping its status.
    umask 022: a root-owned shared install must stay readable for the workstation's users."""
    return make_formatted_string_command(
        "umask 022 && bash -- {installer} -b -p {prefix} ; status=$?; rm -f -- {installer} ; exit $status",
        installer=QuoteString(installer), prefix=QuoteString(prefix),
    )


def render_profile_hook(prefix: str) -> str:
    """/etc/profile.d script giving interactive login shells a `conda` command.

    Only interactive shells get it (`case $- in *i*`): pyinfra, cron and scripts start
    non-interactive shells and must not pay conda's start-up on every command.
    conda >= 4.4 ships etc/profile.d/conda.sh (`conda activate`); older conda (4.3) only has
    bin/activate, so its bin folder is appended to PATH, after the system's own python.
    """
    bin_dir = shlex.quote(prefix + "/bin")
    conda_sh = shlex.quote(prefix + "/etc/profile.d/conda.sh")
    return (
        f"{MANAGED_HEADER}: conda for interactive login shells only.\n"
        "# Non-interactive shells (pyinfra, cron, scripts) skip it, so they stay fast.\n"
        "case $- in\n"
        "    *i*)\n"
        f"        if [ -f {conda_sh} ]; then\n"
        f"            . {conda_sh}\n"
        "        else\n"
        f"            case \":$PATH:\" in *:{bin_dir}:*) ;; *) PATH=\"$PATH\":{bin_dir} ;; esac\n"
        "        fi\n"
        "        ;;\n"
        "esac\n"
    )
