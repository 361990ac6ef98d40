"""Lab self-tests share one running lab (lab/specs/small.yaml) for the whole session."""

from lab.testing import lab, lab_session, lab_spec_path  # noqa: F401  (pytest fixtures)
