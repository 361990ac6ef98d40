"""stacks: WHAT a workstation should have.

The compatibility knowledge (YAML under stacks/data, every row with its source), the committed
locks (stacks/locks, the exact pip closure of each stack row) and the resolver that turns "tf21"
or "tensorflow==2.3.0" + OS + GPU into a concrete, validated desired state. Bad input raises
StackError (one line) before any host is touched. docs/knowledge/stack-rows.md lists the rows.

**Example:**

.. code:: python

    import stacks
    stack = stacks.resolve("tf21", os="linux", gpu_cc="7.5")
    stacks.driver_satisfies("418.87.01", stack["min_driver"])  # False: 418.87.01 < 418.96
    stacks.lock_for("tf21")["packages"]["pandas"]              # "1.3.5"
"""

from .errors import StackError
from .gpu_models import compute_capability_for
from .knowledge import known_releases, stack_names
from .resolve import gpu_support, resolve
from .installable import lock_for, rows
from .versions import conda_version_matches, driver_satisfies

__all__ = [
    "StackError",
    "compute_capability_for",
    "conda_version_matches",
    "driver_satisfies",
    "gpu_support",
    "known_releases",
    "lock_for",
    "resolve",
    "rows",
    "stack_names",
]
