"""Fact specs: command in, captured output in -> parsed value out.

Each folder tests/spec/facts/<module>.<Fact>/ holds JSON/YAML cases run by pyinfra's own harness
(pyinfra-testing), imported from our top-level `facts` package. The plain-function parsers, the
NVML path and real runs of the probe scripts are tested in tests/unit/facts/test_*.py.
"""

from pathlib import Path

from pyinfra_testing.facts import make_fact_tests

BASE_IMPORT_PATH = "facts"
TESTS_BASE = Path(__file__).parent / "facts"

for _fact_path in sorted(d.name for d in TESTS_BASE.iterdir() if d.is_dir() and "." in d.name):
    locals()[_fact_path] = make_fact_tests(BASE_IMPORT_PATH, _fact_path, TESTS_BASE / _fact_path)
