"""Every data value is checked for type and content, and taken as people type it (issues 12, 13)."""

import pytest
from pyinfra.api.exceptions import PyinfraError

from deploys import settings
from deploys.data_checks import DataError, check


class Data(dict):
    def dict(self):
        return dict(self)


def validate(**data):
    return settings.validate(Data(data))


# (data, what the one-line refusal says was expected)
HOSTILE = [
    ({"nvidia_driver_packages": ["-oDpkg::Pre-Invoke::=touch /pwned"]}, "package names"),
    ({"nvidia_driver_packages": [1]}, "package names"),
    ({"nvidia_driver_packages": ["nvidia driver"]}, "package names"),
    ({"nvidia_driver_packages": "nvidia-driver;reboot"}, "package names"),
    ({"nvidia_driver_branch": "535; reboot"}, "driver branch number"),
    ({"nvidia_driver_branch": "-1"}, "does not start with '-'"),
    ({"miniconda_url": "-K/etc/shadow"}, "does not start with '-'"),
    ({"miniconda_url": "ftp://mirror/Miniconda.sh"}, "http(s):// or file:// URL"),
    ({"miniconda_url": "https://repo.anaconda.com/x.sh\n-K/etc/shadow"}, "control characters"),
    ({"miniconda_url": "https://repo.anaconda.com/a b.sh"}, "without spaces"),
    ({"miniconda_url": "file://../etc/passwd"}, "URL"),
    ({"miniconda_url": "file:///srv/../etc/shadow"}, "no . or .. components"),
    ({"miniconda_sha256": "abc"}, "64 hexadecimal digits"),
    ({"miniconda_sha256": "g" * 64}, "64 hexadecimal digits"),
    ({"pip_index_url": "https://pypi.org/simple\ntrusted-host = evil.example"}, "control characters"),
    ({"pip_index_url": "https://pypi.org/simple$(reboot)"}, "URL"),
    ({"pip_extra_index_urls": ["https://ok.example/simple", "javascript:alert(1)"]}, "URLs"),
    ({"pip_find_links": ["relative/wheels"]}, "absolute folders"),
    ({"pip_find_links": ["/srv/../etc"]}, "no . or .. components"),
    ({"pip_trusted_hosts": ["evil.example\n[global]"]}, "control characters"),
    ({"pip_trusted_hosts": ["-x"]}, "does not start with '-'"),
    ({"pip_trusted_hosts": ["a b"]}, "host names"),
    ({"conda_prefix": "/opt/miniconda3 /etc"}, "absolute path"),
    ({"conda_prefix": "/opt/$(reboot)"}, "absolute path"),
    ({"conda_prefix": "/opt/../etc"}, "no . or .. components"),
    ({"conda_prefix": "~/miniconda3"}, "absolute path"),
    ({"bundle_dest": "/var/cache/b$(touch /pwned)"}, "absolute path"),
    ({"bundle_dest": "/var/cache/b`id`"}, "absolute path"),
    ({"bundle": "bundle\n"}, "control characters"),
    ({"miniconda_file": "-installer.sh"}, "does not start with '-'"),
    ({"conda_mirror_url": "http://mirror.example/conda", "conda_channel_preset": "mirror"}, "conda_mirror_allow_http=true"),
    ({"conda_mirror_url": "https://mirror.example/co'nda"}, "URL"),
    ({"condarc_extra": {"channels": ["evil"]}}, "conda_channel_preset/conda_mirror_url write those"),
    ({"condarc_extra": {"ssl_verify": False}}, "never false"),
    ({"condarc_extra": {"Bad Key": 1}}, "conda config keys"),
    ({"condarc_extra": {"envs_dirs": ["/a\n/b"]}}, "control characters"),
    ({"condarc_extra": ["channels"]}, "a mapping of .condarc keys"),
    ({"conda_local_files": ["bad-name.txt"]}, "conda package files"),
    ({"conda_local_files": ["/srv/pkgs/-oops.tar.bz2"]}, "conda package file"),
    ({"conda_local_files": "/srv/pkgs/cudnn-7.6.5-cuda10.1_0.tar.bz2;reboot"}, "absolute path"),
    ({"stack": "-tf21"}, "does not start with '-'"),
    ({"stack": "tf21\n"}, "control characters"),
    ({"reboot_delay": "soon"}, "whole number"),
    ({"nvidia_driver_upgrade": "maybe"}, "a boolean"),
    ({"nvidia_driver_version_typo": "1"}, "unknown data key"),
    ({"stak": "tf22"}, "did you mean stack?"),
]


@pytest.mark.parametrize("data, expected", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_values_are_refused_in_one_line(data, expected):
    with pytest.raises(PyinfraError) as error:
        settings.validate(Data(data))
    message = str(error.value)
    assert expected in message
    assert "\n" not in message and "Traceback" not in message


def test_the_error_says_what_was_expected_before_the_help():
    with pytest.raises(PyinfraError) as error:
        validate(pip_find_links=3.5)
    message = str(error.value)
    assert message.index("expected") < message.index("fix it") < message.index("[pip_find_links: pip --find-links")


@pytest.mark.parametrize(
    "key, typed, value",
    [
        ("nvidia_driver_branch", 470, "470"),  # pyinfra's --data turns 470 into an int
        ("pip_find_links", "/srv/wheels", ["/srv/wheels"]),
        ("pip_trusted_hosts", "mirror.lab:8080", ["mirror.lab:8080"]),
        ("nvidia_driver_packages", "nvidia-driver-470", ["nvidia-driver-470"]),
        ("nvidia_driver_hold", "yes", True),
        ("nvidia_driver_hold", "No", False),
        ("nvidia_driver_hold", "off", False),
        ("nvidia_driver_hold", 1, True),
        ("nvidia_driver_hold", "0", False),
        ("reboot_delay", "30", 30),
        ("miniconda_sha256", "BB2E3CEDD2E78A8BB6872AB3AB5B1266A90F8C7004A22D8DC2EA5EFFEB6A439A",
         "bb2e3cedd2e78a8bb6872ab3ab5b1266a90f8c7004a22d8dc2ea5effeb6a439a"),
        ("conda_prefix", "/opt/conda/", "/opt/conda"),
        ("conda_local_files", "/srv/pkgs/cudnn-7.6.5-cuda10.1_0.tar.bz2", ["/srv/pkgs/cudnn-7.6.5-cuda10.1_0.tar.bz2"]),
        ("pip_index_url", "https://pypi.tuna.tsinghua.edu.cn/simple", "https://pypi.tuna.tsinghua.edu.cn/simple"),
        ("conda_mirror_url", "file:///srv/conda", "file:///srv/conda"),
    ],
)
def test_values_are_taken_as_people_type_them(key, typed, value):
    assert validate(**{key: typed})[key] == value


def test_plain_http_mirror_needs_the_opt_in():
    cfg = validate(conda_channel_preset="mirror", conda_mirror_url="http://10.0.0.1:8000/conda", conda_mirror_allow_http="yes")
    assert cfg["conda_mirror_url"] == "http://10.0.0.1:8000/conda"


def test_a_float_for_a_text_asks_for_quotes():
    # json.loads("535.10") == 535.1: the typed digits are lost, so the value is refused, not guessed
    with pytest.raises(DataError, match="quote a number with a dot"):
        check("str", 535.1)


@pytest.mark.parametrize(
    "key",
    ["ssh_user", "ssh_port", "_sudo", "_sudo_user", "_env", "fake_responses", "docker_identifier",
     "lab_sudo_user", "lab_gpus", "site_room"],
)
def test_pyinfra_lab_and_site_keys_pass(key):
    validate(**{key: "x"})


def test_every_kind_in_the_table_has_a_check():
    from deploys.data_checks import KINDS

    assert {setting.kind for setting in settings.SETTINGS.values()} <= set(KINDS)


def test_condarc_extra_keeps_nested_values():
    extra = {"channel_priority": "strict", "pkgs_dirs": ["/var/cache/conda"], "proxy_servers": {"https": "http://proxy:3128"}}
    assert validate(condarc_extra=extra)["condarc_extra"] == extra
