"""Run the controller's pip as if it were the target interpreter, for PEP 508 markers.

`pip --python-version 3.7 --platform ...` picks wheels by the target's tags and
Requires-Python, but it evaluates environment markers (`importlib-metadata;
python_version < "3.8"`, required by Markdown for tensorboard 2.1) against the *running*
interpreter: on a 3.11 controller those dependencies silently drop out of a 3.7
wheelhouse. This wrapper replaces pip's marker environment with the target's, then runs pip.

Usage: python -m tools.bundle.pip_target '{"python_version": "3.7", ...}' PIP-ARGS...
"""

import json
import sys


def main(argv):
    target = json.loads(argv[0])
    from pip._vendor.packaging import markers

    environment = markers.default_environment()
    environment.update(target)
    # Marker.evaluate() looks default_environment up at call time, so this reaches every
    # requirement pip reads, from files and from Requires-Dist alike.
    markers.default_environment = lambda: dict(environment)
    from pip._internal.cli.main import main as pip_main

    return pip_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
