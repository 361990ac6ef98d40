"""The resolver, checked against the reference tables (TF tested builds, NVIDIA Table 2/3, the
measured TF 2.1 wheel, conda solver output, the verified pins)."""

import json
import re

import pytest

import stacks
from stacks import StackError, gpu_support, resolve

CONTRACT_KEYS = {"name", "spec", "os", "tensorflow", "tensorflow_package", "python", "cudatoolkit",
                 "cudnn", "min_driver", "min_driver_os_table", "compute_capabilities",
                 "max_compute_capability", "conda_env", "conda", "pip", "pip_constraints", "pins",
                 "libraries", "sources"}


@pytest.fixture(scope="module")
def tf21():
    return resolve("tf21")


def test_tf21_has_the_contract_keys_and_is_json(tf21):
    assert CONTRACT_KEYS <= set(tf21)
    assert json.loads(json.dumps(tf21)) == tf21


def test_tf21_core_fields(tf21):
    assert (tf21["name"], tf21["spec"], tf21["os"]) == ("tf21", "tf21", "linux")
    assert tf21["tensorflow"] == "2.1.0"
    assert tf21["tensorflow_package"] == "tensorflow-gpu"
    assert tf21["python"] == "3.7"
    assert tf21["cudatoolkit"] == "10.1"
    assert tf21["cudnn"] == "7.6.5"
    assert tf21["conda_env"] == "tf21"


def test_tf21_driver_declared_figure_wins_over_linux_table(tf21):
    assert tf21["min_driver"] == "418.96"           # declared by the mission
    assert tf21["min_driver_os_table"] == "418.39"  # NVIDIA Table 3, Linux, CUDA 10.1
    assert "declared" in tf21["sources"]["min_driver"]
    assert "Table 3" in tf21["sources"]["min_driver_os_table"]
    assert any("418.96" in note and "Windows" in note for note in tf21["notes"])


def test_tf21_compute_capabilities_are_the_measured_wheel(tf21):
    assert tf21["compute_capabilities"] == ["3.5", "3.7", "5.2", "6.0", "6.1", "7.0"]
    assert tf21["compute_capabilities_basis"] == "measured"
    assert tf21["max_compute_capability"] == "7.5"   # Turing via sm_70 cubins
    assert tf21["min_compute_capability"] == "3.5"


def test_tf21_conda_packages_with_real_build_strings(tf21):
    assert tf21["conda"] == [
        {"name": "python", "version": "3.7", "build": None, "spec": "python=3.7"},
        {"name": "cudatoolkit", "version": "10.1.243", "build": "h6bb024c_0",
         "spec": "cudatoolkit=10.1.243=h6bb024c_0"},
        {"name": "cudnn", "version": "7.6.5", "build": "cuda10.1_0", "spec": "cudnn=7.6.5=cuda10.1_0"},
    ]


def test_tf21_pip_and_pins_with_reasons(tf21):
    assert tf21["pip"] == ["tensorflow-gpu==2.1.0", "h5py<3", "numpy<1.20", "pillow<10", "scipy==1.4.1",
                           "pandas<1.4", "nvidia-ml-py==11.495.46"]
    assert tf21["pip_constraints_declared"] == ["protobuf<3.21", "gast==0.2.2"]
    # the committed lock pins every other package of the closure, after the declared pins
    assert tf21["pip_constraints"][:2] == ["protobuf<3.21", "gast==0.2.2"]
    assert {"protobuf==3.20.3", "pandas==1.3.5", "numpy==1.19.5"} <= set(tf21["pip_constraints"])
    pins = {pin["requirement"]: pin for pin in tf21["pins"]}
    assert set(pins) == {"protobuf<3.21", "h5py<3", "numpy<1.20", "scipy==1.4.1", "gast==0.2.2",
                         "pillow<10", "pandas<1.4", "nvidia-ml-py==11.495.46"}
    assert "Descriptors cannot not be created directly" in pins["protobuf<3.21"]["reason"]
    assert "sdist" in pins["gast==0.2.2"]["reason"]
    assert "pynvml" in pins["nvidia-ml-py==11.495.46"]["reason"]
    assert all(pin["reason"] and pin["source"] for pin in tf21["pins"])
    # exactly one TensorFlow distribution
    assert sum(req.startswith(("tensorflow==", "tensorflow-gpu==")) for req in tf21["pip"]) == 1


def test_tf21_libraries(tf21):
    assert tf21["libraries"] == ["libcudart.so.10.1", "libcublas.so.10", "libcufft.so.10", "libcurand.so.10",
                                 "libcusolver.so.10", "libcusparse.so.10", "libcudnn.so.7"]


def test_tf21_every_source_is_filled(tf21):
    assert all(isinstance(text, str) and text for text in tf21["sources"].values())


def test_tf21_on_windows():
    stack = resolve("tf21", os="windows")
    assert stack["min_driver"] == "418.96" and stack["min_driver_os_table"] == "418.96"
    cudatoolkit = stack["conda"][1]
    assert (cudatoolkit["version"], cudatoolkit["build"]) == ("10.1.243", "h74a9793_0")
    assert stack["libraries"][0] == "cudart64_101.dll" and stack["libraries"][-1] == "cudnn64_7.dll"


def test_tf21_from_conda_forge_uses_four_part_cudnn():
    stack = resolve("tf21", channel="conda-forge")
    cudnn = stack["conda"][2]
    assert (cudnn["version"], cudnn["build"], cudnn["spec"]) == ("7.6.5.32", None, "cudnn=7.6.5.32")
    assert stack["cudnn"] == "7.6.5"


def test_tensorflow_2_3_0():
    stack = resolve("tensorflow==2.3.0")
    assert (stack["name"], stack["conda_env"]) == ("tensorflow-2.3.0", "tf-2.3.0")
    assert (stack["cudatoolkit"], stack["cudnn"], stack["python"]) == ("10.1", "7.6", "3.8")
    assert stack["min_driver"] == "418.39" == stack["min_driver_os_table"]
    assert stack["pip"] == ["tensorflow==2.3.0"]


def test_tensorflow_2_4_0_uses_cuda_11_0_and_minor_version_compat():
    # pkgs/main (defaults) has no cuDNN 8.0 build: the knowledge used to say cudnn=8.0 there
    with pytest.raises(StackError, match=r"no known cudnn 8.0 build for CUDA 11.0 on the defaults channel.*use --channel conda-forge"):
        resolve("tensorflow==2.4.0")
    stack = resolve("tensorflow==2.4.0", channel="conda-forge")
    assert [entry["spec"] for entry in stack["conda"][1:]] == ["cudatoolkit=11.0", "cudnn=8.0.5.39"]
    assert (stack["cudatoolkit"], stack["cudnn"]) == ("11.0", "8.0")
    assert stack["min_driver"] == "450.36.06"            # Table 2, CUDA 11.0
    assert stack["min_driver_os_table"] == "450.51.06"   # Table 3, highest 11.0 row (11.0.3 Update 1)
    assert stack["max_compute_capability"] == "8.0"
    assert "libcusolver.so.10" in stack["libraries"] and "libcudnn.so.8" in stack["libraries"]


def test_tensorflow_2_12_0_is_the_tensorflow_package():
    stack = resolve("tensorflow==2.12.0", channel="conda-forge")
    assert stack["tensorflow_package"] == "tensorflow"
    # TensorFlow's own 2.12 instructions: cudatoolkit 11.8.0 from conda-forge, cuDNN from NVIDIA's pip wheel
    assert stack["pip"][:2] == ["tensorflow==2.12.0", "nvidia-cudnn-cu11==8.6.0.163"]
    assert stack["cuda_from"] == "conda+pip" and [e["spec"] for e in stack["conda"]] == ["python=3.11", "cudatoolkit=11.8.0"]
    assert (stack["cudatoolkit"], stack["cudnn"], stack["python"]) == ("11.8", "8.6", "3.11")
    assert stack["min_driver"] == "450.80.02" and stack["min_driver_os_table"] == "520.61.05"


def test_cuda_12_builds_take_cuda_from_pip():
    stack = resolve("tensorflow==2.16.1")
    assert stack["cuda_libraries_from"] == "pip" == stack["cuda_from"]
    assert stack["pip"][0] == "tensorflow[and-cuda]==2.16.1"
    assert stack["cudatoolkit_package"].startswith("pip: ") and stack["cudnn_package"].startswith("pip: ")
    assert [entry["name"] for entry in stack["conda"]] == ["python"]
    assert stack["min_driver"] == "525.60.13"


def test_before_2_1_the_gpu_build_is_tensorflow_gpu():
    stack = resolve("tensorflow==1.15.0")
    assert stack["tensorflow_package"] == "tensorflow-gpu"
    assert stack["libraries"][0] == "libcudart.so.10.0"
    assert stack["notes"]


def test_patch_release_shares_its_series_build_and_pins():
    stack = resolve("tensorflow==2.1.3")
    assert stack["cudatoolkit"] == "10.1"
    assert "scipy==1.4.1" not in stack["pip_constraints"]   # 2.1.2+ no longer pin scipy
    assert "protobuf<3.21" in stack["pip_constraints"]


@pytest.fixture
def declare(monkeypatch):
    """Change fields of the tf21 declaration (stacks.yaml) for one test."""
    from stacks import knowledge

    real = knowledge.stack_declaration

    def change(**fields):
        monkeypatch.setattr(knowledge, "stack_declaration",
                            lambda name: dict(real(name), **fields) if name == "tf21" else real(name))
    return change


@pytest.mark.parametrize("fields, expected", [
    ({"python": "3.8"}, "^" + re.escape(
        "tf21: python 3.8 has no tensorflow-gpu 2.1.0 wheel (cp35-cp37 only); set python to 3.7 or use tensorflow==2.2.0") + "$"),
    ({"cudnn": "8.0.5"}, r"cudnn 8.0.5 .* libcudnn.so.7 .* set cudnn to 7.6 or use tensorflow==2.4.0"),
    ({"cudatoolkit": "11.0"}, r"cudatoolkit 11.0 .* CUDA 10.1; set cudatoolkit to 10.1 or use tensorflow==2.4.0"),
    ({"min_driver": "418.30"}, r"min_driver 418.30 is below .* \(418.39\); set min_driver to 418.39"),
])
def test_an_inconsistent_stack_declaration_is_one_line_with_a_fix(declare, fields, expected):
    declare(**fields)
    with pytest.raises(StackError) as error:
        resolve("tf21", locked=False)
    assert "\n" not in str(error.value)
    assert re.search(expected, str(error.value)), str(error.value)


@pytest.mark.parametrize("kwargs, expected", [
    ({"os": "macos"}, r"unknown os 'macos'"),
    ({"channel": "pytorch"}, r"unknown conda channel"),
    ({"gpu_cc": "8.6"}, r"compute capability 8.6 .* use tensorflow==2.5.0 \(CUDA 11.2\) or later"),
    ({"gpu_cc": "8.0"}, r"compute capability 8.0 .* use tensorflow==2.4.0 \(CUDA 11.0\)"),
    ({"gpu_cc": "9.0"}, r"compute capability 9.0 .* use tensorflow==2.12.0 \(CUDA 11.8\)"),
    ({"gpu_cc": "3.0"}, r"compute capability 3.0 is too old"),
    ({"gpu_cc": "eight"}, r"malformed GPU compute capability"),
])
def test_tf21_inconsistent_input_is_one_line_with_a_fix(kwargs, expected):
    with pytest.raises(StackError) as error:
        resolve("tf21", **kwargs)
    message = str(error.value)
    assert "\n" not in message
    assert re.search(expected, message), message


@pytest.mark.parametrize("spec, os, expected", [
    ("tensorflow==2.12.0", "windows", r"no native Windows GPU build .* use tensorflow==2.10.0 or --os linux"),
    ("tensorflow==2.11.0", "windows", r"no native Windows GPU build"),
    ("tensorflow==9.9.9", "linux", r"not in the tested-build table"),
    ("tensorflow==2.3.9", "linux", r"use tensorflow==2.3.4 \(same 2.3 series\)"),
    ("tensorflow-gpu==2.12.0", "linux", r"tensorflow-gpu stops at 2.11.*use tensorflow==2.12.0"),
    ("tf99", "linux", r"unknown stack 'tf99': known stacks are tf21"),
    ("tensorflow>=2.1", "linux", r"malformed stack spec"),
    ("torch==2.1.0", "linux", r"malformed stack spec"),
    ("", "linux", r"malformed stack spec"),
])
def test_bad_specs(spec, os, expected):
    with pytest.raises(StackError, match=expected):
        resolve(spec, os=os)


def test_stack_error_is_a_value_error_on_one_line():
    assert issubclass(StackError, ValueError)
    assert str(StackError("a\nb  c")) == "a b c"


@pytest.mark.parametrize("cc, ok", [("3.5", True), ("5.0", True), ("6.1", True), ("7.0", True),
                                    ("7.5", True), ("3.0", False), ("8.0", False), ("8.6", False),
                                    ("8.9", False), ("9.0", False)])
def test_gpu_support_for_tf21_by_generation(tf21, cc, ok):
    result, message, suggestion = gpu_support(tf21, cc)
    assert result is ok
    assert (message is None) is ok
    if not ok:
        assert cc in message and "\n" not in message


def test_gpu_support_suggestions(tf21):
    assert gpu_support(tf21, "8.6")[2] == "tensorflow==2.5.0"
    assert gpu_support(tf21, "8.0")[2] == "tensorflow==2.4.0"
    assert gpu_support(tf21, "8.9")[2] == "tensorflow==2.12.0"
    assert gpu_support(tf21, "3.0")[2] is None
    assert gpu_support(tf21, None) == (True, None, None)
    # a GPU too old for a new release points back to the newest release that runs it
    assert gpu_support(resolve("tensorflow==2.21.0"), "3.7")[2] == "tensorflow==2.13.0"  # 2.14 cannot be installed


def test_windows_gpu_gate_points_to_linux_for_ada():
    ok, message, suggestion = gpu_support(resolve("tf21", os="windows"), "8.9")
    assert not ok and suggestion == "tensorflow==2.12.0" and "Linux/WSL2" in message


def test_public_api_names():
    for name in ("resolve", "StackError", "gpu_support", "driver_satisfies", "conda_version_matches",
                 "compute_capability_for", "known_releases", "stack_names"):
        assert hasattr(stacks, name)
