"""Every record of one aligned program (:func:`compare_program`), range constraints and versions.

Order: input signature, graph nodes in B's canonical order (removed nodes
where A had them, subgraph records after their node, the output node
last), output signature, module call graph, other signature parts
(named-tuple fields, verifiers), range constraints (``constraint_changed``).
Versions (torch, schema, opset) are ``version_changed``
(:func:`compare_versions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pt2canon.canon.program import CanonicalProgram
from pt2canon.diff.align import Alignment
from pt2canon.diff.nodes import GraphStatus, compare_graph
from pt2canon.diff.options import Options
from pt2canon.diff.records import TOP_GRAPH, Change, GraphPath, Location
from pt2canon.diff.signature import compare_inputs, compare_module_call_graph, compare_outputs, plain_changes
from pt2canon.diff.symbols import learn_symbols

__all__ = ["compare_constraints", "compare_program", "compare_versions"]


def compare_constraints(
    ca: CanonicalProgram,
    cb: CanonicalProgram,
    graph: GraphPath = TOP_GRAPH,
    symbols: Mapping[str, str] | None = None,
) -> list[Change]:
    """``constraint_changed`` per canonical symbol whose range was added, removed or changed.

    ``symbols`` renames A's symbols to B's (:func:`learn_symbols`); records name B's symbols.

    Examples
    --------
    The bundled MLPs are exported with a batch dimension in ``[1, 1024]``
    (canonical symbol ``s0``); B here is ``mlp_v2`` with that range narrowed:

    >>> import dataclasses, pt2canon
    >>> a, b = pt2canon.canonicalize("examples/mlp_v1.pt2"), pt2canon.canonicalize("examples/mlp_v2.pt2")
    >>> compare_constraints(a, b)
    []
    >>> narrow = dataclasses.replace(b, doc={**b.doc, "range_constraints": {"s0": {"min_val": 2, "max_val": 64}}})
    >>> (c,) = compare_constraints(a, narrow)
    >>> c.kind, str(c.location), c.summary
    ('constraint_changed', 'range s0', 's0: [1, 1024] -> [2, 64]')
    """
    ra = {(symbols or {}).get(k, k): v for k, v in (ca.doc.get("range_constraints") or {}).items()}
    rb = cb.doc.get("range_constraints") or {}
    out: list[Change] = []

    def rng(r: Mapping[str, Any]) -> str:
        lo, hi = r.get("min_val"), r.get("max_val")
        return f"[{'-int_oo' if lo is None else lo}, {'int_oo' if hi is None else hi}]"

    for sym in [*rb, *(s for s in ra if s not in rb)]:
        a, b = ra.get(sym), rb.get(sym)
        if a == b:
            continue
        loc = Location(graph=graph, item=f"range {sym}")
        if a is None:
            summary = f"{sym} {rng(b or {})} added"
        elif b is None:
            summary = f"{sym} {rng(a)} removed"
        else:
            summary = f"{sym}: {rng(a)} -> {rng(b)}"
        details: dict[str, Any] = {"symbol": sym}
        if a is not None:
            details["old"] = a
        if b is not None:
            details["new"] = b
        out.append(Change("constraint_changed", loc, summary, details))
    return out


def compare_versions(ca: Mapping[str, Any], cb: Mapping[str, Any], graph: GraphPath = TOP_GRAPH) -> list[Change]:
    """``version_changed`` for the torch version, the schema version and each opset version.

    Examples
    --------
    >>> a = {"torch_version": "2.12.0", "schema_version": {"major": 8, "minor": 1}, "opset_version": {"aten": 10}}
    >>> b = {**a, "torch_version": "2.13.0", "opset_version": {"aten": 10, "mylib": 1}}
    >>> [(c.kind, c.summary) for c in compare_versions(a, b)]
    [('version_changed', 'torch_version: 2.12.0 -> 2.13.0'), ('version_changed', 'opset_version.mylib: (none) -> 1')]
    >>> compare_versions(a, a)
    []
    """
    out: list[Change] = []

    def schema(doc: Mapping[str, Any]) -> str | None:
        sv = doc.get("schema_version")
        return f"{sv.get('major')}.{sv.get('minor')}" if isinstance(sv, Mapping) else None

    items = [
        ("torch_version", ca.get("torch_version"), cb.get("torch_version")),
        ("schema_version", schema(ca), schema(cb)),
    ]
    oa, ob = ca.get("opset_version") or {}, cb.get("opset_version") or {}
    for ns in sorted(set(oa) | set(ob)):
        items.append((f"opset_version.{ns}", oa.get(ns), ob.get(ns)))
    for item, a, b in items:
        if a != b:
            out.append(
                Change(
                    "version_changed",
                    Location(graph=graph, item=item),
                    f"{item}: {a if a is not None else '(none)'} -> {b if b is not None else '(none)'}",
                    {"old": a, "new": b},
                )
            )
    return out


def compare_program(
    al: Alignment,
    ca: CanonicalProgram,
    cb: CanonicalProgram,
    opts: Options,
) -> tuple[list[Change], GraphStatus]:
    """Every record of one aligned program except weights, constants and versions, and the row status.

    Order: input signature, graph nodes in B's canonical order (removed
    nodes where A had them, subgraph records after their node, the output
    node last), output signature, module call graph, other signature
    parts, range constraints.

    Examples
    --------
    ``mlp_v2`` adds a GELU after ``fc2`` (B's ``n3``), which ``head``'s
    linear (A's ``n3``, B's ``n4``) now reads; the status marks B's ``n4``
    as a changed row:

    >>> import pt2canon
    >>> from pt2canon.diff.align import align_programs
    >>> from pt2canon.diff.options import Options
    >>> a, b = pt2canon.canonicalize("examples/mlp_v1.pt2"), pt2canon.canonicalize("examples/mlp_v2.pt2")
    >>> changes, status = compare_program(align_programs(a, b), a, b, Options())
    >>> [(c.kind, str(c.location)) for c in changes]
    [('node_added', 'n3 (gelu)'), ('node_rewired', 'n3 -> n4 (linear_2) in head')]
    >>> status.kinds
    {4: 'node_rewired'}
    """
    if opts.shapes and (ca.symbols or cb.symbols):
        learn_symbols(al, ca.doc.get("range_constraints") or {}, cb.doc.get("range_constraints") or {})
    changes = compare_inputs(al, opts)
    node_changes, status = compare_graph(al, opts)
    changes += node_changes
    changes += compare_outputs(al, opts)
    ga, gb = ca.doc["graph_module"], cb.doc["graph_module"]
    if opts.names:
        changes += compare_module_call_graph(al, ca, cb)
        changes += plain_changes(
            "treespec_namedtuple_fields",
            "signature_changed",
            "treespec_namedtuple_fields",
            ga.get("treespec_namedtuple_fields", {}),
            gb.get("treespec_namedtuple_fields", {}),
            al.graph,
        )
    changes += plain_changes(
        "verifiers",
        "signature_changed",
        "verifiers",
        sorted(ca.doc.get("verifiers", [])),
        sorted(cb.doc.get("verifiers", [])),
        al.graph,
    )
    if opts.shapes:
        changes += compare_constraints(ca, cb, al.graph, al.symbols)
    return changes, status
