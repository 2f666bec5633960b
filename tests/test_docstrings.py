"""Docstrings tell the architecture: every module is named where a newcomer looks, every public name has an Example."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pt2canon"


def _modules() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append(".".join(parts))
    return out


def test_every_module_is_named_in_its_packages_docstring_or_in_the_pipeline() -> None:
    """A newcomer finds each module from ``pt2canon``'s docstring (the pipeline) or its package's."""
    top = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text())) or ""
    unnamed = []
    for name in _modules():
        parts = name.split(".")[1:]
        if not parts or any(p.startswith("_") for p in parts):
            continue  # the package itself, private modules
        package = PACKAGE.joinpath(*parts[:-1], "__init__.py")
        local = ast.get_docstring(ast.parse(package.read_text())) or ""
        dotted = ".".join(parts)
        if not re.search(rf"(?<![\w.]){re.escape(dotted)}\b", top) and not re.search(rf"\b{parts[-1]}\b", local):
            unnamed.append(name)
    assert not unnamed, f"modules no docstring names: {unnamed}"


def test_every_public_function_and_class_of_canon_diff_and_serde_has_a_runnable_example() -> None:
    """As networkx does: each name in a module's ``__all__`` shows its use in an Examples section (run by pytest)."""
    missing = []
    for name in _modules():
        if name.split(".")[1:2] not in (["canon"], ["diff"], ["serde"]):
            continue
        module = importlib.import_module(name)
        for public in getattr(module, "__all__", ()):
            obj = getattr(module, public)
            defined_here = getattr(obj, "__module__", None) == name
            if defined_here and (inspect.isfunction(obj) or inspect.isclass(obj)) and ">>>" not in (obj.__doc__ or ""):
                missing.append(f"{name}.{public}")
    assert not missing, f"no Example: {missing}"
