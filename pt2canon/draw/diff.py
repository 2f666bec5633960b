"""Drawings of a diff: :func:`diff_highlight`, :func:`plan_diff`, :func:`draw_diff` and :func:`draw_diff_svg`."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pt2canon.draw.engines import render
from pt2canon.draw.graph import label_of, to_digraph
from pt2canon.draw.plan import DEFAULT_MAX_NODES, Drawing, Item, input_item, op_item, output_item, plan_drawing
from pt2canon.draw.style import shorten
from pt2canon.draw.view import GraphView
from pt2canon.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

    from pt2canon.diff.result import DiffResult

__all__ = ["diff_highlight", "draw_diff", "draw_diff_svg", "plan_diff"]


_NODE_STATUS = {"node_added": "added", "node_removed": "removed", "node_changed": "changed", "node_rewired": "rewired"}


def _b_to_a(result: DiffResult, prefix: str) -> dict[str, str]:
    return {
        r.b_name: r.a_name
        for r in result.rows
        if r.graph.model == prefix and not r.graph.is_subgraph and r.a_name and r.b_name
    }


def diff_highlight(result: DiffResult, side: str = "b", *, model: str | None = None) -> dict[str, str]:
    """Canonical node name -> status (``added``, ``changed``, ``rewired``, ``removed``) on one side of a diff.

    Parameters
    ----------
    result : DiffResult
    side : {"b", "a"}
        Side B holds the added, changed and rewired nodes (by B's canonical
        names), side A the removed, changed and rewired ones (by A's).
    model : str, optional
        For a diff of multi-model archives: which model.

    A change inside the subgraph of a higher-order op marks that op changed.
    """
    if side not in ("a", "b"):
        raise UsageError(f"side={side!r}: needs 'a' or 'b'")
    prefix = model or ""
    out: dict[str, str] = {}
    b_to_a: dict[str, str] | None = None
    for c in result.changes:
        status = _NODE_STATUS.get(c.kind)
        if status is None:
            continue
        graph = c.location.graph
        if graph.model != prefix:
            continue
        if not graph.is_subgraph:
            name = c.location.b if side == "b" else c.location.a
            if name:
                out[name] = status
            continue
        parent = graph.steps[0][0]  # the higher-order op of the top-level graph, by B's name
        if side == "a":
            if b_to_a is None:
                b_to_a = _b_to_a(result, prefix)
            parent = b_to_a.get(parent, "")
            if not parent:
                continue
        out.setdefault(parent, "changed")
    return out


def _neighbourhood(D: nx.DiGraph, seeds: Iterable[str], radius: int) -> set[str]:
    seen = {s for s in seeds if s in D}
    frontier = set(seen)
    for _ in range(radius):
        nxt = set()
        for n in frontier:
            for m in (*D.predecessors(n), *D.successors(n)):
                if m not in seen:
                    nxt.add(m)
        seen |= nxt
        frontier = nxt
    return seen


def plan_diff(
    result: DiffResult,
    a: Any,
    b: Any,
    *,
    radius: int = 2,
    max_nodes: int = DEFAULT_MAX_NODES,
    model: str | None = None,
) -> Drawing:
    """What :func:`draw_diff_svg` draws."""
    if not isinstance(radius, int) or radius < 0:
        raise UsageError(f"radius={radius!r}: needs a number of hops >= 0")
    Da = to_digraph(a, model=model)
    Db = to_digraph(b, model=model)
    hb = {n: s for n, s in diff_highlight(result, "b", model=model).items() if n in Db}
    ha = {n: s for n, s in diff_highlight(result, "a", model=model).items() if n in Da}
    removed = [n for n, s in ha.items() if s == "removed"]
    b_to_a = _b_to_a(result, model or "")
    a_to_b = {v: k for k, v in b_to_a.items()}
    anchors = {a_to_b[m] for x in removed for m in (*Da.predecessors(x), *Da.successors(x)) if m in a_to_b}
    label = label_of(b) or "B"
    counts = Counter(hb.values())
    counts["removed"] = len(removed)
    caption = (
        f"{label}: changed region · {counts['added']} added (green), "
        f"{counts['changed'] + counts['rewired']} changed (orange), {len(removed)} removed (red, from A)"
    )
    if not hb and not removed:
        note = Item("note", "note", ("no op was added, removed or changed",), "the diff has no node changes")
        return Drawing({"note": note}, {}, f"{label}: no node changes")
    r = radius
    while True:
        region = _neighbourhood(Db, [*hb, *anchors], r)
        if len(region) + len(removed) <= max_nodes or r == 0:
            break
        r -= 1
    if len(region) + len(removed) > max_nodes:
        # Too many changes to draw one by one: the whole of B, collapsed by module, coloured.
        return plan_drawing(Db, highlight=hb, max_nodes=max_nodes, title=caption + " · collapsed by module")
    items: dict[str, Item] = {}
    for n in Db.nodes:  # canonical order
        if n not in region:
            continue
        kind = Db.nodes[n]["kind"]
        if kind == "input":
            it = input_item(Db, n)
        elif kind == "output":
            it = output_item(Db)
        else:
            it = op_item(Db, n)
        it.status = hb.get(n)
        items[n] = it
    for x in removed:
        it = op_item(Da, x, item_id=f"A:{x}")
        it.label = (it.label[0], shorten(f"A:{it.label[1]}"))
        it.tooltip = f"removed (side A {x})\n{it.tooltip}"
        it.status = "removed"
        items[it.id] = it
    edges: dict[tuple[str, str], int] = {}
    for u, v, data in Db.edges(data=True):
        if u in items and v in items:
            edges[(u, v)] = len(data.get("values") or (1,))

    def a_item(m: str) -> str | None:
        if f"A:{m}" in items:
            return f"A:{m}"
        mb = a_to_b.get(m)
        return mb if mb in items else None

    for x in removed:
        for p in Da.predecessors(x):
            ip = a_item(p)
            if ip is not None:
                edges[(ip, f"A:{x}")] = len(Da[p][x].get("values") or (1,))
        for s in Da.successors(x):
            is_ = a_item(s)
            if is_ is not None:
                edges[(f"A:{x}", is_)] = len(Da[x][s].get("values") or (1,))
    title = caption + (f" · {r} hop{'s' if r != 1 else ''} around" if r else "")
    return Drawing(
        items, edges, title, removed_edges=frozenset(e for e in edges if e[0].startswith("A:") or e[1].startswith("A:"))
    )


def draw_diff(
    result: DiffResult,
    a: Any,
    b: Any,
    *,
    radius: int = 2,
    max_nodes: int = DEFAULT_MAX_NODES,
    engine: str = "auto",
    model: str | None = None,
) -> GraphView:
    """Draw the changed region of a diff; see :func:`draw_diff_svg`. Returns a :class:`GraphView`."""
    t0 = time.perf_counter()
    drawing = plan_diff(result, a, b, radius=radius, max_nodes=max_nodes, model=model)
    svg, used = render(drawing, engine=engine)
    return GraphView(drawing, svg, used, time.perf_counter() - t0)


def draw_diff_svg(
    result: DiffResult,
    a: Any,
    b: Any,
    *,
    radius: int = 2,
    max_nodes: int = DEFAULT_MAX_NODES,
    engine: str = "auto",
    model: str | None = None,
) -> str:
    """SVG of the changed region of a diff.

    Draws side B's added (green), changed (orange) and rewired (yellow)
    nodes with every node within ``radius`` hops of them, and side A's
    removed nodes (red, ids ``A:<name>``) wired to the B nodes their
    neighbours align with. When that is more than ``max_nodes`` nodes even
    at radius 0, the whole of B is drawn collapsed by module, the boxes
    holding changes coloured.

    Parameters
    ----------
    result : DiffResult
        ``pt2canon.diff(a, b)``.
    a, b : CanonicalProgram, or anything :func:`pt2canon.load` reads
        The two sides the diff was made from (canonical names are
        deterministic, so they are canonicalized again here).
    """
    return draw_diff(result, a, b, radius=radius, max_nodes=max_nodes, engine=engine, model=model).svg
