"""End-to-end: the real deploy over real SSH against the simulated lab (lab/).

Needs root and the lab's prerequisites; a missing one fails with what to install (lab.testing).
Each test module starts the spec it needs (`lab_for`), so the modules can run in any order.
"""

from lab.testing import lab_for, lab_session, lab_spec_path  # noqa: F401  (pytest fixtures)
