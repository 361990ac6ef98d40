"""Run the controller's pip as if it were the target interpreter, for PEP 508 markers and for
the Requires-Python of the wheels' metadata.

`pip --python-version 3.7 --platform ...` picks wheels by the target's tags and
Requires-Python, but it evaluates environment markers (`importlib-metadata;
python_version < "3.8"`, required by Markdown for tensorboard 2.1) against the *running*
interpreter: on a 3.11 controller those dependencies silently drop out of a 3.7
wheelhouse. This wrapper replaces pip's marker environment with the target's, then runs pip.

Requires-Python is read in two places. The index's `data-requires-python` (PEP 503) is checked
by the finder against --python-version. The wheel's own METADATA is checked by the resolver,
and `pip install` up to 23.2 builds that resolver without --python-version, so a wheel whose
Requires-Python excludes the *controller's* python (`>=3.5,<3.8` on a 3.11 controller) fails
with "requires a different Python: 3.11.7 not in '<3.8,>=3.5'" even though the target is 3.7
(https://github.com/pypa/pip/issues/12216; `pip download` already passes it). The wrapper hands
the resolver --python-version as `pip download` and later pips do.

Usage: python -m tools.bundle.pip_target '{"python_version": "3.7", ...}' PIP-ARGS...
"""

import json
import sys


def _target_markers(target):
    from pip._vendor.packaging import markers

    environment = markers.default_environment()
    environment.update(target)
    # Marker.evaluate() looks default_environment up at call time, so this reaches every
    # requirement pip reads, from files and from Requires-Dist alike.
    markers.default_environment = lambda: dict(environment)


def _target_requires_python():
    from pip._internal.cli.req_command import RequirementCommand

    make_resolver = RequirementCommand.make_resolver.__func__

    def with_target_python(cls, preparer, finder, options, *args, **kwargs):
        # Only fills what the caller left out: a pip that passes it already is unchanged.
        if kwargs.get("py_version_info") is None and getattr(options, "python_version", None):
            kwargs["py_version_info"] = options.python_version
        return make_resolver(cls, preparer, finder, options, *args, **kwargs)

    RequirementCommand.make_resolver = classmethod(with_target_python)


def main(argv):
    _target_markers(json.loads(argv[0]))
    _target_requires_python()
    from pip._internal.cli.main import main as pip_main

    return pip_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
