"""Put an offline bundle (built once on the controller by `python -m tools.bundle`) on a host.

Only the files the host does not already hold travel, so a host that already has the bundle
receives nothing again. While the stamp (written last) names another bundle or none, the host's
files are compared by sha256 with the manifest, not only by size; after the uploads every sent
file is checked against its sha256 on the host before the stamp is written. Files the bundle does
not list, and anything that is not a regular file (a symlink would be written through), are removed.
"""

from __future__ import annotations

import json
import posixpath

from pyinfra import host
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation
from pyinfra.api.command import make_formatted_string_command

from facts.bundle import STAMP, BundleFiles
from facts.workstation import read  # this run's broad read (one remote command per host)

from .util.commands import absolute, write_file

# The SSH login's own upload folder, relative to its home (where SFTP and a login's commands
# start): only that user (and root) can write there. With connector data _sudo, root is reached
# from this login; the uploads and this folder must stay the login's.
STAGE = ".gpuws-bundle-upload"
AS_LOGIN = {"_sudo": False, "_doas": False, "_su_user": None}


def held_files_read(dest: str, fingerprint: str) -> dict:
    """The arguments `synced` reads `BundleFiles` with, for a deploy to plan that read."""
    return {"path": absolute(dest, "bundle destination"), "fingerprint": fingerprint}


@operation()
def synced(src: str, dest: str, files: list, fingerprint: str):
    """
    Make ``dest`` on the host hold every file of the bundle at ``src`` on the controller.

    + src: the bundle folder on the controller
    + dest: the folder on the host, e.g. ``/var/cache/gpuws/bundle``
    + files: ``[[relative path, size, sha256], ...]``: every file to hold (payload and channel
      index), from the verified manifest (deploys/offline.py)
    + fingerprint: the bundle manifest's fingerprint, written to the stamp once all files are there

    **Example:**

    .. code:: python

        bundle.synced(
            name="Offline bundle",
            src="bundle-tf21", dest="/var/cache/gpuws/bundle",
            files=[["conda/linux-64/repodata.json", 5120, "9c1e..."], ...], fingerprint="3f2a...",
        )
    """
    dest = absolute(dest, "bundle destination")
    held = read(BundleFiles, **held_files_read(dest, fingerprint))
    hashes = held.get("sha256") or {}
    missing = [
        entry for entry in files
        if held["sizes"].get(entry[0]) != entry[1]
        or (len(entry) > 2 and entry[0] in hashes and hashes[entry[0]] != entry[2])
    ]
    listed = {entry[0] for entry in files}
    extra = sorted(set(held["sizes"]) - listed) + sorted(held.get("other") or [])
    stamp = held.get("stamp") or {}
    if not missing and not extra and stamp.get("fingerprint") == fingerprint:
        host.noop(f"bundle {fingerprint[:12]} already on the host ({len(files)} files)")
        return

    if extra:
        # not in the manifest: a stale file of an older bundle, or something planted (rm -f of a
        # symlink removes the link, never its target)
        yield StringCommand("rm", "-f", "--", *[QuoteString(posixpath.join(dest, path)) for path in extra])
    if missing:
        folders = sorted({posixpath.dirname(posixpath.join(dest, entry[0])) for entry in missing} | {dest})
        yield StringCommand("mkdir", "-p", "--", *[QuoteString(folder) for folder in folders])
        # Uploads travel as the SSH user into a folder that user owns, never through pyinfra's sudo
        # upload path: with _sudo, pyinfra's SSH put_file copies a temp file named after the
        # destination with `cp`/`rm` unquoted (pyinfra/connectors/ssh.py, put_file), and an SSH
        # user without root cannot write a root-owned folder anyway. Root then copies each file in
        # as DEST.partial (a root-owned copy the SSH user can no longer change), the copies are
        # sha256-checked, and only then renamed into place.
        yield StringCommand("mkdir", "-p", "-m", "0700", "--", QuoteString(STAGE), **AS_LOGIN)
    for entry in missing:
        remote = posixpath.join(dest, entry[0])
        staged = posixpath.join(STAGE, "file")
        yield FileUploadCommand(posixpath.join(src, entry[0]), staged, **AS_LOGIN)
        # the fact ignores *.partial, so an interrupted sync simply sends that file again
        yield StringCommand("install", "-m", "0644", "--", QuoteString(staged), QuoteString(f"{remote}.partial"))
    if missing:
        yield StringCommand("rm", "-rf", "--", QuoteString(STAGE), **AS_LOGIN)
        yield install_checked_command(dest, missing)
    yield write_file(posixpath.join(dest, STAMP), json.dumps({"fingerprint": fingerprint}) + "\n")


def install_checked_command(dest: str, entries: list) -> StringCommand:
    """sha256sum -c of the root-owned *.partial copies, then each renamed into place; a mismatch
    fails the host before anything is renamed and before the stamp is written, so the next run
    hashes every file again and resends the ones that differ."""
    listing = "".join(f"{entry[2]}  {entry[0]}.partial\n" for entry in entries if len(entry) > 2)
    moves = [bit for entry in entries for bit in (
        "&&", "mv", "-f", "--", QuoteString(posixpath.join(dest, f"{entry[0]}.partial")),
        QuoteString(posixpath.join(dest, entry[0])))]
    if not listing:  # no sha256 given for any of them (not the deploy's case: push_list gives them)
        return StringCommand(*moves[1:])
    check = make_formatted_string_command(
        "cd {dest} && printf %s {listing} | sha256sum -c --quiet - >&2 || {{ printf {line} {message} >&2; exit 1; }}",
        dest=QuoteString(dest), listing=QuoteString(listing), line=QuoteString("%s\\n"),
        message=QuoteString("bundle files differ from the manifest's sha256 after the upload: run again to resend them"),
    )
    return StringCommand(check, *moves)
