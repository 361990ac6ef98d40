"""Host facts that pyinfra does not have built in.

The OS and distribution come from pyinfra's own `pyinfra.facts.server.LinuxDistribution`
(``{"name": "Ubuntu", "major": 18, "minor": 4, "release_meta": {"ID": "ubuntu", ...}}``); it is
not rewritten here.
"""

from __future__ import annotations

import re

from pyinfra.api import FactBase

from facts._sections import parse_sections, script_with_variables

# df -P: "Filesystem 1024-blocks Used Available Capacity Mounted on"; the mount point may
# contain spaces, so it is the rest of the line.
_DF_ROW = re.compile(r"^(?P<fs>.+?)\s+(?P<total>\d+)\s+(?P<used>\d+)\s+(?P<avail>\d+)\s+"
                     r"(?P<capacity>\d+%|-)\s+(?P<mount>/.*)$")

_FREE_DISK_SCRIPT = r"""
printf '@@section path rc=0\n%s\n' "$D"
p=$D
while [ ! -e "$p" ]; do
    parent=$(dirname -- "$p")
    if [ "$parent" = "$p" ]; then break; fi
    p=$parent
done
printf '@@section checked rc=0\n%s\n' "$p"
echo '@@section df rc=0'
df -Pk -- "$p" 2>&1
echo '@@end'
"""


def parse_df(text: str) -> dict | None:
    """
    Parse ``df -Pk PATH`` output (the last data row): ``{"free_mib", "total_mib", "mount"}``,
    or None when there is no data row (df failed).
    """
    for line in reversed((text or "").splitlines()):
        match = _DF_ROW.match(line.strip())
        if match:
            return {
                "free_mib": int(match["avail"]) // 1024,
                "total_mib": int(match["total"]) // 1024,
                "mount": match["mount"],
            }
    return None


class FreeDisk(FactBase):
    """
    Free space on the filesystem that holds (or will hold) a path. A path that does not exist yet
    (a prefix about to be created) is measured at its nearest existing parent.

    + path: e.g. ``/opt/miniconda3``

    Returns ``{"path": "/opt/miniconda3", "checked_path": "/opt", "free_mib": 51200,
    "total_mib": 102400, "mount": "/"}``, or None when df fails.

    **Example:**

    .. code:: python

        disk = host.get_fact(FreeDisk, path="/opt/miniconda3")
        if disk and disk["free_mib"] < 8000: ...
    """

    def command(self, path: str):
        return script_with_variables(_FREE_DISK_SCRIPT, D=path)

    def process(self, output: list[str]) -> dict | None:
        sections = parse_sections(output)
        if "df" not in sections:
            return None
        df = parse_df(sections["df"].text)
        if df is None:
            return None
        checked = sections["checked"].lines[0] if "checked" in sections else None
        path = sections["path"].lines[0] if "path" in sections else None
        return {"path": path, "checked_path": checked, **df}


# The run lock (operations/lock.py explains the choice). Its one line: RUN PID CONTROLLER ISO EPOCH
LOCK_PATH = "/var/lib/gpuws/run.lock"
LOCK_MARKER = "@@gpuws-lock"
_LOCK_SCRIPT = r"""
# few processes: this runs on every host at every run (the folder exists after the first)
case "$L" in */*) _dir=${L%/*} ;; *) _dir=. ;; esac
[ -d "${_dir:-/}" ] || mkdir -p "${_dir:-/}" 2>/dev/null
_waited=0
while :; do
    _tmp="$L.$$"
    if ! printf '%s %s %s %s\n' "$RUN" "$PID" "$CTL" "$(date -u '+%Y-%m-%dT%H:%M:%SZ %s')" > "$_tmp" 2>/dev/null; then
        rm -f "$_tmp"; echo "@@gpuws-lock error cannot write $_tmp"; exit 0
    fi
    # ln fails when the lock exists: taking it is atomic, and it is never seen half written
    if ln "$_tmp" "$L" 2>/dev/null; then rm -f "$_tmp"; echo "@@gpuws-lock taken"; exit 0; fi
    rm -f "$_tmp"
    _held=$(head -n 1 "$L" 2>/dev/null)
    if [ -z "$_held" ]; then  # released meanwhile: try again; a file system without hard links: say so
        if [ ! -e "$L" ] && [ "$_waited" -ge "$WAIT" ]; then echo "@@gpuws-lock error cannot create $L (ln)"; exit 0; fi
        sleep 1; _waited=$((_waited + 1)); continue
    fi
    case "$_held" in "$RUN "*) echo "@@gpuws-lock taken"; exit 0;; esac  # this run's, e.g. after its reboot
    _since=$(printf '%s\n' "$_held" | cut -d' ' -f5)
    case "$_since" in ''|*[!0-9]*) _since=0;; esac
    if [ $(( $(date +%s) - _since )) -ge "$STALE" ]; then
        # move it aside under a name of our own, and take over only if it was the one judged stale
        if mv -f "$L" "$L.stale.$$" 2>/dev/null; then
            if [ "$(head -n 1 "$L.stale.$$" 2>/dev/null)" = "$_held" ]; then
                echo "@@gpuws-lock stale $_held"; rm -f "$L.stale.$$"
            else
                ln "$L.stale.$$" "$L" 2>/dev/null; rm -f "$L.stale.$$"
            fi
        fi
        continue
    fi
    if [ "$_waited" -ge "$WAIT" ]; then echo "@@gpuws-lock held $_held"; exit 0; fi
    sleep 1; _waited=$((_waited + 1))
done
"""


def _lock_holder(text: str) -> dict:
    words = text.split()
    return {
        "run": words[0] if words else None,
        "pid": words[1] if len(words) > 1 else None,
        "controller": words[2] if len(words) > 2 else None,
        "since": words[3] if len(words) > 3 else None,
    }


class RunLock(FactBase):
    """
    Takes the host's gpuws run lock, waiting up to `wait` seconds for another run's (this fact
    writes: operations/lock.py says why the lock is taken by a fact's command).

    + path: the lock file
    + run: this run's id (the lock's first word: a run finds its own lock after a reboot)
    + pid, controller: shown to a second run
    + wait: seconds to wait for another run's lock
    + stale_after: a lock older than this (by the host's clock) is taken over

    Returns ``{"taken": True, "stale": None | "<the stale lock's line>", "holder": None, "error": None}``
    or ``{"taken": False, "holder": {"pid", "controller", "since", "run"}, ...}``.

    **Example:**

    .. code:: python

        got = host.get_fact(RunLock, path="/var/lib/gpuws/run.lock", run="ctl:42:1", pid=42,
                            controller="ctl", wait=30, stale_after=10800)
    """

    @staticmethod
    def default() -> dict:
        return {"taken": False, "stale": None, "holder": None, "error": "the lock command printed nothing"}

    def command(self, path: str, run: str, pid: int, controller: str, wait: int = 30, stale_after: int = 10800):
        return script_with_variables(
            _LOCK_SCRIPT, L=path, RUN=run, PID=str(pid), CTL=controller,
            WAIT=str(int(wait)), STALE=str(int(stale_after)),
        )

    def process(self, output: list[str]) -> dict:
        result = self.default() | {"error": None}
        for line in output:
            if not line.startswith(LOCK_MARKER + " "):
                continue
            kind, _, rest = line[len(LOCK_MARKER) + 1:].partition(" ")
            if kind == "taken":
                result["taken"] = True
            elif kind == "stale":
                result["stale"] = rest
            elif kind == "held":
                result["holder"] = _lock_holder(rest)
            elif kind == "error":
                result["error"] = rest
        if not result["taken"] and not result["holder"] and not result["error"]:
            result["error"] = "the lock command printed no answer"
        return result
