"""Shared helpers of the fact tests: captured outputs live in tests/fixtures/*.txt, each
starting with a "# source: ..." line that names where the text comes from."""

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def read_fixture(name: str) -> str:
    text = (FIXTURES / name).read_text()
    first, _, rest = text.partition("\n")
    assert first.startswith("# source:"), f"{name}: first line must name the source"
    return rest


@pytest.fixture
def fixture_text():
    return read_fixture
