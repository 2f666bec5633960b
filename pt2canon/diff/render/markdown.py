"""Markdown rendering of a :class:`~pt2canon.diff.result.DiffResult`, for CI job summaries and PR comments.

The output is GitHub-flavoured Markdown, in this order:

1. a headline: ``### pt2canon diff: equal`` or ``### pt2canon diff: N changes``,
   then the two sides, the level, the hashes and the options;
2. a summary table: one row per change kind that occurs, and the total;
3. the changes grouped by kind (:data:`~pt2canon.diff.result.CHANGE_KINDS`
   order), one table per kind: location, change and detail;
4. the aligned canonical listing of the changed regions, in hunks with
   ``context`` unchanged rows around them, inside a ```` ```diff ```` fence
   (``-`` a row only A has, ``+`` a row only B has, a changed row as its
   ``-`` and ``+`` lines).

A group of more than :data:`FOLD_CHANGES` changes, and a listing of more
than :data:`FOLD_LINES` lines, is folded into a ``<details>`` block. Every
text taken from the programs (names, targets, summaries, listing lines) is
put in code spans or fences, never in plain Markdown, so ``<``, ``|``,
``@name`` or ``$`` in a node name can neither inject HTML, break a table,
mention a user nor start a formula. Cells are cut at :data:`MAX_CELL`
characters and listing lines at :data:`MAX_LINE`.

The output never exceeds ``max_bytes`` bytes of UTF-8 (GitHub caps a job
summary at 1 MiB): changes are written while they fit, then one line
``... N more changes not shown`` counts the rest; the listing gets what
room is left and ends with ``... N more listing lines not shown`` when cut.

Examples
--------
>>> from pt2canon.diff.result import Change, DiffResult, Location
>>> r = DiffResult("a.pt2", "b.pt2", "graph", [Change("node_added", Location(b="n3"), "aten.relu.default")])
>>> print(render_markdown(r).splitlines()[0])
### pt2canon diff: 1 change
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from pt2canon.diff.records import CHANGE_KINDS
from pt2canon.diff.render.common import (
    KIND_TITLES,
    Hunk,
    clean_text,
    counted_changes,
    hash_facts,
    hunks,
    names_note,
    shown_options,
)
from pt2canon.diff.render.common import cut_text as _cut
from pt2canon.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.diff.records import AlignedLine, Change, DiffRecords, Location

__all__ = ["FOLD_CHANGES", "FOLD_LINES", "MAX_CELL", "MAX_LINE", "MIN_BYTES", "render_markdown"]

#: A group with more changes than this is folded into ``<details>``.
FOLD_CHANGES = 10
#: A listing with more lines than this is folded into ``<details>``.
FOLD_LINES = 60
#: Longest table cell, in characters, before it is cut with an ellipsis.
MAX_CELL = 300
#: Longest listing line, in characters, before it is cut with an ellipsis.
MAX_LINE = 2000
#: The smallest ``max_bytes`` accepted: room for the headline and the summary table.
MIN_BYTES = 4096

# Bytes kept back, while writing changes and listing lines, for what must
# follow them: closing fences and </details>, the "... N more" notes.
_RESERVE = 1024
_LABEL_CHARS = 200


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# -- the aligned listing ---------------------------------------------------------------


def _diff_lines(row: AlignedLine) -> Iterator[str]:
    """The ``diff``-fence lines of one aligned row."""
    a = None if row.a_line is None else _cut(clean_text(row.a_line), MAX_LINE)
    b = None if row.b_line is None else _cut(clean_text(row.b_line), MAX_LINE)
    if row.status == " ":
        yield f" {b if b is not None else (a or '')}"
        return
    if a is not None and row.status in ("-", "~"):
        yield f"-{a}"
    if b is not None and row.status in ("+", "~"):
        yield f"+{b}"
    if row.status == "~" and row.renames:
        yield f" # {_cut(clean_text(names_note(row)), MAX_LINE)}"


# -- Markdown pieces -----------------------------------------------------------------------

_BACKTICKS = re.compile("`+")


def _code(text: object, *, cell: bool = False, limit: int = MAX_CELL) -> str:
    """A code span holding ``text`` (cleaned and cut); pipes escaped inside table cells."""
    s = _cut(clean_text(text), limit)
    if not s:
        return ""
    longest = max((len(m) for m in _BACKTICKS.findall(s)), default=0)
    fence = "`" * (longest + 1)
    if s.startswith("`") or s.endswith("`") or (s.startswith(" ") and s.endswith(" ") and s.strip()):
        s = f" {s} "
    if cell:
        s = s.replace("|", "\\|")
    return f"{fence}{s}{fence}"


def _fence_for(lines: Iterable[str]) -> str:
    longest = 0
    for line in lines:
        for m in _BACKTICKS.findall(line):
            longest = max(longest, len(m))
    return "`" * max(3, longest + 1)


def _cell_code(text: str) -> str:
    return _code(text, cell=True)


def _location_md(loc: Location) -> str:
    return loc.describe(_cell_code)


def _details_json(change: Change) -> str:
    return _cell_code(change.details_text())


def _change_row(change: Change, with_detail: bool) -> str:
    cells = [_location_md(change.location), _code(change.summary, cell=True) or "-"]
    if with_detail:
        cells.append(_details_json(change))
    return "| " + " | ".join(cells) + " |\n"


def _open_block(title: str, fold: bool) -> tuple[str, str]:
    """Opening and closing text of a section: a heading, or a folded ``<details>`` block."""
    if fold:
        return f"<details><summary><strong>{title}</strong></summary>\n\n", "\n</details>\n\n"
    return f"#### {title}\n\n", "\n"


class _Budget:
    """Collects output parts and counts their UTF-8 bytes against a limit."""

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit

    def room(self, reserve: int = 0) -> int:
        return self.limit - reserve - self.size

    def fits(self, text: str, reserve: int = _RESERVE) -> bool:
        return _nbytes(text) <= self.room(reserve)

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.size += _nbytes(text)

    def text(self) -> str:
        return "".join(self.parts)


# -- the renderer ----------------------------------------------------------------------


def _headline(result: DiffRecords) -> str:
    n = counted_changes(result)
    versions = sum(1 for c in result.changes if c.kind == "version_changed")
    others = len(result.changes) - n - (0 if result.options.get("include_versions") else versions)
    title = "### pt2canon diff: equal" if n == 0 else f"### pt2canon diff: {_plural(n, 'change')}"
    lines = [title, ""]
    a = _code(_cut(clean_text(result.a), _LABEL_CHARS)) or "(unnamed)"
    b = _code(_cut(clean_text(result.b), _LABEL_CHARS)) or "(unnamed)"
    facts = [f"{a} → {b}", f"level {_code(result.level) or '?'}"]
    facts += hash_facts(result, _code)
    lines.append(" · ".join(facts))
    options = shown_options(result)
    if options:
        lines.append("")
        lines.append(f"options: {', '.join(_code(o, limit=100) for o in options)}")
    if versions and not result.options.get("include_versions"):
        lines.append("")
        lines.append(f"{_plural(versions, 'version change')} shown below, not counted.")
    if others:
        lines.append("")
        lines.append(f"{_plural(others, 'other change')} shown below, not counted (within tolerance or not included).")
    for note in result.notes:
        lines.append("")
        lines.append(f"Note: {_code(note, limit=_LABEL_CHARS * 2)}")
    if n == 0:
        lines.append("")
        lines.append(f"No changes at level {_code(result.level) or '?'}.")
    return "\n".join(lines) + "\n\n"


def _summary_table(result: DiffRecords) -> str:
    summary = result.summary()
    rows = [(k, summary.get(k, 0)) for k in CHANGE_KINDS if summary.get(k, 0)]
    if not rows:
        return ""
    out = ["| kind | count |", "| --- | ---: |"]
    out += [f"| {KIND_TITLES.get(k, k)} ({_code(k, cell=True)}) | {v} |" for k, v in rows]
    out.append(f"| **total** | **{len(result.changes)}** |")
    return "\n".join(out) + "\n\n"


def _write_changes(out: _Budget, result: DiffRecords) -> int:
    """Write the grouped change tables while they fit; return how many changes were written."""
    groups: dict[str, list[Change]] = {}
    for c in result.changes:
        groups.setdefault(c.kind, []).append(c)
    order = [k for k in CHANGE_KINDS if k in groups] + sorted(k for k in groups if k not in CHANGE_KINDS)
    shown = 0
    for kind in order:
        changes = groups[kind]
        with_detail = any(c.details for c in changes)
        opening, closing = _open_block(f"{KIND_TITLES.get(kind, kind)} ({len(changes)})", len(changes) > FOLD_CHANGES)
        header = "| location | change |" + (" detail |" if with_detail else "") + "\n"
        header += "| --- | --- |" + (" --- |" if with_detail else "") + "\n"
        first = _change_row(changes[0], with_detail)
        if not out.fits(opening + header + first + closing):
            return shown
        out.add(opening + header)
        for c in changes:
            row = _change_row(c, with_detail)
            if not out.fits(row + closing):
                out.add(closing)
                return shown
            out.add(row)
            shown += 1
        out.add(closing)
    return shown


def _write_listing(out: _Budget, result: DiffRecords, context: int) -> None:
    """Write the hunks of the aligned listing while they fit, then a note on what was left out."""
    rows = result.rows
    parts = hunks(rows, context)
    if not parts:
        return
    total = 0
    blocks: list[tuple[Hunk, list[str]]] = []
    for h in parts:
        lines = [clean_text(h.header())]
        graph = rows[h.start].graph
        for row in rows[h.start : h.stop]:
            if row.graph != graph:
                graph = row.graph
                lines.append(f"@@ graph {clean_text(graph) or '(top)'} @@")
            lines.extend(_diff_lines(row))
        blocks.append((h, lines))
        total += len(lines)
    fence = _fence_for(line for _, lines in blocks for line in lines)
    opening, closing = _open_block(f"Listing ({_plural(len(blocks), 'hunk')})", total > FOLD_LINES)
    fence_open, fence_close = f"{fence}diff\n", f"{fence}\n"
    first = blocks[0][1][0] + "\n"
    if not out.fits(opening + fence_open + first + fence_close + closing):
        out.add(f"... {total} listing lines not shown\n")
        return
    out.add(opening + fence_open)
    written = 0
    for _, lines in blocks:
        for line in lines:
            text = line + "\n"
            if not out.fits(text + fence_close + closing):
                out.add(fence_close + closing)
                out.add(f"... {total - written} more listing lines not shown\n")
                return
            out.add(text)
            written += 1
    out.add(fence_close + closing)


def render_markdown(result: DiffRecords, *, max_bytes: int = 1_000_000, context: int | None = None) -> str:
    """Render ``result`` as GitHub-flavoured Markdown of at most ``max_bytes`` bytes (UTF-8).

    Parameters
    ----------
    result : DiffResult
    max_bytes : int
        Upper bound of the output's size in UTF-8 bytes (default 1,000,000:
        under GitHub's 1 MiB job summary cap). At least :data:`MIN_BYTES`.
    context : int, optional
        Unchanged listing rows shown around each changed row (default: the
        diff's ``context`` option, else 3).

    Returns
    -------
    str
        Markdown ending with a newline. When not everything fits, the changes
        left out are counted in a line ``... N more changes not shown`` and the
        listing lines left out in ``... N more listing lines not shown``.

    Raises
    ------
    UsageError
        If ``max_bytes`` is below :data:`MIN_BYTES`.

    Examples
    --------
    >>> import pt2canon
    >>> md = render_markdown(pt2canon.diff("examples/mlp_v1.pt2", "examples/mlp_v2.pt2"), context=0)
    >>> md.splitlines()[0]
    '### pt2canon diff: 2 changes'
    >>> print(md[md.index("```diff") :].rstrip())
    ```diff
    @@ -15,1 +15,2 @@ graph n3
    +    %v10 = aten.gelu.default(%v9)  # f32[s0, 32]
    -    %v10 = aten.linear.default(%v9, %v4, %v5)  # f32[s0, 4]
    +    %v11 = aten.linear.default(%v10, %v4, %v5)  # f32[s0, 4]
     # the same values: A's %v10 is B's %v11
    ```
    """
    if max_bytes < MIN_BYTES:
        raise UsageError(f"max_bytes={max_bytes} is too small for a Markdown diff; give at least {MIN_BYTES}")
    if context is None:
        context = int(result.options.get("context", 3))
    out = _Budget(max_bytes)
    out.add(_headline(result))
    out.add(_summary_table(result))
    shown = _write_changes(out, result)
    missing = len(result.changes) - shown
    if missing:
        out.add(
            f"**... {missing} more changes not shown** "
            f"(the output is capped at {max_bytes} bytes; `pt2canon diff --format json` lists them all)\n\n"
        )
        out.add(f"... {len(result.rows)} listing rows not shown\n" if result.rows else "")
    else:
        _write_listing(out, result, context)
    text = out.text()
    if _nbytes(text) > max_bytes:  # pragma: no cover - the budget above keeps to the limit
        raise AssertionError(f"Markdown diff of {_nbytes(text)} bytes exceeds max_bytes={max_bytes}")
    return text
