"""The shape of the code itself: no import cycles, small modules, the fast path kept apart.

The import graph is read from the source with ``ast`` (every ``import``, at
any depth, those under ``if TYPE_CHECKING:`` included), so a cycle is found
whether or not it would fail at import time.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lab", "clients", "benchmarks")
MAX_LINES = 400


def modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def all_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree``, at any depth (``if TYPE_CHECKING:`` ones too)."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]


def import_graph() -> dict[str, set[str]]:
    """Module → the project's modules it imports (a package's ``__init__`` counts as the
    package)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in all_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            edges |= {target for target in targets if target in known and target != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in ``graph`` as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles() -> None:
    """No module of lab/, clients/ or benchmarks/ imports itself through others."""
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a made-up graph with a cycle is caught."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_only_the_apps_wiring_imports_the_fast_path() -> None:
    """Nothing in lab/ outside lab/fast/ depends on the engineered path but ``create_app``."""
    importers = {name for name, edges in import_graph().items()
                 if any(e == "lab.fast" or e.startswith("lab.fast.") for e in edges)
                 and name.startswith("lab") and not name.startswith("lab.fast")}
    assert importers == {"lab.app"}


def test_the_hub_does_no_io() -> None:
    """The hub and the mailbox import nothing that reaches a socket, a file or a process."""
    for name in ("lab.hub", "lab.mailbox"):
        tree = ast.parse(modules()[name].read_text())
        imported = {alias.name.split(".")[0] for node in all_imports(tree)
                    for alias in node.names} | {
            (node.module or "").split(".")[0] for node in all_imports(tree)
            if isinstance(node, ast.ImportFrom)}
        assert not imported & {"socket", "os", "aiohttp", "subprocess", "select", "selectors"}


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_stay_small(name: str) -> None:
    """No module is over 400 lines."""
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_no_issue_numbers_in_what_users_read() -> None:
    """Docstrings, comments and help name things, not tracker numbers."""
    pattern = re.compile(r"\b(issue|item) #?\d", re.IGNORECASE)
    offenders = [f"{path.relative_to(ROOT)}:{number}" for path in modules().values()
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert not offenders


def test_the_report_reads_only_results() -> None:
    """``benchmarks/report/`` builds from saved results alone: it imports no suite, no scale
    runner, no server."""
    outside = {f"{name} → {target}" for name, edges in import_graph().items()
               if name.startswith("benchmarks.report") for target in edges
               if not target.startswith(("benchmarks.report", "benchmarks.results", "lab.contract"))}
    assert not outside
