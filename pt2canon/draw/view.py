"""Notebook drawings: :class:`GraphView`, :func:`draw` and :func:`draw_svg`."""

from __future__ import annotations

import os
import time
from typing import Any

from pt2canon.draw.engines import render
from pt2canon.draw.graph import label_of, to_digraph
from pt2canon.draw.plan import DEFAULT_MAX_NODES, Drawing, plan_drawing

__all__ = ["GraphView", "draw", "draw_svg"]


class GraphView:
    """A drawn graph; renders as SVG when left bare at the end of a notebook cell.

    Attributes
    ----------
    svg : str
        The SVG text (``_repr_svg_`` and ``_repr_html_`` return it).
    engine : str
        ``"dot"`` or ``"matplotlib"``.
    drawing : Drawing
        What was drawn (items by id, edges).
    seconds : float
        Time the drawing took (planning and rendering).
    """

    def __init__(self, drawing: Drawing, svg: str, engine: str, seconds: float = 0.0):
        self.drawing = drawing
        self.svg = svg
        self.engine = engine
        self.seconds = seconds

    @property
    def nodes(self) -> list[str]:
        """Ids of the drawn items."""
        return list(self.drawing.items)

    def status(self, name: str) -> str | None:
        """Highlight status of the item drawing canonical name ``name``."""
        it = self.drawing.find(name)
        return it.status if it is not None else None

    def _repr_svg_(self) -> str:
        return self.svg

    def _repr_html_(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        extra = f", collapse_depth={self.drawing.collapse_depth}" if self.drawing.collapse_depth else ""
        return f"<GraphView {len(self.drawing.items)} nodes, {len(self.drawing.edges)} edges, {self.engine}{extra}>"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the SVG to a file."""
        from pathlib import Path

        Path(path).write_text(self.svg, encoding="utf-8")


def draw(
    program: Any,
    *,
    collapse_depth: int | None = None,
    module: str | None = None,
    highlight: Any = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    params: bool | None = None,
    engine: str = "auto",
    model: str | None = None,
    title: str | None = None,
) -> GraphView:
    """Draw a program's graph; see :func:`draw_svg` for the arguments. Returns a :class:`GraphView`."""
    t0 = time.perf_counter()
    D = to_digraph(program, model=model)
    label = label_of(program) if title is None else title
    drawing = plan_drawing(
        D,
        collapse_depth=collapse_depth,
        module=module,
        highlight=highlight,
        max_nodes=max_nodes,
        params=params,
        title=label,
    )
    svg, used = render(drawing, engine=engine)
    return GraphView(drawing, svg, used, time.perf_counter() - t0)


def draw_svg(
    program_or_canon: Any,
    *,
    collapse_depth: int | None = None,
    module: str | None = None,
    highlight: Any = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    params: bool | None = None,
    engine: str = "auto",
    model: str | None = None,
    title: str | None = None,
) -> str:
    """The SVG drawing of a program's top-level graph.

    Parameters
    ----------
    program_or_canon : CanonicalProgram, or anything :func:`pt2canon.load` reads
    collapse_depth : int, optional
        ``None``: collapse by module path only when more than ``max_nodes``
        nodes would be drawn, at the deepest depth that fits; ``0``: never;
        ``k``: draw each module with ``k`` path components as one box.
    module : str, optional
        Draw only the ops of this module and its submodules (``"layers.3"``).
    highlight : set of str or Mapping[str, str], optional
        Canonical names to colour, or ``name -> status`` (:data:`STATUS_STYLES`)
        or ``name -> "#rrggbb"``.
    max_nodes : int
        Drawn-node budget for the automatic collapse.
    params : bool, optional
        Draw parameters, buffers and tensor constants as input nodes
        (default: when the graph is not collapsed).
    engine : {"auto", "dot", "matplotlib"}
    model : str, optional
        Which model of a multi-model archive.
    title : str, optional
        Caption (default: the file name).

    Returns
    -------
    str
        SVG text starting with ``<svg``.
    """
    return draw(
        program_or_canon,
        collapse_depth=collapse_depth,
        module=module,
        highlight=highlight,
        max_nodes=max_nodes,
        params=params,
        engine=engine,
        model=model,
        title=title,
    ).svg
