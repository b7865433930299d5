"""The connection layer's shape: imports point down, no cycles, small modules, public names."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import syncdp
import syncdp.connection

PACKAGE = Path(syncdp.__file__).parent
LAYER = ["connection", "transports"]
BELOW_CONNECTION = {"syncdp.exceptions", "syncdp._types", "syncdp.discovery", "syncdp.protocol"}
ABOVE = ("syncdp.tab", "syncdp.browser", "syncdp.element", "syncdp.launcher", "syncdp.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_modules() -> Dict[str, Path]:
    found = {}
    for sub in LAYER:
        for path in sorted((PACKAGE / sub).glob("*.py")):
            found[module_name(path)] = path
    return found


def imports_of(path: Path) -> Set[str]:
    """Every syncdp module ``path`` imports: top-level, type-only and function-level alike."""
    names: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("syncdp"):
            names.add(node.module)
            names.update("%s.%s" % (node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("syncdp"))
    return names


def test_no_import_cycle_in_the_connection_layer_type_only_imports_included() -> None:
    modules = layer_modules()
    graph = {name: sorted(imports_of(path) & set(modules)) for name, path in modules.items()}
    for name, edges in graph.items():  # a package's __init__ re-exports: not an upward edge
        graph[name] = [e for e in edges if not name.startswith(e + ".")]
    state: Dict[str, int] = {}

    def visit(name: str, trail: List[str]) -> None:
        state[name] = 1
        for target in graph[name]:
            assert state.get(target) != 1, "import cycle: %s" % " -> ".join(trail + [target])
            if target not in state:
                visit(target, trail + [target])
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_the_connection_layer_never_imports_the_layers_above_it() -> None:
    for name, path in layer_modules().items():
        upward = sorted(i for i in imports_of(path) if i.startswith(ABOVE))
        assert upward == [], "%s imports %s" % (name, upward)
        if name.startswith("syncdp.transports"):
            assert not [i for i in imports_of(path) if i.startswith("syncdp.connection")], name


def test_connection_modules_stay_small() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines())
             for name, path in layer_modules().items()}
    assert sizes["syncdp.connection.handler"] <= 500, sizes
    assert max(sizes.values()) <= 600, sizes


def test_the_connection_package_exports_public_names_only() -> None:
    exported = set(syncdp.connection.__all__)
    assert exported == {"ConnectionHandler", "Session", "EventExpectation", "ATTACHED_EVENT",
                        "DISCONNECTED_EVENT", "run_coroutine"}
    assert all(hasattr(syncdp.connection, name) for name in exported)
