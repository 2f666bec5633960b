"""The aligned listing of a diff: one :class:`~pt2canon.diff.result.AlignedLine` per row.

Inputs, outputs, then the graph in B's canonical order (removed nodes
where A had them, subgraphs after their node, the output node last); the
text, Markdown and HTML renderers print its hunks. Rows are built on
first use (:func:`lazy_rows`), and a node's line is formatted only when a
renderer reads it (formatting every line costs ~30 µs a node; a renderer
shows a few lines of context around each change).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pt2canon.diff.align import Alignment, SubgraphPair
from pt2canon.diff.nodes import GraphStatus, node_line
from pt2canon.diff.records import AlignedLine, Change, LineText, RowStatus
from pt2canon.diff.sides import GraphSide
from pt2canon.diff.signature import keyed_outputs
from pt2canon.listing import format_spec_line, generate_graph_body, generate_subgraph_header, spec_fields

__all__ = ["graph_rows", "lazy_rows", "program_rows"]


_INDENT = "    "


def graph_rows(al: Alignment, status: GraphStatus, depth: int, rows: list[AlignedLine]) -> None:
    """Append the aligned listing of one graph (and its subgraphs) to ``rows``.

    Examples
    --------
    One row per node in B's order: ``mlp_v2``'s GELU only in B (``+``),
    ``head``'s linear changed (``~``, rewired), the rest the same:

    >>> import pt2canon
    >>> from pt2canon.diff.align import align_programs
    >>> from pt2canon.diff.nodes import compare_graph
    >>> from pt2canon.diff.options import Options
    >>> al = align_programs(pt2canon.canonicalize("examples/mlp_v1.pt2"), pt2canon.canonicalize("examples/mlp_v2.pt2"))
    >>> rows = []
    >>> graph_rows(al, compare_graph(al, Options())[1], 1, rows)
    >>> [(r.status, r.a_name, r.b_name) for r in rows]  # doctest: +NORMALIZE_WHITESPACE
    [(' ', 'n0', 'n0'), (' ', 'n1', 'n1'), (' ', 'n2', 'n2'), ('+', None, 'n3'), ('~', 'n3', 'n4'),
     (' ', 'n4', 'n5'), (' ', 'output', 'output')]
    >>> rows[3].b_line
    '    %v10 = aten.gelu.default(%v9)  # f32[s0, 32]'
    >>> rows[4].renames  # A's %v10 (head's output) is B's %v11
    (('%v10', '%v11'),)
    """
    a, b = al.a, al.b
    pad = _INDENT * depth
    subs: dict[tuple[int, int], list[SubgraphPair]] = {}
    for pair in al.subgraphs:
        subs.setdefault((pair.a_op, pair.b_op), []).append(pair)

    def one_sided(side: GraphSide, v: int, mark: Literal["-", "+"]) -> None:
        line = pad + node_line(side, v)
        name = side.name(v)
        module = side.module(v)
        if mark == "-":
            rows.append(AlignedLine("-", line, None, al.graph, a_name=name, module_text=module))
        else:
            rows.append(AlignedLine("+", None, line, al.graph, b_name=name, module_text=module))
        node = side.doc_node(v)
        for na in node["inputs"]:
            arg = na["arg"]
            if "as_graph" in arg:
                ga = arg["as_graph"]
                lines = [
                    *generate_subgraph_header(ga["name"], ga["graph"], depth + 1),
                    *generate_graph_body(ga["graph"], depth + 2),
                ]
                graph = al.graph.child(name, ga["name"])
                for text in lines:
                    rows.append(
                        AlignedLine(
                            mark,
                            text if mark == "-" else None,
                            text if mark == "+" else None,
                            graph,
                            module_text=module,
                        )
                    )

    removed = al.removed()
    rpos = 0
    for y in range(b.n_ops):
        x = al.b_to_a[y]
        if x is None:
            one_sided(b, y, "+")
            continue
        while rpos < len(removed) and removed[rpos] < x:
            one_sided(a, removed[rpos], "-")
            rpos += 1
        note = status.notes.get(y)
        rows.append(
            AlignedLine(
                " " if note is None else "~",
                functools.partial(_padded, pad, a, x),  # formatted only if a renderer shows the row
                functools.partial(_padded, pad, b, y),
                al.graph,
                a_name=a.name(x),
                b_name=b.name(y),
                module_text=functools.partial(_module_of, a, x, b, y),
                note=note,
                renames=renamed_values(al, x, y) if note is not None else (),
            )
        )
        for pair in subs.get((x, y), ()):
            sal = pair.alignment
            name_a = a.subgraph_names(x)[pair.arg]
            name_b = b.subgraph_names(y)[pair.arg]
            ga, gb = sal.a.cg.doc, sal.b.cg.doc
            head_a = list(generate_subgraph_header(name_a, ga, depth + 1))
            head_b = list(generate_subgraph_header(name_b, gb, depth + 1))
            rows.append(AlignedLine(" ", head_a[0], head_b[0], sal.graph))
            sub_status = status.subgraphs.get((x, y, pair.arg), GraphStatus())
            for ja, jb in sal.input_pairs():  # inputs as the alignment pairs them (through the op's operands)
                ta = head_a[1 + ja] if ja is not None and 1 + ja < len(head_a) else None
                tb = head_b[1 + jb] if jb is not None and 1 + jb < len(head_b) else None
                changed = sub_status.inputs.get(jb) if jb is not None else None
                st: RowStatus = "-" if tb is None else "+" if ta is None else "~" if changed else " "
                rows.append(AlignedLine(st, ta, tb, sal.graph, note=changed))
            graph_rows(sal, sub_status, depth + 2, rows)
    for x in removed[rpos:]:
        one_sided(a, x, "-")
    note = status.notes.get(b.out)
    rows.append(
        AlignedLine(
            " " if note is None else "~",
            pad + node_line(a, a.out),
            pad + node_line(b, b.out),
            al.graph,
            a_name="output",
            b_name="output",
            note=note,
            renames=renamed_values(al, a.out, b.out) if note is not None else (),
        )
    )


def _module_of(a: GraphSide, x: int, b: GraphSide, y: int) -> str | None:
    return b.module(y) or a.module(x)


def _padded(pad: str, side: GraphSide, v: int) -> str:
    return pad + node_line(side, v)


def renamed_values(al: Alignment, x: int, y: int) -> tuple[tuple[str, str], ...]:
    """The values aligned ``x``/``y`` read and define that are the same on both sides but named apart.

    ``(A's name, B's name)`` with ``%``, in B's argument order then the
    outputs: an op inserted earlier renumbers every value after it, so
    ``%v8`` in A's line can be ``%v9`` in B's and mean the same value.
    """
    a, b = al.a, al.b
    out: dict[tuple[str, str], None] = {}
    oa = a.operands[x]
    for s, (o, pb) in b.operands[y].items():
        ea = oa.get(s)
        if ea is not None and ea[0] == o and al.a_to_b[ea[1]] == pb:
            na, nb = a.value_name(ea[1], o), b.value_name(pb, o)
            if na != nb:
                out[(f"%{na}", f"%{nb}")] = None
    if x != a.out:
        for i in range(len(a.metas(x))):
            na, nb = a.value_name(x, i), b.value_name(y, i)
            if na != nb:
                out[(f"%{na}", f"%{nb}")] = None
    return tuple(out)


def _spec_row(side: GraphSide, j: int) -> str:
    specs = side.input_specs or []
    return _INDENT + format_spec_line(spec_fields(specs[j]), side.cg.doc)


def _signature_mark(a_line: LineText, b_line: LineText, note: str | None) -> RowStatus:
    """A signature row: only in A, only in B, changed (a record's summary is its note), or the same."""
    if b_line is None:
        return "-"
    if a_line is None:
        return "+"
    return "~" if note else " "


def program_rows(al: Alignment, changes: list[Change], status: GraphStatus) -> list[AlignedLine]:
    """The aligned listing of a program: inputs, outputs, then the graph (``status`` from :func:`compare_program`).

    Examples
    --------
    >>> import pt2canon
    >>> from pt2canon.diff.align import align_programs
    >>> from pt2canon.diff.options import Options
    >>> from pt2canon.diff.program import compare_program
    >>> a, b = pt2canon.canonicalize("examples/mlp_v1.pt2"), pt2canon.canonicalize("examples/mlp_v2.pt2")
    >>> al = align_programs(a, b)
    >>> rows = program_rows(al, *compare_program(al, a, b, Options()))
    >>> [r.a_line for r in rows if r.a_line and r.a_line.endswith(":")]
    ['inputs:', 'outputs:', 'graph:']
    >>> len(rows), [(r.status, r.b_name) for r in rows if r.status != " "]  # 3 headings, 7 inputs, 1 output, 7 graph rows
    (18, [('+', 'n3'), ('~', 'n4')])
    """
    rows: list[AlignedLine] = []
    g = al.graph
    sig_notes: dict[tuple[str, str | None, str | None], str] = {}
    for c in changes:
        if c.kind == "signature_changed" and c.details.get("section") in ("inputs", "outputs"):
            sig_notes[(c.details["section"], c.a_line, c.b_line)] = c.summary
    rows.append(AlignedLine(" ", "inputs:", "inputs:", g))
    a, b = al.a, al.b
    # Without an input record, no row can carry a note: lines are formatted only when shown.
    eager = any(section == "inputs" for section, _, _ in sig_notes)
    for ja, jb in al.input_pairs():
        la: LineText = None
        lb: LineText = None
        if ja is not None and a.input_specs:
            la = functools.partial(_spec_row, a, ja)
        if jb is not None and b.input_specs:
            lb = functools.partial(_spec_row, b, jb)
        note = None
        if eager:
            la, lb = (t() if callable(t) else t for t in (la, lb))
            note = sig_notes.get(("inputs", la[len(_INDENT) :] if la else None, lb[len(_INDENT) :] if lb else None))
        mark = _signature_mark(la, lb, note)
        rows.append(
            AlignedLine(
                mark,
                la,
                lb,
                g,
                a_name=a.name(a.n_ops + ja) if ja is not None else None,
                b_name=b.name(b.n_ops + jb) if jb is not None else None,
                note=note if mark == "~" else None,
            )
        )
    rows.append(AlignedLine(" ", "outputs:", "outputs:", g))
    spa, spb = keyed_outputs(a), keyed_outputs(b)
    for key in [*spb, *(k for k in spa if k not in spb)]:
        ea, eb = spa.get(key), spb.get(key)
        la = _INDENT + format_spec_line(spec_fields(ea), a.cg.doc) if ea is not None else None
        lb = _INDENT + format_spec_line(spec_fields(eb), b.cg.doc) if eb is not None else None
        note = sig_notes.get(("outputs", la[len(_INDENT) :] if la else None, lb[len(_INDENT) :] if lb else None))
        mark = _signature_mark(la, lb, note)
        rows.append(AlignedLine(mark, la, lb, g, note=note if mark == "~" else None))
    rows.append(AlignedLine(" ", "graph:", "graph:", g))
    graph_rows(al, status, 1, rows)
    return rows


def lazy_rows(build: Callable[[], list[AlignedLine]]) -> list[AlignedLine]:
    """A list whose items are computed on first use (formatting every line costs ~30 µs a node).

    Examples
    --------
    >>> from pt2canon.diff.records import AlignedLine
    >>> calls = []
    >>> def build():
    ...     calls.append("built")
    ...     return [AlignedLine(" ", "graph:", "graph:")]
    >>> rows = lazy_rows(build)
    >>> calls
    []
    >>> len(rows), rows[0].a_line, len(rows)
    (1, 'graph:', 1)
    >>> calls  # built once, on the first read
    ['built']
    """
    return _LazyRows(build)


class _LazyRows(list):  # type: ignore[type-arg]
    """A ``list`` filled by ``build()`` the first time anything reads or changes it."""

    __slots__ = ("_build",)

    def __init__(self, build: Callable[[], list[AlignedLine]] | Iterable[AlignedLine] | None = None) -> None:
        if build is None or callable(build):
            super().__init__()
            self._build = build
        else:  # an iterable, as ``type(rows)(...)`` in dataclasses.asdict or copy helpers passes one
            super().__init__(build)
            self._build = None

    def _fill(self) -> None:
        build = self._build
        if build is not None:
            self._build = None
            list.extend(self, build())

    def __bool__(self) -> bool:
        self._fill()
        return list.__len__(self) > 0

    def __repr__(self) -> str:
        self._fill()
        return list.__repr__(self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        self._fill()
        return (list, (list(list.__iter__(self)),))

    __hash__ = None  # type: ignore[assignment]


def _filling(name: str) -> Callable[..., Any]:
    base = getattr(list, name)

    def method(self: _LazyRows, *args: Any, **kwargs: Any) -> Any:
        self._fill()
        return base(self, *args, **kwargs)

    method.__name__ = name
    return method


for _name in (
    "__len__", "__iter__", "__getitem__", "__contains__", "__reversed__", "__eq__", "__ne__", "__lt__", "__le__",
    "__gt__", "__ge__", "__add__", "__mul__", "__rmul__", "__iadd__", "__imul__", "__setitem__", "__delitem__",
    "append", "extend", "insert", "pop", "remove", "clear", "index", "count", "sort", "reverse", "copy",
):  # fmt: skip
    setattr(_LazyRows, _name, _filling(_name))


del _name
