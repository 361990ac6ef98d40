"""A STAND-IN workstation for pyinfra's @fake connector: state that the deploy's commands change.

pyinfra's @fake connector (pyinfra/connectors/fake.py) answers each command from the host data
`fake_responses`: it iterates `.items()`, takes the first (matcher, response) whose matcher is a
substring of the command, and reads `response.get("success" | "stdout" | "stderr")`. Static
answers cannot model a host that changes (a driver installed and loaded by a reboot, an env
created), so `VirtualHost` is that mapping with a state behind it:

* `items()` yields (substring matcher, lazy response) pairs, most specific first, and a last
  catch-all that records the command as UNKNOWN and fails it: the model never lets a command the
  deploy runs go by silently (tests assert that no command went unmatched).
* the lazy response, on its first `.get()`, takes the full command the connector just recorded
  (`connector.executed_commands[-1]`: the matcher alone does not carry the arguments), renders the
  output from the state (render.py) and applies the command's effect to the state.
* the state lives in a JSON file, loaded when the inventory is imported and saved after every
  command, so a test can set a host up, run the pyinfra CLI as a subprocess, read back what
  happened (state and command log), drift it and run again.

It is a `dict` subclass (pyinfra type-checks connector data against `dict[str | Pattern, Any]`)
whose `__copy__` returns itself (HostData hands out `copy(value)`; a copy would lose the state).
Nothing here is real: no GPU, driver, conda or pip exists behind it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from deploys.settings import SETTINGS
from operations.util.condarc import preset_sources
from facts.verification import FINGERPRINT_MARKER, HEREDOC_END
from tests.model import pypi_cu12, render

PREFIX = SETTINGS["conda_prefix"].default

# Connector data for every simulated host: no simulated command latency, and a reboot that is
# reconnected at once (reboot_delay 0 is valid: deploys/settings.py asks for an int >= 0, and
# server.reboot then confirms the reboot by the uptime going down, which the model does); a
# short reboot_timeout so that a model that never comes back fails in seconds.
HOST_DATA = {"fake_delay": 0, "fake_delay_jitter": 0, "reboot_delay": 0, "reboot_timeout": 10}

# What the simulated package sources offer (STAND-INs for the distro archive, the Miniconda
# download, the conda channel and PyPI). Versions are the real ones of the TF 2.1 era.
APT_ARCHIVE = {
    # 580: the branch `nvidia_driver_branch=auto` chooses for Maxwell to Blackwell (operations/util/driver_choice.py)
    "nvidia-driver-580": "580.95.05-0ubuntu0.18.04.1",
    "nvidia-driver-580-open": "580.95.05-0ubuntu0.18.04.1",
    "nvidia-driver-535": "535.183.01-0ubuntu0.18.04.1",
    "nvidia-driver-470": "470.256.02-0ubuntu0.18.04.1",
    "nvidia-driver-440": "440.100-0ubuntu0.18.04.1",
    "nvidia-driver-410": "410.48-0ubuntu1",
}
_DEFAULT_SOURCES = preset_sources("defaults")  # the installer data miniconda_url=None means
DOWNLOADS = {_DEFAULT_SOURCES["miniconda_url"]: _DEFAULT_SOURCES["miniconda_sha256"]}
MINICONDA = {"version": "4.8.3", "python": "3.7.6"}
CONDA_CHANNEL = {
    "python": [("3.7.16", "h7a1cb2a_0"), ("3.8.16", "h7a1cb2a_3"), (pypi_cu12.PYTHON, "h955ad1f_0")],
    "cudatoolkit": [("10.1.243", "h6bb024c_0"), ("10.2.89", "hfd86e86_1")],
    "cudnn": [("7.6.5", "cuda10.1_0"), ("7.6.5", "cuda10.2_0")],
}
# The CUDA library names each channel package puts into ENV/lib (what facts.cuda's globs list:
# sonames and the fully versioned files; COMPOSED after cudatoolkit 10.1.243 / cudnn 7.6.5).
PACKAGE_LIBRARIES = {
    ("cudatoolkit", "10.1.243"): [
        "libcudart.so.10.1", "libcudart.so.10.1.243", "libcublas.so.10", "libcublas.so.10.2.1.243",
        "libcufft.so.10", "libcufft.so.10.1.1.243", "libcurand.so.10", "libcurand.so.10.1.1.243",
        "libcusolver.so.10", "libcusolver.so.10.2.0.243", "libcusparse.so.10", "libcusparse.so.10.3.0.243"],
    ("cudatoolkit", "10.2.89"): [
        "libcudart.so.10.2", "libcudart.so.10.2.89", "libcublas.so.10", "libcublas.so.10.2.2.89",
        "libcufft.so.10", "libcufft.so.10.1.2.89", "libcurand.so.10", "libcurand.so.10.1.2.89",
        "libcusolver.so.10", "libcusolver.so.10.3.0.89", "libcusparse.so.10", "libcusparse.so.10.3.1.89"],
    ("cudnn", "7.6.5"): ["libcudnn.so.7", "libcudnn.so.7.6.5"],
}
# conda create puts pip and its friends into every new env
ENV_SEED = {"pip": ("22.3.1", "py37h06a4308_0"), "setuptools": ("65.6.3", "py37h06a4308_0"),
            "wheel": ("0.38.4", "py37h06a4308_0")}
ENV_SEEDS = {"3.7": ENV_SEED, "3.8": ENV_SEED,  # the py311 builds of the same era for a 3.11 env
             "3.11": {"pip": ("23.3.1", "py311h06a4308_0"), "setuptools": ("68.2.2", "py311h06a4308_0"),
                      "wheel": ("0.41.2", "py311h06a4308_0")}}
PYPI = {
    "tensorflow-gpu": ["2.1.0", "2.1.4"],
    "tensorflow": ["2.1.0"],
    "h5py": ["2.10.0", "3.8.0"],
    "numpy": ["1.18.5", "1.19.5", "1.21.6"],
    "pillow": ["9.5.0"],  # Pillow 10 has no cp37 wheels
    "scipy": ["1.4.1", "1.7.3"],
    "pandas": ["1.3.5"],
    "nvidia-ml-py": ["11.495.46", "12.535.133"],
    "protobuf": ["3.20.3", "4.24.4"],
    "gast": ["0.2.2", "0.4.0"],
}
# (name, version) -> Requires-Dist; the cp311 index (python 3.11 envs only) is the committed
# tensorflow 2.15.0.post1 lock's (tests/model/pypi_cu12.py)
PIP_DEPENDS = {**{(name, version): ["gast==0.2.2", "protobuf>=3.8.0"] for name in ("tensorflow-gpu", "tensorflow")
                  for version in ("2.1.0", "2.1.4")},
               **pypi_cu12.PIP_DEPENDS}
PYPI_BY_PYTHON = {"3.11": pypi_cu12.PYPI_CP311}
BACKUP_STAMP = "20260101T000000Z"  # what `date -u +%Y%m%dT%H%M%SZ` prints on the virtual host

# Facts: their commands are long scripts; the log keeps only the kind for them.
FACT_KINDS = {"GpuInfo", "CondaInstall", "CondaPackages", "PipPackages", "FileContent", "FileTexts", "FreeDisk",
              "LinuxDistribution", "Kernel", "Uptime", "GpuVerification", "StateFacts", "VerificationState",
              "RunLock", "lock_release",
              "SystemCuda"}
# facts/workstation.py's StateFacts: each part between these (the fact's own command inside)
PART_START = "_o=$( {\n"
PART_END = re.compile(r"\n\} 2>/dev/null \); _rc=\$\?\nprintf '@@gpuws-part (\d+) rc=%s\\n' \"\$_rc\"\n"
                      r"if \[ -n \"\$_o\" \]; then printf '%s\\n' \"\$_o\"; fi\n?")


class CommandRejected(Exception):
    """The command is one the model knows, but it fails on this state (like the real tool)."""

    def __init__(self, *stderr: str):
        super().__init__(stderr[0] if stderr else "")
        self.stderr = list(stderr)


class UnknownCommand(Exception):
    """The command matched a kind but not its expected shape: the model and the deploy differ."""


# ------------------------------------------------------------------------------- state builders

def new_state(hostname: str, gpus: list[dict] | None = None, driver: str | None = None,
              held: bool = True) -> dict:
    """A bare Ubuntu 18.04 workstation: these GPUs, this driver (installed from
    nvidia-driver-<major>, loaded, held), no conda."""
    gpus = gpus or []
    state = {
        "hostname": hostname,
        "distro": {"name": "Ubuntu", "id": "ubuntu", "version_id": "18.04", "codename": "bionic"},
        "pci": [{"slot": f"0000:{i + 1:02x}:00.0", "device": g.get("device", "0x1b06"), "class": "0x030000"}
                for i, g in enumerate(gpus)],
        "gpus": [{"name": g["name"], "memory_mib": g["memory_mib"], "cc": g["cc"],
                  "pci_bus_id": f"00000000:{i + 1:02X}:00.0"} for i, g in enumerate(gpus)],
        "driver": {"loaded": None, "packages": {}, "held": [], "reboot_required": []},
        "nouveau_loaded": False,
        "secure_boot": False,
        "free_mib": 200_000,
        "uptime": 86_400,
        "conda": None,
        "envs": {},
        "files": {},
        "checksums": {},
        "counters": {"reboots": 0, "initramfs": 0, "apt_update": 0},
    }
    if driver:
        branch = driver.split(".")[0]
        package_version = next(v for v in APT_ARCHIVE.values() if v.startswith(driver + "-"))
        for name in _driver_package_names(branch):
            state["driver"]["packages"][name] = package_version
        state["driver"]["loaded"] = driver
        if held:
            state["driver"]["held"] = [f"nvidia-driver-{branch}"]
    elif gpus:
        state["nouveau_loaded"] = True  # a fresh install drives the card with nouveau
    return state


def with_conda(state: dict, prefix: str = PREFIX) -> dict:
    state["conda"] = {"prefix": prefix, **MINICONDA}
    return state


def with_env(state: dict, name: str, python: str, conda: dict | None = None, pip: dict | None = None) -> dict:
    """An env `name` with this python (from the channel), seed packages, extra conda/pip packages."""
    record = next(r for r in CONDA_CHANNEL["python"] if r[0].startswith(python + ".") or r[0] == python)
    seed = ENV_SEEDS[".".join(record[0].split(".")[:2])]
    env = {"conda": {"python": list(record), **{k: list(v) for k, v in seed.items()}},
           "pip": {k: v[0] for k, v in seed.items()}}
    env["conda"].update({k: list(v) for k, v in (conda or {}).items()})
    env["pip"].update(pip or {})
    env["lib"] = sorted(lib for package, (version, _build) in env["conda"].items()
                        for lib in PACKAGE_LIBRARIES.get((package, version), []))
    state["envs"][name] = env
    return state


def link_package(env: dict, package: str, record: list) -> None:
    """Install (or reinstall) one package in an env: its record, and its ENV/lib files in place
    of the old version's."""
    old = env["conda"].get(package)
    kept = set(env.get("lib", []))
    if old is not None:
        kept -= set(PACKAGE_LIBRARIES.get((package, old[0]), []))
    env["conda"][package] = list(record)
    env["lib"] = sorted(kept | set(PACKAGE_LIBRARIES.get((package, record[0]), [])))


def _driver_package_names(branch: str) -> list[str]:
    # Ubuntu's metapackage and the two packages the GPU probe's dpkg-query patterns also list
    return [f"nvidia-driver-{branch}", f"nvidia-utils-{branch}", f"libnvidia-compute-{branch}"]


# ------------------------------------------------------------------------------- the mapping

class _LazyResponse(dict):
    """One command's answer: computed on the first `.get()`, from the command the connector has
    just recorded, and applied to the state once. A dict, because the connector reads
    success/stdout/stderr only from responses that are dicts."""

    def __init__(self, vhost: "VirtualHost", kind: str, handler):
        super().__init__()
        self.vhost, self.kind, self.handler = vhost, kind, handler
        self.result: dict | None = None

    def get(self, key, default=None):
        if self.result is None:
            self.result = self.vhost.execute(self.kind, self.handler)
        return self.result.get(key, default)


class VirtualHost(dict):
    """The `fake_responses` of one simulated workstation whose state is kept in `path` (JSON)."""

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        saved = json.loads(self.path.read_text())
        self.state: dict = saved["state"]
        self.runs: list = saved.get("runs", [])
        self.runs.append({"commands": []})  # one entry per pyinfra run (inventory import)
        self.save()

    @staticmethod
    def create(path: str | Path, state: dict) -> Path:
        path = Path(path)
        path.write_text(json.dumps({"state": state, "runs": []}, indent=1))
        return path

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def save(self) -> None:
        self.path.write_text(json.dumps({"state": self.state, "runs": self.runs}, indent=1))

    # The matchers, most specific first (the connector takes the first substring match). Long
    # fact scripts first: they contain words (printf, mkdir, nvidia-smi) that op commands use too.
    def _handlers(self):
        return [
            (HEREDOC_END, "GpuVerification", self._verification),
            (PART_START, "StateFacts", self._state_facts),
            ("@@gpuws-lock taken", "RunLock", self._run_lock),
            ("_first=; read -r _first _rest < ", "lock_release", self._lock_release),
            ("gpuws_fingerprint() {", "VerificationState", self._verification_state),
            ("echo '@@section toolkits rc=0'", "SystemCuda", lambda c: (render.system_cuda(self.state), [])),
            ("run_section smi_table", "GpuInfo", lambda c: (render.gpu_probe(self.state), [])),
            ("echo '@@section present rc=0'", "CondaInstall", self._conda_install_fact),
            ("echo '@@section records rc=0'", "CondaPackages", self._conda_packages_fact),
            ("printf '@@file absent %s\\n'", "FileTexts", self._file_contents_fact),
            ("run_section pip_list", "PipPackages", self._pip_fact),
            ("echo '@@section absent rc=0'", "FileContent", self._file_fact),
            ("df -Pk", "FreeDisk", self._free_disk_fact),
            ("ls -pdL *-release", "LinuxDistribution", lambda c: (render.os_release(self.state), [])),
            ("uname -s", "Kernel", lambda c: (["Linux"], [])),
            ("/proc/uptime", "Uptime", lambda c: ([str(self.state["uptime"])], [])),
            ("( sleep 1 && reboot )", "reboot", self._reboot),
            ("blacklist-nouveau.conf", "nouveau", self._nouveau),
            (" && printf %s ", "write_file", self._write_file),
            ("curl -fsSL", "download", self._download),
            ("sha256sum", "sha256", self._sha256),
            (" -b -p ", "miniconda_installer", self._installer),
            (" --export ", "env_backup", self._backup),
            (" create -y -q -n ", "conda_create", self._conda_create),
            (" remove -y -q -n ", "conda_remove", self._conda_remove),
            (" install -y -q -n ", "conda_install", self._conda_install),
            (" -m pip uninstall ", "pip_uninstall", self._pip_uninstall),
            (" -m pip install ", "pip_install", self._pip_install),
            ("apt-mark unhold ", "apt_unhold", self._apt_mark),
            ("apt-mark hold ", "apt_hold", self._apt_mark),
            ("apt-get update", "apt_update", self._apt_update),
            ("apt-get install ", "apt_install", self._apt_install),
            ("mkdir -p ", "mkdir", self._mkdir),
            ("printf '%s\\n' ", "fail_host", self._fail_host),
            ("", "UNKNOWN", None),  # every command matches "": the catch-all
        ]

    def items(self):
        for matcher, kind, handler in self._handlers():
            yield matcher, _LazyResponse(self, kind, handler)

    # The connector reads `data.get("fake_responses") or {}`: an empty-looking dict would be
    # replaced by {} (every command a silent success), so the mapping has the handlers' length.
    def __len__(self):
        return len(self._handlers())

    def __iter__(self):
        return (matcher for matcher, _kind, _handler in self._handlers())

    # -------------------------------------------------------------------------- execution

    def _current_command(self) -> str:
        from pyinfra.context import host

        connector = host.connector
        if connector.data.get("fake_responses") is not self:
            raise RuntimeError("the command being answered belongs to another host")
        return connector.executed_commands[-1]

    def execute(self, kind: str, handler) -> dict:
        command = self._current_command()
        self.state["uptime"] += 1  # time passes on the host with every command
        entry = {"kind": kind, "ok": True}
        try:
            if handler is None:
                raise UnknownCommand("no matcher")
            stdout, stderr = handler(command)
            result = {"success": True, "stdout": stdout, "stderr": stderr}
        except CommandRejected as rejected:
            result = {"success": False, "stdout": [], "stderr": rejected.stderr}
        except UnknownCommand as unknown:
            entry["kind"] = "UNKNOWN"
            entry["why"] = f"{kind}: {unknown}"
            result = {"success": False, "stdout": [], "stderr": [f"virtual host: unknown command ({kind}: {unknown})"]}
        entry["ok"] = result["success"]
        entry["command"] = command[:120] + " ..." if entry["kind"] in FACT_KINDS else command
        if not result["success"]:
            entry["stderr"] = result["stderr"]
        self.runs[-1]["commands"].append(entry)
        self.save()
        return result

    # -------------------------------------------------------------------------- fact answers

    def _conda_install_fact(self, command):
        return render.conda_install(self.state, _assigned(command, "P")), []

    def _conda_packages_fact(self, command):
        prefix = _assigned(command, "P") if "\nP=" in command else None
        return render.conda_packages(self.state, _assigned(command, "E"), prefix), []

    def _file_contents_fact(self, command):
        first = command.splitlines()[0]  # set -- PATH...
        words = shlex.split(first)
        if words[:2] != ["set", "--"]:
            raise UnknownCommand(first)
        return render.file_contents(self.state, words[2:]), []

    def _pip_fact(self, command):
        return render.pip_packages(self.state, _assigned(command, "PY")), []

    def _file_fact(self, command):
        return render.file_content(self.state, _assigned(command, "F")), []

    def _free_disk_fact(self, command):
        return render.free_disk(self.state, _assigned(command, "D")), []

    def _verification(self, command):
        python = shlex.split(command.splitlines()[0])[4]  # if [ ! -x PYTHON ]; then ...
        run_line = next(line for line in command.splitlines() if " - --params-json " in line)
        words = shlex.split(run_line.split(" <<", 1)[0])  # $_timeout PYTHON - --params-json JSON $_layers
        params = json.loads(words[words.index("--params-json") + 1])
        if params.get("verdict_path"):
            raise UnknownCommand("the program must not write the verdict: the operation does")
        lines, _verdict = render.verification(self.state, python, params)
        return [f"{FINGERPRINT_MARKER}{self._fingerprint(params['env_prefix'])}", *lines], []

    def _fingerprint(self, env_prefix: str) -> str:
        return fingerprint(self.state, env_prefix)

    def _verification_state(self, command):
        env = _assigned_after(command, "gpuws_fingerprint ")
        verdict_path = shlex.split(next(l for l in command.splitlines() if l.startswith("cat ")))[1]
        lines = [f"{FINGERPRINT_MARKER}{self._fingerprint(env)}"]
        if verdict_path in self.state["files"]:
            lines += self.state["files"][verdict_path].splitlines()
        return lines, []

    def _run_lock(self, command):
        """facts.host.RunLock: take the lock file when free or this run's; else say who holds it
        (the model's clock is its uptime: a lock is never stale within a test)."""
        path, run = _assigned(command, "L"), _assigned(command, "RUN")
        held = self.state["files"].get(path)
        if held is None or held.startswith(run + " "):
            self.state["files"][path] = (f"{run} {_assigned(command, 'PID')} {_assigned(command, 'CTL')} "
                                         f"2026-01-01T00:00:00Z {self.state['uptime']}\n")
            return ["@@gpuws-lock taken"], []
        return [f"@@gpuws-lock held {held.strip()}"], []

    def _lock_release(self, command):
        words = shlex.split(command)
        # _first=; read -r _first _rest < PATH 2>/dev/null; if [ "$_first" = RUN ]; then rm -f PATH; fi
        path = words[6] if len(words) == 19 else None
        if (path is None or words[:6] != ["_first=;", "read", "-r", "_first", "_rest", "<"]
                or words[7:12] != ["2>/dev/null;", "if", "[", "$_first", "="]
                or words[13:] != ["];", "then", "rm", "-f", path + ";", "fi"]):
            raise UnknownCommand(command)
        if (self.state["files"].get(path) or "").split(" ", 1)[0] == words[12]:
            del self.state["files"][path]
        return [], []

    def _state_facts(self, command):
        """One remote command, many facts: each part answered by the handler of its own fact."""
        out, rest = [], command
        while rest.startswith(PART_START):
            end = PART_END.search(rest)
            if end is None:
                raise UnknownCommand("a StateFacts part without its end marker")
            part, rest = rest[len(PART_START):end.start()], rest[end.end():]
            handler = next(h for m, k, h in self._handlers() if k not in ("StateFacts",) and m in part)
            if handler is None:
                raise UnknownCommand(f"no matcher for a part: {part[:80]}")
            try:
                stdout, _stderr = handler(part)
                rc = 0
            except CommandRejected:
                stdout, rc = [], 1
            out += [f"@@gpuws-part {end.group(1)} rc={rc}", *stdout]
        if rest.strip():
            raise UnknownCommand(f"text after the last part: {rest[:80]}")
        return out, []

    # -------------------------------------------------------------------------- driver

    def _apt_update(self, command):
        _expect(command, "DEBIAN_FRONTEND=noninteractive apt-get update -qq")
        self.state["counters"]["apt_update"] += 1
        return [], []

    def _apt_install(self, command):
        words = shlex.split(command)
        head = ["DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "--no-install-recommends", "--"]
        if words[: len(head)] != head or len(words) == len(head):
            raise UnknownCommand(command)
        driver = self.state["driver"]
        for package in words[len(head):]:
            if package not in APT_ARCHIVE:
                raise CommandRejected(f"E: Unable to locate package {package}")
            branch = package.rsplit("-", 1)[1]
            new = _driver_package_names(branch)
            # the branches' metapackages conflict: installing one removes the others, which apt
            # refuses for held packages
            replaced = [p for p in driver["packages"] if p not in new]
            if set(replaced) & set(driver["held"]):
                raise CommandRejected(
                    "E: Held packages were changed and -y was used without --allow-change-held-packages.")
            for name in replaced:
                del driver["packages"][name]
            for name in new:
                driver["packages"][name] = APT_ARCHIVE[package]
            driver["reboot_required"] = [f"nvidia-dkms-{branch}"]
        return [f"Setting up {p} ..." for p in words[len(head):]], []

    def _apt_mark(self, command):
        words = shlex.split(command)
        if words[:2] not in (["apt-mark", "hold"], ["apt-mark", "unhold"]) or words[2:3] != ["--"] or len(words) < 4:
            raise UnknownCommand(command)
        held = self.state["driver"]["held"]
        out = []
        for package in words[3:]:
            if package not in self.state["driver"]["packages"] and package not in APT_ARCHIVE:
                raise CommandRejected(f"E: Unable to locate package {package}")
            if words[1] == "hold":
                if package not in held:
                    held.append(package)
                out.append(f"{package} set on hold.")
            else:
                if package in held:
                    held.remove(package)
                out.append(f"Canceled hold on {package}.")
        return out, []

    def _nouveau(self, command):
        words = shlex.split(command)
        if words[:4] != ["if", "!", "grep", "-qsx"] or "update-initramfs" not in words:
            raise UnknownCommand(command)
        wanted, path = words[4], words[5]
        start = words.index("printf") + 2
        lines = words[start: words.index(">", start)]
        current = self.state["files"].get(path) or ""
        if wanted not in current.splitlines():
            self.state["files"][path] = "\n".join(lines) + "\n"
            self.state["counters"]["initramfs"] += 1
        return [], []

    def _reboot(self, command):
        _expect(command, "( sleep 1 && reboot ) </dev/null >/dev/null 2>&1 &")
        driver = self.state["driver"]
        # the newest installed module loads, unless Secure Boot refuses the unsigned DKMS build
        driver["loaded"] = None if self.state["secure_boot"] else render.installed_driver(self.state)
        blacklist = self.state["files"].get("/etc/modprobe.d/blacklist-nouveau.conf") or ""
        if "blacklist nouveau" in blacklist.splitlines() or driver["loaded"]:
            self.state["nouveau_loaded"] = False
        driver["reboot_required"] = []
        self.state["uptime"] = 0
        self.state["counters"]["reboots"] += 1
        return [], []

    # -------------------------------------------------------------------------- miniconda

    def _mkdir(self, command):
        words = shlex.split(command)
        if len(words) != 4 or words[:3] != ["mkdir", "-p", "--"]:
            raise UnknownCommand(command)
        return [], []

    def _download(self, command):
        words = shlex.split(command)
        at = words.index("-o")
        if words[at + 2] != "--":
            raise UnknownCommand(command)
        dest, url = words[at + 1], words[at + 3]
        if url not in DOWNLOADS:
            raise CommandRejected("curl: (22) The requested URL returned error: 404 Not Found")
        self.state["files"][dest] = f"#!/bin/sh\n# STAND-IN for {url}\n"
        self.state["checksums"][dest] = DOWNLOADS[url]
        return [], []

    def _sha256(self, command):
        words = shlex.split(command)
        if words[:2] != ["actual=$(sha256sum", "--"] or "!=" not in words:
            raise UnknownCommand(command)
        path, expected = words[2], words[words.index("!=") + 1]
        source = words[words.index("printf") + 2]
        actual = self.state["checksums"].get(path)
        if actual is None:
            raise CommandRejected(f"sha256sum: {path}: No such file or directory")
        if actual != expected:
            self.state["files"].pop(path, None)
            self.state["checksums"].pop(path, None)
            raise CommandRejected(
                f"checksum mismatch for {source}: expected {expected}, got {actual}; "
                "the download is corrupt or the mirror serves another file")
        return [], []

    def _installer(self, command):
        words = shlex.split(command)
        if words[:5] != ["umask", "022", "&&", "bash", "--"] or words[6:8] != ["-b", "-p"]:
            raise UnknownCommand(command)
        installer, prefix = words[5], words[8]
        if installer not in self.state["files"]:
            raise CommandRejected(f"bash: {installer}: No such file or directory")
        del self.state["files"][installer]
        self.state["checksums"].pop(installer, None)
        if self.state["conda"] is not None:
            raise CommandRejected(f"ERROR: File or directory already exists: '{prefix}'")
        with_conda(self.state, prefix)
        return ["PREFIX=" + prefix, "installation finished."], []

    # -------------------------------------------------------------------------- conda

    def _conda_words(self, command, verb):
        words = _as_root(shlex.split(command))
        conda = self.state["conda"]
        if conda is None or words[0] != f"{conda['prefix']}/bin/conda":
            raise CommandRejected(f"sh: 1: {words[0]}: not found")
        if words[1:5] != [verb, "-y", "-q", "-n"]:
            raise UnknownCommand(command)
        return words[5], words[6:]

    def _resolve_conda(self, spec: str) -> tuple[str, list]:
        parts = spec.split("=")
        name, version, build = parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else None
        for found_version, found_build in CONDA_CHANNEL.get(name, []):
            if (found_version == version or found_version.startswith(version + ".")) and build in (None, found_build):
                return name, [found_version, found_build]
        raise CommandRejected("PackagesNotFoundError: The following packages are not available from current channels:",
                              f"  - {spec}")

    def _conda_create(self, command):
        name, specs = self._conda_words(command, "create")
        if specs[:1] != ["--"]:
            raise UnknownCommand(command)
        specs = specs[1:]
        if name in self.state["envs"]:
            raise CommandRejected(f"CondaValueError: prefix already exists: {self.state['conda']['prefix']}/envs/{name}")
        # python first, then the stack's packages: one solve for all of them
        if not specs or not specs[0].startswith("python=") or any(s.startswith("-") for s in specs):
            raise UnknownCommand(command)
        resolved = dict(self._resolve_conda(spec) for spec in specs)  # all or nothing, like conda
        python = resolved.pop("python")[0]
        with_env(self.state, name, ".".join(python.split(".")[:2]), conda=resolved)
        self._touch(name)
        return [], []

    def _conda_remove(self, command):
        name, rest = self._conda_words(command, "remove")
        if rest != ["--all"]:
            raise UnknownCommand(command)
        if name not in self.state["envs"]:
            raise CommandRejected(f"EnvironmentLocationNotFound: Not a conda environment: {name}")
        del self.state["envs"][name]
        env_prefix = f"{self.state['conda']['prefix']}/envs/{name}/"
        for path in [p for p in self.state["files"] if p.startswith(env_prefix)]:
            del self.state["files"][path]
        return [], []

    def _conda_install(self, command):
        name, specs = self._conda_words(command, "install")
        env = self.state["envs"].get(name)
        if env is None:
            raise CommandRejected(f"EnvironmentLocationNotFound: Not a conda environment: {name}")
        force = specs[:1] == ["--force-reinstall"]
        specs = specs[1:] if force else specs
        if specs[:1] != ["--"]:
            raise UnknownCommand(command)
        specs = specs[1:]
        if not specs or any(s.startswith("-") for s in specs):
            raise UnknownCommand(command)
        resolved = dict(self._resolve_conda(spec) for spec in specs)
        for package, record in resolved.items():
            # conda leaves a package whose record matches alone (its deleted files stay deleted);
            # --force-reinstall relinks it, files and all
            if force or env["conda"].get(package) != record:
                link_package(env, package, record)
                self._touch(name)
        return [], []

    def _backup(self, command):
        words = shlex.split(command)
        conda = self.state["conda"]
        at = words.index("list")
        if conda is None or words[at - 1] != f"{conda['prefix']}/bin/conda" or words[at + 1] != "-n":
            raise UnknownCommand(command)
        name = words[at + 2]
        env = self.state["envs"].get(name)
        if env is None:
            raise CommandRejected(f"EnvironmentLocationNotFound: Not a conda environment: {name}")
        stem = f"{conda['prefix']}/envs/.gpuws-backup/{name}-{BACKUP_STAMP}"
        self.state["files"][f"{stem}.conda.txt"] = "".join(
            f"{pkg}={version}={build}\n" for pkg, (version, build) in sorted(env["conda"].items()))
        self.state["files"][f"{stem}.pip.txt"] = "".join(
            f"{pkg}=={version}\n" for pkg, version in sorted(env["pip"].items()))
        return [f"saved the package lists of the old env to {stem}.*.txt"], []

    # -------------------------------------------------------------------------- pip

    def _touch(self, env: str) -> None:
        """A package written into an env (by name, or by its python's path): new files and
        records, so new times in `ls -ln` of conda-meta and the dist-info folders, which the
        real fingerprint covers even when the versions end up as before."""
        name = env.rsplit("/bin/", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        writes = self.state.setdefault("counters", {}).setdefault("env_writes", {})
        writes[name] = writes.get(name, 0) + 1

    def _pip_env(self, words) -> dict:
        env = render.env_by_prefix(self.state, words[0].rsplit("/bin/", 1)[0])
        if env is None or render.python_of(env) is None:
            raise CommandRejected(f"sh: 1: {words[0]}: not found")
        return env

    def _pip_uninstall(self, command):
        words = _as_root(shlex.split(command))
        if words[1:7] != ["-m", "pip", "uninstall", "--disable-pip-version-check", "-y", "--"]:
            raise UnknownCommand(command)
        env = self._pip_env(words)
        out = []
        for name in words[7:]:
            if env["pip"].pop(canonicalize_name(name), None) is not None:
                out.append(f"  Successfully uninstalled {name}")
                self._touch(words[0])
        return out, []

    def _pip_install(self, command):
        words = _as_root(shlex.split(command))
        if words[1:7] != ["-m", "pip", "install", "--disable-pip-version-check", "-q", "-c"]:
            raise UnknownCommand(command)
        env = self._pip_env(words)
        constraints_path, rest = words[7], words[8:]
        if constraints_path not in self.state["files"]:
            raise CommandRejected(f"ERROR: Could not open requirements file: {constraints_path}")
        constraints: dict[str, SpecifierSet] = {}
        for line in self.state["files"][constraints_path].splitlines():
            if line.strip() and not line.startswith("#"):
                req = Requirement(line)
                key = canonicalize_name(req.name)
                constraints[key] = constraints.get(key, SpecifierSet()) & req.specifier
        # index options, then `--`, then only requirements
        while rest and rest[0] != "--":
            word = rest.pop(0)
            if word in ("--index-url", "--extra-index-url", "--find-links", "--trusted-host"):
                rest.pop(0)
            elif word != "--no-index":
                raise UnknownCommand(command)
        requirements = rest[1:]
        if not requirements:
            raise UnknownCommand(command)
        pending = [(Requirement(r), True) for r in requirements]
        # a 3.11 env sees the cp311 index only (TF 2.1's cp37 wheels do not install there)
        index = PYPI_BY_PYTHON.get(".".join(render.python_of(env).split(".")[:2]), PYPI)
        while pending:
            req, explicit = pending.pop(0)
            key = canonicalize_name(req.name)
            spec = req.specifier & constraints.get(key, SpecifierSet())
            have = env["pip"].get(key)
            if have is not None and spec.contains(have) and not explicit:
                continue  # a satisfied dependency stays
            candidates = [v for v in index.get(key, []) if spec.contains(v)]
            if not candidates:
                raise CommandRejected(f"ERROR: Could not find a version that satisfies the requirement {req}",
                                      f"ERROR: No matching distribution found for {req.name}")
            if have is None or not spec.contains(have):
                env["pip"][key] = max(candidates, key=Version)
                self._touch(words[0])
            # Requires-Dist of the version now installed, its extras' parts for the extras asked
            for dep in map(Requirement, PIP_DEPENDS.get((key, env["pip"][key]), [])):
                if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in req.extras or {""}):
                    pending.append((dep, False))
        return [], []

    # -------------------------------------------------------------------------- small files

    def _dir_exists(self, path: str) -> bool:
        conda = self.state["conda"]
        if conda is None:
            return False
        return path == conda["prefix"] or any(path == f"{conda['prefix']}/envs/{n}" for n in self.state["envs"])

    def _write_file(self, command):
        words = shlex.split(command)
        if words[0] == "cp":  # a takeover: `cp -p -- PATH PATH.gpuws-backup-$(date -u +FMT) || exit 1;` first
            path = words[3]
            if (words[:3] != ["cp", "-p", "--"] or words[4] != f"{path}.gpuws-backup-$(date"
                    or words[5:10] != ["-u", "+%Y%m%dT%H%M%SZ)", "||", "exit", "1;"]):
                raise UnknownCommand(command)
            if path not in self.state["files"]:
                raise CommandRejected(f"cp: cannot stat '{path}': No such file or directory")
            # the model's clock: one backup name per run
            self.state["files"][f"{path}.gpuws-backup-run{len(self.runs)}"] = self.state["files"][path]
            words = words[10:]
        if words[0] == "test":  # `test -d INSIDE || { printf ... >&2; exit 1; };` first
            inside, message = words[2], words[7]
            if words[:5] != ["test", "-d", inside, "||", "{"] or words[11] != "};":
                raise UnknownCommand(command)
            if not self._dir_exists(inside):
                raise CommandRejected(message)
            words = words[12:]
        # mkdir -p -- DIR && printf %s TEXT > TMP && chmod MODE -- TMP && mv -f -- TMP PATH
        # || { rm -f -- TMP; exit 1; }
        tmp = words[9] if len(words) == 30 else ""
        if (words[:3] != ["mkdir", "-p", "--"] or words[4:7] != ["&&", "printf", "%s"] or words[8] != ">"
                or words[10:12] != ["&&", "chmod"] or words[13:15] != ["--", tmp]
                or words[15:20] != ["&&", "mv", "-f", "--", tmp] or words[20] != tmp[: -len(".gpuws-new")]
                or words[21:] != ["||", "{", "rm", "-f", "--", tmp + ";", "exit", "1;", "}"]
                or not tmp.endswith(".gpuws-new")):
            raise UnknownCommand(command)
        self.state["files"][words[20]] = words[7]
        return [], []

    def _fail_host(self, command):
        words = shlex.split(command)
        if len(words) != 6 or words[0] != "printf" or words[3:] != [">&2;", "exit", "1"]:
            raise UnknownCommand(command)
        raise CommandRejected(words[2])


def _assigned(command: str, variable: str) -> str:
    """The value a fact script gives to VARIABLE on its first lines (`NAME='value'`)."""
    for line in command.splitlines():
        if line.startswith(f"{variable}="):
            return shlex.split(line[len(variable) + 1:])[0] if line[len(variable) + 1:] else ""
    raise UnknownCommand(f"no {variable}= in the fact's script")


def fingerprint(state: dict, env_prefix: str) -> str:
    """What facts.verification's gpuws_fingerprint covers: the loaded driver and the boot, the
    env's packages, the hook files (the model's stand-in for `ls -l` + cksum)."""
    name = env_prefix.rstrip("/").rsplit("/", 1)[-1]
    hooks = {p: t for p, t in state["files"].items() if p.startswith(env_prefix) and "/etc/conda/" in p}
    counters = state.get("counters", {})
    seen = [state["driver"]["loaded"], counters.get("reboots"), state["envs"].get(name), hooks,
            counters.get("env_writes", {}).get(name)]
    return hashlib.sha256(json.dumps(seen, sort_keys=True).encode()).hexdigest()[:12]


def _assigned_after(command: str, prefix: str) -> str:
    """The first argument after `prefix` on a line that uses it (the env of gpuws_fingerprint)."""
    for line in command.splitlines():
        if prefix in line and "() {" not in line:
            return shlex.split(line.split(prefix, 1)[1].rstrip(')"'))[0]
    raise UnknownCommand(f"no {prefix.strip()} call in the fact's script")


def _expect(command: str, wanted: str) -> None:
    if command != wanted:
        raise UnknownCommand(command)


# ------------------------------------------------------------------------------- named hosts

RTX_2080_TI = {"name": "GeForce RTX 2080 Ti", "memory_mib": 11019, "cc": "7.5", "device": "0x1e07"}
GTX_1080_TI = {"name": "GeForce GTX 1080 Ti", "memory_mib": 11178, "cc": "6.1", "device": "0x1b06"}
RTX_3090 = {"name": "GeForce RTX 3090", "memory_mib": 24576, "cc": "8.6", "device": "0x2204"}

# What a converged tf21 env holds besides the seed packages (the versions pip picks for the stack)
TF21_CONDA = {"cudatoolkit": ("10.1.243", "h6bb024c_0"), "cudnn": ("7.6.5", "cuda10.1_0")}
TF21_PIP = {"tensorflow-gpu": "2.1.0", "h5py": "2.10.0", "numpy": "1.19.5", "pillow": "9.5.0",
            "scipy": "1.4.1", "pandas": "1.3.5", "nvidia-ml-py": "11.495.46", "protobuf": "3.20.3",
            "gast": "0.2.2"}


def converged(hostname: str, gpu: dict = RTX_2080_TI, driver: str = "440.100") -> dict:
    """A workstation the tf21 deploy has already converged. The managed files' contents come from
    the project's own renderers: they are what a previous run would have written."""
    from operations.util.condarc import condarc_preset, render_condarc
    from operations.hooks import hook_paths, render_activate_hook, render_deactivate_hook

    state = with_env(with_conda(new_state(hostname, [gpu], driver)), "tf21", "3.7", TF21_CONDA, TF21_PIP)
    env = f"{PREFIX}/envs/tf21"
    activate, deactivate = hook_paths(env)
    state["files"].update({
        f"{PREFIX}/.condarc": render_condarc(**condarc_preset("defaults")),
        activate: render_activate_hook(env),
        deactivate: render_deactivate_hook(env),
    })
    # the passing verdict of the run that converged it, taken of this very state
    verdict = {"ok": True, "failed_layer": None, "hint": None, "layers": [], "tensorflow": "2.1.0",
               "gpu": gpu["name"], "checked_at": "2026-01-01T00:00:00Z", "fingerprint": fingerprint(state, env)}
    state["files"][f"{env}/etc/gpuws/last-verdict.json"] = json.dumps(verdict, sort_keys=True) + "\n"
    return state


def _as_root(words: list[str]) -> list[str]:
    """conda and pip as the deploy runs them as root: `umask 022 && TOOL ...`, python with -I (the
    working directory never on sys.path); a command without them is unknown to this model."""
    if words[:3] != ["umask", "022", "&&"]:
        raise UnknownCommand(" ".join(words))
    words = words[3:]
    if len(words) > 1 and words[0].endswith("/bin/python"):
        if words[1] != "-I":
            raise UnknownCommand(" ".join(words))
        words = words[:1] + words[2:]
    return words
