"""Requirement comparison of operations.util.pip_plan (pure: installed set in, plan out)."""

import pytest
from packaging.specifiers import SpecifierSet

from operations.util.pip_conf import render_pip_conf
from operations.util.pip_plan import (
    describe_satisfied,
    plan_requirements,
    shares_files,
    version_satisfies,
)


def plan(installed, requirements, constraints=(), conflicts=(), python="3.7.16"):
    return plan_requirements(installed, requirements, constraints, conflicts, python)


# --- versions -----------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, version, ok", [
    ("==2.1.0", "2.1.0", True),
    ("==2.1.0", "2.1.0+cu101", True),        # a public pin ignores the local label (PEP 440)
    ("==2.1.0+cu101", "2.1.0", False),
    ("<3", "2.10.0", True),
    ("<3", "3.8.0", False),
    ("<1.20", "1.19.5", True),
    ("<1.20", "1.20.3", False),
    ("<2.2,>=2.1.0", "2.1.1", True),
    ("<2.2,>=2.1.0", "2.2.0", False),
    ("~=1.4.0", "1.4.1", True),
    ("~=1.4.0", "1.5.0", False),
    ("", "9.5.0", True),                      # a bare name: any installed version
    ("", "2.0.0rc1", True),
    (">=2.0", "2.1.0rc1", False),             # pre-releases only when the specifier names one
    (">=2.1.0rc0", "2.1.0rc1", True),
    ("<2.2.0,>=2.1.0rc0", "2.1.0", True),
    (">=1.0", "not-a-version", False),
    ("", "not-a-version", True),
])
def test_version_satisfies(spec, version, ok):
    assert version_satisfies(SpecifierSet(spec), version) is ok


def test_nothing_installed_satisfies_nothing():
    assert version_satisfies(SpecifierSet(""), None) is False


# --- names --------------------------------------------------------------------------------------

def test_pep503_names_match_whatever_the_spelling():
    result = plan({"keras-applications": "1.0.8", "Keras.Preprocessing": "1.1.2", "typing_extensions": "3.7.4"},
                  ["Keras_Applications>=1.0.8", "keras-preprocessing>=1.1.0", "Typing-Extensions"])
    assert result.install == []
    assert result.satisfied == [("Keras_Applications", "1.0.8"), ("keras-preprocessing", "1.1.2"),
                                ("Typing-Extensions", "3.7.4")]


def test_local_version_satisfies_the_stack_pin():
    result = plan({"tensorflow-gpu": "2.1.0+cu101"}, ["tensorflow-gpu==2.1.0"])
    assert result.install == [] and not result.changes
    assert "tensorflow-gpu==2.1.0,==2.1.0+cu101" in result.constraints_lines


def test_missing_and_out_of_range_packages_are_installed_in_stack_order():
    result = plan({"numpy": "1.21.6", "h5py": "2.10.0"}, ["tensorflow-gpu==2.1.0", "h5py<3", "numpy<1.20", "pillow"])
    assert result.install == ["tensorflow-gpu==2.1.0", "numpy<1.20", "pillow"]
    assert result.satisfied == [("h5py", "2.10.0")]
    # the satisfied one is pinned, so installing the others cannot move it
    assert result.constraints_lines == ["h5py<3,==2.10.0"]


def test_requirements_of_one_name_become_one_line():
    # pip 20 refuses the same name twice on its command line ("Double requirement given")
    result = plan({}, ["numpy<1.20", "NumPy>=1.16"])
    assert result.install == ["numpy<1.20,>=1.16"]


def test_extras_are_kept_on_the_command_line():
    assert plan({}, ["requests[socks]>=2.21"]).install == ["requests[socks]>=2.21"]


# --- constraints --------------------------------------------------------------------------------

def test_constraint_violation_reinstalls_within_the_constraint():
    result = plan({"tensorflow-gpu": "2.1.0", "protobuf": "4.24.4"}, ["tensorflow-gpu==2.1.0"],
                  constraints=["protobuf<3.21"])
    assert result.install == ["protobuf<3.21"]
    assert "protobuf<3.21" in result.constraints_lines


def test_satisfied_or_absent_constraints_install_nothing():
    result = plan({"tensorflow-gpu": "2.1.0", "protobuf": "3.20.3"}, ["tensorflow-gpu==2.1.0"],
                  constraints=["protobuf<3.21", "gast==0.2.2"])
    assert not result.changes
    assert result.constraints_lines == ["tensorflow-gpu==2.1.0", "protobuf<3.21", "gast==0.2.2"]


def test_constraint_on_a_requirement_is_checked_and_merged():
    # h5py 3 meets the requirement "h5py" but not the constraint h5py<3
    result = plan({"h5py": "3.8.0"}, ["h5py"], constraints=["h5py<3"])
    assert result.install == ["h5py<3"]
    # pip 20 keeps one constraint line per name and drops the requirement's own specifier
    # for a constrained name, so the line carries both
    result = plan({}, ["numpy>=1.16"], constraints=["numpy<1.20"])
    assert result.constraints_lines == ["numpy<1.20,>=1.16"]


def test_several_constraints_of_one_name_become_one_line():
    result = plan({"protobuf": "3.7.0"}, [], constraints=["protobuf<3.21", "protobuf>=3.8"])
    assert result.install == ["protobuf<3.21,>=3.8"]
    assert result.constraints_lines == ["protobuf<3.21,>=3.8"]


# --- conflicts ----------------------------------------------------------------------------------

def test_variants_share_files_other_packages_do_not():
    assert shares_files("tensorflow", "tensorflow-gpu")
    assert shares_files("tensorflow-cpu", "tensorflow_gpu")
    assert shares_files("opencv-python", "opencv-python-headless")
    assert not shares_files("tensorflow", "tensorflow-estimator")
    assert not shares_files("tensorflow", "tensorflow")


def test_conflict_is_removed_and_its_variant_reinstalled():
    installed = {"tensorflow": "2.1.0", "tensorflow-gpu": "2.1.0", "tensorflow-estimator": "2.1.0"}
    result = plan(installed, ["tensorflow-gpu==2.1.0", "tensorflow-estimator<2.2.0,>=2.1.0rc0"],
                  conflicts=["tensorflow"])
    assert result.remove == ["tensorflow", "tensorflow-gpu"]
    assert result.install == ["tensorflow-gpu==2.1.0"]
    assert result.satisfied == [("tensorflow-estimator", "2.1.0")]


def test_absent_conflict_changes_nothing():
    result = plan({"tensorflow-gpu": "2.1.0"}, ["tensorflow-gpu==2.1.0"], conflicts=["tensorflow"])
    assert not result.changes


def test_conflict_that_is_also_required_is_an_argument_error():
    with pytest.raises(ValueError, match="tensorflow-gpu is both a requirement and a conflict"):
        plan({}, ["tensorflow-gpu==2.1.0"], conflicts=["Tensorflow_GPU"])


# --- markers and errors -------------------------------------------------------------------------

def test_markers_are_evaluated_for_the_target_python():
    result = plan({}, ["dataclasses; python_version < '3.7'", "importlib-metadata; python_version < '3.8'"],
                  python="3.7.16")
    assert result.install == ["importlib-metadata"]
    assert plan({}, ["importlib-metadata; python_version < '3.8'"], python="3.8.10").install == []


def test_invalid_requirement_is_one_line_error():
    with pytest.raises(ValueError, match=r"^invalid requirement 'tensorflow-gpu=2.1.0': [^\n]*$"):
        plan({}, ["tensorflow-gpu=2.1.0"])


def test_noop_description_lists_the_first_three():
    assert describe_satisfied([("tensorflow-gpu", "2.1.0"), ("numpy", "1.18.5")]) == \
        "2 requirements satisfied (tensorflow-gpu 2.1.0, numpy 1.18.5)"
    assert describe_satisfied([("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]) == \
        "4 requirements satisfied (a 1, b 2, c 3, …)"
    assert describe_satisfied([("a", "1")]) == "1 requirement satisfied (a 1)"


# --- pip.conf -----------------------------------------------------------------------------------

def test_pip_conf_nothing_configured_is_none():
    assert render_pip_conf() is None


def test_pip_conf_reads_back_with_configparser():
    import configparser

    text = render_pip_conf("https://pypi.tuna.tsinghua.edu.cn/simple",
                           extra_index_urls=["https://a/simple", "https://b/simple"],
                           find_links=["http://10.250.0.1:8080/wheels/"], trusted_hosts=["10.250.0.1"])
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    section = parser["global"]
    assert section["index-url"] == "https://pypi.tuna.tsinghua.edu.cn/simple"
    # pip splits list options on whitespace
    assert section["extra-index-url"].split() == ["https://a/simple", "https://b/simple"]
    assert section["find-links"].split() == ["http://10.250.0.1:8080/wheels/"]
    assert section["trusted-host"] == "10.250.0.1"
    assert "no-index" not in section


def test_pip_conf_trusts_only_what_is_given():
    text = render_pip_conf(find_links=["http://10.250.0.1:8080/wheels/"], no_index=True)
    assert "trusted-host" not in text
    assert "no-index = true" in text
