"""The package's shape: imports point down the layer list, and there is no import cycle.

Every import counts, ``if TYPE_CHECKING:`` and function-level ones included: a cycle that only
mypy sees today is a cycle the next refactor turns into an ``ImportError``. The layers are the
ones docs/architecture.md draws; a new module is placed in :data:`LAYERS` on purpose.

Run as a script (``python tests/test_architecture.py [ROOT]``) it prints the import graph's
violations and, as figures for planning, module sizes and reads of other objects' private
attributes.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent

# Lowest layer first. A module may import its own layer (without a cycle) and the ones below.
# The longest matching prefix decides a module's layer.
LAYERS: List[Tuple[str, ...]] = [
    ("syncdp.exceptions", "syncdp._types"),
    ("syncdp.discovery", "syncdp.screenshot", "syncdp.localserver", "syncdp._checks"),
    ("syncdp.protocol", "syncdp.cdp_types"),
    ("syncdp.transports",),
    ("syncdp.connection",),
    ("syncdp.launcher",),
    ("syncdp.element", "syncdp.page", "syncdp.tab", "syncdp.browser"),
    ("syncdp",),  # the package's __init__: the public API, re-exported
    ("syncdp.cli", "syncdp.__main__", "syncdp.devtools", "syncdp.stubgen", "syncdp.pytest_plugin"),
]
GENERATED = ("syncdp.cdp_types",)


def module_files(root: Path) -> Dict[str, Path]:
    """Map every module of ``root/syncdp`` to its file (packages by their ``__init__``)."""
    modules: Dict[str, Path] = {}
    for path in sorted((root / "syncdp").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve_relative(module: str, is_package: bool, level: int, name: Optional[str]) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports_of(module: str, path: Path, modules: Dict[str, Path]) -> Iterator[Tuple[str, int]]:
    """Yield (imported module of the tree, line) for every import statement in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve_relative(module, is_package, node.level, node.module)
            else:
                target = node.module or ""
            if not (target == "syncdp" or target.startswith("syncdp.")):
                continue
            for alias in node.names:
                sub = "%s.%s" % (target, alias.name)
                if sub in modules:  # ``from syncdp import discovery`` imports a module
                    yield sub, node.lineno
                elif target in modules:
                    yield target, node.lineno


def import_graph(root: Path) -> Dict[str, Dict[str, int]]:
    """module -> {imported module: first line}, hand-written modules only; no self edges."""
    modules = module_files(root)
    graph: Dict[str, Dict[str, int]] = {}
    for module, path in modules.items():
        if module.startswith(GENERATED):  # generated typed stubs: their cycles are the protocol's
            continue
        edges: Dict[str, int] = {}
        for target, line in imports_of(module, path, modules):
            if target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def cycles(graph: Dict[str, Dict[str, int]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    on_stack: Set[str] = set()
    stack: List[str] = []
    found: List[List[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: List[Tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layer_of(module: str) -> Optional[int]:
    """The index in :data:`LAYERS` of the longest prefix matching ``module``."""
    best: Optional[Tuple[int, int]] = None
    for number, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), number)
    return None if best is None else best[1]


def layer_violations(graph: Dict[str, Dict[str, int]]) -> List[str]:
    """Imports that point up the layer list, and modules in no layer."""
    problems = []
    for module in sorted(graph):
        mine = layer_of(module)
        if mine is None:
            problems.append("%s is in no layer: add it to LAYERS in tests/test_architecture.py" % module)
            continue
        for target, line in sorted(graph[module].items()):
            theirs = layer_of(target)
            if theirs is not None and theirs > mine:
                problems.append(
                    "%s (layer %d) imports %s (layer %d) at line %d: imports point down only"
                    % (module, mine, target, theirs, line)
                )
    return problems


def private_reads(root: Path) -> List[str]:
    """``other._name`` reads (not ``self``/``cls``) in hand-written modules, as file:line."""
    found = []
    for module, path in module_files(root).items():
        if module.startswith(GENERATED):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            name = node.attr
            if not name.startswith("_") or name.startswith("__"):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            here = lines[node.lineno - 1]
            above = lines[node.lineno - 2] if node.lineno > 1 else ""
            why = "#" in here or above.strip().startswith("#")
            found.append(
                "%s:%d %s%s" % (path.relative_to(root), node.lineno, name, "" if why else "  (no comment)")
            )
    return found


def module_sizes(root: Path) -> List[Tuple[int, str]]:
    """(lines, file) for hand-written modules, largest first."""
    sizes = []
    for module, path in module_files(root).items():
        if not module.startswith(GENERATED):
            sizes.append((len(path.read_text(encoding="utf-8").splitlines()), str(path.relative_to(root))))
    return sorted(sizes, reverse=True)


# -- tests --------------------------------------------------------------------------------


def test_no_import_cycle_among_modules_type_only_imports_included() -> None:
    found = cycles(import_graph(ROOT))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_imports_point_down_the_layers_of_the_architecture() -> None:
    problems = layer_violations(import_graph(ROOT))
    assert not problems, "\n".join(problems)


def test_the_checker_finds_a_type_only_cycle_and_an_upward_import(tmp_path: Path) -> None:
    package = tmp_path / "syncdp"
    (package / "connection").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "connection" / "__init__.py").write_text("")
    (package / "connection" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from syncdp.connection.b import B\n"
    )
    (package / "connection" / "b.py").write_text("def f():\n    from . import a\n")
    (package / "exceptions.py").write_text("from syncdp import tab\n")
    (package / "tab.py").write_text("")
    graph = import_graph(tmp_path)
    assert cycles(graph) == [["syncdp.connection.a", "syncdp.connection.b"]]
    assert any("syncdp.exceptions (layer 0) imports syncdp.tab" in p for p in layer_violations(graph))


def test_no_hand_written_module_over_600_lines_and_the_handler_under_500() -> None:
    big = [(size, name) for size, name in module_sizes(ROOT) if size > 600]
    assert not big, big
    handler = ROOT / "syncdp" / "connection" / "handler.py"
    assert len(handler.read_text(encoding="utf-8").splitlines()) <= 500


def test_the_connection_package_exports_public_names_only() -> None:
    import syncdp.connection

    exported = set(syncdp.connection.__all__)
    assert exported == {"ConnectionHandler", "Session", "EventExpectation", "ATTACHED_EVENT",
                        "DISCONNECTED_EVENT", "run_coroutine"}
    assert all(hasattr(syncdp.connection, name) for name in exported)


if __name__ == "__main__":
    where = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    graph = import_graph(where)
    print("== import cycles")
    for component in cycles(graph):
        print("  " + " <-> ".join(component))
    print("== layer violations")
    for problem in layer_violations(graph):
        print("  " + problem)
    print("== modules over 400 lines")
    for size, name in module_sizes(where):
        if size > 400:
            print("  %5d %s" % (size, name))
    reads = private_reads(where)
    print("== reads of other objects' private attributes: %d" % len(reads))
    for read in reads:
        print("  " + read)
