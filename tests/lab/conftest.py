"""Everything under tests/lab/ needs the simulated lab (root, network namespaces, overlayfs):
each test here is marked `lab`, so `./dev test -m "not lab"` runs the other tiers anywhere."""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.lab)
