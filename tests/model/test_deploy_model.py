"""The virtual workstation itself: what it renders is what the project's facts parse, and a
command it does not know fails the run loudly instead of passing as a silent success.

If these fail, the scenario tests below them prove nothing: the model would be answering in a
format the facts do not read, or letting commands through unchecked.
"""

from __future__ import annotations

import json

from pyinfra.facts.server import LinuxDistribution

from facts.conda import CondaInstall, CondaPackages
from facts.files_state import FileContent, FileTexts
from facts.gpu import GpuInfo
from facts.host import FreeDisk
from facts.pip_env import PipPackages
from facts.verification import GpuVerification
from operations.driver import distro_driver_packages, reboot_pending
from operations.verify import verification_params
from stacks import resolve
from tests.model import render
from tests.model.virtual_host import (
    GTX_1080_TI,
    PREFIX,
    RTX_3090,
    converged,
    new_state,
)

ENV = f"{PREFIX}/envs/tf21"


def gpu_info(state):
    return GpuInfo().process(render.gpu_probe(state))


def test_gpu_probe_of_an_old_driver_names_the_card_by_lookup():
    info = gpu_info(converged("ws01"))  # 440.100: no compute_cap field, the nocc query answers
    assert info["error"] is None
    assert info["driver_version"] == "440.100"
    assert info["gpus"] == [{"index": 0, "name": "GeForce RTX 2080 Ti", "memory_mib": 11019,
                             "compute_capability": "7.5", "pci_bus_id": "00000000:01:00.0"}]
    assert info["driver_packages"]["nvidia-driver-440"] == "440.100-0ubuntu0.18.04.1"
    assert info["held_packages"] == ["nvidia-driver-440"]
    assert info["pci_devices"][0]["vendor"] == "0x10de"
    assert info["secure_boot"] is False and info["nvidia_module_loaded"] is True


def test_gpu_probe_of_a_new_driver_reports_compute_capability():
    info = gpu_info(new_state("amp01", [RTX_3090], "535.183.01"))
    assert info["query"][0]["compute_capability"] == "8.6"
    assert info["gpus"][0]["name"] == "NVIDIA GeForce RTX 3090"
    assert info["cuda_version"] == "12.2"


def test_gpu_probe_before_and_after_the_reboot():
    state = new_state("old01", [GTX_1080_TI], "410.48")
    state["driver"]["packages"] = {"nvidia-driver-535": "535.183.01-0ubuntu0.18.04.1"}
    state["driver"]["reboot_required"] = ["nvidia-dkms-535"]
    info = gpu_info(state)  # packages upgraded, the old module still loaded
    assert "version mismatch" in info["error"]
    assert info["driver_version"] == "410.48" and info["source"] == "proc"
    assert reboot_pending(info) == (True, "535.183.01", "410.48")

    state["driver"]["loaded"] = None  # installed, no module at all
    info = gpu_info(state)
    assert "couldn't communicate" in info["error"] and info["driver_version"] is None

    state["driver"].update(loaded="535.183.01", reboot_required=[])
    assert reboot_pending(gpu_info(state))[0] is False


def test_gpu_probe_of_a_cpu_only_host():
    info = gpu_info(new_state("cpu01"))
    assert info["pci_devices"] == [] and info["gpus"] == [] and info["smi"] is None
    assert info["driver_packages"] == {}


def test_conda_facts_read_back_the_state():
    state = converged("ws01")
    install = CondaInstall().process(render.conda_install(state, PREFIX))
    assert install["present"] and install["version"] == "4.8.3"
    assert install["envs"][1] == {"name": "tf21", "path": ENV, "python": "3.7.16"}
    assert install["condarc"] == state["files"][f"{PREFIX}/.condarc"]
    packages = CondaPackages().process(render.conda_packages(state, ENV))["packages"]
    assert packages["cudnn"] == {"version": "7.6.5", "build": "cuda10.1_0"}
    assert CondaInstall().process(render.conda_install(new_state("x"), PREFIX))["present"] is False
    assert CondaPackages().process(render.conda_packages(state, f"{PREFIX}/envs/other"))["present"] is False
    # with the root prefix (the env operation's one read): conda, the env, its python
    env = CondaPackages().process(render.conda_packages(state, ENV, PREFIX))
    assert (env["conda"], env["present"], env["python"]) == (True, True, "3.7.16")
    assert env["packages"] == packages
    # ENV/lib's CUDA library names follow the installed packages; a deleted one is not listed
    assert env["libraries"] == sorted(state["envs"]["tf21"]["lib"])
    assert {"libcudart.so.10.1", "libcudnn.so.7", "libcusparse.so.10"} <= set(env["libraries"])
    state["envs"]["tf21"]["lib"].remove("libcudnn.so.7")
    after_rm = CondaPackages().process(render.conda_packages(state, ENV, PREFIX))
    assert "libcudnn.so.7" not in after_rm["libraries"] and after_rm["packages"] == packages
    bare = CondaPackages().process(render.conda_packages(new_state("x"), ENV, PREFIX))
    assert (bare["conda"], bare["present"], bare["python"]) == (False, False, None)
    assert CondaPackages().process(render.conda_packages(state, ENV))["conda"] is None


def test_pip_file_disk_and_distro_facts_read_back_the_state():
    state = converged("ws01")
    pip = PipPackages().process(render.pip_packages(state, f"{ENV}/bin/python"))
    assert pip["python"] == "3.7.16" and pip["packages"]["tensorflow-gpu"] == "2.1.0"
    hook = f"{ENV}/etc/conda/activate.d/gpuws-cuda.sh"
    assert FileContent().process(render.file_content(state, hook)) == state["files"][hook]
    assert FileContent().process(render.file_content(state, "/nope")) is None
    deactivate = f"{ENV}/etc/conda/deactivate.d/gpuws-cuda.sh"
    state["files"]["/tmp/no-newline"] = "last line"
    paths = [hook, deactivate, "/nope", "/tmp/no-newline"]
    assert FileTexts().process(render.file_contents(state, paths)) == {
        path: FileContent().process(render.file_content(state, path)) for path in paths}
    assert FreeDisk().process(render.free_disk(state, "/opt"))["free_mib"] == state["free_mib"]
    distro = LinuxDistribution().process(render.os_release(state))
    assert distro["name"] == "Ubuntu" and distro["major"] == 18
    assert distro_driver_packages(distro) == ("apt", ["nvidia-driver-{branch}"])


def test_verdict_has_the_scripts_shape_and_follows_the_state():
    state = converged("ws01")
    params = verification_params(ENV, resolve("tf21"))
    verdict = GpuVerification().process(render.verification(state, f"{ENV}/bin/python", params)[0])
    assert verdict["ok"] is True and [layer["name"] for layer in verdict["layers"]] == [
        "driver", "cuda_driver", "libraries", "tensorflow", "compute"]

    del state["files"][f"{ENV}/etc/conda/activate.d/gpuws-cuda.sh"]
    verdict = GpuVerification().process(render.verification(state, f"{ENV}/bin/python", params)[0])
    assert verdict["ok"] is False and verdict["failed_layer"] == "libraries"

    state["envs"].clear()
    verdict = GpuVerification().process(render.verification(state, f"{ENV}/bin/python", params)[0])
    assert verdict["failed_layer"] == "environment"


def test_an_unknown_command_fails_the_host_and_is_recorded(run_deploy):
    run = run_deploy({"ws01": converged("ws01")}, target=("exec", "--", "rm", "-rf", "/srv"),
                     check_unknown=False)
    assert run.returncode == 1
    assert run.unknown() == {"ws01": [{"kind": "UNKNOWN", "ok": False, "why": "UNKNOWN: no matcher",
                                       "command": "rm -rf /srv",
                                       "stderr": ["virtual host: unknown command (UNKNOWN: no matcher)"]}]}


def test_a_known_command_of_the_wrong_shape_is_unknown_too(run_deploy):
    # "apt-get install" is known, but only in the shape the driver operation writes it
    run = run_deploy({"ws01": converged("ws01")}, target=("exec", "--", "apt-get", "install", "nvidia-driver-535"),
                     check_unknown=False)
    assert run.returncode == 1
    assert [c["why"] for c in run.unknown()["ws01"]] == ["apt_install: apt-get install nvidia-driver-535"]
    assert json.dumps(run.states["ws01"]["driver"]) == json.dumps(converged("ws01")["driver"])
