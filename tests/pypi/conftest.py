"""Everything under tests/pypi/ re-resolves the stack rows against the real PyPI: each test here is
marked `pypi`, so `-m "not pypi"` leaves the network out and `-m pypi` runs only this tier."""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.pypi)
