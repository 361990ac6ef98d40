"""The lab mirror: Python's http.server on 10.250.0.1:8080 inside the controller namespace.

It serves ``mirror/`` (apt/, conda/lab/, miniconda/, wheels/) to the hosts. It listens only on
the lab bridge, which exists only inside the controller namespace.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import network
from .paths import MIRROR_ADDRESS, MIRROR_PORT, LabPaths


def start(paths: LabPaths) -> None:
    paths.mirror.mkdir(parents=True, exist_ok=True)
    paths.mirror_pid.unlink(missing_ok=True)
    server = network.in_controller([sys.executable, "-m", "http.server", "--bind", MIRROR_ADDRESS,
                                    str(MIRROR_PORT), "--directory", str(paths.mirror)])
    # the shell records its own pid, then becomes the server: one pid to stop later
    script = 'echo $$ > "$0"; exec "$@"'
    with open(paths.mirror_log, "ab") as log:
        subprocess.run(["setsid", "-f", "sh", "-c", script, str(paths.mirror_pid), *server],
                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, check=True)
    deadline = time.monotonic() + 10
    while not _listening():
        if time.monotonic() > deadline:
            raise SystemExit(f"lab: the mirror did not start; see {paths.mirror_log}")
        time.sleep(0.05)


def _listening() -> bool:
    probe = network.in_controller(["bash", "-c", f"exec 3<>/dev/tcp/{MIRROR_ADDRESS}/{MIRROR_PORT}"])
    return subprocess.run(probe, capture_output=True).returncode == 0


def stop(paths: LabPaths) -> None:
    try:
        pid = int(paths.mirror_pid.read_text())
        os.killpg(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass
    paths.mirror_pid.unlink(missing_ok=True)


def running(paths: LabPaths) -> bool:
    try:
        return Path(f"/proc/{int(paths.mirror_pid.read_text())}").exists()
    except (OSError, ValueError):
        return False
