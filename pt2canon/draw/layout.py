"""A layered (Sugiyama) layout of a :class:`~pt2canon.draw.plan.Drawing` whose edges never cross a box.

igraph's ``layout_sugiyama`` does the layering (cycles broken by a
feedback arc set; inputs and weights are then moved down to the layer
just above their first user), adds a dummy vertex wherever an edge passes a layer and
orders each layer to reduce crossings (barycenters). On top of that order
:func:`layered_layout` places boxes of their real widths:

* every box has the same height and every box of a layer the same centre
  line, so the layers are bands and the space between two bands holds no
  box;
* within a layer, boxes and the dummy slots of passing edges keep their
  order and a gap between them, as near igraph's positions as that allows
  (a least-squares fit under the gaps, by pool-adjacent-violators);
* an edge leaves its source at the bottom of the box (the top, for an edge
  drawn upwards), crosses each band it passes vertically through its dummy
  slot, runs straight from band to band, and enters its target at the
  top.

So an edge's slanted pieces lie between bands and its vertical pieces in
slots no box overlaps: no edge passes through a box (the tests check the
SVG geometrically). Units are points (1/72 inch); ``y`` grows downwards.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pt2canon.draw.plan import Drawing
from pt2canon.errors import MissingDependencyError

__all__ = ["Box", "Layout", "layered_layout"]

#: Horizontal gap between neighbouring boxes (and dummy slots) of a layer, in points.
H_GAP = 14.0
#: Vertical gap between two layers' bands, in points.
V_GAP = 26.0
#: Width kept free for an edge crossing a layer.
SLOT = 6.0


@dataclass(frozen=True)
class Box:
    """A node's box: centre ``x``, ``y`` and size ``w`` x ``h``, in points."""

    x: float
    y: float
    w: float
    h: float

    @property
    def top(self) -> float:
        return self.y - self.h / 2

    @property
    def bottom(self) -> float:
        return self.y + self.h / 2


@dataclass
class Layout:
    """Boxes by item id, each edge's polyline (source to target), and the extent."""

    boxes: dict[str, Box]
    edges: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)
    width: float = 0.0
    height: float = 0.0


def _fit_in_order(desired: Sequence[float], gaps: Sequence[float]) -> list[float]:
    """Positions nearest ``desired`` (least squares) with ``p[i+1] - p[i] >= gaps[i]``.

    With ``q[i] = p[i] - (gaps[0] + ... + gaps[i-1])`` the constraint says
    ``q`` is non-decreasing: an isotonic regression, solved by pooling
    adjacent violators.

    Examples
    --------
    >>> _fit_in_order([0.0, 0.0, 10.0], [4.0, 4.0])
    [-2.0, 2.0, 10.0]
    """
    offsets = [0.0]
    for g in gaps:
        offsets.append(offsets[-1] + g)
    blocks: list[list[float]] = []  # [sum, count]
    for d, o in zip(desired, offsets):
        blocks.append([d - o, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, n = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += n
    q: list[float] = []
    for s, n in blocks:
        q += [s / n] * int(n)
    return [a + o for a, o in zip(q, offsets)]


def layered_layout(drawing: Drawing, size: Callable[[str], tuple[float, float]], *, maxiter: int = 100) -> Layout:
    """Place the items and route the edges of ``drawing``.

    Parameters
    ----------
    drawing : Drawing
    size : callable
        ``size(item_id) -> (width, height)`` of the box drawn for an item, in points.
    maxiter : int
        Crossing-reduction sweeps (igraph's ``maxiter``).
    """
    try:
        import igraph
    except ImportError:
        raise MissingDependencyError(
            "drawing without Graphviz 'dot' needs igraph and matplotlib: pip install 'pt2canon[notebook]'"
        ) from None
    ids = list(drawing.items)
    index = {n: i for i, n in enumerate(ids)}
    edges = [(u, v) for u, v in drawing.edges if u in index and v in index and u != v]
    g = igraph.Graph(n=len(ids), edges=[(index[u], index[v]) for u, v in edges], directed=True)
    # igraph's layering (longest path, cycles broken), then every source pulled down to just above
    # its first user, so that a weight sits beside the op that reads it; then the crossing reduction.
    first = [round(float(y)) for _, y in list(g.layout_sugiyama(hgap=1, vgap=1, maxiter=1))[: len(ids)]]
    layer = list(first)
    for i in range(len(ids)):
        succ = g.successors(i)
        if succ and not g.predecessors(i):
            layer[i] = min(first[j] for j in succ) - 1
    low = min(layer, default=0)
    raw = g.layout_sugiyama(layers=[k - low for k in layer], hgap=1, vgap=1, maxiter=maxiter)
    coords = [(float(x), round(float(y))) for x, y in list(raw)[: len(ids)]]
    routes = [[(float(x), round(float(y))) for x, y in pts] for pts in raw.edge_routing]

    sizes = {n: size(n) for n in ids}
    height = max((h for _, h in sizes.values()), default=20.0)
    widths = sorted(w for w, _ in sizes.values())
    unit = (widths[len(widths) // 2] if widths else 60.0) + H_GAP
    # Per layer: (igraph x, width, key) for boxes (key = item id) and dummy slots (key = (edge, k)).
    layers: dict[int, list[tuple[float, float, object]]] = {}
    for n, (x, y) in zip(ids, coords):
        layers.setdefault(y, []).append((x, sizes[n][0], n))
    for e, route in enumerate(routes):
        for k, (x, y) in enumerate(route):
            layers.setdefault(y, []).append((x, SLOT, (e, k)))
    xs: dict[object, float] = {}
    for row in layers.values():
        row.sort(key=lambda t: (t[0], str(t[2])))
        gaps = [(a[1] + b[1]) / 2 + H_GAP for a, b in itertools.pairwise(row)]
        for (_, _, key), p in zip(row, _fit_in_order([t[0] * unit for t in row], gaps)):
            xs[key] = p
    keys = sorted(layers)
    left = min(xs[t[2]] - t[1] / 2 for row in layers.values() for t in row)
    right = max(xs[t[2]] + t[1] / 2 for row in layers.values() for t in row)
    margin = 10.0
    shift = margin - left
    y_of = {k: margin + height / 2 + i * (height + V_GAP) for i, k in enumerate(keys)}
    boxes = {n: Box(xs[n] + shift, y_of[y], sizes[n][0], sizes[n][1]) for n, (_, y) in zip(ids, coords)}

    out: dict[str, list[int]] = {}
    inc: dict[str, list[int]] = {}
    for e, (u, v) in enumerate(edges):
        out.setdefault(u, []).append(e)
        inc.setdefault(v, []).append(e)

    def port(n: str, e: int, side: str) -> float:
        """Where edge ``e`` meets box ``n``: its ends are spread along the side, ordered by where they go."""
        group = sorted((out if side == "out" else inc)[n], key=lambda i: boxes[edges[i][1 if side == "out" else 0]].x)
        b = boxes[n]
        step = min(10.0, (b.w - 8) / max(1, len(group)))
        return b.x + (group.index(e) - (len(group) - 1) / 2) * step

    layout = Layout(boxes, width=right - left + 2 * margin, height=y_of[keys[-1]] + height / 2 + margin if keys else 0)
    for e, (u, v) in enumerate(edges):
        bu, bv = boxes[u], boxes[v]
        down = bv.y > bu.y
        pts: list[tuple[float, float]] = [(port(u, e, "out"), bu.bottom if down else bu.top)]
        for k, (_, y) in sorted(enumerate(routes[e]), key=lambda kp: kp[1][1], reverse=not down):
            x, yc = xs[(e, k)] + shift, y_of[int(y)]
            pts += (
                [(x, yc - height / 2), (x, yc + height / 2)] if down else [(x, yc + height / 2), (x, yc - height / 2)]
            )
        pts.append((port(v, e, "in"), bv.top if down else bv.bottom))
        layout.edges[(u, v)] = pts
    return layout
