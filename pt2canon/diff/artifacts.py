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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pt2canon._gc import gc_paused
from pt2canon.api import canonicalize_model
from pt2canon.canon.hashing import (
    NO_SAMPLE_INPUTS,
    combine,
    extra_file_digests,
    layer_digests,
    level_layers,
    payload_digests,
)
from pt2canon.canon.program import CanonicalProgram
from pt2canon.diff.align import Alignment, align_programs
from pt2canon.diff.nodes import GraphStatus
from pt2canon.diff.options import Options
from pt2canon.diff.payloads import compare_extra_files, compare_payloads, content_change
from pt2canon.diff.program import compare_program, compare_versions
from pt2canon.diff.records import AlignedLine, Change, ChangeKind, GraphPath, Location
from pt2canon.diff.result import DiffResult
from pt2canon.diff.rows import lazy_rows, program_rows
from pt2canon.errors import UsageError
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
    "extra_files": "weight_changed",
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
    """One artifact's models: canonical programs, layer digests, payload and sample-input digests."""

    def __init__(self, artifact: Artifact, names: list[str], opts: Options):
        self.artifact = artifact
        self.bare = artifact.format == "json"  # a model.json alone: no weights, no sample inputs
        self.canons: dict[str, CanonicalProgram] = {}
        self.layers: dict[str, dict[str, str]] = {}
        self.payloads: dict[str, dict[str, dict[str, Any]]] = {}
        self.samples: dict[str, str | None] = {}
        cache: dict[str, str] = {}
        #: The archive's extra files (``extra/<name>``): one layer for all its models.
        self.extra_files: dict[str, Any] = extra_file_digests(artifact, cache=cache) if opts.level == "full" else {}
        for name in names:
            model = artifact.models.get(name)
            if model is None:
                continue
            canon = canonicalize_model(artifact, model, keep_metadata=opts.keep_metadata)
            payloads: dict[str, dict[str, Any]] = {}
            if opts.level == "full":
                payloads["weights"] = payload_digests(artifact, model.weights, cache=cache)
                payloads["constants"] = payload_digests(artifact, model.constants, cache=cache)
                self.payloads[name] = payloads
            if opts.level == "full" or opts.include_sample_inputs:
                self.samples[name] = artifact.sha256_member(model.sample_inputs) if model.sample_inputs else None
            self.canons[name] = canon
            self.layers[name] = layer_digests(
                canon,
                weights=payloads.get("weights"),
                constants=payloads.get("constants"),
                extra_files=self.extra_files if opts.level == "full" else None,
                sample_inputs=(self.samples.get(name) or NO_SAMPLE_INPUTS) if opts.include_sample_inputs else None,
            )
        wanted = level_layers(
            opts.level, include_sample_inputs=opts.include_sample_inputs, include_versions=opts.include_versions
        )
        self.hash = combine(self.layers, level=opts.level, wanted=wanted).hash if self.layers else ""


def _sample_record(graph: GraphPath, a: str | None, b: str | None) -> Change:
    what = "(a pickle: compared by sha256, never unpickled; `pt2canon audit` scans it)"
    if a is None:
        summary = f"sample inputs added {what}"
    elif b is None:
        summary = f"sample inputs removed {what}"
    else:
        summary = f"sample inputs: {content_change(a, b)} {what}"
    return Change("sample_inputs_changed", Location(graph=graph, item="sample inputs"), summary, {"old": a, "new": b})


def _numeric(a: Artifact, b: Artifact, name: str, section: str, opts: Options) -> Callable[[str, str], Any]:
    """How a changed payload of model ``name`` changed, in numbers (:func:`pt2canon.diff.tensors.compare_tensors`)."""

    def compare(fa: str, fb: str) -> Any:
        from pt2canon.diff.tensors import compare_tensors

        pa = getattr(a.models[name], section).get(fa)
        pb = getattr(b.models[name], section).get(fb)
        if pa is None or pb is None:
            return None
        return compare_tensors(a, pa, b, pb, tolerance=opts.tolerance)

    return compare


@gc_paused
def compare_artifacts(a: Artifact, b: Artifact, names: list[str], opts: Options, options: dict[str, Any]) -> DiffResult:
    """The diff of the models ``names`` of two artifacts under ``opts``; ``options`` are the result's record of them.

    :func:`pt2canon.diff.diff_programs` checks its arguments, builds
    ``opts`` and ``options`` and calls this. Each of ``names`` must be a
    model of at least one side (one side only: the model was added or
    removed).

    Raises
    ------
    UsageError
        If a name is a model of neither side.

    Examples
    --------
    ``mlp_v2`` adds a GELU after ``fc2`` and was given ``mlp_v1``'s
    weights (``examples/make_examples.py``):

    >>> import pt2canon
    >>> from pt2canon.diff.options import Options
    >>> with pt2canon.load("examples/mlp_v1.pt2") as a, pt2canon.load("examples/mlp_v2.pt2") as b:
    ...     r = compare_artifacts(a, b, ["model"], Options(), {"level": "graph"})
    ...     full = compare_artifacts(a, b, ["model"], Options("full"), {"level": "full"})
    >>> r.b, [c.kind for c in r.changes]
    ('examples/mlp_v2.pt2', ['node_added', 'node_rewired'])

    At ``full`` no weight differs; the sample inputs (another random
    example input) are reported but do not count:

    >>> [(c.kind, full.counts(c)) for c in full.changes]
    [('node_added', True), ('node_rewired', True), ('sample_inputs_changed', False)]

    The result's rows (the aligned listing) are built when first read:

    >>> [(row.status, row.b_name) for row in r.rows if row.status != " "]
    [('+', 'n3'), ('~', 'n4')]
    >>> with pt2canon.load("examples/mlp_v1.pt2") as a, pt2canon.load("examples/mlp_v2.pt2") as b:
    ...     compare_artifacts(a, b, ["decoder"], Options(), {"level": "graph"})
    Traceback (most recent call last):
    ...
    pt2canon.errors.UsageError: model='decoder': a model of neither examples/mlp_v1.pt2 (model) nor examples/mlp_v2.pt2 (model)
    """
    for name in names:
        if name not in a.models and name not in b.models:
            raise UsageError(
                f"model={name!r}: a model of neither {a.path} ({', '.join(sorted(a.models))}) "
                f"nor {b.path} ({', '.join(sorted(b.models))})"
            )
    sa, sb = _Side(a, names, opts), _Side(b, names, opts)
    several = len(names) > 1
    notes = [
        f"{side.artifact.path} is a bare model.json: it holds no weights, constants or sample inputs; "
        "they were not compared"
        for side in (sa, sb)
        if side.bare and (opts.weights or opts.include_sample_inputs or opts.level == "full")
    ]
    payloads = opts.weights and not (sa.bare or sb.bare)
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
        layers = [k for k in opts.layers() if payloads or k not in ("weights", "constants", "extra_files")]
        differing = [k for k in layers if la.get(k) != lb.get(k)]
        if differing:
            md.alignment = align_programs(md.a, md.b, graph=graph)
            md.changes, md.status = compare_program(md.alignment, md.a, md.b, opts)
            if payloads:
                pa, pb = sa.payloads[name], sb.payloads[name]
                fqns = md.alignment.fqns
                for section in ("weights", "constants"):
                    numeric = _numeric(a, b, name, section, opts)
                    md.changes += compare_payloads(section, pa[section], pb[section], graph, fqns, numeric)
                if name == names[0]:  # the archive's, not a model's: itemized once
                    md.changes += compare_extra_files(sa.extra_files, sb.extra_files, graph)
            exact = set(opts.exact_layers())
            if not md.changes and any(k in exact for k in differing):
                for layer in (k for k in differing if k in exact):
                    md.changes.append(
                        Change(
                            _FALLBACK_KIND[layer],
                            Location(graph=graph, item=f"{layer} layer"),
                            f"the {layer} layer differs in a part no record itemizes",
                            {"layer": layer, "a": la[layer], "b": lb[layer]},
                        )
                    )
        both = name in sa.samples and name in sb.samples and not (sa.bare or sb.bare)
        if both and sa.samples[name] != sb.samples[name]:
            md.changes.append(_sample_record(graph, sa.samples[name], sb.samples[name]))
        md.changes += compare_versions(md.a.doc, md.b.doc, graph)
        if opts.ignore:
            md.changes = [c for c in md.changes if c.kind not in opts.ignore]
            if md.status is not None:
                md.status.forget(opts.ignore)

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
        notes=notes,
    )
