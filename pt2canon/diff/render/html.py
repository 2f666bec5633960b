"""HTML rendering of a :class:`~pt2canon.diff.result.DiffResult`, for notebooks.

:func:`render_html` returns one self-contained ``<div class="pt2canon-diff">``
fragment (``DiffResult._repr_html_`` shows it in Jupyter): a ``<style>``
element scoped to that class, no scripts, no external assets. It holds

* a headline (equal / N changes), the two sides, the level and the hashes;
* a summary table (``table.pt2canon-summary``): the count of each change kind
  that occurs;
* a changes table (``table.pt2canon-changes``): kind, location, change and
  detail, one row per change, the row's class ``pt2canon-<kind>``;
* the aligned canonical listing (``table.pt2canon-listing``): the changed
  regions with ``context`` unchanged rows around them, A on the left and B on
  the right; a row's class is ``pt2canon-same``, ``pt2canon-removed``
  (``-``), ``pt2canon-added`` (``+``) or ``pt2canon-changed`` (``~``); runs
  of unchanged rows left out show as one ``pt2canon-skip`` row.

Every text taken from the programs is HTML-escaped (node names, targets and
string constants can hold ``<`` and ``&``) and cleaned of characters XML
cannot hold, so the fragment is well-formed XML as well as HTML. Long
results are cut at ``max_changes`` changes and ``max_rows`` listing rows,
with a line ``... N more changes not shown``.

Examples
--------
>>> from pt2canon.diff.result import Change, DiffResult, Location
>>> r = DiffResult("a", "b", "graph", [Change("node_added", Location(b="n1"), "<lambda>")])
>>> "&lt;lambda&gt;" in render_html(r)
True
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from pt2canon.diff.records import CHANGE_KINDS
from pt2canon.diff.render.common import (
    KIND_TITLES,
    clean_text,
    counted_changes,
    cut_text,
    hash_facts,
    hunks,
    names_note,
    shown_options,
)

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.diff.records import AlignedLine, Change, DiffRecords, Location

__all__ = ["ROW_CLASSES", "render_html"]

#: CSS class of a listing row, by :attr:`AlignedLine.status`.
ROW_CLASSES: dict[str, str] = {
    " ": "pt2canon-same",
    "-": "pt2canon-removed",
    "+": "pt2canon-added",
    "~": "pt2canon-changed",
}

_MAX_CELL = 500
_MAX_LINE = 2000

# Translucent backgrounds read on light and dark notebook themes alike. The fragment lives inside
# the host's stylesheet: JupyterLab's `:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td` (right
# aligned) outranks any rule scoped by one class, and the classic notebook's `.rendered_html td`
# sets `white-space: normal`; JupyterLab's even rows `word-break: break-all`. The properties that
# carry meaning (alignment, spaces, line breaks) are therefore `!important`; tests/test_notebook_html.py
# checks them in Chromium under JupyterLab's, the classic notebook's and nbconvert's stylesheets.
_STYLE = """
.pt2canon-diff { font-family: inherit; line-height: 1.4; }
.pt2canon-diff table { border-collapse: collapse; margin: 0.4em 0 0.8em 0; table-layout: auto; }
.pt2canon-diff th, .pt2canon-diff td { border: 1px solid rgba(127, 127, 127, 0.35); padding: 2px 6px;
  text-align: left !important; vertical-align: top; word-break: normal !important; line-height: 1.4; }
.pt2canon-diff code, .pt2canon-diff .pt2canon-listing td { font-family: ui-monospace, SFMono-Regular, Menlo,
  Consolas, monospace; font-size: 0.9em; }
.pt2canon-diff .pt2canon-listing tr { background: none !important; }
.pt2canon-diff .pt2canon-listing td { white-space: pre !important; overflow-wrap: normal !important;
  border-width: 0 1px; }
.pt2canon-diff .pt2canon-listing td.pt2canon-status { text-align: center !important; font-weight: bold; }
.pt2canon-diff .pt2canon-listing td.pt2canon-lineno { text-align: right !important; opacity: 0.6; }
.pt2canon-diff .pt2canon-added td { background: rgba(46, 160, 67, 0.18); }
.pt2canon-diff .pt2canon-removed td { background: rgba(248, 81, 73, 0.18); }
.pt2canon-diff .pt2canon-changed td { background: rgba(210, 153, 34, 0.20); }
.pt2canon-diff .pt2canon-skip td, .pt2canon-diff .pt2canon-hunk td { opacity: 0.6; font-style: italic; }
.pt2canon-diff .pt2canon-equal { color: rgb(46, 160, 67); }
.pt2canon-diff .pt2canon-different { color: rgb(218, 54, 51); }
.pt2canon-diff .pt2canon-more { font-style: italic; }
.pt2canon-diff .pt2canon-note { opacity: 0.7; }
"""


def _esc(text: object, limit: int = _MAX_CELL) -> str:
    return html.escape(cut_text(clean_text(text), limit), quote=True)


def _code(text: object, limit: int = _MAX_CELL) -> str:
    s = _esc(text, limit)
    return f"<code>{s}</code>" if s else ""


def _location_html(loc: Location) -> str:
    return loc.describe(_code)


def _detail_html(change: Change) -> str:
    return _code(change.details_text())


def _headline(result: DiffRecords) -> list[str]:
    n = counted_changes(result)
    if n == 0:
        title = '<span class="pt2canon-equal">equal</span>'
    else:
        title = f'<span class="pt2canon-different">{n} change{"" if n == 1 else "s"}</span>'
    out = [f'<p class="pt2canon-head"><strong>pt2canon diff: {title}</strong><br/>']
    facts = [f"{_code(result.a) or '(unnamed)'} → {_code(result.b) or '(unnamed)'}", f"level {_code(result.level)}"]
    facts += hash_facts(result, _code)
    out.append(" · ".join(facts))
    options = shown_options(result)
    if options:
        out.append(f"<br/>options: {', '.join(_code(o, 100) for o in options)}")
    out.append("</p>")
    out += [f'<p class="pt2canon-note">note: {_esc(note)}</p>' for note in result.notes]
    return out


def _summary(result: DiffRecords) -> list[str]:
    counts = result.summary()
    kinds = [k for k in CHANGE_KINDS if counts.get(k)]
    if not kinds:
        return []
    out = ['<table class="pt2canon-summary">', "<thead><tr><th>kind</th><th>count</th></tr></thead>", "<tbody>"]
    for k in kinds:
        out.append(f'<tr class="pt2canon-{k}"><td>{_esc(KIND_TITLES.get(k, k))}</td><td>{counts[k]}</td></tr>')
    out.append(f"<tr><td><strong>total</strong></td><td><strong>{len(result.changes)}</strong></td></tr>")
    out += ["</tbody>", "</table>"]
    return out


def _changes(result: DiffRecords, max_changes: int) -> list[str]:
    if not result.changes:
        return []
    order = {k: i for i, k in enumerate(CHANGE_KINDS)}
    ranked = sorted(range(len(result.changes)), key=lambda i: (order.get(result.changes[i].kind, len(order)), i))
    out = [
        '<table class="pt2canon-changes">',
        "<thead><tr><th>kind</th><th>location</th><th>change</th><th>detail</th></tr></thead>",
        "<tbody>",
    ]
    for i in ranked[:max_changes]:
        c = result.changes[i]
        kind = _esc(c.kind, 40)
        out.append(
            f'<tr class="pt2canon-{kind}"><td>{kind}</td><td>{_location_html(c.location)}</td>'
            f"<td>{_code(c.summary)}</td><td>{_detail_html(c)}</td></tr>"
        )
    out += ["</tbody>", "</table>"]
    missing = len(result.changes) - min(len(result.changes), max_changes)
    if missing:
        out.append(f'<p class="pt2canon-more">... {missing} more changes not shown</p>')
    return out


def _listing_row(row: AlignedLine, a_no: int | None, b_no: int | None) -> str:
    cls = ROW_CLASSES.get(row.status, "pt2canon-same")
    status = _esc(row.status.strip() or "", 1)
    a = "" if row.a_line is None else _esc(row.a_line, _MAX_LINE)
    b = "" if row.b_line is None else _esc(row.b_line, _MAX_LINE)
    note = getattr(row, "note", None)
    if note and row.status == "~":
        b += f'\n<span class="pt2canon-note"># {_esc(note)}</span>'
    if row.status == "~" and row.renames:
        b += f'\n<span class="pt2canon-note"># {_esc(names_note(row))}</span>'
    a_num = "" if a_no is None else str(a_no)
    b_num = "" if b_no is None else str(b_no)
    return (
        f'<tr class="{cls}"><td class="pt2canon-lineno">{a_num}</td><td class="pt2canon-a">{a}</td>'
        f'<td class="pt2canon-status">{status}</td>'
        f'<td class="pt2canon-lineno">{b_num}</td><td class="pt2canon-b">{b}</td></tr>'
    )


def _listing(result: DiffRecords, context: int, max_rows: int) -> list[str]:
    rows = result.rows
    parts = hunks(rows, context)
    if not parts:
        return []
    out = [
        '<table class="pt2canon-listing">',
        "<thead><tr><th></th><th>A</th><th></th><th></th><th>B</th></tr></thead>",
        "<tbody>",
    ]
    written = 0
    pos = 0
    a_no = b_no = 0
    total = sum(h.stop - h.start for h in parts)
    for h in parts:
        for row in rows[pos : h.start]:
            a_no += row.a_text is not None
            b_no += row.b_text is not None
        skipped = h.start - pos
        if skipped:
            out.append(f'<tr class="pt2canon-skip"><td colspan="5">… {skipped} unchanged rows</td></tr>')
        graph = rows[h.start].graph
        out.append(f'<tr class="pt2canon-hunk"><td colspan="5">{_esc(h.header())}</td></tr>')
        for row in rows[h.start : h.stop]:
            if row.graph != graph:
                graph = row.graph
                out.append(f'<tr class="pt2canon-hunk"><td colspan="5">graph {_esc(graph or "(top)")}</td></tr>')
            if written >= max_rows:
                break
            a_no += row.a_line is not None
            b_no += row.b_line is not None
            out.append(
                _listing_row(row, a_no if row.a_line is not None else None, b_no if row.b_line is not None else None)
            )
            written += 1
        pos = h.stop
        if written >= max_rows:
            break
    else:
        if pos < len(rows):
            out.append(f'<tr class="pt2canon-skip"><td colspan="5">… {len(rows) - pos} unchanged rows</td></tr>')
    out += ["</tbody>", "</table>"]
    if written < total:
        out.append(f'<p class="pt2canon-more">... {total - written} more listing rows not shown</p>')
    return out


def render_html(
    result: DiffRecords, *, context: int | None = None, max_changes: int = 2000, max_rows: int = 5000
) -> str:
    """Render ``result`` as a self-contained HTML fragment (well-formed XML too).

    Parameters
    ----------
    result : DiffResult
    context : int, optional
        Unchanged listing rows shown around each changed row (default: the
        diff's ``context`` option, else 3).
    max_changes : int
        Changes listed in the changes table; the rest are counted.
    max_rows : int
        Listing rows shown; the rest are counted.

    Returns
    -------
    str
        ``<div class="pt2canon-diff">...</div>``.

    Examples
    --------
    >>> import pt2canon, xml.dom.minidom
    >>> html = render_html(pt2canon.diff("examples/mlp_v1.pt2", "examples/mlp_v2.pt2"))
    >>> root = xml.dom.minidom.parseString(html).documentElement  # well-formed XML
    >>> root.tagName, root.getAttribute("class"), "aten.gelu.default added" in html
    ('div', 'pt2canon-diff', True)
    """
    if context is None:
        context = int(result.options.get("context", 3))
    parts = ['<div class="pt2canon-diff">', f"<style>{_STYLE}</style>"]
    parts += _headline(result)
    parts += _summary(result)
    parts += _changes(result, max(0, max_changes))
    parts += _listing(result, context, max(0, max_rows))
    parts.append("</div>")
    return "\n".join(parts) + "\n"
