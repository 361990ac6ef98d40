"""pip facts: the Python packages an env's interpreter sees.

The module is not called `pip.py`: pyinfra-testing keys facts by the last module segment, and
pyinfra already has `pip.PipPackages` (pip freeze based: it drops local versions such as
`2.1.0+cu101` and conda's `name @ file://` lines, and compares unnormalised names).

Command: `PYTHON -m pip list --format=json --disable-pip-version-check`. JSON output exists since
pip 9 (the lab's envs have pip 20.0.2); `pip list` reports every distribution the interpreter
imports from, conda-installed ones included, with the version as the distribution declares it.
"""

from __future__ import annotations

import json
import re

from pyinfra.api import FactBase

from facts._sections import parse_sections, script_with_variables


def normalize_name(name: str) -> str:
    """PEP 503 normalised project name: ``typing_extensions`` -> ``typing-extensions``,
    ``Keras-Applications`` -> ``keras-applications``, ``zope.interface`` -> ``zope-interface``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pip_list_json(text: str) -> dict[str, str]:
    """
    Parse ``pip list --format=json`` output into ``{pep503_name: version}``.

    + text: pip's output; warning lines around the JSON (pip prints it on one line) are ignored

    Raises ValueError when there is no JSON list in the text.

    **Example:**

    .. code:: python

        parse_pip_list_json('[{"name": "tensorflow-gpu", "version": "2.1.0"}]')
    """
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            data = json.loads(line)
            return {normalize_name(item["name"]): item["version"] for item in data}
    raise ValueError("no JSON list in pip's output")


def parse_python_version(text: str) -> str | None:
    """``Python 3.7.16`` (what ``python -V`` prints) -> ``3.7.16``; None otherwise."""
    match = re.search(r"Python (\d+\.\d+(?:\.\d+)?\S*)", text or "")
    return match.group(1) if match else None


_SCRIPT = r"""
found=
case "$PY" in
    */*) if [ -x "$PY" ] && [ ! -d "$PY" ]; then
            # never started as root when another user could have changed it (facts/ownership.py):
            # the interpreter, its bin folder or its env owned by someone else, or group/world-writable
            _bad=$(find -L "$PY" "${PY%/*}" "${PY%/*/*}" -maxdepth 0 \( \( ! -uid 0 ! -uid "$(id -u)" \) -o -perm /022 \) -print 2>/dev/null)
            if [ -n "$_bad" ]; then printf '@@section unsafe rc=1\n%s\n' "$_bad"; else found=yes; fi
        fi ;;
    *) if command -v "$PY" >/dev/null 2>&1; then found=yes; fi ;;
esac
if [ -n "$found" ]; then
    run_section version "$PY" -V
    run_section pip_list "$PY" -I -m pip list --format=json --disable-pip-version-check
fi
echo '@@end'
"""


class PipPackages(FactBase):
    """
    The packages an interpreter sees, by PEP 503 name, with exact versions (local versions kept).

    + python: the interpreter, e.g. ``/opt/miniconda3/envs/tf21/bin/python``

    Returns::

        {"present": bool,              # the interpreter exists
         "python": "3.7.16" | None,
         "packages": {"tensorflow-gpu": "2.1.0", "typing-extensions": "3.7.4.3", ...},
         "error": str | None,          # e.g. "No module named pip"
         "unsafe": [path]}             # the interpreter was not started: these paths are owned by
                                       # another user or group/world-writable

    **Example:**

    .. code:: python

        pip = host.get_fact(PipPackages, python="/opt/miniconda3/envs/tf21/bin/python")
    """

    def command(self, python: str):
        from facts._sections import RUN_SECTION

        return script_with_variables(RUN_SECTION + _SCRIPT, PY=python)

    @staticmethod
    def default() -> dict:
        return {"present": False, "python": None, "packages": {}, "error": None, "unsafe": []}

    def process(self, output: list[str]) -> dict:
        sections = parse_sections(output)
        result = self.default()
        if "unsafe" in sections:
            result["unsafe"] = [line for line in sections["unsafe"].lines if line.strip()]
        if "version" not in sections:
            return result
        result["present"] = True
        result["python"] = parse_python_version(sections["version"].text)
        pip_list = sections.get("pip_list")
        if pip_list is not None:
            try:
                result["packages"] = parse_pip_list_json(pip_list.text)
            except ValueError:
                lines = [line.strip() for line in pip_list.lines if line.strip()]
                result["error"] = lines[-1] if lines else f"pip list exited {pip_list.rc}"
        return result
