"""driver.driver_running never reboots the controller (@local) without allow_local.

Not a JSON case: pyinfra-testing's FakeHost is named after the last fact key of a case, so a
case cannot make host.name "@local" or give the host a connector. Same harness pieces, by hand.
"""

from __future__ import annotations

from pyinfra.connectors.local import LocalConnector
from pyinfra.connectors.ssh import SSHConnector
from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.operations import parse_commands
from pyinfra_testing.util import FakeState, create_host

from operations import driver

PENDING = {
    "driver_version": "410.48",
    "driver_packages": {"nvidia-driver-535": "535.183.01-0ubuntu0.18.04.1"},
    "error": "Failed to initialize NVML: Driver/library version mismatch",
    "reboot_required": True,
    "reboot_required_packages": ["nvidia-dkms-535"],
}
LOCAL_REFUSAL = (
    "printf '%s\\n' 'the driver was upgraded; reboot this machine to load it "
    "(set allow_local_reboot=True to let the deploy do it)' >&2; exit 1"
)


def commands_for(name=None, connector_cls=None, **kwargs):
    state = FakeState()
    host = create_host(state, facts={"gpu.GpuInfo": PENDING})
    if name is not None:
        host.name = name
    if connector_cls is not None:
        host.connector_cls = connector_cls
    with ctx_state.use(state), ctx_host.use(host):
        return parse_commands(list(driver.driver_running._inner(min_version="418.96", **kwargs)))


def test_local_host_is_not_rebooted():
    assert commands_for(name="@local", allowed=True) == [LOCAL_REFUSAL]


def test_local_connector_under_another_name_is_not_rebooted():
    assert commands_for(name="workstation", connector_cls=LocalConnector, allowed=True) == [LOCAL_REFUSAL]


def test_local_host_reboots_with_the_explicit_flag():
    commands = commands_for(name="@local", allowed=True, allow_local=True, delay=120)
    assert "( sleep 1 && reboot ) </dev/null >/dev/null 2>&1 &" in commands
    assert commands[-1] == ["check_after_reboot", ["418.96", "tf21"], {}]  # and checked after it


def test_ssh_host_reboots():
    commands = commands_for(name="ws01", connector_cls=SSHConnector, allowed=True)
    assert commands[2] == "( sleep 1 && reboot ) </dev/null >/dev/null 2>&1 &"
    assert commands[-1] == ["check_after_reboot", ["418.96", "tf21"], {}]


def test_reboot_not_allowed_wins_over_the_local_question():
    assert commands_for(name="@local", allowed=False) == [
        "printf '%s\\n' 'driver 535.183.01 installed but 410.48 is still loaded; reboot, then run again' >&2; exit 1"
    ]
