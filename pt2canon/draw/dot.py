"""A :class:`~pt2canon.draw.plan.Drawing` as a Graphviz DOT program, and SVG text as every engine returns it."""

from __future__ import annotations

import math

from pt2canon.draw.plan import Drawing
from pt2canon.draw.style import STATUS_STYLES, xml_clean

__all__ = ["strip_prolog", "to_dot"]


def _dot_string(text: str) -> str:
    """A DOT quoted string (``\\`` and ``"`` escaped, lines joined with ``\\n``)."""
    s = xml_clean(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + s.replace("\r", "").replace("\n", "\\n") + '"'


def to_dot(drawing: Drawing) -> str:
    """The drawing as a Graphviz DOT program."""
    lines = [
        "digraph pt2canon {",
        f"  graph [rankdir=TB, labelloc=t, fontname=Helvetica, fontsize=12, nodesep=0.25, ranksep=0.35, "
        f"bgcolor=white, label={_dot_string(drawing.title)}];",
        '  node [fontname=Helvetica, fontsize=9, margin="0.10,0.04", height=0.3];',
        '  edge [color="#868e96", arrowsize=0.6];',
    ]
    for it in drawing.items.values():
        st = it.style()
        attrs = {
            "id": it.svg_id,
            "label": "\n".join(it.label),
            "tooltip": it.tooltip or "\n".join(it.label),
            "shape": st["shape"],
            "style": st["style"],
            "fillcolor": st["fill"],
            "color": st["stroke"],
        }
        if it.status is not None:
            attrs["penwidth"] = "2"
        body = ", ".join(f"{k}={_dot_string(v)}" for k, v in attrs.items())
        lines.append(f"  {_dot_string(it.id)} [{body}];")
    red = STATUS_STYLES["removed"]["stroke"]
    for (u, v), n in drawing.edges.items():
        extra = f", penwidth={min(1 + math.log2(n), 4):.2f}" if n > 1 else ""
        if (u, v) in drawing.removed_edges:
            extra += f', style=dashed, color="{red}"'
        lines.append(f"  {_dot_string(u)} -> {_dot_string(v)} [tooltip={_dot_string(f'{n} value(s)')}{extra}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def strip_prolog(svg: str) -> str:
    """The ``<svg ...>`` element of an SVG document, without the XML prolog and doctype before it."""
    start = svg.find("<svg")
    return svg[start:].strip() + "\n" if start >= 0 else svg
