"""Who could change the code root runs from a conda prefix: owners and modes read with `stat`.

The deploy runs conda, the env's python (pip, the verification) and the env's activation hooks as
root, and its /etc/profile.d hook makes root's login shells source the prefix's conda.sh. A file
there that another user owns or can write is that user's code run as root, so the facts that read
a prefix also `stat` the paths that matter (`OWNER_PART`, inside their own command: no extra round
trip) and `unsafe_paths` picks the ones root must not trust.

Trusted: owned by root or by the user the deploy's commands run as, and not writable for group or
others. The folders above the prefix count too (whoever may rename /home/student may swap the
whole prefix); among those only, a sticky folder such as /tmp may be world-writable, because the
sticky bit keeps others from renaming what they do not own (chmod(1), "restricted deletion flag").
"""

from __future__ import annotations

# POSIX sh: `gpuws_uid` sets `$_uid`, the user the commands run as (root under sudo), without
# starting id(1) on every run: the shell's own effective uid, the second number of the "Uid:" line
# of /proc/self/status (real, effective, saved, file system: proc(5)); `id -u` where that is missing.
UID_PART = r"""
gpuws_uid() {
    _uid=
    if [ -r /proc/self/status ]; then
        while read -r _key _real _effective _rest; do
            if [ "$_key" = Uid: ]; then _uid=$_effective; break; fi
        done < /proc/self/status
    fi
    case $_uid in '' | *[!0-9]*) _uid=$(id -u) ;; esac
}
"""

# POSIX sh. `$_uid` is the user the commands run as (root under sudo). `own` lines are the prefix's
# paths given by the caller (a glob that matches nothing stays a word stat cannot find: no line),
# `parent` lines the folders above its first argument; stat -L judges what a symlink points to
# (bin/python is one). One stat for each kind: a stat per path cost a process per path (about 30
# for a prefix with one env) on every run.
OWNER_PART = UID_PART + r"""
gpuws_parents() {
    case $1 in /*) _d=$1 ;; *) return 0 ;; esac
    set --
    while [ -n "$_d" ] && [ "$_d" != / ]; do
        _d=${_d%/*}
        set -- "$@" "${_d:-/}"
    done
    if [ $# -gt 0 ]; then stat -L -c 'parent %u %a %U %n' -- "$@" 2>/dev/null; fi
}
gpuws_owners() {
    gpuws_uid
    printf '@@section uid rc=0\n%s\n@@section owners rc=0\n' "$_uid"
    gpuws_parents "$1"
    stat -L -c 'own %u %a %U %n' -- "$@" 2>/dev/null
    return 0
}
"""


def unsafe_paths(sections: dict) -> list[dict]:
    """The paths of an `OWNER_PART` read that root must not trust: ``[{"path", "owner", "mode"}]``
    (owner as ``name (uid N)``, mode in octal), in the order read; [] when nothing was read.

    + sections: `facts._sections.parse_sections` of the fact's output (sections ``uid`` and ``owners``)
    """
    if "owners" not in sections or "uid" not in sections or not sections["uid"].lines:
        return []
    try:
        trusted = {0, int(sections["uid"].lines[0])}
    except ValueError:
        trusted = {0}
    unsafe = []
    for line in sections["owners"].lines:
        kind, uid, mode, user, name = (line.split(" ", 4) + [""] * 5)[:5]
        if kind not in ("own", "parent") or not uid.isdigit():
            continue
        try:
            bits = int(mode, 8)
        except ValueError:
            continue
        writable = bits & 0o022 and not (kind == "parent" and bits & 0o1000)
        if int(uid) not in trusted or writable:
            unsafe.append({"path": name.rstrip("/") or "/", "owner": f"{user} (uid {uid})", "mode": f"{bits:o}"})
    return unsafe


def unsafe_message(unsafe: list[dict]) -> str:
    """One line for a host whose prefix root must not trust: the first such path, and the fix."""
    first = unsafe[0]
    more = f" (and {len(unsafe) - 1} more)" if len(unsafe) > 1 else ""
    return (
        f"{first['path']} is owned by {first['owner']} with mode {first['mode']}{more}: root would run code "
        "another user can change; make the conda prefix and its envs root-owned and not group/world-writable "
        "(chown -R root: and chmod -R go-w), or give data conda_prefix a root-owned prefix"
    )
