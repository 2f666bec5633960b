"""Node metadata written by torch: the ``nn_module_stack`` string.

torch serializes a node's module stack as ``"key,path,type;key,path,type"``,
outermost first, with commas inside brackets not splitting (its
``metadata_split``). :func:`module_path` is what the diff, the drawings and
the listings call "the module" of a node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["module_path", "module_stack", "split_entry"]


def split_entry(entry: str) -> list[str]:
    """Split one ``key,path,type`` entry on commas outside brackets.

    Examples
    --------
    >>> split_entry("L__self__,layers.0,torch.nn.Linear")
    ['L__self__', 'layers.0', 'torch.nn.Linear']
    >>> split_entry("k,f(a,b),T")
    ['k', 'f(a,b)', 'T']
    """
    parts, depth, start = [], 0, 0
    for i, c in enumerate(entry):
        if c in "[(":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(entry[start:i])
            start = i + 1
    parts.append(entry[start:])
    return parts


def module_stack(metadata: Any) -> list[tuple[str, str]]:
    """The ``(path, type)`` entries of a node's serialized ``nn_module_stack``, outermost first.

    Examples
    --------
    >>> module_stack({"nn_module_stack": "L__self__,,m.Enc;L__self__layers.3,layers.3,m.Layer"})
    [('', 'm.Enc'), ('layers.3', 'm.Layer')]
    """
    if not isinstance(metadata, Mapping):
        return []
    stack = metadata.get("nn_module_stack")
    if not isinstance(stack, str) or not stack:
        return []
    out = []
    for entry in stack.split(";"):
        parts = split_entry(entry)
        if len(parts) >= 3:
            out.append((parts[1], parts[2]))
    return out


def module_path(metadata: Any) -> str | None:
    """The innermost module path (``"layers.3.linear1"``); ``""`` for the root, ``None`` without a stack.

    Examples
    --------
    >>> module_path({"nn_module_stack": "L__self__,,m.Enc;L__self__layers.3,layers.3,m.Layer"})
    'layers.3'
    >>> module_path({}) is None
    True
    """
    stack = module_stack(metadata)
    return stack[-1][0] if stack else None
