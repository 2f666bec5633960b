"""Paths into parsed JSON, for tests that edit documents: every path below a value, and the value at one."""

from __future__ import annotations

from typing import Any

__all__ = ["at", "leaves"]


def leaves(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``obj`` (containers included, the root excluded), parents first."""
    out = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        out.append((*path, k))
        out += leaves(v, (*path, k))
    return out


def at(obj: Any, path: tuple[Any, ...]) -> Any:
    """The value at ``path`` inside ``obj``."""
    for k in path:
        obj = obj[k]
    return obj
