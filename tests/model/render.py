"""Raw command outputs of a simulated workstation, in exactly the formats the facts parse.

Each function takes the virtual host's state (see virtual_host.py) and returns the output lines of
one remote command. Markers, field lists and names come from the facts themselves (facts/_sections,
facts/gpu.QUERY_FIELDS, facts/verification markers, ...), so the model cannot drift from them; the
texts that are nvidia-smi's, dpkg's or pip's own follow the captured fixtures in
tests/fixtures/ (STAND-IN outputs of a simulated machine: there is no GPU here).
tests/model/test_deploy_model.py feeds every renderer's output to the fact's own `process()` and checks
that the state comes back.
"""

from __future__ import annotations

import json

from packaging.version import Version

from facts._sections import END_MARKER
from facts.gpu import QUERY_FIELDS, QUERY_FIELDS_WITHOUT_CC
from facts.verification import EXIT_MARKER, NO_PYTHON_MARKER
from facts.verify import base, framework, libraries
from facts.verify.verdict import run_layers
from tests.model import pypi_cu12

# The driver generation at which each nvidia-smi behaviour starts: `--query-gpu=compute_cap` is
# unknown to drivers <= 470 (exit 2, https://github.com/NVIDIA/TensorRT-LLM/pull/735), and GPU names
# gained the "NVIDIA " prefix around the 495 series (https://github.com/NVIDIA/nvidia-docker/issues/1632).
COMPUTE_CAP_FROM = Version("510")
NVIDIA_PREFIX_FROM = Version("495")


def section(name: str, rc: int, lines: list[str] | None = None) -> list[str]:
    """One part of a multi-part probe: the `@@section NAME rc=N` marker, then its text."""
    return [f"@@section {name} rc={rc}", *(lines or [])]


def cuda_for_driver(driver: str) -> str:
    """The highest CUDA a driver supports, as nvidia-smi's header prints it (NVIDIA Table 3)."""
    major = Version(driver).major
    for floor, cuda in ((535, "12.2"), (470, "11.4"), (450, "11.0"), (440, "10.2"), (418, "10.1"), (410, "10.0")):
        if major >= floor:
            return cuda
    return "9.2"


def smi_name(gpu: dict, driver: str) -> str:
    """The GPU name as this driver prints it ("GeForce RTX 2080 Ti" / "NVIDIA GeForce RTX 3090")."""
    if Version(driver) >= NVIDIA_PREFIX_FROM and not gpu["name"].startswith("NVIDIA "):
        return "NVIDIA " + gpu["name"]
    return gpu["name"]


def smi_table(state: dict) -> list[str]:
    """Plain `nvidia-smi` in the R440-era layout (fixture smi_standin_440.100.txt)."""
    driver = state["driver"]["loaded"]
    cuda = cuda_for_driver(driver)
    lines = [
        "+-----------------------------------------------------------------------------+",
        f"| NVIDIA-SMI {driver:<12} Driver Version: {driver:<12} CUDA Version: {cuda:<8} |",
        "|-------------------------------+----------------------+----------------------+",
        "| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |",
        "| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |",
        "|===============================+======================+======================|",
    ]
    for index, gpu in enumerate(state["gpus"]):
        memory = f"0MiB / {gpu['memory_mib']}MiB"
        lines += [
            f"| {index:>3}  {smi_name(gpu, driver)} Off  | {gpu['pci_bus_id']} Off |                  N/A |",
            f"|  0%   34C    P8     9W / 250W | {memory:>20} |      0%      Default |",
            "+-------------------------------+----------------------+----------------------+",
        ]
    return lines


def smi_query(state: dict, with_cc: bool) -> list[str]:
    """`nvidia-smi --query-gpu=<QUERY_FIELDS> --format=csv,noheader,nounits`."""
    driver = state["driver"]["loaded"]
    rows = []
    for index, gpu in enumerate(state["gpus"]):
        values = {
            "index": str(index),
            "name": smi_name(gpu, driver),
            "driver_version": driver,
            "memory.total": str(gpu["memory_mib"]),
            "pci.bus_id": gpu["pci_bus_id"],
            "compute_cap": gpu["cc"],
        }
        fields = QUERY_FIELDS if with_cc else QUERY_FIELDS_WITHOUT_CC
        rows.append(", ".join(values[field] for field in fields))
    return rows


def proc_version(driver: str) -> list[str]:
    return [
        f"NVRM version: NVIDIA UNIX x86_64 Kernel Module  {driver}  Thu May 14 22:53:51 UTC 2020",
        "GCC version:  gcc version 7.5.0 (Ubuntu 7.5.0-3ubuntu1~18.04)",
    ]


def installed_driver(state: dict) -> str | None:
    """The newest upstream driver version among the installed packages (what a reboot loads)."""
    versions = [v.split("-", 1)[0] for v in state["driver"]["packages"].values()]
    return max(versions, key=Version) if versions else None


# A WSL2 guest's kernel release (Microsoft's WSL2 kernel, https://github.com/microsoft/WSL2-Linux-Kernel)
# and Ubuntu 18.04's own (linux-image-4.15.0-*-generic)
WSL_KERNEL = "5.15.153.1-microsoft-standard-WSL2"
UBUNTU_KERNEL = "4.15.0-213-generic"


def who(users: list[str]) -> list[str]:
    """`who`: one utmp session per line (coreutils' layout: name, line, login time, host)."""
    return [f"{name:<8} pts/{i}        2026-01-05 09:{10 + i:02d} (10.0.0.{5 + i})" for i, name in enumerate(users)]


def gpu_probe(state: dict) -> list[str]:
    """The output of facts.gpu.GPU_PROBE_SCRIPT (fact GpuInfo).

    State keys besides the driver's: ``users`` (logged-in people, as `who` lists them),
    ``gpu_processes`` ([[pid, name]]: compute jobs on the GPU), ``wsl`` (a WSL2 guest: /dev/dxg,
    a Microsoft kernel, the Windows driver's nvidia-smi in /usr/lib/wsl/lib, no PCI device and no
    Linux driver package; ``driver.loaded`` is then the Windows driver's version).
    """
    driver = state["driver"]
    wsl = bool(state.get("wsl"))
    processes = [f"{pid}, {name}" for pid, name in state.get("gpu_processes") or []]
    out = section("pci", 0, [f"{d['slot']} 0x10de {d['device']} {d['class']}" for d in state["pci"]])
    out += section("kernel", 0, [f"dxg={'yes' if wsl else 'no'}", f"release={WSL_KERNEL if wsl else UBUNTU_KERNEL}"])
    if wsl:
        if driver["loaded"]:  # the Windows driver maps its nvidia-smi into the guest
            out += section("smi_path", 0, ["/usr/lib/wsl/lib/nvidia-smi"])
            out += section("smi_table", 0, smi_table(state)) + section("smi_query", 0, smi_query(state, True))
            out += section("gpu_apps", 0, processes)
        out += section("modules", 0, ["nouveau=no", "nvidia=no"])
        out += section("dpkg", 1, ["dpkg-query: no packages found matching nvidia-driver-*"]) + section("held", 0, [])
        out += section("users", 0, who(state.get("users") or []))
        return out + [END_MARKER]
    if driver["packages"]:  # nvidia-utils brings /usr/bin/nvidia-smi
        out += section("smi_path", 0, ["/usr/bin/nvidia-smi"])
        loaded, installed = driver["loaded"], installed_driver(state)
        if loaded is None:
            error = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                     "Make sure that the latest NVIDIA driver is installed and running.")
            out += section("smi_table", 9, [error]) + section("smi_query", 9, [error]) + section("gpu_apps", 9, [error])
        elif loaded != installed:  # user space upgraded, old module still in the kernel
            error = ["Failed to initialize NVML: Driver/library version mismatch",
                     f"NVML library version: {installed}"]
            out += section("smi_table", 18, error) + section("smi_query", 18, error) + section("gpu_apps", 18, error)
        elif Version(loaded) >= COMPUTE_CAP_FROM:
            out += section("smi_table", 0, smi_table(state)) + section("smi_query", 0, smi_query(state, True))
            out += section("gpu_apps", 0, processes)
        else:
            out += section("smi_table", 0, smi_table(state))
            out += section("smi_query", 2, ['Field "compute_cap" is not a valid field to query.', ""])
            out += section("smi_query_nocc", 0, smi_query(state, False))
            out += section("gpu_apps", 0, processes)
    if driver["loaded"]:
        out += section("proc_version", 0, proc_version(driver["loaded"]))
    out += section("modules", 0, [
        f"nouveau={'yes' if state['nouveau_loaded'] else 'no'}",
        f"nvidia={'yes' if driver['loaded'] else 'no'}",
    ])
    if driver["loaded"] and driver["loaded"] != installed_driver(state):
        # nvidia-smi cannot list the GPU's processes: the probe lists /dev/nvidiaN holders
        out += section("gpu_fds", 0, processes)
    out += section("mokutil", 0, [f"SecureBoot {'enabled' if state['secure_boot'] else 'disabled'}"])
    dpkg = [
        f"{'hold' if name in driver['held'] else 'install'} ok installed {name} {version}"
        for name, version in sorted(driver["packages"].items())
    ]
    # dpkg-query exits 1 and says so when no package matches its patterns
    out += section("dpkg", 0, dpkg) if dpkg else section(
        "dpkg", 1, ["dpkg-query: no packages found matching nvidia-driver-*"])
    out += section("held", 0, sorted(driver["held"]))
    out += section("users", 0, who(state.get("users") or []))
    if driver["reboot_required"]:
        out += section("reboot_required", 0, driver["reboot_required"])
    return out + [END_MARKER]


def conda_install(state: dict, prefix: str) -> list[str]:
    """The output of facts.conda.CondaInstall's script for `prefix`."""
    conda = state["conda"]
    out = section("prefix", 0, [prefix])
    present = conda is not None and conda["prefix"] == prefix
    if present:
        out += section("exists", 0) + section("present", 0)
        out += section("base", 0, [
            f"conda-{conda['version']}-py37_0.json",
            f"python-{conda['python']}-h0371630_2.json",
        ])
        out += section("envs", 0)
        for name, env in sorted(state["envs"].items()):
            out.append(f"env {prefix}/envs/{name}")
            if "python" in env["conda"]:
                version, build = env["conda"]["python"]
                out.append(f"record python-{version}-{build}.json")
        # facts/ownership.py's stat lines: root-owned 755 unless the state says otherwise
        owners = {prefix: [0, "755", "root"], **state.get("owners", {})}
        out += section("uid", 0, ["0"]) + section("owners", 0, [
            f"own {uid} {mode} {user} {path}" for path, (uid, mode, user) in sorted(owners.items())])
        condarc = state["files"].get(f"{prefix}/.condarc")
        if condarc is not None:
            out += section("condarc", 0, condarc.splitlines())
    else:
        out += section("base", 0) + section("envs", 0)
    return out + [END_MARKER]


def conda_packages(state: dict, env_prefix: str, prefix: str | None = None) -> list[str]:
    """The output of facts.conda.CondaPackages: with the root prefix, whether conda is there;
    then the env's conda-meta record file names and the CUDA library names in its lib folder (in
    the shell glob's order: libcu*, then the unmatched libnvrtc*/libnvinfer* globs)."""
    out = []
    if prefix is not None:
        conda = state["conda"]
        out += section("conda", 0 if conda is not None and conda["prefix"] == prefix else 1)
    env = env_by_prefix(state, env_prefix)
    if env is None:
        return out + [END_MARKER]
    records = [f"{name}-{version}-{build}.json" for name, (version, build) in sorted(env["conda"].items())]
    libraries = sorted(env.get("lib", [])) + ["libnvrtc*.so.*", "libnvinfer*.so.*"]
    return out + section("records", 0, records) + section("libraries", 0, libraries) + [END_MARKER]


def pip_packages(state: dict, python: str) -> list[str]:
    """The output of facts.pip_env.PipPackages in a conda env: conda's record of python and the
    metadata scan's NAME VERSION lines (pip itself is a conda package of the env)."""
    env = env_by_prefix(state, python.rsplit("/bin/", 1)[0])
    if python_of(env) is None:
        return [END_MARKER]
    owner = state.get("owners", {}).get(python)
    if owner and (owner[0] != 0 or int(owner[1], 8) & 0o022):  # the fact's find: python not started
        return section("unsafe", 1, [python]) + [END_MARKER]
    version, build = env["conda"]["python"]
    listing = [f"{name} {version}" for name, version in sorted({"pip": "20.0.2", **env["pip"]}.items())]
    return (section("conda_python", 0, [f"python-{version}-{build}.json"])
            + section("distributions", 0, listing) + [END_MARKER])


def system_cuda(state: dict) -> list[str]:
    """The output of facts.cuda.SystemCuda on a host without a system CUDA toolkit (the fleet
    report reads it): no nvcc, no version file, no cuDNN header, no toolkit folder."""
    return ["@@section toolkits rc=0", "@@section ld_library_path rc=0", state.get("ld_library_path", ""), "@@end"]


def file_content(state: dict, path: str) -> list[str]:
    """The output of facts.files_state.FileContent: the file, plus the script's extra echo."""
    content = state["files"].get(path)
    if content is None:
        return ["@@section absent rc=0"]
    return ["@@section content rc=0", *content.split("\n"), END_MARKER]


def file_contents(state: dict, paths: list[str]) -> list[str]:
    """The output of facts.files_state.FileTexts: per file a header with its line count (the
    file's lines plus the script's extra echo), then the file."""
    out = []
    for path in paths:
        content = state["files"].get(path)
        if content is None:
            out.append(f"@@file absent {path}")
            continue
        lines = content.split("\n")  # "a\nb\n" -> a, b, "" (the echo ends the last line)
        out += [f"@@file content {len(lines)} {path}", *lines]
    return out + [END_MARKER]


def free_disk(state: dict, path: str) -> list[str]:
    """The output of facts.host.FreeDisk (df -Pk of the nearest existing parent)."""
    free_kib = state["free_mib"] * 1024
    total_kib = max(free_kib * 2, 100 * 1024 * 1024)
    return (section("path", 0, [path]) + section("checked", 0, [path]) + section("df", 0, [
        "Filesystem     1024-blocks      Used Available Capacity Mounted on",
        f"/dev/nvme0n1p2 {total_kib} {total_kib - free_kib} {free_kib} 50% /",
    ]) + [END_MARKER])


def os_release(state: dict) -> list[str]:
    """The output of pyinfra's server.LinuxDistribution (each /etc/*-release file, then ---)."""
    distro = state["distro"]
    return [
        "/etc/os-release",
        f'NAME="{distro["name"]}"',
        f'VERSION="{distro["version_id"]} LTS ({distro["codename"]})"',
        f"ID={distro['id']}",
        "ID_LIKE=debian",
        f'VERSION_ID="{distro["version_id"]}"',
        f"VERSION_CODENAME={distro['codename']}",
        "---",
    ]


def python_of(env: dict | None) -> str | None:
    """An env's python version: its conda `python` record (None: no env, or an empty one)."""
    record = (env or {}).get("conda", {}).get("python")
    return record[0] if record else None


def env_by_prefix(state: dict, env_prefix: str) -> dict | None:
    conda = state["conda"]
    if conda is None:
        return None
    for name, env in state["envs"].items():
        if f"{conda['prefix']}/envs/{name}" == env_prefix.rstrip("/"):
            return env
    return None


# --------------------------------------------------------------------------- the verification


def verdict(state: dict, python: str, params: dict) -> dict:
    """The verdict the real script would print on this state, layer by layer."""
    env = env_by_prefix(state, params["env_prefix"])
    hook = state["files"].get(f"{params['env_prefix']}/etc/conda/activate.d/gpuws-cuda.sh")
    fail = base.LayerFailure

    def driver_layer(params, found):
        loaded = state["driver"]["loaded"]
        # inside WSL2 the Windows driver answers and no Linux user space is installed to mismatch it
        if loaded is None or (loaded != installed_driver(state) and not state.get("wsl")):
            raise fail("NVML: Driver/library version mismatch" if loaded else "NVML: Driver Not Loaded",
                       base.HINT_DRIVER_UNREACHABLE)
        if not state["gpus"]:
            raise fail("no GPU", base.HINT_NO_DEVICE)
        found["driver_version"] = loaded
        found["gpu"] = smi_name(state["gpus"][0], loaded)
        return f"driver {loaded}, {len(state['gpus'])} GPU(s)"

    def cuda_driver_layer(params, found):
        cuda = cuda_for_driver(state["driver"]["loaded"])
        found["cuda_driver"] = cuda
        if Version(cuda) < Version(params["min_cuda_driver"]):
            raise fail(f"CUDA driver API {cuda} < {params['min_cuda_driver']}", "upgrade the driver")
        return f"CUDA driver API {cuda}"

    def libraries_layer(params, found):
        # the nvidia-* wheels' libraries load only through the hook's site-packages/nvidia/*/lib
        wheels = pypi_cu12.wheel_libraries(env["pip"]) if hook and "/site-packages/nvidia/*/lib" in hook else set()
        for soname in params["libraries"]:
            # without the activation hook ENV/lib is not on the loader path
            if hook is None or soname not in set(env.get("lib", [])) | wheels:
                raise fail(f"{soname} does not load: {soname}: cannot open shared object file",
                           libraries.library_hint(soname, params["env_prefix"]))
        return "loaded: " + ", ".join(f"{s} (env)" for s in params["libraries"])

    def tensorflow_layer(params, found):
        pip = env["pip"]
        # TF 2.1 comes as tensorflow-gpu, 2.15 as tensorflow (the same import name)
        package = next((name for name in ("tensorflow-gpu", "tensorflow") if name in pip), None)
        if package is None:
            message = "ModuleNotFoundError: No module named 'tensorflow'"
            raise fail("import tensorflow failed: " + message, framework.import_hint(message, params["tensorflow"]))
        if Version(pip[package]) < Version("2.10") and Version(pip.get("protobuf", "0")) >= Version("3.21"):
            message = "TypeError: Descriptors cannot not be created directly."
            raise fail("import tensorflow failed: " + message, framework.import_hint(message, params["tensorflow"]))
        found["tensorflow"] = pip[package]
        if found["tensorflow"] != params["tensorflow"]:
            raise fail(f"tensorflow {found['tensorflow']} != {params['tensorflow']}", "re-run the deploy")
        return f"tensorflow {found['tensorflow']} built with CUDA, 1 GPU"

    def compute_layer(params, found):
        return "256x256 matmul on /GPU:0 matches the CPU (max abs diff 0)"

    checks = (("driver", driver_layer), ("cuda_driver", cuda_driver_layer), ("libraries", libraries_layer),
              ("tensorflow", tensorflow_layer), ("compute", compute_layer))
    result = run_layers(params, checks)
    result.update(host=state["hostname"], python=python_of(env), checked_at="2026-01-01T00:00:00Z")
    return result


def verification(state: dict, python: str, params: dict) -> tuple[list[str], dict | None]:
    """The output of facts.verification.GpuVerification, and the verdict (None: no python)."""
    env = env_by_prefix(state, params["env_prefix"])
    if python_of(env) is None:
        return [NO_PYTHON_MARKER], None
    result = verdict(state, python, params)
    return [json.dumps(result, sort_keys=True), f"{EXIT_MARKER}{0 if result['ok'] else 3}"], result
