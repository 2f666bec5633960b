"""Structural diff of two exported programs: :func:`diff_programs` and the result model.

Each side is canonicalized (:mod:`pt2canon.canon.program`), the two graphs
are aligned node for node (:mod:`pt2canon.diff.align`), aligned pairs and
the non-graph parts are compared (:mod:`pt2canon.diff.compare`), and the
result (:class:`DiffResult`) renders as text, JSON, Markdown or HTML
(:mod:`pt2canon.diff.render`).

Importing this package is cheap: networkx, deepdiff and the canonicalizer
are imported when a diff runs.

Examples
--------
>>> import pt2canon                                              # doctest: +SKIP
>>> r = pt2canon.diff("v1.pt2", "v2.pt2")                        # doctest: +SKIP
>>> r.equal, r.summary()["node_added"]                           # doctest: +SKIP
(False, 1)
>>> print(r.render("text", context=2))                           # doctest: +SKIP
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pt2canon._gc import gc_paused
from pt2canon.diff.result import (
    CHANGE_KINDS,
    DIFF_SCHEMA_VERSION,
    AlignedLine,
    Change,
    ChangeKind,
    DiffResult,
    GraphPath,
    Location,
)

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.canon.program import CanonicalProgram
    from pt2canon.diff.align import Alignment
    from pt2canon.diff.nodes import GraphStatus
    from pt2canon.serde.archive import Artifact, Model

__all__ = [
    "CHANGE_KINDS",
    "DIFF_SCHEMA_VERSION",
    "LEVELS",
    "AlignedLine",
    "Change",
    "DiffResult",
    "Location",
    "diff_programs",
]

#: The levels a diff compares at (as the hash levels of :mod:`pt2canon.canon.hashing`).
LEVELS = ("structure", "graph", "full")

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


def _canonicalize(artifact: Artifact, model: Model) -> CanonicalProgram:
    from pt2canon.canon.program import canonicalize_program
    from pt2canon.errors import InputError, Pt2CanonError

    try:
        return canonicalize_program(model.program)
    except Pt2CanonError as exc:
        raise exc.located(file=artifact.path, member=model.member) from None
    except RecursionError:
        raise InputError("graph is nested too deeply", file=artifact.path, member=model.member) from None


class _Side:
    """One artifact's models: canonical programs, layer digests, payload digests."""

    def __init__(self, artifact: Artifact, names: list[str], level: str, weights: bool, include_versions: bool):
        from pt2canon.canon.hashing import combine, layer_digests, level_layers, payload_digests

        self.artifact = artifact
        self.canons: dict[str, CanonicalProgram] = {}
        self.layers: dict[str, dict[str, str]] = {}
        self.payloads: dict[str, dict[str, dict[str, Any]]] = {}
        cache: dict[str, str] = {}
        for name in names:
            model = artifact.models.get(name)
            if model is None:
                continue
            canon = _canonicalize(artifact, model)
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


def diff_programs(
    a: Artifact,
    b: Artifact,
    *,
    level: str = "graph",
    ignore_shapes: bool = False,
    ignore_weights: bool = False,
    include_versions: bool = False,
    context: int = 3,
    model: str | None = None,
) -> DiffResult:
    """The structural diff of two loaded artifacts.

    Parameters
    ----------
    a, b : Artifact
        From :func:`pt2canon.load`.
    level : {"structure", "graph", "full"}
        What counts as a change, as for the hash levels: ``structure``
        (ops, constants, wiring, signature kinds), ``graph`` (+ tensor
        metadata, symbolic shapes, range constraints, signature FQNs,
        module call graph), ``full`` (+ weights and constants by content).
    ignore_shapes : bool
        Leave tensor metadata and range constraints out.
    ignore_weights : bool
        Leave weights and constants out at ``full``.
    include_versions : bool
        Let torch/schema/opset version changes make the programs unequal
        (they are always reported as ``version_changed``).
    context : int
        Context lines the text rendering shows by default (kept in ``options``).
    model : str, optional
        Compare only this model of multi-model archives (default: every
        model; a model only one side has is a ``signature_changed`` record).

    Returns
    -------
    DiffResult
        ``equal`` is true when no record counts; ``changes`` in order:
        inputs, graph nodes (B's canonical order, subgraphs after their
        node, the output node last), outputs, module call graph, other
        signature parts, constraints, weights, versions. ``hash_a`` /
        ``hash_b`` are the compared models' hashes at ``level`` (with
        versions when ``include_versions``), as ``pt2canon hash`` prints them.

    Raises
    ------
    UsageError
        On an unknown level or a negative context.
    InputError
        If ``model`` names a model that neither side has, or a program is broken.
    """
    from pt2canon.errors import InputError, UsageError

    if level not in LEVELS:
        raise UsageError(f"level={level!r} is not one of {', '.join(LEVELS)}")
    if not isinstance(context, int) or context < 0:
        raise UsageError(f"context={context!r}: needs a number of lines >= 0")
    if model is not None:
        if model not in a.models and model not in b.models:
            raise InputError(
                f"no model named {model!r}; {a.path} holds {', '.join(sorted(a.models))}, "
                f"{b.path} holds {', '.join(sorted(b.models))}"
            )
        names = [model]
    else:
        names = sorted(set(a.models) | set(b.models))
    options: dict[str, Any] = {
        "level": level,
        "ignore_shapes": ignore_shapes,
        "ignore_weights": ignore_weights,
        "include_versions": include_versions,
        "context": context,
    }
    if model is not None:
        options["model"] = model
    return _run(a, b, names, options)


@gc_paused
def _run(a: Artifact, b: Artifact, names: list[str], options: dict[str, Any]) -> DiffResult:
    from pt2canon.diff.align import align_programs
    from pt2canon.diff.nodes import GraphStatus
    from pt2canon.diff.options import Options
    from pt2canon.diff.payloads import compare_payloads
    from pt2canon.diff.program import compare_program, compare_versions
    from pt2canon.diff.rows import lazy_rows, program_rows

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


class _CallableModule(types.ModuleType):
    """``pt2canon.diff`` is both this package and the API function :func:`pt2canon.api.diff`.

    Once any ``pt2canon.diff.*`` module is imported, the import system
    sets the attribute ``pt2canon.diff`` to this package, hiding the
    lazily exported function; calling the package does what the function
    does, so ``pt2canon.diff("a.pt2", "b.pt2")`` works either way.
    """

    def __call__(self, a: Any, b: Any, **options: Any) -> DiffResult:
        from pt2canon.api import diff

        return diff(a, b, **options)


sys.modules[__name__].__class__ = _CallableModule
