"""What is in an exported program, as an HTML table for notebooks: :class:`Summary` and :func:`explore`."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pt2canon.draw.style import xml_escape
from pt2canon.serde.metadata import module_path
from pt2canon.serde.model import nodes as graph_nodes

__all__ = ["Summary", "explore"]

# `!important` where notebook stylesheets outrank one class (see pt2canon.diff.render.html's _STYLE).
_SUMMARY_STYLE = """
.pt2canon-summary { font-family: inherit; line-height: 1.4; }
.pt2canon-summary table { border-collapse: collapse; margin: 0.3em 0 0.9em 0; table-layout: auto; }
.pt2canon-summary th, .pt2canon-summary td { border: 1px solid rgba(127, 127, 127, 0.35); padding: 2px 6px;
  text-align: left !important; vertical-align: top; word-break: normal !important; line-height: 1.4; }
.pt2canon-summary code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
.pt2canon-summary h4, .pt2canon-summary h5 { margin: 0.6em 0 0.2em 0; }
.pt2canon-summary .pt2canon-more { font-style: italic; opacity: 0.7; }
"""


def _table(
    headers: Iterable[str], rows: Iterable[Iterable[object]], *, cls: str, limit: int = 200, code: Iterable[int] = ()
) -> str:
    code_cols = set(code)
    out = [
        f'<table class="{cls}"><thead><tr>'
        + "".join(f"<th>{xml_escape(h)}</th>" for h in headers)
        + "</tr></thead><tbody>"
    ]
    rows = list(rows)
    for row in rows[:limit]:
        cells = []
        for i, v in enumerate(row):
            text = "" if v is None else xml_escape(v)
            cells.append(f"<td><code>{text}</code></td>" if i in code_cols and text else f"<td>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if len(rows) > limit:
        out.append(f'<p class="pt2canon-more">... {len(rows) - limit} more rows not shown</p>')
    return "".join(out)


class Summary:
    """What is in an exported program: signature, weights, symbolic shapes, hashes, ops.

    Renders as HTML when left bare at the end of a notebook cell.

    Parameters
    ----------
    source : Artifact, or anything :func:`pt2canon.load` reads
    model : str, optional
        Which model of a multi-model archive.
    levels : iterable of str
        Hash levels to compute (``full`` reads every weight).

    Attributes
    ----------
    path, format, model : str
    versions : dict
        ``torch``, ``schema``, ``opset``.
    inputs, outputs : list of dict
        Signature entries: ``kind``, ``target`` (FQN or ``None``),
        ``value``, ``meta`` (``f32[s77, 16]``), ``line``.
    weights, constants : list of dict
        ``fqn``, ``bytes``, ``meta``, ``dtype``, ``shape``, ``is_param``.
    ranges : dict
        Symbol -> ``(min, max)`` (``None`` for unbounded).
    symbols : dict
        Symbol -> canonical symbol.
    symbol_uses : dict
        Symbol -> the signature entries whose shapes use it.
    hashes : dict
        Level -> ``sha256:...``.
    layers : dict
        Layer -> digest (from the deepest level computed).
    op_counts : dict
        Op (``aten.linear.default``) -> count, most frequent first.
    modules : dict
        Module path -> number of ops whose innermost module it is.
    canonical : CanonicalProgram
    """

    def __init__(
        self, source: Any, *, model: str | None = None, levels: Iterable[str] = ("structure", "graph", "full")
    ):
        import pt2canon
        from pt2canon.api import canonicalize_all
        from pt2canon.canon.hashing import hash_layers
        from pt2canon.listing import listing_json
        from pt2canon.serde.archive import select_model

        artifact = pt2canon.load(source)
        self.artifact = artifact
        m = select_model(artifact, model)
        self.path = artifact.path
        self.format = artifact.format
        self.model = m.name
        info = listing_json(artifact, model=m.name)["models"][0]
        self.versions = info["versions"]
        self.inputs: list[dict[str, Any]] = info["signature"]["inputs"]
        self.outputs: list[dict[str, Any]] = info["signature"]["outputs"]
        self.weights: list[dict[str, Any]] = (info["weights"] or {}).get("entries", [])
        self.constants: list[dict[str, Any]] = (info["constants"] or {}).get("entries", [])
        self.ranges: dict[str, tuple[Any, Any]] = {
            k: (v["min"], v["max"]) for k, v in info["range_constraints"].items()
        }
        canons = canonicalize_all(artifact)
        self.canonical = canons[m.name]
        self.symbols: dict[str, str] = dict(self.canonical.symbols)
        self.symbol_uses: dict[str, list[str]] = {}
        for sym in self.ranges:
            pat = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(sym)}(?![A-Za-z0-9_])")
            self.symbol_uses[sym] = [
                e["line"] for e in (*self.inputs, *self.outputs) if e.get("meta") and pat.search(e["meta"])
            ]
        self.hashes: dict[str, str] = {}
        self.layers: dict[str, str] = {}
        for level in levels:
            res = hash_layers(canons, level=level, artifact=artifact)
            self.hashes[level] = res.hash
            self.layers = dict(res.layers)
        nodes = info["nodes"]
        self.n_ops = len(nodes)
        self.op_counts: dict[str, int] = dict(Counter(n["op"] or "?" for n in nodes).most_common())
        G = self.canonical.graph.model
        self.modules: dict[str, int] = dict(
            Counter(module_path(n.metadata) or "" for n in graph_nodes(G, "op")).most_common()
        )

    def listing(self, *, canonical: bool = True) -> str:
        """The program's listing (``pt2canon show``), canonical by default."""
        from pt2canon.listing import generate_listing

        m = self.artifact.models[self.model]
        program = self.canonical.doc if canonical else m.program
        return "\n".join(
            generate_listing(
                program, weights=m.weights, constants=m.constants, info=self.artifact.info, name=self.model
            )
        )

    def _repr_html_(self) -> str:
        from pt2canon.listing import format_size

        v = self.versions
        n_w = sum(e["bytes"] for e in self.weights)
        parts = [
            '<div class="pt2canon-summary">',
            f"<style>{_SUMMARY_STYLE}</style>",
            f"<h4>{xml_escape(os.path.basename(self.path) or self.path)} · model <code>{xml_escape(self.model)}</code></h4>",
            f"<p>{xml_escape(self.format)} archive · torch {xml_escape(v.get('torch'))} · schema {xml_escape(v.get('schema'))} · "
            f"{self.n_ops} ops · {len(self.weights)} weights ({xml_escape(format_size(n_w))})"
            + (f" · {len(self.constants)} constants" if self.constants else "")
            + "</p>",
            "<h5>Inputs</h5>",
            _table(
                ("kind", "name", "target", "shape"),
                ((e["kind"], e.get("value") or e.get("name"), e.get("target"), e.get("meta")) for e in self.inputs),
                cls="pt2canon-inputs",
                code=(1, 2, 3),
            ),
            "<h5>Outputs</h5>",
            _table(
                ("kind", "name", "target", "shape"),
                ((e["kind"], e.get("value"), e.get("target"), e.get("meta")) for e in self.outputs),
                cls="pt2canon-outputs",
                code=(1, 2, 3),
            ),
            "<h5>Symbolic shapes</h5>",
        ]
        if self.ranges:
            parts.append(
                _table(
                    ("symbol", "canonical", "min", "max", "used by"),
                    (
                        (
                            s,
                            self.symbols.get(s, ""),
                            lo,
                            "int_oo" if hi is None else hi,
                            "; ".join(self.symbol_uses.get(s, ())),
                        )
                        for s, (lo, hi) in self.ranges.items()
                    ),
                    cls="pt2canon-ranges",
                    code=(0, 1, 4),
                )
            )
        else:
            parts.append("<p>none: every size is static</p>")
        parts.append("<h5>Weights</h5>")
        if self.weights:
            parts.append(
                _table(
                    ("FQN", "kind", "shape", "size"),
                    (
                        (e["fqn"], "parameter" if e["is_param"] else "buffer", e["meta"], format_size(e["bytes"]))
                        for e in self.weights
                    ),
                    cls="pt2canon-weights",
                    code=(0, 2),
                )
            )
        else:
            parts.append("<p>none</p>")
        if self.constants:
            parts.append("<h5>Constants</h5>")
            parts.append(
                _table(
                    ("FQN", "shape", "size"),
                    ((e["fqn"], e["meta"], format_size(e["bytes"])) for e in self.constants),
                    cls="pt2canon-constants",
                    code=(0, 1),
                )
            )
        parts.append("<h5>Hashes</h5>")
        from pt2canon.canon.hashing import HASH_SPEC, LEVELS

        parts.append(f"<p>spec <code>{xml_escape(HASH_SPEC)}</code>; each level combines the digests of its layers</p>")
        parts.append(
            _table(
                ("level", "hash", "layers"),
                ((lv, h, " + ".join(LEVELS.get(lv, ()))) for lv, h in self.hashes.items()),
                cls="pt2canon-hashes",
                code=(1,),
            )
        )
        parts.append(
            _table(
                ("layer", "digest", "in levels"),
                (
                    (k, d, ", ".join(lv for lv in self.hashes if k in LEVELS.get(lv, ())) or "-")
                    for k, d in self.layers.items()
                ),
                cls="pt2canon-layers",
                code=(1,),
            )
        )
        parts.append("<h5>Ops</h5>")
        parts.append(_table(("op", "count"), self.op_counts.items(), cls="pt2canon-ops", code=(0,), limit=40))
        if any(self.modules):
            parts.append("<h5>Modules</h5>")
            parts.append(
                _table(
                    ("module path", "ops"),
                    ((k or "(root)", c) for k, c in self.modules.items()),
                    cls="pt2canon-modules",
                    code=(0,),
                    limit=40,
                )
            )
        parts.append("</div>")
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"<Summary {self.path} model={self.model!r}: {self.n_ops} ops, {len(self.weights)} weights, {self.hashes.get('graph', '')}>"


def explore(source: Any, **options: Any) -> Summary:
    """A :class:`Summary` of a program, for a notebook cell."""
    return Summary(source, **options)
