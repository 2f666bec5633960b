"""Does an edge pass through a node box? Checked on the SVG a drawing engine wrote.

:func:`svg_geometry` reads the boxes of the node groups (``node-*``,
``module-*``; the bounding box of their outline, or the rectangle inside
an ellipse) and the curves of the edge groups (matplotlib's ``edge-<k>``,
Graphviz's ``class="edge"``), flattening ``M L H V C Q Z`` path data into
segments (curves sampled). :func:`crossings` lists every edge segment that
enters a box other than the two its edge joins. Arrowheads are left out:
they sit at the target's border.
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1
Point = tuple[float, float]

_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(r"[MmLlHhVvCcQqZz]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Edge:
    id: str
    title: str  # Graphviz: "u->v"; matplotlib: ""
    polylines: list[list[Point]]


def _path_points(d: str, samples: int = 12) -> list[list[Point]]:
    """Sub-paths of SVG path data as polylines (absolute commands, as both engines write them)."""
    tokens = _TOKEN.findall(d)
    out: list[list[Point]] = []
    cur: list[Point] = []
    pos: Point = (0.0, 0.0)
    i, cmd = 0, "M"

    def nums(n: int) -> list[float]:
        nonlocal i
        vals = [float(t) for t in tokens[i : i + n]]
        i += n
        return vals

    while i < len(tokens):
        if tokens[i].isalpha():
            cmd = tokens[i]
            i += 1
            if cmd in "Zz":
                if cur:
                    cur.append(cur[0])
                continue
        if cmd == "M":
            if cur:
                out.append(cur)
            pos = tuple(nums(2))  # type: ignore[assignment]
            cur = [pos]
            cmd = "L"
        elif cmd == "L":
            pos = tuple(nums(2))  # type: ignore[assignment]
            cur.append(pos)
        elif cmd == "H":
            pos = (nums(1)[0], pos[1])
            cur.append(pos)
        elif cmd == "V":
            pos = (pos[0], nums(1)[0])
            cur.append(pos)
        elif cmd in "CQ":
            ctrl = nums(6 if cmd == "C" else 4)
            pts = [pos, *zip(ctrl[::2], ctrl[1::2])]
            for k in range(1, samples + 1):
                t = k / samples
                q = list(pts)
                while len(q) > 1:  # de Casteljau
                    q = [((1 - t) * a[0] + t * b[0], (1 - t) * a[1] + t * b[1]) for a, b in itertools.pairwise(q)]
                cur.append(q[0])
            pos = pts[-1]
        else:
            raise AssertionError(f"path command {cmd!r} not handled: {d[:80]}")
    if cur:
        out.append(cur)
    return out


def _bbox(points: list[Point]) -> Rect:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def svg_geometry(svg: str) -> tuple[dict[str, Rect], list[Edge]]:
    """Node boxes by group id and the edges of an SVG drawing."""
    root = ET.fromstring(svg)
    boxes: dict[str, Rect] = {}
    edges: list[Edge] = []
    for g in root.iter():
        gid = g.get("id") or ""
        if not g.tag.endswith("}g"):
            continue
        if gid.startswith(("node-", "module-")):
            shapes = [e for e in g.iter() if e.tag.split("}")[-1] in ("path", "polygon", "ellipse")]
            assert shapes, f"no shape in {gid}"
            s = shapes[0]
            tag = s.tag.split("}")[-1]
            if tag == "ellipse":  # the rectangle inside the ellipse
                cx, cy, rx, ry = (float(s.get(k) or 0) for k in ("cx", "cy", "rx", "ry"))
                boxes[gid] = (cx - rx / 2**0.5, cy - ry / 2**0.5, cx + rx / 2**0.5, cy + ry / 2**0.5)
            elif tag == "polygon":
                nums = [float(n) for n in _NUM.findall(s.get("points") or "")]
                boxes[gid] = _bbox(list(zip(nums[::2], nums[1::2])))
            else:
                boxes[gid] = _bbox([p for line in _path_points(s.get("d") or "") for p in line])
        elif gid.startswith("edge") and (g.get("class") == "edge" or gid.startswith("edge-")):
            paths = [e for e in g.iter() if e.tag.endswith("}path")]
            if not paths:
                continue
            title = next((t.text or "" for t in g.iter() if t.tag.endswith("}title")), "")
            # The first path is the edge's line; later ones (matplotlib) are its arrowhead.
            edges.append(Edge(gid, title, _path_points(paths[0].get("d") or "")))
    return boxes, edges


def _segment_hits_rect(a: Point, b: Point, r: Rect, inset: float) -> bool:
    """Whether segment ``a``-``b`` enters rectangle ``r`` shrunk by ``inset`` (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = r[0] + inset, r[1] + inset, r[2] - inset, r[3] - inset
    if x0 >= x1 or y0 >= y1:
        return False
    dx, dy = b[0] - a[0], b[1] - a[1]
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, a[0] - x0), (dx, x1 - a[0]), (-dy, a[1] - y0), (dy, y1 - a[1])):
        if p == 0:
            if q < 0:
                return False
        else:
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                return False
    return True


def _nearest(p: Point, boxes: dict[str, Rect]) -> str:
    def dist(r: Rect) -> float:
        dx = max(r[0] - p[0], 0.0, p[0] - r[2])
        dy = max(r[1] - p[1], 0.0, p[1] - r[3])
        return (dx * dx + dy * dy) ** 0.5

    return min(boxes, key=lambda k: dist(boxes[k]))


def crossings(svg: str, *, inset: float = 1.0) -> list[str]:
    """``"edge-3 enters node-n7"`` for every edge that passes through a box other than its own two."""
    boxes, edges = svg_geometry(svg)
    found = []
    for e in edges:
        points = [p for line in e.polylines for p in line]
        if len(points) < 2:
            continue
        ends = {_nearest(points[0], boxes), _nearest(points[-1], boxes)}
        for line in e.polylines:
            for a, b in itertools.pairwise(line):
                for gid, r in boxes.items():
                    if gid not in ends and _segment_hits_rect(a, b, r, inset):
                        found.append(f"{e.id} enters {gid}")
    return sorted(set(found))
