"""Rendering a :class:`~pt2canon.draw.plan.Drawing` to SVG: Graphviz ``dot`` when it is on the ``PATH``, matplotlib otherwise."""

from __future__ import annotations

import io
import math
import shutil

from pt2canon.draw.plan import Drawing
from pt2canon.draw.style import STATUS_STYLES, _clean, _esc
from pt2canon.errors import MissingDependencyError, UsageError

__all__ = ["DOT_TIMEOUT", "render", "to_dot"]

#: Seconds ``dot`` may run before the matplotlib drawing is used instead.
DOT_TIMEOUT = 60.0


def _dot_string(text: str) -> str:
    """A DOT quoted string (``\\`` and ``"`` escaped, lines joined with ``\\n``)."""
    s = _clean(text).replace("\\", "\\\\").replace('"', '\\"')
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


def _strip_prolog(svg: str) -> str:
    start = svg.find("<svg")
    return svg[start:].strip() + "\n" if start >= 0 else svg


def _render_dot(drawing: Drawing, dot: str, timeout: float) -> str:
    import subprocess

    proc = subprocess.run(
        [dot, "-Tsvg"],
        input=to_dot(drawing).encode("utf-8"),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dot exited {proc.returncode}: {proc.stderr.decode('utf-8', 'replace').strip()[:500]}")
    return _strip_prolog(proc.stdout.decode("utf-8"))


def _layers(drawing: Drawing) -> dict[int, list[str]]:
    """Layer of each item: topological generation of its strongly connected component, sources pulled down."""
    import networkx as nx

    G = nx.DiGraph()
    G.add_nodes_from(drawing.items)
    G.add_edges_from(drawing.edges)
    C = nx.condensation(G)
    comp = C.graph["mapping"]
    level_of_comp = {}
    for i, gen in enumerate(nx.topological_generations(C)):
        for c in gen:
            level_of_comp[c] = i
    level = {n: level_of_comp[comp[n]] for n in G}
    for n in G:
        if G.in_degree(n) == 0 and G.out_degree(n) > 0:
            level[n] = max(0, min(level[s] for s in G.successors(n)) - 1)
    layers: dict[int, list[str]] = {}
    for n in drawing.items:  # insertion order: inputs, ops in canonical order, output
        layers.setdefault(level[n], []).append(n)
    # Order within a layer by the mean position of the neighbours in the layer above,
    # then below, then above again (barycenters; ties keep canonical order).
    index = {n: i for i, n in enumerate(drawing.items)}
    preds: dict[str, list[str]] = {n: [] for n in G}
    succs: dict[str, list[str]] = {n: [] for n in G}
    for u, v in G.edges:
        succs[u].append(v)
        preds[v].append(u)
    keys = sorted(layers)
    pos = {n: float(i) for k in keys for i, n in enumerate(layers[k])}

    def bary(n: str, nbrs: dict[str, list[str]]) -> tuple[float, int]:
        ps = [pos[p] for p in nbrs[n] if level[p] != level[n]]
        return (sum(ps) / len(ps) if ps else pos[n], index[n])

    def sweep(order: list[int], nbrs: dict[str, list[str]]) -> None:
        for k in order:
            layer = layers[k]
            layer.sort(key=lambda n: bary(n, nbrs))
            width = len(layer)
            for i, n in enumerate(layer):
                pos[n] = i - (width - 1) / 2

    sweep(keys, preds)
    sweep(keys[::-1], succs)
    sweep(keys, preds)
    return {k: layers[k] for k in keys}


def _render_matplotlib(drawing: Drawing, *, png: str | None = None) -> str:
    try:
        import matplotlib
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyArrowPatch
    except ImportError:
        raise MissingDependencyError(
            "drawing needs Graphviz 'dot' on the PATH or matplotlib: pip install 'pt2canon[notebook]'"
        ) from None
    import hashlib

    import networkx as nx

    layers = _layers(drawing)
    G = nx.DiGraph()
    G.add_nodes_from(drawing.items)
    raw = nx.multipartite_layout(G, subset_key=layers, align="horizontal")
    widest = max(len(v) for v in layers.values())
    # multipartite_layout spaces nodes one unit apart within a layer and layers
    # one unit apart, then scales both axes alike: recover the unit.
    xs = [p[0] for p in raw.values()]
    ys = sorted({round(float(p[1]), 9) for p in raw.values()})
    if len(ys) > 1:
        unit = (ys[-1] - ys[0]) / (len(ys) - 1)
    elif widest > 1:
        unit = (max(xs) - min(xs)) / (widest - 1)
    else:
        unit = 1.0
    unit = unit or 1.0
    node_w, layer_h, margin = 2.3, 0.75, 0.45
    title_h = 0.45 if drawing.title else 0.0
    width = max(widest * node_w, 0.075 * len(drawing.title)) + 2 * margin
    height = len(layers) * layer_h + 2 * margin + title_h
    cx = width / 2
    top = height - margin - title_h - layer_h / 2
    y0 = ys[0]
    at: dict[str, tuple[float, float]] = {}
    for n, p in raw.items():
        at[n] = (cx + float(p[0]) / unit * node_w, top - (float(p[1]) - y0) / unit * layer_h)
    salt = hashlib.sha256(to_dot(drawing).encode("utf-8")).hexdigest()[:16]
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt, "font.family": "DejaVu Sans"}):
        fig = Figure(figsize=(width, height))
        FigureCanvasSVG(fig)
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_axis_off()
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)
        if drawing.title:
            ax.text(
                width / 2,
                height - margin / 2 - title_h / 2,
                _clean(drawing.title),
                ha="center",
                va="center",
                fontsize=9,
                gid="title",
            )
        half = 0.17
        segments = []
        dashed = []
        for (u, v), _n in drawing.edges.items():
            dashed.append((u, v) in drawing.removed_edges)
            (x1, y1), (x2, y2) = at[u], at[v]
            if abs(y1 - y2) < 1e-9:  # same layer (a cycle between module boxes): side to side
                segments.append(((x1 + (0.5 if x2 > x1 else -0.5), y1), (x2 - (0.5 if x2 > x1 else -0.5), y2)))
            else:
                down = y2 < y1
                segments.append(((x1, y1 - half if down else y1 + half), (x2, y2 + half if down else y2 - half)))
        if len(segments) <= 600:
            red = STATUS_STYLES["removed"]["stroke"]
            for i, (a, b) in enumerate(segments):
                ax.add_patch(
                    FancyArrowPatch(
                        a,
                        b,
                        arrowstyle="-|>",
                        mutation_scale=7,
                        lw=0.7,
                        ls="--" if dashed[i] else "-",
                        color=red if dashed[i] else "#868e96",
                        shrinkA=0,
                        shrinkB=0,
                        zorder=1,
                        gid=f"edge-{i}",
                    )
                )
        else:
            ax.add_collection(LineCollection(segments, colors="#868e96", linewidths=0.6, zorder=1))
        for it in drawing.items.values():
            st = it.style()
            x, y = at[it.id]
            box = "round,pad=0.35" if st["shape"] in ("box", "box3d", "note") else "round4,pad=0.35"
            ax.text(
                x,
                y,
                "\n".join(_clean(line) for line in it.label),
                ha="center",
                va="center",
                fontsize=7,
                zorder=3,
                gid=it.svg_id,
                bbox={
                    "boxstyle": box,
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
    svg = _strip_prolog(buf.getvalue())
    # Tooltips: a <title> first in each node's group.
    for it in drawing.items.values():
        tip = it.tooltip or "\n".join(it.label)
        opening = f'<g id="{_esc(it.svg_id)}">'
        svg = svg.replace(opening, f"{opening}\n    <title>{_esc(tip)}</title>", 1)
    return svg


def _engine(engine: str) -> str | None:
    """The ``dot`` executable to use, or ``None`` for matplotlib."""
    if engine not in ("auto", "dot", "matplotlib"):
        raise UsageError(f"engine={engine!r} is not one of auto, dot, matplotlib")
    if engine == "matplotlib":
        return None
    dot = shutil.which("dot")
    if dot is None and engine == "dot":
        raise MissingDependencyError("engine='dot' needs Graphviz's 'dot' on the PATH (apt-get install graphviz)")
    return dot


def render(drawing: Drawing, *, engine: str = "auto", timeout: float = DOT_TIMEOUT) -> tuple[str, str]:
    """SVG text of a :class:`Drawing` and the engine that drew it (``"dot"`` or ``"matplotlib"``).

    ``engine="auto"`` uses ``dot`` when ``shutil.which("dot")`` finds it and
    matplotlib otherwise, or when ``dot`` fails or runs over ``timeout`` seconds.
    """
    dot = _engine(engine)
    if dot is not None:
        import subprocess

        try:
            return _render_dot(drawing, dot, timeout), "dot"
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
            if engine == "dot":
                raise MissingDependencyError(f"dot failed: {exc}") from None
    return _render_matplotlib(drawing), "matplotlib"
