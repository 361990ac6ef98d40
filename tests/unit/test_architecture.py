"""The rooms' imports run one way: tools -> deploys -> operations -> facts -> stacks; and the
repository is self-contained.

Every import of every production module is read from its source (ast, nothing is executed),
lazy imports inside functions included. docs/architecture.md describes the rooms and why the
arrows run down.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Higher rooms may import lower ones, never the other way round.
LAYERS = ["stacks", "facts", "operations", "deploys", "tools"]
# inventories only say where: they hand hosts and data to pyinfra.
INVENTORY_MAY_IMPORT = {"inventories", "deploys", "stacks"}
# The one module that may hand the simulated lab's hosts to pyinfra.
LAB_DOOR = "inventories.sim"
PRODUCTION = [*LAYERS, "inventories"]
PROJECT = {*PRODUCTION, "lab", "tests"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for room in PRODUCTION for path in sorted((ROOT / room).rglob("*.py"))}


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules that `name` imports (a `from pkg import x` names pkg.x when x is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if _is_module(candidate) else base)
    return {target for target in found if target.split(".")[0] in PROJECT}


def _room(module: str) -> str:
    return module.split(".")[0]


def _graph() -> dict[str, set[str]]:
    return {name: _imports(name, path) for name, path in _modules().items()}


def test_the_rooms_are_all_there():
    modules = _modules()
    for room in PRODUCTION:
        assert any(_room(name) == room for name in modules), f"no module found in {room}/"


def test_no_arrow_runs_back_up():
    wrong = []
    for module, targets in _graph().items():
        room = _room(module)
        for target in sorted(targets):
            other = _room(target)
            if other == "lab":
                if module != LAB_DOOR:
                    wrong.append(f"{module} imports {target}: no production room imports lab/")
            elif other in ("tests",):
                wrong.append(f"{module} imports {target}: production code never imports the tests")
            elif room == "inventories":
                if other not in INVENTORY_MAY_IMPORT:
                    wrong.append(f"{module} imports {target}: inventories import only deploys and stacks")
            elif other == "inventories" or LAYERS.index(other) > LAYERS.index(room):
                wrong.append(f"{module} imports {target}: {room}/ sits below {other}/")
    assert wrong == [], "\n".join(wrong)


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    cycles, done, path = [], set(), []

    def visit(module: str) -> None:
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if target in path:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in done and target in graph:
                visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module)
    return cycles


def test_no_import_cycle():
    cycles = _cycles(_graph())
    assert cycles == [], "\n".join(cycles)


def test_a_cycle_is_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert _cycles(graph) == ["a -> b -> c -> a"]


@pytest.mark.parametrize("module, source, expected", [
    ("deploys.workstation", "from . import settings\nimport json\n", {"deploys.settings"}),
    ("stacks.resolve", "from .versions import driver_satisfies\n", {"stacks.versions"}),
    ("stacks", "from .versions import driver_satisfies\n", {"stacks.versions"}),  # a package's __init__
    ("tools.report.collect", "import deploys.desired\nfrom stacks import driver_satisfies\nimport gevent\n",
     {"deploys.desired", "stacks"}),
])
def test_imports_are_read_as_python_resolves_them(tmp_path, module, source, expected):
    path = tmp_path / ("__init__.py" if module == "stacks" else "module.py")
    path.write_text(source)
    assert _imports(module, path) == expected


# Documents the project was started from, which are not in the repository.
OUTSIDE_DOCUMENTS = re.compile(r"DESIGN\.md|INTERFACES\.md|pyinfra[- ]notes|versions\.md|shared/reference")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".json", ".txt", ".toml", ".sh"}


def _project_files():
    for room in [*PRODUCTION, "lab", "tests", "docs"]:
        for path in sorted((ROOT / room).rglob("*")):
            if path.is_file() and path.suffix in TEXT_SUFFIXES and "__pycache__" not in path.parts:
                yield path
    yield from (ROOT / "README.md", ROOT / "dev", ROOT / "pyproject.toml")


def test_nothing_refers_to_documents_outside_the_repository():
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}"
             for path in _project_files() if path != Path(__file__)
             for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
             if OUTSIDE_DOCUMENTS.search(line)]
    assert found == [], "cite a public URL or a file under docs/ instead:\n" + "\n".join(found)


def test_every_relative_link_in_the_docs_resolves():
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted(ROOT.glob("*/README.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == [], "\n".join(broken)
