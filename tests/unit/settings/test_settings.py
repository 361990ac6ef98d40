"""The data keys: README documents each with its default, and bad values stop the run in one line."""

from pathlib import Path

import pytest
from pyinfra.api.exceptions import PyinfraError

from deploys import settings

ROOT = Path(__file__).resolve().parents[3]


class Data(dict):
    """The two methods of pyinfra's HostData that settings.validate uses."""

    def dict(self):
        return dict(self)


def test_readme_lists_every_data_key_with_its_default():
    readme = (ROOT / "README.md").read_text()
    assert settings.markdown_table() in readme
    for key in settings.SETTINGS:
        assert f"| `{key}` |" in readme


def test_defaults_validate():
    values = settings.validate(Data())
    assert values["conda_prefix"] == "/opt/miniconda3"
    assert values["nvidia_driver_upgrade"] is True
    assert values["stack"] == settings.defaults()["stack"] == "tf21"  # the one default stack


@pytest.mark.parametrize(
    "data, message",
    [
        ({"nvidia_driver_upgrade": "maybe"}, "data nvidia_driver_upgrade='maybe' is not valid: expected a boolean"),
        ({"reboot_delay": -1}, "data reboot_delay=-1 is not valid: expected a whole number >= 0"),
        ({"conda_channel_preset": "tsinghua"}, "expected one of defaults, conda-forge, tuna, bfsu, mirror"),
        ({"conda_channel_preset": "mirror"}, "needs conda_mirror_url"),
        ({"conda_prefix": "miniconda3"}, "expected an absolute path"),
        ({"nvidia_drvier_branch": "470"}, "unknown data key nvidia_drvier_branch: did you mean nvidia_driver_branch?"),
        ({"stak": "tf22"}, "unknown data key stak: did you mean stack?"),
        ({"nvidia_driver_package_manager": "yum"}, "expected one of"),
    ],
)
def test_bad_values_give_one_line(data, message):
    with pytest.raises(PyinfraError) as error:
        settings.validate(Data(data))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_pyinfra_connection_keys_are_not_mistaken_for_typos():
    settings.validate(Data({"ssh_user": "admin", "_sudo": True, "fake_responses": {}}))
