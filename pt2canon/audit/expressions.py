"""Symbolic expressions torch's loader would evaluate: ``code-in-expression`` and ``expensive-expression``.

``torch.export.load`` reads every ``SymExpr.expr_str`` (symbolic sizes,
strides, storage offsets, ``sym_*_values``) with ``sympy.sympify``, which
evaluates Python: an expression can run code when torch loads the archive,
although pt2canon itself refuses it. Each ``expr_str`` of a program member
is checked with the safe reader's own static check,
:func:`pt2canon.serde.expr.inspect_expr` (no sympy): what it would refuse as
code is ``high``, what is over its bounds (sympy may take minutes or all the
memory) is ``medium``. Each distinct text is reported once, with the JSON
path of its first use and how many places use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pt2canon import _json
from pt2canon.errors import printable
from pt2canon.serde.expr import EXPRESSION_SECONDS, inspect_expr

__all__ = ["scan_program"]


def _paths(doc: Any) -> Any:
    """``(json path, expr_str)`` of every ``{"expr_str": str}`` in ``doc``, iteratively."""
    stack: list[tuple[Any, str]] = [(doc, "$")]
    while stack:
        obj, path = stack.pop()
        if type(obj) is dict:
            text = obj.get("expr_str")
            if type(text) is str:
                yield f"{path}.expr_str", text
            stack.extend((v, f"{path}.{k}") for k, v in reversed(list(obj.items())) if type(v) in (dict, list))
        elif type(obj) is list:
            stack.extend((v, f"{path}[{i}]") for i, v in reversed(list(enumerate(obj))) if type(v) in (dict, list))


def _texts(doc: Any) -> dict[str, int]:
    """How many times each ``expr_str`` text is used (the fast walk: no paths are built)."""
    counts: dict[str, int] = {}
    stack = [doc]
    while stack:
        obj = stack.pop()
        if type(obj) is dict:
            text = obj.get("expr_str")
            if type(text) is str:
                counts[text] = counts.get(text, 0) + 1
            stack.extend(v for v in obj.values() if type(v) is dict or type(v) is list)
        elif type(obj) is list:
            stack.extend(v for v in obj if type(v) is dict or type(v) is list)
    return counts


def scan_program(add: Callable[..., None], member: str, data: bytes) -> None:
    """Report the expressions of one program member (``models/<name>.json``) torch would read unsafely."""
    if b'"expr_str"' not in data:
        return  # a static program: nothing torch would hand to sympify
    try:
        doc = _json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return  # torch cannot load it either; the reader reports the malformed JSON
    verdicts: dict[str, tuple[str, str]] = {}
    counts = _texts(doc)
    deadline = time.thread_time() + EXPRESSION_SECONDS
    for checked, text in enumerate(counts):
        if time.thread_time() > deadline:
            add(
                "medium",
                "expressions-not-checked",
                member,
                f"checking the symbolic expressions took more than {EXPRESSION_SECONDS:g} s of CPU "
                f"(EXPRESSION_SECONDS); {len(counts) - checked} of the {len(counts)} distinct ones were not checked",
            )
            break
        verdict = inspect_expr(text)
        if verdict is not None and verdict[0] != "syntax":
            verdicts[text] = verdict
    if not verdicts:
        return
    # Only now the slow walk that names places: the first JSON path of each flagged text.
    seen: dict[str, list[Any]] = {}
    for path, text in _paths(doc):
        if text in verdicts and text not in seen:
            seen[text] = [path, counts[text], verdicts[text]]
    for text, (path, uses, verdict) in seen.items():
        kind, why = verdict
        shown = printable(text if len(text) <= 120 else text[:117] + "...")
        where = f"{path}" + (f" (and {uses - 1} more places)" if uses > 1 else "")
        if kind == "code":
            add(
                "high",
                "code-in-expression",
                member,
                f"{where}: symbolic expression {shown!r} holds {why}: torch.export.load reads it with "
                "sympy.sympify, which evaluates it as Python and can run code (pt2canon refuses it)",
                path=path,
                uses=uses,
            )
        else:
            add(
                "medium",
                "expensive-expression",
                member,
                f"{where}: symbolic expression {shown!r} is over a bound of pt2canon's reader ({why}); "
                "torch.export.load may take minutes or all the memory to read it",
                path=path,
                uses=uses,
            )
