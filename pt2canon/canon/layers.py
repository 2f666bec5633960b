"""What each layer of the hash holds: the parts of a canonical program's document, before hashing.

:func:`program_layers` cuts a canonical document into the layers that
:mod:`pt2canon.canon.hashing` digests and combines (``docs/hashing.md`` is
the specification): ``structure`` (every graph without tensor metadata,
spec kinds, which input each mutation updates, verifiers), ``signature``
(specs with FQNs, module call graph without ``forward_arg_names``),
``tensors`` (value tables, no example hints unless a symbol needs one),
``constraints`` and ``versions`` (:func:`program_versions`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pt2canon.canon.program import CanonicalProgram, structure_view

__all__ = ["program_layers", "program_versions"]


def _graphs(graph: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield graph
    for node in graph["nodes"]:
        for na in node["inputs"]:
            if "as_graph" in na["arg"]:
                yield from _graphs(na["arg"]["as_graph"]["graph"])


def _tensor_tree(graph: Mapping[str, Any], *, hints: bool = False, nested: bool = True) -> list[Any]:
    """The value tables of ``graph`` and its subgraphs (``nested=False``: it has none, no need to look)."""
    out = []
    for g in _graphs(graph) if nested else (graph,):
        tables = {
            t: g.get(t, {})
            for t in ("tensor_values", "sym_int_values", "sym_float_values", "sym_bool_values", "custom_obj_values")
        }
        out.append(_without_hints(tables) if hints else tables)
    return out


def _without_hints(obj: Any) -> Any:
    """``obj`` with every symbolic expression's example hint ``None`` (hints are never hashed)."""
    if isinstance(obj, dict):
        if "expr_str" in obj and obj.get("hint") is not None:
            return {**obj, "hint": None}
        return {k: _without_hints(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_without_hints(v) for v in obj]
    return obj


def _spec_kind(spec: Mapping[str, Any]) -> Any:
    ((tag, body),) = spec.items()
    if tag == "buffer":
        return [tag, body.get("persistent")]
    return tag


def _output_kinds(sig: Mapping[str, Any]) -> list[Any]:
    """Output spec kinds; a mutation or gradient also names the position of the input it updates.

    Which input an output updates is structure (a buffer updated by one
    value or another is another program) and needs no FQN: the canonical
    position of the input says it.
    """
    position: dict[Any, int] = {}
    for i, spec in enumerate(sig["input_specs"]):
        ((tag, body),) = spec.items()
        for key in ("parameter_name", "buffer_name"):
            if key in body:
                position.setdefault((key, body[key]), i)
        arg = body.get("arg")
        if tag == "user_input" and isinstance(arg, dict):
            name = (arg.get("as_tensor") or {}).get("name")
            if name is not None:
                position.setdefault(("user_input_name", name), i)
    out = []
    for spec in sig["output_specs"]:
        ((_, body),) = spec.items()
        kind = _spec_kind(spec)
        for key in ("parameter_name", "buffer_name", "user_input_name"):
            if key in body:
                kind = [kind, position.get((key, body[key]))]
                break
        out.append(kind)
    return out


def program_layers(canon: CanonicalProgram) -> dict[str, Any]:
    """The layer objects (before hashing) of a canonical program's document.

    Examples
    --------
    >>> from pt2canon.api import canonicalize
    >>> layers = program_layers(canonicalize("examples/mlp_v1.pt2"))
    >>> sorted(layers)
    ['constraints', 'signature', 'structure', 'tensors', 'versions']
    >>> layers["structure"]["inputs"], layers["structure"]["outputs"]
    (['parameter', 'parameter', 'parameter', 'parameter', 'parameter', 'parameter', 'user_input'], ['user_output'])
    >>> layers["signature"]["input_specs"][0]["parameter"]["parameter_name"], layers["constraints"]
    ('fc1.weight', {'s0': {'min_val': 1, 'max_val': 1024}})
    """
    doc = canon.doc
    gm = doc["graph_module"]
    sig = gm["signature"]
    mcg = []
    for e in gm.get("module_call_graph", []):
        s = e.get("signature")
        if s is not None:
            s = {k: v for k, v in s.items() if k != "forward_arg_names"}
        mcg.append({"fqn": e["fqn"], "signature": s})
    return {
        "structure": {
            "graph": structure_view(gm["graph"]),
            "inputs": [_spec_kind(s) for s in sig["input_specs"]],
            "outputs": _output_kinds(sig),
            "verifiers": sorted(doc.get("verifiers", [])),
        },
        "signature": {
            "input_specs": sig["input_specs"],
            "output_specs": sig["output_specs"],
            "module_call_graph": mcg,
            "treespec_namedtuple_fields": gm.get("treespec_namedtuple_fields", {}),
        },
        "tensors": _tensor_tree(gm["graph"], hints=canon.hints, nested=bool(canon.graph.subgraphs)),
        "constraints": doc.get("range_constraints", {}),
        "versions": program_versions(doc),
    }


def program_versions(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The torch, schema and opset versions of a program document (the ``versions`` layer).

    Examples
    --------
    >>> program_versions({"torch_version": "2.13.0", "schema_version": {"major": 8, "minor": 20}, "graph_module": {}})
    {'torch_version': '2.13.0', 'schema_version': {'major': 8, 'minor': 20}, 'opset_version': {}}
    """
    return {
        "torch_version": doc.get("torch_version"),
        "schema_version": doc.get("schema_version"),
        "opset_version": doc.get("opset_version", {}),
    }
