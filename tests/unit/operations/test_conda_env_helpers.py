"""Pure helpers of the conda env operation (operations.util.conda_env): python matching and package file names."""

import pytest

from operations.util.conda_env import parse_package_filename, python_matches


@pytest.mark.parametrize("installed, wanted, ok", [
    ("3.7.16", "3.7", True),
    ("3.7", "3.7", True),
    ("3.8.5", "3.7", False),
    ("3.70.1", "3.7", False),
    (None, "3.7", False),
])
def test_python_matches_major_minor(installed, wanted, ok):
    assert python_matches(installed, wanted) is ok


def test_package_file_names_split_on_the_last_two_dashes():
    assert parse_package_filename("/srv/pkgs/cudatoolkit-10.1.243-h6bb024c_0.tar.bz2") == {
        "name": "cudatoolkit", "version": "10.1.243", "build": "h6bb024c_0",
        "path": "/srv/pkgs/cudatoolkit-10.1.243-h6bb024c_0.tar.bz2"}
    record = parse_package_filename("libgcc-ng-9.1.0-hdf63c60_0.conda")
    assert (record["name"], record["version"], record["build"]) == ("libgcc-ng", "9.1.0", "hdf63c60_0")


@pytest.mark.parametrize("name", ["cudnn.tar.bz2", "cudnn-7.6.5.tar.bz2", "cudnn-7.6.5-cuda10.1_0.zip", "-7.6.5-x.tar.bz2"])
def test_other_file_names_are_not_packages(name):
    assert parse_package_filename(name) is None
