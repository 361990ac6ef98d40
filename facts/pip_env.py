"""pip facts: the Python packages an env's interpreter sees.

The module is not called `pip.py`: pyinfra-testing keys facts by the last module segment, and
pyinfra already has `pip.PipPackages` (pip freeze based: it drops local versions such as
`2.1.0+cu101` and conda's `name @ file://` lines, and compares unnormalised names).

Two ways to read it, both reporting every distribution the interpreter imports from (conda-installed
ones included) with the version as the distribution declares it:

- In a conda env (``ENV/conda-meta/python-*.json`` beside ``ENV/bin/python``), no Python is started:
  the ``Name:`` and ``Version:`` headers of each distribution's metadata are read the way pip's own
  listing finds them (PEP 376/PEP 566 ``*.dist-info/METADATA``, setuptools ``*.egg-info``, eggs),
  in ``ENV/lib/pythonX.Y/site-packages`` and then in the folders its ``.pth`` files add (what
  ``python -I`` puts on sys.path; the user site is off). Starting the interpreter and importing pip
  cost a quarter of a CPU second per host and run, more than all the other reads of a no-op
  together; the interpreter's version comes from conda's record of python.
- Any other interpreter (a venv, the system python): ``PYTHON -I -m pip list --format=json``
  (JSON output exists since pip 9), which also covers layouts the scan does not know.
"""

from __future__ import annotations

import json
import re

from pyinfra.api import FactBase

from facts._sections import parse_sections, script_with_variables
from facts.ownership import UID_PART


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


def parse_distributions(lines: list[str]) -> dict[str, str]:
    """
    Parse the metadata scan's ``NAME VERSION`` lines into ``{pep503_name: version}``.

    + lines: one distribution a line, in sys.path order; the first of a name wins, as on import

    **Example:**

    .. code:: python

        parse_distributions(["Keras_Applications 1.0.8", "tensorflow-gpu 2.1.0"])
    """
    found: dict[str, str] = {}
    for line in lines:
        name, _, version = line.strip().partition(" ")
        if name and version:
            found.setdefault(normalize_name(name), version.strip())
    return found


def parse_python_version(text: str) -> str | None:
    """``Python 3.7.16`` (what ``python -V`` prints) or ``python-3.7.16-h0371630_0.json`` (conda's
    record of it) -> ``3.7.16``; None otherwise."""
    match = re.search(r"[Pp]ython[ -](\d+\.\d+(?:\.\d+)?[^\s-]*)", text or "")
    return match.group(1) if match else None


_SCRIPT = r"""
found=
case "$PY" in
    */*) if [ -x "$PY" ] && [ ! -d "$PY" ]; then
            # never started as root when another user could have changed it (facts/ownership.py):
            # the interpreter, its bin folder or its env owned by someone else, or group/world-writable
            gpuws_uid
            _bad=$(find -L "$PY" "${PY%/*}" "${PY%/*/*}" -maxdepth 0 \( \( ! -uid 0 ! -uid "$_uid" \) -o -perm /022 \) -print 2>/dev/null)
            if [ -n "$_bad" ]; then printf '@@section unsafe rc=1\n%s\n' "$_bad"; else found=yes; fi
        fi ;;
    *) if command -v "$PY" >/dev/null 2>&1; then found=yes; fi ;;
esac
_record=
case "$PY" in */*) for _r in "${PY%/*/*}"/conda-meta/python-[0-9]*.json; do [ -f "$_r" ] && _record=$_r; done ;; esac
if [ -n "$found" ] && [ -n "$_record" ]; then
    # a conda env: its distributions' metadata, read without starting Python
    _v=${_record##*/python-}; _v=${_v%%-*}; _minor=${_v#*.}
    SP="${PY%/*/*}/lib/python${_v%%.*}.${_minor%%.*}/site-packages"
    printf '@@section conda_python rc=0\n%s\n' "${_record##*/}"
    # site-packages, then the folders its .pth files add to sys.path (lines that are neither
    # comments nor `import` statements), as site.py reads them: relative unless absolute
    _dirs=$(printf '%s\n' "$SP"
        for _f in "$SP"/*.pth; do
            [ -f "$_f" ] || continue
            while IFS= read -r _l || [ -n "$_l" ]; do
                case "$_l" in ''|'#'*|'import'[[:blank:]]*) continue ;; /*) ;; *) _l="$SP/$_l" ;; esac
                if [ -d "$_l" ]; then printf '%s\n' "$_l"; fi
            done < "$_f"
        done)
    set --
    while IFS= read -r D; do
        for _m in "$D"/*.dist-info/METADATA "$D"/*.egg-info/PKG-INFO "$D"/*.egg-info "$D"/EGG-INFO/PKG-INFO; do
            if [ -f "$_m" ]; then set -- "$@" "$_m"; fi
        done
    done <<GPUWS_DIRS
$_dirs
GPUWS_DIRS
    echo '@@section distributions rc=0'
    # each file's first Name: and Version: headers (the headers end at the first empty line; the
    # lines after them, or after both are found, are skipped at once: long descriptions follow)
    if [ $# -gt 0 ]; then
        awk 'FNR == 1 { if (n != "") print n " " v; n = ""; v = ""; h = 1 }
             !h || (n != "" && v != "") { next }
             { sub(/\r$/, "") }
             $0 == "" { h = 0 }
             h && n == "" && /^Name:/ { n = $0; sub(/^Name:[ \t]*/, "", n) }
             h && v == "" && /^Version:/ { v = $0; sub(/^Version:[ \t]*/, "", v) }
             END { if (n != "") print n " " v }' "$@"
    fi
elif [ -n "$found" ]; then
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

        return script_with_variables(RUN_SECTION + UID_PART + _SCRIPT, PY=python)

    @staticmethod
    def default() -> dict:
        return {"present": False, "python": None, "packages": {}, "error": None, "unsafe": []}

    def process(self, output: list[str]) -> dict:
        sections = parse_sections(output)
        result = self.default()
        if "unsafe" in sections:
            result["unsafe"] = [line for line in sections["unsafe"].lines if line.strip()]
        if "conda_python" in sections:
            result["present"] = True
            result["python"] = parse_python_version(sections["conda_python"].text)
            result["packages"] = parse_distributions(sections["distributions"].lines
                                                     if "distributions" in sections else [])
            if "pip" not in result["packages"]:  # what `python -m pip` would say
                result["error"] = "No module named pip (no pip distribution in the env)"
            return result
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
