"""Text rendering of a :class:`~pt2canon.diff.result.DiffResult`, for terminals and CI logs.

A unified-style listing of the aligned canonical IR::

    --- a.pt2
    +++ b.pt2
    @@ -318,5 +318,6 @@ graph n303 in layers.7
          %v354 = aten.linear.default(%v353, %v101, %v100)  # f32[2, 16, 64]
    +     %v355 = aten.relu.default(%v354)  # f32[2, 16, 64]
    ~     %v356 = aten.dropout.default(%v355, 0.0, False)  # f32[2, 16, 64]
            # input: %v354 (n303 aten.linear.default) -> %v355 (n304 aten.relu.default)
          ...
    2 changes at level graph: 1 node added, 1 node rewired

Rows are `` `` unchanged (B's line shown), ``-`` only in A, ``+`` only
in B, ``~`` changed or rewired (B's line, then the change summary as a
``#`` comment). ``context`` unchanged rows surround each change
(default: the diff's ``context`` option, else 3); hunks whose context
overlaps merge. The ``@@`` header gives the 1-based line numbers of
the hunk in A's and B's listings, then the graph (``graph``, or the
subgraph path) or section (``inputs``, ``outputs``), the first changed
node's canonical name and its module path. Changes that are not rows
(module call graph, constraints, weights, versions, ...) follow, one
line each as ``~ [kind] summary``; the last line counts the changes
per kind. ANSI colour only with ``color=True`` (the CLI passes it on a
terminal when ``NO_COLOR`` is unset).
"""

from __future__ import annotations

from typing import Any

from pt2canon.diff.records import AlignedLine, DiffRecords
from pt2canon.diff.render.common import hunks, in_listing, names_note, summary_line
from pt2canon.errors import UsageError, printable

__all__ = ["render_text"]

_RESET = "\x1b[0m"
_COLORS = {"-": "\x1b[31m", "+": "\x1b[32m", "~": "\x1b[33m", "@": "\x1b[36m", "#": "\x1b[2m", "head": "\x1b[1m"}


def _paint(text: str, key: str, color: bool) -> str:
    text = printable(text)  # archive text (names, targets, strings) never carries a control character out
    return f"{_COLORS[key]}{text}{_RESET}" if color else text


def render_text(result: DiffRecords, *, color: bool = False, context: int | None = None, **_: Any) -> str:
    """The unified-style text rendering (see the module docstring).

    Examples
    --------
    >>> import pt2canon
    >>> r = pt2canon.diff("examples/mlp_v1.pt2", "examples/mlp_v2.pt2")
    >>> print(render_text(r, context=0))
    --- examples/mlp_v1.pt2
    +++ examples/mlp_v2.pt2
    @@ -15,1 +15,2 @@ graph n3
    +     %v10 = aten.gelu.default(%v9)  # f32[s0, 32]
    -     %v10 = aten.linear.default(%v9, %v4, %v5)  # f32[s0, 4]
    +     %v11 = aten.linear.default(%v10, %v4, %v5)  # f32[s0, 4]
              # input: %v9 (n2 aten.linear.default) -> %v10 (n3 aten.gelu.default)
              # the same values: A's %v10 is B's %v11
    2 changes at level graph: 1 node added, 1 node rewired
    """
    if context is None:
        context = int(result.options.get("context", 3))
    if context < 0:
        raise UsageError(f"context={context!r}: needs a number of lines >= 0")
    out = [_paint(f"--- {result.a}", "head", color), _paint(f"+++ {result.b}", "head", color)]
    has_rows = any(in_listing(c) for c in result.changes)
    rows: list[AlignedLine] = list(result.rows) if has_rows else []
    for h in hunks(rows, context):
        chunk = rows[h.start : h.stop]
        out.append(_paint(h.header(), "@", color))  # as diff -u numbers an empty side, like the other renderers
        for r in chunk:
            if r.status == " ":
                out.append(printable(f"  {r.b_line if r.b_line is not None else r.a_line}"))
            elif r.status == "-":
                out.append(_paint(f"- {r.a_line}", "-", color))
            elif r.status == "+":
                out.append(_paint(f"+ {r.b_line}", "+", color))
            else:
                if r.a_line is not None:
                    out.append(_paint(f"- {r.a_line}", "-", color))
                out.append(_paint(f"+ {r.b_line}", "+", color))
                text = r.b_line or ""
                indent = text[: len(text) - len(text.lstrip())]
                if r.note:
                    out.append(_paint(f"  {indent}    # {r.note}", "#", color))
                if r.renames:
                    out.append(_paint(f"  {indent}    # {names_note(r)}", "#", color))
    others = [c for c in result.changes if not in_listing(c)]
    if others:
        for c in others:
            out.append(_paint(f"~ [{c.kind}] {c.summary}", "~", color))
    out += [_paint(f"note: {note}", "#", color) for note in result.notes]
    out.append(printable(summary_line(result)))
    return "\n".join(out)
