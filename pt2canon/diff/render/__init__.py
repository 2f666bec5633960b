"""Renderers of a :class:`~pt2canon.diff.result.DiffResult`: ``render(result, format, **options)``.

``text``
    :func:`pt2canon.diff.render.text.render_text`: a unified-style listing
    of the aligned canonical IR, for terminals and CI logs.
``json``
    :func:`pt2canon.diff.render.json.render_json`: the documented JSON form
    (``docs/diff-json.md``).
``markdown``
    :func:`pt2canon.diff.render.markdown.render_markdown`: CI job summaries
    and pull-request comments.
``html``
    :func:`pt2canon.diff.render.html.render_html`: notebooks.

What they share (hunks of the aligned listing, words, text cleaning) is in
:mod:`pt2canon.diff.render.common`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pt2canon._gc import gc_paused
from pt2canon.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.diff.records import DiffRecords

__all__ = ["FORMATS", "render"]

#: Formats :func:`render` knows.
FORMATS = ("text", "json", "markdown", "html")


@gc_paused  # rendering allocates a string per shown line; a pass over the live result frees nothing
def render(result: DiffRecords, format: str = "text", **options: Any) -> str:
    """Render ``result`` as ``text``, ``json``, ``markdown`` or ``html``.

    Options go to the format's renderer (``color`` and ``context`` for
    text, ``max_bytes`` for Markdown, ...); JSON takes none.

    Raises
    ------
    UsageError
        On an unknown format, or when the format's renderer is not installed.

    Examples
    --------
    >>> import json
    >>> from pt2canon.diff.result import Change, DiffResult, Location
    >>> r = DiffResult("a.pt2", "b.pt2", "graph", [Change("node_added", Location(b="n3"), "aten.gelu.default added")])
    >>> print(render(r, "text", color=False))
    --- a.pt2
    +++ b.pt2
    1 change at level graph: 1 node added
    >>> doc = json.loads(render(r, "json"))
    >>> doc["equal"], doc["changes"][0]["kind"], doc["changes"][0]["location"]
    (False, 'node_added', {'b': 'n3'})
    >>> print(render(r, "markdown").splitlines()[0])
    ### pt2canon diff: 1 change
    >>> render(r, "html").startswith('<div class="pt2canon-diff">')
    True
    >>> render(r, "xml")
    Traceback (most recent call last):
    ...
    pt2canon.errors.UsageError: format='xml' is not one of text, json, markdown, html
    """
    if format not in FORMATS:
        raise UsageError(f"format={format!r} is not one of {', '.join(FORMATS)}")
    fn = _renderer(format)
    return fn(result) if format == "json" else fn(result, **options)


def _renderer(format: str) -> Callable[..., str]:
    module_name = f"pt2canon.diff.render.{format}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise UsageError(
            f"the {format} renderer is not available in this build of pt2canon ({module_name} is missing)"
        ) from None
    fn: Callable[..., str] = getattr(module, f"render_{format}")
    return fn
