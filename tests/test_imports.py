"""Imports run one way: no module of the package imports, even lazily, a module that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "pt2canon"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, modules: set[str]) -> set[str]:
    """Modules of the package imported anywhere in ``tree`` (functions included), except for type checking."""
    out: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & modules
            out |= subs or ({node.module} & modules)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _graph() -> nx.DiGraph:
    modules = _modules()
    G = nx.DiGraph()
    for name, path in modules.items():
        G.add_node(name)
        for target in _imports(ast.parse(path.read_text()), set(modules)):
            if target != name and not name.startswith(target + "."):  # a module's own package is not a cycle
                G.add_edge(name, target)
    return G


def test_no_module_imports_a_module_that_imports_it_back() -> None:
    cycles = [c for c in nx.simple_cycles(_graph()) if len(c) > 1]
    assert not cycles, "\n".join(" -> ".join([*c, c[0]]) for c in cycles)


def test_the_checker_sees_imports_inside_functions() -> None:
    G = _graph()
    # pt2canon.commands.hash imports its --check implementation lazily, inside run().
    assert G.has_edge("pt2canon.commands.hash", "pt2canon.commands.check")


def _modules() -> dict[str, Path]:
    """Dotted name -> path of every module of the package (packages by their ``__init__``, compiled ones by their stub)."""
    out = {}
    for path in [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.pyi")]:
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _private_imports(path: Path) -> list[str]:
    """``module.name`` of each private name ``path`` imports from another module of the package."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pt2canon":
            out += [
                f"{node.module}.{a.name}"
                for a in node.names
                if a.name.startswith("_")
                and not a.name.startswith("__")
                and f"{node.module}.{a.name}" not in _modules()
            ]
    return out


def test_no_module_or_test_imports_another_modules_private_name() -> None:
    # A name one module shares with another has no leading underscore; a private *module*
    # (``pt2canon._json``) may be imported, its names are what it offers.
    tests = Path(__file__).resolve().parent
    found = [f"{p}: {name}" for p in [*_modules().values(), *tests.rglob("*.py")] for name in _private_imports(p)]
    assert not found, "\n".join(found)


def test_the_checker_sees_a_private_import_but_not_a_private_module(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from pt2canon.canon.order import _KEY_BYTES, Digests\nfrom pt2canon import _json\n")
    assert _private_imports(probe) == ["pt2canon.canon.order._KEY_BYTES"]
