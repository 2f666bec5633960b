"""The drawing without Graphviz: the layered layout of :mod:`pt2canon.draw.layout`, drawn to SVG by matplotlib.

Every box is measured first (matplotlib's text metrics for DejaVu Sans),
laid out, and drawn at exactly the size and place the layout gave it, so
the SVG shows the layout's guarantee: edges run between the layers' bands
and through free slots, never through a box. Each node's box and label are
one SVG group ``<g id="node-...">`` with a ``<title>`` tooltip; each edge
is a group ``edge-<k>`` (a polyline with an arrowhead; dashed red for the
removed edges of a diff drawing).
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

from pt2canon.draw.layout import Box, layered_layout
from pt2canon.draw.plan import Drawing
from pt2canon.draw.style import STATUS_STYLES, xml_clean, xml_escape
from pt2canon.errors import MissingDependencyError

__all__ = ["FONT_SIZE", "render_matplotlib"]

#: Label font size, in points.
FONT_SIZE = 7.0
_PAD_X, _PAD_Y = 7.0, 4.0


def _fixed_box(box: Box) -> Any:
    """A matplotlib box style that draws ``box``'s size around the label, whatever the text's extent."""
    from matplotlib.path import Path

    def style(x0: float, y0: float, width: float, height: float, mutation_size: float) -> Any:
        scale = mutation_size / FONT_SIZE  # display units per point (the SVG backend: 1)
        cx, cy = x0 + width / 2, y0 + height / 2
        w, h = box.w * scale / 2, box.h * scale / 2
        r = min(4.0 * scale, h)
        verts = [
            (cx - w + r, cy - h), (cx + w - r, cy - h), (cx + w, cy - h), (cx + w, cy - h + r),
            (cx + w, cy + h - r), (cx + w, cy + h), (cx + w - r, cy + h), (cx - w + r, cy + h),
            (cx - w, cy + h), (cx - w, cy + h - r), (cx - w, cy - h + r), (cx - w, cy - h), (cx - w + r, cy - h),
        ]  # fmt: skip
        codes = [Path.MOVETO, Path.LINETO, Path.CURVE3, Path.CURVE3, Path.LINETO, Path.CURVE3, Path.CURVE3,
                 Path.LINETO, Path.CURVE3, Path.CURVE3, Path.LINETO, Path.CURVE3, Path.CURVE3]  # fmt: skip
        return Path(verts, codes, closed=True)

    return style


def render_matplotlib(drawing: Drawing, *, png: str | None = None) -> str:
    """SVG text of ``drawing``, laid out in layers; ``png`` also writes a raster copy."""
    try:
        import matplotlib
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure
        from matplotlib.font_manager import FontProperties
        from matplotlib.patches import FancyArrowPatch
        from matplotlib.path import Path
        from matplotlib.textpath import TextToPath
    except ImportError:
        raise MissingDependencyError(
            "drawing needs Graphviz 'dot' on the PATH, or igraph and matplotlib: pip install 'pt2canon[notebook]'"
        ) from None
    from pt2canon.draw.dot import strip_prolog, to_dot

    font = FontProperties(family="DejaVu Sans", size=FONT_SIZE)
    measure = TextToPath()
    line_h = FONT_SIZE * 1.25

    def size(item_id: str) -> tuple[float, float]:
        lines = [xml_clean(line) for line in drawing.items[item_id].label] or [""]
        w = max(measure.get_text_width_height_descent(line, font, ismath=False)[0] for line in lines)
        return w + 2 * _PAD_X, 2 * line_h + 2 * _PAD_Y  # one height for every box: two label lines

    layout = layered_layout(drawing, size)
    title_h = 18.0 if drawing.title else 0.0
    width = max(layout.width, 4.2 * len(drawing.title) + 20)
    height = layout.height + title_h
    dx = (width - layout.width) / 2
    salt = hashlib.sha256(to_dot(drawing).encode("utf-8")).hexdigest()[:16]
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt, "font.family": "DejaVu Sans"}):
        fig = Figure(figsize=(width / 72, height / 72), dpi=72)
        FigureCanvasSVG(fig)
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_axis_off()
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)  # y grows downwards, as in the layout and in SVG
        if drawing.title:
            ax.text(
                width / 2, title_h / 2 + 2, xml_clean(drawing.title), ha="center", va="center", fontsize=9, gid="title"
            )

        def at(p: tuple[float, float]) -> tuple[float, float]:
            return p[0] + dx, p[1] + title_h

        red = STATUS_STYLES["removed"]["stroke"]
        polylines = [[at(p) for p in pts] for pts in layout.edges.values()]
        if len(polylines) <= 600:
            for i, ((u, v), pts) in enumerate(zip(layout.edges, polylines)):
                removed = (u, v) in drawing.removed_edges
                ax.add_patch(
                    FancyArrowPatch(
                        path=Path(pts),
                        arrowstyle="-|>",
                        mutation_scale=7,
                        lw=0.7,
                        ls="--" if removed else "-",
                        color=red if removed else "#868e96",
                        shrinkA=0,
                        shrinkB=0,
                        zorder=1,
                        gid=f"edge-{i}",
                    )
                )
        else:
            ax.add_collection(LineCollection(polylines, colors="#868e96", linewidths=0.6, zorder=1))
        for it in drawing.items.values():
            st = it.style()
            box = layout.boxes[it.id]
            x, y = at((box.x, box.y))
            ax.text(
                x,
                y,
                "\n".join(xml_clean(line) for line in it.label),
                ha="center",
                va="center",
                fontsize=FONT_SIZE,
                linespacing=1.25,
                zorder=3,
                gid=it.svg_id,
                bbox={
                    "boxstyle": _fixed_box(box),
                    "fc": st["fill"],
                    "ec": st["stroke"],
                    "lw": 1.8 if it.status is not None else 0.9,
                    "ls": "--" if "dashed" in st["style"] else "-",
                },
            )
        if png is not None:  # a raster copy, for looking at a drawing outside a browser
            fig.savefig(png, format="png", dpi=110)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = strip_prolog(buf.getvalue())
    for it in drawing.items.values():  # tooltips: a <title> first in each node's group
        tip = it.tooltip or "\n".join(it.label)
        opening = f'<g id="{xml_escape(it.svg_id)}">'
        svg = svg.replace(opening, f"{opening}\n    <title>{xml_escape(tip)}</title>", 1)
    return svg
