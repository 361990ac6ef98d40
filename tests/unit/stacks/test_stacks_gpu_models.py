"""GPU model names (as nvidia-smi prints them) -> compute capability."""

import pytest

from stacks import compute_capability_for


@pytest.mark.parametrize("name, cc", [
    ("GeForce GTX 1080 Ti", "6.1"),
    ("NVIDIA GeForce GTX 1080", "6.1"),
    ("TITAN X (Pascal)", "6.1"),
    ("NVIDIA TITAN Xp", "6.1"),
    ("GeForce GTX TITAN X", "5.2"),       # the Maxwell one
    ("TITAN V", "7.0"),
    ("Tesla V100-SXM2-16GB", "7.0"),
    ("GeForce RTX 2080 Ti", "7.5"),
    ("NVIDIA GeForce RTX 2070", "7.5"),
    ("TITAN RTX", "7.5"),
    ("Tesla T4", "7.5"),
    ("Quadro RTX 6000", "7.5"),
    ("NVIDIA GeForce RTX 3090", "8.6"),
    ("A100-SXM4-40GB", "8.0"),
    ("NVIDIA A100 80GB PCIe", "8.0"),
    ("NVIDIA A10", "8.6"),                # not A100
    ("NVIDIA A40", "8.6"),
    ("NVIDIA RTX A6000", "8.6"),
    ("NVIDIA GeForce RTX 4090", "8.9"),
    ("NVIDIA L4", "8.9"),
    ("NVIDIA L40S", "8.9"),
    ("NVIDIA RTX 6000 Ada Generation", "8.9"),
    ("NVIDIA H100 80GB HBM3", "9.0"),
    ("NVIDIA H200", "9.0"),
    ("Tesla K80", "3.7"),
    ("Tesla K40m", "3.5"),                # printed with the board suffix
    ("Tesla K40", "3.5"),
    ("Tesla K4000", None),                # no such board: "K40" must not match inside it
    ("GeForce GTX 980", "5.2"),
    ("Tesla P100-PCIE-16GB", "6.0"),
    ("geforce gtx 1060 6gb", "6.1"),      # case-insensitive
    ("  NVIDIA   GeForce  RTX 3080  ", "8.6"),
])
def test_known_models(name, cc):
    assert compute_capability_for(name) == cc


@pytest.mark.parametrize("name", ["", None, "Matrox G200", "NVIDIA", "Virtual GPU"])
def test_unknown_names_give_none(name):
    assert compute_capability_for(name) is None
