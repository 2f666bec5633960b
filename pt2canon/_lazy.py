"""Attributes of a package imported on first use (PEP 562 ``__getattr__``), so that importing it stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["lazy_attribute"]


def lazy_attribute(namespace: dict[str, Any], table: Mapping[str, str], package: str, name: str) -> Any:
    """Import ``table[name]``, take its attribute ``name``, keep it in ``namespace`` and return it.

    When ``table[name]`` is the submodule ``package.name`` itself, the
    submodule is the attribute (``pt2canon.diff`` is a package one calls).

    Examples
    --------
    >>> ns = {}
    >>> lazy_attribute(ns, {"dumps_pretty": "pt2canon._json"}, "pkg", "dumps_pretty").__name__, "dumps_pretty" in ns
    ('dumps_pretty', True)
    >>> lazy_attribute(ns, {}, "pkg", "missing")
    Traceback (most recent call last):
    ...
    AttributeError: module 'pkg' has no attribute 'missing'
    """
    module = table.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    imported = importlib.import_module(module)
    value = imported if module == f"{package}.{name}" else getattr(imported, name)
    namespace[name] = value
    return value
