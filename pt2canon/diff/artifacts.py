"""Two artifacts compared model by model: :func:`compare_artifacts`.

Each side's models are canonicalized and hashed layer by layer
(:func:`pt2canon.canon.hashing.layer_digests`); models are paired by name.
A pair whose layers are equal under the options has no records (its
aligned listing is built only when read); the others are aligned
(:func:`pt2canon.diff.align.align_programs`) and compared
(:func:`pt2canon.diff.program.compare_program`, weights and constants by
:mod:`pt2canon.diff.payloads`). A model only one side has is one
``signature_changed`` record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pt2canon._gc import gc_paused
from pt2canon.api import canonicalize_model
from pt2canon.canon.hashing import combine, layer_digests, level_layers, payload_digests
from pt2canon.canon.program import CanonicalProgram
from pt2canon.diff.align import Alignment, align_programs
from pt2canon.diff.nodes import GraphStatus
from pt2canon.diff.options import Options
from pt2canon.diff.payloads import compare_payloads
from pt2canon.diff.program import compare_program, compare_versions
from pt2canon.diff.records import AlignedLine, Change, ChangeKind, GraphPath, Location
from pt2canon.diff.result import DiffResult
from pt2canon.diff.rows import lazy_rows, program_rows
from pt2canon.serde.archive import Artifact

__all__ = ["compare_artifacts"]

#: Record kind reported when a hash layer differs in a part no other record itemizes.
_FALLBACK_KIND: dict[str, ChangeKind] = {
    "structure": "node_changed",
    "tensors": "node_changed",
    "signature": "signature_changed",
    "constraints": "constraint_changed",
    "weights": "weight_changed",
    "constants": "weight_changed",
}


@dataclass
class _ModelDiff:
    """One model compared: its records, and what the aligned listing of it is built from.

    ``a``/``b`` are ``None`` for a model only the other side has; ``alignment``
    is ``None`` until needed when the model is equal at the compared level.
    """

    name: str
    graph: GraphPath
    a: CanonicalProgram | None
    b: CanonicalProgram | None
    changes: list[Change] = field(default_factory=list)
    alignment: Alignment | None = None
    status: GraphStatus | None = None


class _Side:
    """One artifact's models: canonical programs, layer digests, payload digests."""

    def __init__(self, artifact: Artifact, names: list[str], level: str, weights: bool, include_versions: bool):
        self.artifact = artifact
        self.canons: dict[str, CanonicalProgram] = {}
        self.layers: dict[str, dict[str, str]] = {}
        self.payloads: dict[str, dict[str, dict[str, Any]]] = {}
        cache: dict[str, str] = {}
        for name in names:
            model = artifact.models.get(name)
            if model is None:
                continue
            canon = canonicalize_model(artifact, model)
            payloads: dict[str, dict[str, Any]] = {}
            if level == "full" or weights:
                payloads["weights"] = payload_digests(artifact, model.weights, cache=cache)
                payloads["constants"] = payload_digests(artifact, model.constants, cache=cache)
                self.payloads[name] = payloads
            self.canons[name] = canon
            self.layers[name] = layer_digests(
                canon, weights=payloads.get("weights"), constants=payloads.get("constants")
            )
        wanted = level_layers(level, include_versions=include_versions)
        self.hash = combine(self.layers, level=level, wanted=wanted).hash if self.layers else ""


@gc_paused
def compare_artifacts(a: Artifact, b: Artifact, names: list[str], options: dict[str, Any]) -> DiffResult:
    """The diff of the models ``names`` of two artifacts; ``options`` as :func:`pt2canon.diff.diff_programs` checked them."""
    opts = Options(options["level"], options["ignore_shapes"], options["ignore_weights"], options["include_versions"])
    sa = _Side(a, names, opts.level, opts.weights, opts.include_versions)
    sb = _Side(b, names, opts.level, opts.weights, opts.include_versions)
    several = len(names) > 1
    models: list[_ModelDiff] = []
    for name in names:
        graph = GraphPath(name if several else "")
        md = _ModelDiff(name, graph, sa.canons.get(name), sb.canons.get(name))
        models.append(md)
        if md.a is None or md.b is None:
            side = "added" if md.a is None else "removed"
            md.changes.append(
                Change(
                    "signature_changed",
                    Location(graph=graph, item=f"model {name}"),
                    f"model {name} {side}",
                    {"section": "models"},
                )
            )
            continue
        la, lb = sa.layers[name], sb.layers[name]
        differing = [k for k in opts.layers() if la.get(k) != lb.get(k)]
        if differing:
            md.alignment = align_programs(md.a, md.b, graph=graph)
            md.changes, md.status = compare_program(md.alignment, md.a, md.b, opts)
            if opts.weights:
                pa, pb = sa.payloads[name], sb.payloads[name]
                md.changes += compare_payloads("weights", pa["weights"], pb["weights"], graph)
                md.changes += compare_payloads("constants", pa["constants"], pb["constants"], graph)
            if not md.changes:
                for layer in differing:
                    md.changes.append(
                        Change(
                            _FALLBACK_KIND[layer],
                            Location(graph=graph, item=f"{layer} layer"),
                            f"the {layer} layer differs in a part no record itemizes",
                            {"layer": layer, "a": la[layer], "b": lb[layer]},
                        )
                    )
        md.changes += compare_versions(md.a.doc, md.b.doc, graph)

    def rows() -> list[AlignedLine]:
        out: list[AlignedLine] = []
        for md in models:
            if several:
                text = f"model {md.name}:"
                if md.a is None:
                    out.append(AlignedLine("+", None, text, md.graph))
                elif md.b is None:
                    out.append(AlignedLine("-", text, None, md.graph))
                else:
                    out.append(AlignedLine(" ", text, text, md.graph))
            if md.a is None or md.b is None:
                continue
            if md.alignment is None:  # equal at this level: aligned only now, for the listing
                md.alignment = align_programs(md.a, md.b, graph=md.graph)
            out.extend(program_rows(md.alignment, md.changes, md.status or GraphStatus()))
        return out

    return DiffResult(
        a=a.path,
        b=b.path,
        level=opts.level,
        changes=[c for md in models for c in md.changes],
        rows=lazy_rows(rows),
        hash_a=sa.hash,
        hash_b=sb.hash,
        options=options,
    )
