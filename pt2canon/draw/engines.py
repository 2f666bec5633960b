"""Rendering a :class:`~pt2canon.draw.plan.Drawing` to SVG: Graphviz ``dot`` when it is on the ``PATH``, matplotlib otherwise."""

from __future__ import annotations

import shutil

from pt2canon.draw.dot import strip_prolog, to_dot
from pt2canon.draw.plan import Drawing
from pt2canon.errors import MissingDependencyError, UsageError

__all__ = ["DOT_TIMEOUT", "render", "to_dot"]

#: Seconds ``dot`` may run before the matplotlib drawing is used instead.
DOT_TIMEOUT = 60.0


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
    return strip_prolog(proc.stdout.decode("utf-8"))


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
