"""What every renderer of a diff shares: words, counts, hunks of the aligned listing, text cleaning.

Examples
--------
>>> from pt2canon.diff.result import AlignedLine as L
>>> rows = [L(" ", "a", "a"), L("-", "b", None), L(" ", "c", "c"), L(" ", "d", "d"), L("+", None, "e")]
>>> [(h.start, h.stop) for h in hunks(rows, context=0)]
[(1, 2), (4, 5)]
>>> hunks(rows, context=1)[0].header()
'@@ -1,4 +1,4 @@ graph'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pt2canon.diff.records import CHANGE_KINDS

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.diff.records import AlignedLine, Change, DiffRecords

__all__ = [
    "HIDDEN_OPTIONS",
    "KIND_TITLES",
    "Hunk",
    "clean_text",
    "counted_changes",
    "cut_text",
    "hash_facts",
    "hunks",
    "in_listing",
    "names_note",
    "shown_options",
    "summary_line",
]

#: Heading of each change kind's group (Markdown, HTML).
KIND_TITLES: dict[str, str] = {
    "node_added": "Nodes added",
    "node_removed": "Nodes removed",
    "node_changed": "Nodes changed",
    "node_rewired": "Nodes rewired",
    "signature_changed": "Signature changes",
    "weight_changed": "Weight changes",
    "constraint_changed": "Range constraint changes",
    "sample_inputs_changed": "Sample input changes",
    "version_changed": "Version changes",
}

#: Options the headline does not list: shown otherwise (level) or only shaping the rendering (context).
HIDDEN_OPTIONS = frozenset({"level", "context"})

#: Singular, plural and verb of each change kind in the summary line.
_WORDS = {
    "node_added": ("node", "nodes", "added"),
    "node_removed": ("node", "nodes", "removed"),
    "node_changed": ("node", "nodes", "changed"),
    "node_rewired": ("node", "nodes", "rewired"),
    "signature_changed": ("signature change", "signature changes", ""),
    "weight_changed": ("weight", "weights", "changed"),
    "constraint_changed": ("constraint", "constraints", "changed"),
    "sample_inputs_changed": ("sample inputs", "sample inputs", "changed"),
    "version_changed": ("version", "versions", "changed"),
}

#: The header rows of the aligned listing's sections.
_SECTIONS = {"inputs:": "inputs", "outputs:": "outputs", "graph:": "graph"}

# Characters that XML and terminals cannot take as they are: C0/C1 controls
# (tab excepted), lone surrogates (they cannot even be encoded as UTF-8),
# U+FFFE/U+FFFF.
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def _escape_char(m: re.Match[str]) -> str:
    c = m.group()
    named = _NAMED_ESCAPES.get(c)
    if named:
        return named
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean_text(text: object) -> str:
    """``text`` as one printable line: control characters and lone surrogates become ``\\xNN`` escapes.

    >>> clean_text("a\\nb\\x00")
    'a\\\\nb\\\\x00'
    """
    s = text if isinstance(text, str) else str(text)
    return _UNPRINTABLE.sub(_escape_char, s)


def cut_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis and a count of what was cut.

    >>> cut_text("abcdefgh", 4)
    'abc… (+5 chars)'
    """
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… (+{len(text) - limit + 1} chars)"


def counted_changes(result: DiffRecords) -> int:
    """How many changes make the programs differ (:meth:`~pt2canon.diff.records.DiffRecords.counts`).

    Examples
    --------
    >>> import pt2canon
    >>> counted_changes(pt2canon.diff("examples/mlp_v1.pt2", "examples/mlp_v2.pt2"))
    2
    >>> counted_changes(pt2canon.diff("examples/mlp_v1.pt2", "examples/mlp_v1_again.pt2", level="full"))
    0
    """
    return sum(1 for c in result.changes if result.counts(c))


def hash_facts(result: DiffRecords, code: Callable[[str], str]) -> list[str]:
    """The headline's hash fact: one hash when both sides share it, ``A → B`` otherwise, none without hashes.

    Examples
    --------
    >>> from pt2canon.diff.records import DiffRecords
    >>> hash_facts(DiffRecords("a", "b", "graph", [], hash_a="sha256:1", hash_b="sha256:2"), str)
    ['hash sha256:1 → sha256:2']
    """
    if not (result.hash_a or result.hash_b):
        return []
    if result.hash_a == result.hash_b:
        return [f"hash {code(result.hash_a)}"]
    return [f"hash {code(result.hash_a) or '?'} → {code(result.hash_b) or '?'}"]


def shown_options(result: DiffRecords) -> list[str]:
    """The options a headline lists: ``name`` for a flag, ``name=value`` otherwise, in name order.

    Options that are off (``False``, ``None``, empty, zero) are not listed.

    Examples
    --------
    >>> from pt2canon.diff.records import DiffRecords
    >>> shown_options(DiffRecords("a", "b", "full", [], options={"rtol": 1e-05, "ignore_shapes": True, "atol": 0}))
    ['ignore_shapes', 'rtol=1e-05']
    """
    names = sorted(k for k, v in result.options.items() if k not in HIDDEN_OPTIONS and v not in (None, False, ""))
    return [k if result.options[k] is True else f"{k}={result.options[k]}" for k in names]


def in_listing(change: Change) -> bool:
    """True for the records the aligned listing shows as rows (nodes, inputs, outputs).

    Examples
    --------
    >>> from pt2canon.diff.records import Change, Location
    >>> in_listing(Change("node_added", Location(b="n3"), "aten.gelu.default added"))
    True
    >>> in_listing(Change("weight_changed", Location(item="fc1.weight"), "content changed"))
    False
    """
    if change.kind.startswith("node_"):
        return change.location.item is None
    return change.kind == "signature_changed" and change.details.get("section") in ("inputs", "outputs")


def names_note(row: AlignedLine) -> str:
    """``"the same values: A's %v8 is B's %v9, A's %v10 is B's %v11"`` for a row's :attr:`~AlignedLine.renames`.

    Examples
    --------
    >>> import pt2canon
    >>> r = pt2canon.diff("examples/mlp_v1.pt2", "examples/mlp_v2.pt2")
    >>> [names_note(row) for row in r.rows if row.renames]  # the linear after the added GELU
    ["the same values: A's %v10 is B's %v11"]
    """
    return "the same values: " + ", ".join(f"A's {a} is B's {b}" for a, b in row.renames)


def summary_line(result: DiffRecords) -> str:
    """``"2 changes at level graph: 1 node added, 1 node rewired"`` or ``"no changes at level graph"``.

    Examples
    --------
    >>> import pt2canon
    >>> summary_line(pt2canon.diff("examples/mlp_v1.pt2", "examples/mlp_v2.pt2"))
    '2 changes at level graph: 1 node added, 1 node rewired'
    >>> summary_line(pt2canon.diff("examples/mlp_v1.pt2", "examples/mlp_v1_again.pt2", level="full"))
    'no changes at level full: 1 sample inputs changed (not counted)'
    """
    counts = result.summary()
    counted: Counter[str] = Counter(c.kind for c in result.changes if result.counts(c))
    parts = []
    for kind in CHANGE_KINDS:
        n = counts[kind]
        if not n:
            continue
        one, many, verb = _WORDS[kind]
        text = f"{n} {one if n == 1 else many}" + (f" {verb}" if verb else "")
        if not counted[kind]:
            text += " (not counted)"
        elif counted[kind] < n:
            text += f" ({n - counted[kind]} not counted)"
        parts.append(text)
    total = sum(counted.values())
    head = (
        f"no changes at level {result.level}"
        if not total
        else f"{total} change{'s' if total != 1 else ''} at level {result.level}"
    )
    return head + (": " + ", ".join(parts) if parts else "")


# -- hunks of the aligned listing --------------------------------------------------------


@dataclass(frozen=True)
class Hunk:
    """Rows ``[start, stop)`` of the aligned listing, with unified-diff line numbers.

    ``a_before``/``b_before`` count the rows before the hunk that have a
    line on each side, ``a_len``/``b_len`` those inside it; ``a_start`` and
    ``b_start`` are the 1-based first lines as ``diff -u`` writes them
    (``@@ -a_start,a_len +b_start,b_len @@``: the line before an empty
    side). ``where`` names the first changed row's place: the graph or
    section (``inputs``, ``outputs``, ``graph``, a subgraph path), the
    node's canonical name and its module path, as it is (not cleaned).

    Examples
    --------
    >>> h = Hunk(start=13, stop=17, a_before=13, a_len=3, b_before=13, b_len=4, where="graph n3")
    >>> h.header()
    '@@ -14,3 +14,4 @@ graph n3'
    >>> Hunk(0, 1, a_before=5, a_len=0, b_before=5, b_len=1).header()  # nothing on A's side: the line before
    '@@ -5,0 +6,1 @@'
    """

    start: int
    stop: int
    a_before: int
    a_len: int
    b_before: int
    b_len: int
    where: str = ""

    @property
    def a_start(self) -> int:
        return self.a_before + (1 if self.a_len else 0)

    @property
    def b_start(self) -> int:
        return self.b_before + (1 if self.b_len else 0)

    def header(self) -> str:
        where = f" {self.where}" if self.where else ""
        return f"@@ -{self.a_start},{self.a_len} +{self.b_start},{self.b_len} @@{where}"


def _where(row: AlignedLine, section: str) -> str:
    graph = row.graph
    if graph.is_subgraph:
        where = str(graph)
    else:
        where = (f"{graph} " if graph else "") + section
        name = row.b_name or row.a_name
        if name and section == "graph":
            where += f" {name}"
    if row.module:
        where += f" in {row.module}"
    return where


def hunks(rows: Sequence[AlignedLine], context: int = 3) -> list[Hunk]:
    """The hunks of changed rows (status other than ``" "``) with ``context`` rows around each.

    Hunks whose context would overlap or touch are merged, as ``diff -u`` does.

    Examples
    --------
    The added GELU and the rewired linear after it are rows 14 and 15 of
    the bundled MLPs' aligned listing: one hunk, one row of context each side:

    >>> import pt2canon
    >>> rows = list(pt2canon.diff("examples/mlp_v1.pt2", "examples/mlp_v2.pt2").rows)
    >>> [h.header() for h in hunks(rows, context=1)]
    ['@@ -14,3 +14,4 @@ graph n3']
    >>> len(hunks(rows, context=0)) == 1, hunks(rows, context=0)[0].stop - hunks(rows, context=0)[0].start
    (True, 2)
    """
    context = max(0, int(context))
    ranges: list[list[int]] = []
    wheres: list[str] = []
    section = "graph"
    for i, row in enumerate(rows):
        if not row.graph.is_subgraph:
            # Section headers are plain text; a deferred line (a node) is never one, and stays unformatted.
            head = row.b_text if row.b_text is not None else row.a_text
            if isinstance(head, str):
                section = _SECTIONS.get(head.strip(), section)
        if row.status == " ":
            continue
        lo, hi = max(0, i - context), min(len(rows), i + context + 1)
        if ranges and lo <= ranges[-1][1]:
            ranges[-1][1] = max(ranges[-1][1], hi)
        else:
            ranges.append([lo, hi])
            wheres.append(_where(row, section))
    out: list[Hunk] = []
    a_seen = b_seen = 0  # lines on each side before row `pos`
    pos = 0
    for (lo, hi), where in zip(ranges, wheres, strict=True):
        for row in rows[pos:lo]:
            a_seen += row.a_text is not None
            b_seen += row.b_text is not None
        a_len = sum(1 for row in rows[lo:hi] if row.a_text is not None)
        b_len = sum(1 for row in rows[lo:hi] if row.b_text is not None)
        out.append(Hunk(lo, hi, a_seen, a_len, b_seen, b_len, where))
        a_seen += a_len
        b_seen += b_len
        pos = hi
    return out
