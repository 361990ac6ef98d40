"""End-to-end: the real deploy over real SSH against the simulated lab (lab/).

Needs root and the lab's prerequisites; a missing one fails with what to install (lab.testing).
Each test module starts the spec it needs (`lab_for`), so the modules can run in any order.
"""

import pytest

from lab.testing import lab_session, lab_spec_path  # noqa: F401  (pytest fixtures)
from tests.e2e.runner import SPECS


@pytest.fixture(scope="module")
def lab_for(lab_session):  # noqa: F811  (the fixture imported above)
    """Start the lab with a given spec for this module: `lab = lab_for("small.yaml")`."""

    def start(spec: str):
        lab_session.spec_path = (SPECS / spec).resolve()
        lab_session.ensure_up()
        return lab_session

    return start
