"""Deploy scenarios for the driver branch per GPU generation, the reboot guard and WSL2 (@fake).

The real `pyinfra INVENTORY deploys/tf21.py -y` against simulated workstations (virtual_host.py):
the branch comes from NVIDIA's supported-chips lists applied to the host's PCI device ids
(operations/util/driver_choice.py); a host the chosen or given branch cannot serve fails before
any change; a reboot is not forced on people; inside WSL2 nothing is installed.
"""

from __future__ import annotations

from tests.model.virtual_host import new_state

# PCI device ids as NVIDIA's supported-gpus.json lists them (stacks/data/nvidia_supported_gpus.json)
TESLA_K80 = {"name": "Tesla K80", "memory_mib": 11441, "cc": "3.7", "device": "0x102d"}
GTX_1080 = {"name": "GeForce GTX 1080", "memory_mib": 8119, "cc": "6.1", "device": "0x1b80"}
RTX_5090 = {"name": "GeForce RTX 5090", "memory_mib": 32607, "cc": "12.0", "device": "0x2b85"}

# what may not happen on a host that must fail before any change
CHANGING_KINDS = {"apt_unhold", "apt_hold", "apt_update", "apt_install", "nouveau", "reboot", "mkdir",
                  "download", "sha256", "miniconda_installer", "write_file", "conda_create", "conda_install",
                  "pip_install"}


def k80_on_418(name: str) -> dict:
    """A Tesla K80 box of the CUDA 10.1 era: driver 418.87.01 from nvidia-driver-418, loaded and held."""
    state = new_state(name, [TESLA_K80])
    version = "418.87.01-0ubuntu1"
    state["driver"].update(loaded="418.87.01", held=["nvidia-driver-418"], packages={
        name: version for name in ("nvidia-driver-418", "nvidia-utils-418", "libnvidia-compute-418")})
    state["nouveau_loaded"] = False
    return state


def installs(run, host: str) -> list[str]:
    return [c["command"] for c in run.op_commands(host) if c["kind"] == "apt_install"]


def assert_failed_before_any_change(run, host: str, message: str) -> None:
    assert run.returncode == 1, run.describe()
    assert [c["kind"] for c in run.op_commands(host)] == ["fail_host"], run.describe()
    assert not CHANGING_KINDS & set(run.kinds(host))
    assert run.host_lines(host).count(f"[@fake/{host}] {message}") == 1, run.describe()


def test_k80_on_418_is_upgraded_to_470_the_legacy_branch_and_a_second_run_changes_nothing(run_deploy):
    run = run_deploy({"k80": k80_on_418("k80")})

    assert run.returncode == 0, run.describe()
    [install] = installs(run, "k80")
    assert install.split()[-1] == "nvidia-driver-470"  # not 535/580: NVIDIA moved Kepler to 470.xx legacy
    state = run.states["k80"]
    assert state["driver"]["loaded"] == "470.256.02" and state["driver"]["held"] == ["nvidia-driver-470"]
    assert "nvidia-driver-418" not in state["driver"]["packages"] and state["counters"]["reboots"] == 1
    assert run_deploy(["k80"]).changed("k80") == []


def test_gtx1080_on_410_gets_the_automatic_branch_580(run_deploy):
    run = run_deploy({"p01": new_state("p01", [GTX_1080], "410.48")})

    assert run.returncode == 0, run.describe()
    [install] = installs(run, "p01")
    assert install.split()[-1] == "nvidia-driver-580"  # R580: long-term, NVIDIA's last branch for Pascal
    assert run.states["p01"]["driver"]["loaded"] == "580.95.05"
    again = run_deploy(["p01"])
    again.assert_no_change("p01")


def test_rtx5090_is_refused_for_tf21_before_any_change(run_deploy):
    run = run_deploy({"bw01": new_state("bw01", [RTX_5090], "580.95.05")})

    message = next(line for line in run.host_lines("bw01") if "compute capability 12.0" in line)
    assert "GeForce RTX 5090" in message and "tf21" in message
    assert_failed_before_any_change(run, "bw01", message.split("] ", 1)[1])
    assert run.states["bw01"]["driver"]["loaded"] == "580.95.05"


def test_explicit_branch_535_on_a_k80_fails_that_host_before_any_change(run_deploy):
    run = run_deploy({"k80": k80_on_418("k80"), "p01": new_state("p01", [GTX_1080], "410.48")},
                     "--data", "nvidia_driver_branch=535")

    assert_failed_before_any_change(run, "k80", (
        "driver branch 535 cannot drive Tesla K80 (0x102d): NVIDIA's lists drive it with 390 to 470 "
        "(branch set by nvidia_driver_branch); use nvidia_driver_branch=auto or one of those"))
    assert run.states["k80"]["driver"]["packages"] == {
        name: "418.87.01-0ubuntu1" for name in ("nvidia-driver-418", "nvidia-utils-418", "libnvidia-compute-418")}
    # the other host, which 535 drives, goes on
    assert run.failed("p01") == [] and run.states["p01"]["driver"]["loaded"] == "535.183.01"


def test_reboot_pending_with_a_logged_in_user_fails_the_host_then_force_reboots(run_deploy):
    state = new_state("p01", [GTX_1080], "410.48")
    state["users"] = ["alice"]
    run = run_deploy({"p01": state})

    assert run.returncode == 1
    message = "reboot pending: 1 user logged in; run again with nvidia_driver_reboot=force, or later"
    assert run.host_lines("p01").count(f"[@fake/p01] {message}") == 1, run.describe()
    after = run.states["p01"]
    # the driver is installed, not loaded: nobody was cut off, and nothing after the driver ran
    assert after["counters"]["reboots"] == 0 and after["driver"]["loaded"] == "410.48"
    assert "nvidia-driver-580" in after["driver"]["packages"] and after["conda"] is None

    forced = run_deploy(["p01"], "--data", "nvidia_driver_reboot=force")
    assert forced.returncode == 0, forced.describe()
    assert installs(forced, "p01") == []  # the packages were there: only the reboot was missing
    assert forced.states["p01"]["counters"]["reboots"] == 1 and forced.states["p01"]["driver"]["loaded"] == "580.95.05"


def test_a_gpu_process_alone_also_holds_the_reboot(run_deploy):
    state = new_state("p02", [GTX_1080], "410.48")
    state["gpu_processes"] = [[4242, "python"]]
    run = run_deploy({"p02": state})

    assert run.returncode == 1
    assert ("[@fake/p02] reboot pending: 1 GPU process; run again with nvidia_driver_reboot=force, or later"
            in run.host_lines("p02")), run.describe()
    assert run.states["p02"]["counters"]["reboots"] == 0


def wsl_state(name: str, windows_driver: str | None) -> dict:
    """A WSL2 guest: the GPU seen through /dev/dxg, no PCI device, no Linux driver package."""
    state = new_state(name, [GTX_1080])
    state.update(wsl=True, pci=[], nouveau_loaded=False)
    state["driver"]["loaded"] = windows_driver
    return state


def test_wsl2_installs_no_driver_and_converges(run_deploy):
    run = run_deploy({"wsl01": wsl_state("wsl01", "538.78")})

    assert run.returncode == 0, run.describe()
    kinds = set(run.kinds("wsl01"))
    assert not kinds & {"apt_unhold", "apt_hold", "apt_update", "apt_install", "nouveau", "reboot"}
    assert "Driver >= 418.96" not in run.changed("wsl01") and run.states["wsl01"]["driver"]["packages"] == {}
    assert run.states["wsl01"]["envs"]["tf21"]  # the env is built as on any host
    assert run_deploy(["wsl01"]).changed("wsl01") == []


def test_wsl2_with_a_too_old_windows_driver_fails_with_the_windows_side_message(run_deploy):
    run = run_deploy({"wsl02": wsl_state("wsl02", "411.31")})

    assert_failed_before_any_change(run, "wsl02", (
        "WSL2: Windows NVIDIA driver 411.31 < 418.96 required by tf21; update the Windows NVIDIA driver "
        "to >= 418.96 (on the Windows side, then `wsl --shutdown`)"))


def test_an_installed_branch_that_cannot_drive_the_gpu_is_replaced_not_rebooted_into(run_deploy):
    """A student installed nvidia-driver-535 on a K80 box: 535 never loads on Kepler, so the
    packages are replaced by 470 (NVIDIA's legacy branch for it) instead of a "reboot pending"."""
    state = new_state("k80", [TESLA_K80])
    state["driver"]["packages"] = {name: "535.183.01-0ubuntu1" for name in
                                   ("nvidia-driver-535", "nvidia-utils-535", "libnvidia-compute-535")}
    state["driver"]["held"] = ["nvidia-driver-535"]
    run = run_deploy({"k80": state})

    assert run.returncode == 0, run.describe()
    [install] = installs(run, "k80")
    assert install.split()[-1] == "nvidia-driver-470"
    after = run.states["k80"]["driver"]
    assert after["loaded"] == "470.256.02" and after["held"] == ["nvidia-driver-470"]
    assert "nvidia-driver-535" not in after["packages"]
    assert not any("reboot pending" in line for line in run.host_lines("k80"))
    assert run_deploy(["k80"]).changed("k80") == []
