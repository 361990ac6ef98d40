"""Install Miniconda into a prefix, checksum-verified, and (opt-in) a login-shell hook for it."""

from __future__ import annotations

import os
import posixpath
import re
import shlex

from pyinfra import host
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation

from facts.conda import CondaInstall
from facts.host import FreeDisk

from .commands import MANAGED_HEADER, absolute, fail_host, read_text, same_text, write_file

PROFILE_HOOK_PATH = "/etc/profile.d/gpuws-conda.sh"

# Miniconda itself takes about 0.5 GiB; the tf21 env grows the same prefix by about 2.5 GiB
# (cudatoolkit ~0.7 GiB, cudnn ~0.4 GiB, tensorflow-gpu 2.1.0 ~1.1 GiB unpacked, the rest of the
# pip packages and conda's package cache). Refusing early beats a half-unpacked prefix.
DEFAULT_MIN_FREE_MIB = 3072

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def installer_path(prefix: str) -> str:
    """Where the installer is put on the host: next to the prefix, on the disk that was checked
    (not /tmp, which is often a small tmpfs)."""
    return prefix.rstrip("/") + ".gpuws-installer.sh"


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


def _download(url: str, dest: str) -> StringCommand:
    """curl or wget, whichever the host has, in one sh command (never `curl | bash`); a file://
    URL (an offline bundle already on the host) is copied."""
    d, u = QuoteString(dest), QuoteString(url)
    if url.startswith("file://"):
        return StringCommand("cp", QuoteString(url[len("file://"):]), d)
    return StringCommand(
        "if", "command", "-v", "curl", ">/dev/null", "2>&1;", "then",
        "curl", "-fsSL", "--retry", "3", "-o", d, u, ";",
        "elif", "command", "-v", "wget", ">/dev/null", "2>&1;", "then",
        "wget", "-q", "-O", d, u, ";",
        "else",
        "printf", QuoteString("%s\\n"),
        QuoteString("neither curl nor wget on this host: install one, or push the installer with miniconda_file"),
        ">&2;", "exit", "1;",
        "fi",
    )


def _verify_sha256(path: str, source: str, sha256: str) -> StringCommand:
    """Compare the file's sha256; on mismatch remove the file and fail with both sums."""
    p = QuoteString(path)
    return StringCommand(
        "actual=$(sha256sum", p, "|", "cut", "-d", QuoteString(" "), "-f", "1)", "&&",
        "if", "[", '"$actual"', "!=", QuoteString(sha256), "];", "then",
        "rm", "-f", p, ";",
        "printf",
        QuoteString(
            "checksum mismatch for %s: expected %s, got %s; "
            "the download is corrupt or the mirror serves another file\\n"
        ),
        QuoteString(source), QuoteString(sha256), '"$actual"', ">&2;",
        "exit", "1;",
        "fi",
    )


def _install(installer: str, prefix: str) -> StringCommand:
    """Run the installer in batch mode, then remove it whatever happened, keeping its status.
    umask 022: a root-owned shared install must stay readable for the workstation's users."""
    return StringCommand(
        "umask", "022", "&&",
        "bash", QuoteString(installer), "-b", "-p", QuoteString(prefix), ";",
        "status=$?;", "rm", "-f", QuoteString(installer), ";", "exit", "$status",
    )


@operation()
def miniconda(
    prefix: str,
    installer_url: str | None = None,
    installer_sha256: str | None = None,
    installer_file: str | None = None,
    allow_unverified: bool = False,
    min_free_mib: int = DEFAULT_MIN_FREE_MIB,
    profile_hook: bool = False,
):
    """
    Install Miniconda into ``prefix`` when no conda is there, checksum-verified.

    + prefix: the root prefix, e.g. ``/opt/miniconda3``
    + installer_url: where the host downloads the installer (curl or wget, whichever it has)
    + installer_sha256: the installer's sha256; required unless ``allow_unverified``
    + installer_file: a controller-side installer to push instead of downloading (offline sites)
    + allow_unverified: install without a checksum (not recommended)
    + min_free_mib: free space needed on the prefix's parent folder (Miniconda plus the envs)
    + profile_hook: write /etc/profile.d/gpuws-conda.sh, giving interactive login shells a
      ``conda`` command; users' shell rc files are never touched (no ``conda init``)

    A present conda is left as it is (no version gate: the lab runs conda 4.3.16). The checksum is
    checked on the host with ``sha256sum``; on a mismatch the file is removed and the host fails.
    A prefix folder without a working conda is never overwritten: the host fails instead.
    A missing checksum, a missing installer source or a short disk also fail the host, before
    anything is downloaded.

    **Example:**

    .. code:: python

        miniconda(
            name="Install Miniconda",
            prefix="/opt/miniconda3",
            installer_url="http://10.250.0.1:8080/miniconda/Miniconda3-py37_4.3.16-Linux-x86_64.sh",
            installer_sha256="0f4b...",
            _sudo=True,
        )
    """
    prefix = absolute(prefix, "miniconda prefix")
    install = host.get_fact(CondaInstall, prefix=prefix)

    if install and install.get("present"):
        done = f"conda {install.get('version') or '(version unknown)'} already installed at {prefix}"
        if not profile_hook:
            host.noop(done)
            return
        hook = render_profile_hook(prefix)
        if same_text(read_text(PROFILE_HOOK_PATH), hook):
            host.noop(f"{done}; {PROFILE_HOOK_PATH} up to date")
            return
        yield write_file(PROFILE_HOOK_PATH, hook)
        return

    # Everything that can be refused is refused before anything is downloaded.
    if install and install.get("exists"):
        # A folder without a working conda: a user's data or a broken install. The installer
        # refuses it anyway ("File or directory already exists"); say what to do instead.
        yield fail_host(
            f"{prefix} exists but holds no working conda (bin/conda, conda-meta): move it away "
            "or set another miniconda_prefix; it is never overwritten"
        )
        return
    sha256 = (installer_sha256 or "").strip().lower()
    if not installer_url and not installer_file:
        yield fail_host("no Miniconda installer: set miniconda_url (or miniconda_file)")
        return
    if not sha256 and not allow_unverified:
        yield fail_host(
            "no sha256 for the Miniconda installer: set miniconda_sha256 "
            "(or miniconda_allow_unverified=True)"
        )
        return
    if sha256 and not _SHA256.match(sha256):
        yield fail_host(f"miniconda_sha256 is not a sha256 (64 hex digits): {installer_sha256!r}")
        return
    if installer_file and not os.path.isfile(installer_file):
        yield fail_host(f"Miniconda installer {installer_file} not found on the controller")
        return

    parent = posixpath.dirname(prefix) or "/"
    disk = host.get_fact(FreeDisk, path=parent)
    if disk and disk.get("free_mib") is not None and disk["free_mib"] < min_free_mib:
        yield fail_host(
            f"not enough free disk for Miniconda under {parent}: {disk['free_mib']} MiB free, "
            f"{min_free_mib} MiB needed (Miniconda and the envs); free some space or choose "
            "another miniconda_prefix"
        )
        return

    installer = installer_path(prefix)
    yield StringCommand("mkdir", "-p", QuoteString(parent))
    if installer_file:
        yield FileUploadCommand(installer_file, installer, remote_temp_filename=host.get_temp_filename(installer))
        source = installer_file
    else:
        yield _download(installer_url, installer)
        source = installer_url
    if sha256:
        yield _verify_sha256(installer, source, sha256)
    yield _install(installer, prefix)
    if profile_hook:
        yield write_file(PROFILE_HOOK_PATH, render_profile_hook(prefix))
