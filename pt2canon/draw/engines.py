"""Rendering a :class:`~pt2canon.draw.plan.Drawing` to SVG: Graphviz ``dot`` when it is on the ``PATH``, matplotlib otherwise."""

from __future__ import annotations

import math
import shutil

from pt2canon.draw.plan import Drawing
from pt2canon.draw.style import STATUS_STYLES, _clean
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
    from pt2canon.draw.mpl import render_matplotlib

    return render_matplotlib(drawing), "matplotlib"
