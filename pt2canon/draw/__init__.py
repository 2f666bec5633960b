"""Graph drawings and summaries of exported programs, for notebooks.

:func:`draw_svg` draws a program's top-level graph as SVG text, with
canonical node names (``n0, n1, ...`` for ops in canonical order, the
canonical value name ``v<k>`` for a graph input, ``output``):

* with Graphviz ``dot`` (``dot -Tsvg`` in a subprocess) when it is on the
  ``PATH``: curved edges, fine-tuned spacing;
* otherwise with igraph and matplotlib, which the ``notebook`` extra
  installs: a layered (Sugiyama) layout by igraph, boxes placed at their
  real widths and edges routed between the layers and through free slots,
  so that no edge passes through a box (:mod:`pt2canon.draw.layout`),
  drawn to SVG by matplotlib (:mod:`pt2canon.draw.mpl`).

Large graphs are collapsed by module path (the innermost ``nn_module_stack``
entry of each op): with ``collapse_depth=k`` every module whose path has
``k`` components (``layers.3`` has two) becomes one box holding the ops of
that module and of its submodules, and ops of shallower modules stay ops.
By default (``collapse_depth=None``) a graph of more than ``max_nodes``
drawn nodes is collapsed at the deepest depth that draws at most
``max_nodes`` nodes, so a 48-layer transformer (1,680 ops) is drawn as 48
``layers.N`` boxes; ``module="layers.3"`` draws one module's ops alone,
with the ops outside it that feed it or use it drawn dashed.
``collapse_depth=0`` never collapses.

``highlight`` colours nodes: a set of canonical names (drawn blue) or a
mapping ``name -> status`` with the statuses of :data:`STATUS_STYLES`
(``added`` green, ``changed`` orange, ``rewired`` yellow, ``removed`` red)
or a ``#rrggbb`` colour. A module box takes the status of the nodes it
holds. :func:`diff_highlight` makes that mapping from a
:class:`~pt2canon.diff.result.DiffResult` and :func:`draw_diff_svg` draws
the changed region of a diff: the changed nodes of side B with their
neighbourhood, and the removed nodes of side A in red where they were
(their edges dashed red).

In the SVG, the group of each drawn node has the id ``node-<name>`` (a
module box ``module-<path>``, a removed node of side A ``node-A:<name>``;
characters other than letters, digits and ``_.:-`` become ``_``) and a
tooltip with the node's listing line, its original name and its module;
every text taken from the program is escaped.

Notebook objects: :class:`GraphView` (made by :func:`draw` and
:func:`draw_diff`) and :class:`Summary` (:func:`explore`) render when left
bare at the end of a cell (``_repr_svg_`` / ``_repr_html_``).

matplotlib and ``subprocess`` are imported only when a drawing is made.

Modules, one concern each: :mod:`~pt2canon.draw.graph` (the canonical
graph as a ``networkx.DiGraph``), :mod:`~pt2canon.draw.plan` (what is
drawn: collapse, drill-down, highlight), :mod:`~pt2canon.draw.engines`
(``dot`` or matplotlib to SVG), :mod:`~pt2canon.draw.layout` (the layered
layout), :mod:`~pt2canon.draw.mpl` (the matplotlib drawing), :mod:`~pt2canon.draw.view` (the notebook
object), :mod:`~pt2canon.draw.diff` (drawings of a diff),
:mod:`~pt2canon.draw.summary` (the HTML summary), :mod:`~pt2canon.draw.style`
(colours and text escaping).

Examples
--------
>>> import pt2canon.draw as draw                               # doctest: +SKIP
>>> draw.draw("model.pt2")                                     # doctest: +SKIP
>>> draw.draw("model.pt2", module="layers.3")                  # doctest: +SKIP
>>> svg = draw.draw_svg("model.pt2", highlight={"n4": "changed"})  # doctest: +SKIP
"""

from __future__ import annotations

from pt2canon.draw.diff import diff_highlight, draw_diff, draw_diff_svg, plan_diff
from pt2canon.draw.engines import DOT_TIMEOUT, render, to_dot
from pt2canon.draw.graph import to_digraph
from pt2canon.draw.plan import DEFAULT_MAX_NODES, Drawing, Item, plan_drawing
from pt2canon.draw.style import KIND_STYLES, STATUS_STYLES
from pt2canon.draw.summary import Summary, explore
from pt2canon.draw.view import GraphView, draw, draw_svg
from pt2canon.serde.metadata import module_path

__all__ = [
    "DEFAULT_MAX_NODES",
    "DOT_TIMEOUT",
    "KIND_STYLES",
    "STATUS_STYLES",
    "Drawing",
    "GraphView",
    "Item",
    "Summary",
    "diff_highlight",
    "draw",
    "draw_diff",
    "draw_diff_svg",
    "draw_svg",
    "explore",
    "module_path",
    "plan_diff",
    "plan_drawing",
    "render",
    "to_digraph",
    "to_dot",
]
