"""condarc presets and rendering (pure functions of operations.util.condarc)."""

import pytest
import yaml

from operations.util.condarc import PRESETS, condarc_preset, render_condarc

TUNA = "https://mirrors.tuna.tsinghua.edu.cn/anaconda"
BFSU = "https://mirrors.bfsu.edu.cn/anaconda"


def test_defaults_preset_names_repo_anaconda_explicitly():
    preset = condarc_preset("defaults")
    assert preset["channels"] == ["defaults"]
    assert preset["default_channels"] == [
        "https://repo.anaconda.com/pkgs/main",
        "https://repo.anaconda.com/pkgs/r",
    ]
    assert preset["custom_channels"] == {}


def test_conda_forge_preset_puts_conda_forge_first():
    preset = condarc_preset("conda-forge")
    assert preset["channels"] == ["conda-forge", "defaults"]
    assert preset["default_channels"][0] == "https://repo.anaconda.com/pkgs/main"


@pytest.mark.parametrize("name, base", [("tuna", TUNA), ("bfsu", BFSU)])
def test_chinese_mirror_presets_follow_the_mirrorz_template(name, base):
    preset = condarc_preset(name)
    assert preset["channels"] == ["defaults"]
    assert preset["show_channel_urls"] is True
    assert preset["default_channels"] == [f"{base}/pkgs/main", f"{base}/pkgs/r", f"{base}/pkgs/msys2"]
    assert set(preset["custom_channels"]) == {
        "conda-forge", "msys2", "bioconda", "menpo", "pytorch", "pytorch-lts", "simpleitk"}
    assert set(preset["custom_channels"].values()) == {f"{base}/cloud"}


def test_mirror_preset_base_url_can_be_overridden():
    preset = condarc_preset("tuna", "http://mirror.campus.example/anaconda/")
    assert preset["default_channels"][0] == "http://mirror.campus.example/anaconda/pkgs/main"
    assert preset["custom_channels"]["conda-forge"] == "http://mirror.campus.example/anaconda/cloud"


def test_mirror_preset_makes_one_url_stand_for_defaults():
    preset = condarc_preset("mirror", "http://10.250.0.1:8080/conda/lab/")
    assert preset == {
        "channels": ["defaults"],
        "default_channels": ["http://10.250.0.1:8080/conda/lab"],
        "custom_channels": {},
        "show_channel_urls": True,
    }
    assert condarc_preset("mirror", "file:///srv/conda-channel")["default_channels"] == ["file:///srv/conda-channel"]


def test_mirror_preset_needs_a_url():
    with pytest.raises(ValueError, match="needs a base_url"):
        condarc_preset("mirror")


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown conda preset 'tsinghua'.*tuna"):
        condarc_preset("tsinghua")
    assert set(PRESETS) == {"defaults", "conda-forge", "tuna", "bfsu", "mirror"}


@pytest.mark.parametrize("name", ["defaults", "conda-forge", "tuna", "bfsu"])
def test_rendered_condarc_reads_back_as_the_preset(name):
    preset = condarc_preset(name)
    text = render_condarc(**preset)
    assert text.startswith("# managed by gpuws")
    data = yaml.safe_load(text)
    assert data["channels"] == preset["channels"]
    assert data["default_channels"] == preset["default_channels"]
    assert data.get("custom_channels", {}) == preset["custom_channels"]
    assert data["show_channel_urls"] is True


def test_rendering_is_deterministic_whatever_the_dict_order():
    a = render_condarc(["defaults"], ["http://m/main"], {"pytorch": "http://m/cloud", "conda-forge": "http://m/cloud"},
                       extra={"ssl_verify": False, "auto_update_conda": False})
    b = render_condarc(["defaults"], ["http://m/main"], {"conda-forge": "http://m/cloud", "pytorch": "http://m/cloud"},
                       extra={"auto_update_conda": False, "ssl_verify": False})
    assert a == b
    keys = [line.split(":")[0] for line in a.splitlines() if line and line[0].isalpha()]
    assert keys == ["channels", "default_channels", "custom_channels", "show_channel_urls",
                    "auto_update_conda", "ssl_verify"]
    assert a.index("conda-forge:") < a.index("pytorch:")


def test_empty_default_and_custom_channels_are_left_out():
    text = render_condarc(["conda-forge"])
    assert yaml.safe_load(text) == {"channels": ["conda-forge"], "show_channel_urls": True}


def test_extra_may_not_repeat_a_named_setting():
    with pytest.raises(ValueError, match="repeats channels"):
        render_condarc(["defaults"], extra={"channels": ["x"]})
