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
    """``version_changed`` for the torch version, the schema version and each opset version."""
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
