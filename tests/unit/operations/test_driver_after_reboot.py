"""driver.driver_running's check after a reboot: the FunctionCommand callback `check_after_reboot`.

The JSON cases (tests/spec/operations/driver.driver_running) see the callback only as
["check_after_reboot", [min_version, stack_name], {}]; here it runs, on the GpuInfo the host shows
once it is back, with the messages the host fails with (the same texts as the check made without
a reboot, which the JSON cases pin as fail_host commands).
"""

from __future__ import annotations

import pytest
from pyinfra import logger

from facts.gpu import GpuInfo
from operations.driver import check_after_reboot
from operations.util.driver_state import running_driver_problem

MISMATCH = "Failed to initialize NVML: Driver/library version mismatch"
NO_COMMUNICATION = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)
PACKAGES = {"nvidia-driver-535": "535.183.01-0ubuntu0.18.04.1"}
DKMS_HINT = "check `dkms status` for the running kernel and `dmesg | grep -i nvidia`"


class BackFromReboot:
    """The host as a FunctionCommand sees it: get_fact answers GpuInfo, log records."""

    def __init__(self, info: dict):
        self.info = info
        self.logged: list[tuple[str, object]] = []

    def get_fact(self, fact_cls, *args, **kwargs):
        assert fact_cls is GpuInfo and not args and not kwargs
        return self.info

    def log(self, message, log_func=logger.info):
        self.logged.append((message, log_func))


def info(loaded, error=None, secure_boot=False, packages=PACKAGES):
    return {"driver_version": loaded, "error": error, "secure_boot": secure_boot,
            "driver_packages": packages, "reboot_required": False, "reboot_required_packages": []}


def test_new_driver_loaded_passes_silently():
    host = BackFromReboot(info("535.183.01"))
    assert check_after_reboot(None, host, "418.96", "tf21") is True
    assert host.logged == []


@pytest.mark.parametrize("after, message", [
    (info("535.183.01", MISMATCH),
     f"the NVIDIA driver does not answer ({MISMATCH}); tf21 requires >= 418.96; {DKMS_HINT}"),
    (info(None, NO_COMMUNICATION, secure_boot=True),
     f"the NVIDIA driver does not answer ({NO_COMMUNICATION}); tf21 requires >= 418.96; Secure Boot is on: "
     "the module is probably unsigned — enrol its MOK key (`mokutil --import`, reboot into MokManager) "
     "or disable Secure Boot"),
    (info(None), f"the NVIDIA driver does not answer (nvidia-smi absent); tf21 requires >= 418.96; {DKMS_HINT}"),
    (info("410.48"),
     f"driver 410.48 is loaded, below 418.96 required by tf21; if a newer one was installed, {DKMS_HINT}"),
], ids=["mismatch", "secure_boot_unsigned", "nothing_answers", "still_too_old"])
def test_driver_still_wrong_after_the_reboot_fails_the_host_with_a_message(after, message):
    host = BackFromReboot(after)
    assert check_after_reboot(None, host, "418.96", "tf21") is False  # False: this host fails, no raise
    assert host.logged == [(message, logger.error)]
    assert running_driver_problem(after, "418.96", "tf21") == message  # the no-reboot path's text
