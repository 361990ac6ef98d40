"""Operation specs: facts in -> exact commands (or a noop description) out.

Each folder tests/spec/operations/<module>.<operation>/ holds JSON/YAML cases run by pyinfra's own
harness (pyinfra-testing), imported from our top-level `operations` package.
"""

from pathlib import Path

from pyinfra_testing.operations import make_operation_tests

BASE_IMPORT_PATH = "operations"
TESTS_BASE = Path(__file__).parent / "operations"

for _op_path in sorted(d.name for d in TESTS_BASE.iterdir() if d.is_dir() and "." in d.name):
    locals()[_op_path] = make_operation_tests(BASE_IMPORT_PATH, _op_path, TESTS_BASE / _op_path)
