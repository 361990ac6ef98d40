"""Version ordering with packaging: drivers of 2 or 3 parts, and the conda version+build rule."""

import pytest

from stacks import StackError, conda_version_matches, driver_satisfies
from stacks.versions import major_minor


@pytest.mark.parametrize("version, minimum, expected", [
    ("418.87.01", "418.96", False),   # string order would say "418.87.01" < "418.96" too, but for the wrong reason
    ("418.96", "418.87.01", True),
    ("455.32", "450.51.06", True),    # 2 parts vs 3 parts
    ("450.51.06", "455.32", False),
    ("418.39", "418.39", True),       # equal is enough
    ("418.39.0", "418.39", True),
    ("418.113", "418.96", True),      # 113 > 96 numerically, < as strings
    ("440.100", "440.33", True),
    ("410.48", "418.39", False),
    (None, "418.96", False),          # no driver
    ("not-a-driver", "418.96", False),
])
def test_driver_satisfies_uses_numeric_ordering(version, minimum, expected):
    assert driver_satisfies(version, minimum) is expected


def test_malformed_minimum_is_a_declaration_error():
    with pytest.raises(StackError, match="malformed minimum driver"):
        driver_satisfies("418.96", "418.x")


def test_major_minor_normalises_toolkit_versions():
    assert major_minor("10.1.243") == "10.1"
    assert major_minor("10") == "10.0"
    assert major_minor("11.8") == "11.8"


WANT_CUDATOOLKIT = {"version": "10.1.243", "build": "h6bb024c_0"}


def test_conda_build_string_alone_is_not_enough():
    # h6bb024c_0 is also the build of cudatoolkit 11.0.221: version and build must both match.
    assert conda_version_matches("10.1.243", "h6bb024c_0", WANT_CUDATOOLKIT)
    assert not conda_version_matches("11.0.221", "h6bb024c_0", WANT_CUDATOOLKIT)
    assert not conda_version_matches("10.1.243", "h74a9793_0", WANT_CUDATOOLKIT)


def test_conda_version_prefix_rule():
    assert conda_version_matches("7.6.5.32", "hc0a50b0_1", {"version": "7.6.5", "build": None})
    assert conda_version_matches("10.1.243", "h6bb024c_0", {"version": "10.1", "build": None})
    assert not conda_version_matches("10.10.1", "x", {"version": "10.1", "build": None})
    assert not conda_version_matches("7.6.50", "x", {"version": "7.6.5", "build": None})
    assert conda_version_matches("7.6.5", "cuda10.1_0", {"version": "7.6.5", "build": "cuda10.1_0"})
    assert not conda_version_matches("7.6.5", "cuda10.2_0", {"version": "7.6.5", "build": "cuda10.1_0"})
