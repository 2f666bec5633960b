"""The listing as a JSON document (``pt2canon show --json``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pt2canon.listing.expressions import expr_to_str
from pt2canon.listing.lines import (
    enum_name,
    format_argument,
    format_meta,
    format_node,
    format_value_meta,
    short_target,
    symint_text,
)
from pt2canon.listing.names import DTYPE_NAMES, KEYWORD
from pt2canon.listing.program import (
    format_spec_line,
    graph_and_signature,
    node_subgraphs,
    payload_meta,
    spec_fields,
    version_strings,
)
from pt2canon.serde.tags import VALUE_TABLES, iter_refs

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.serde.archive import Artifact, Payload

__all__ = ["LISTING_JSON_VERSION", "listing_json"]

#: Version of the :func:`listing_json` structure; bumped on incompatible changes.
LISTING_JSON_VERSION = 1

# --------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------


def _shape(meta: Any) -> list[int | str] | None:
    if not isinstance(meta, Mapping) or not isinstance(meta.get("sizes"), list):
        return None
    out: list[int | str] = []
    for s in meta["sizes"]:
        if isinstance(s, Mapping) and isinstance(s.get("as_int"), int):
            out.append(s["as_int"])
        else:
            out.append(symint_text(s))
    return out


def _values_json(arg: Mapping[str, Any], values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The values an argument names, each with its kind and metadata."""
    out: list[dict[str, Any]] = []
    for _, _, name, kind in iter_refs(dict(arg)):
        table_name = VALUE_TABLES.get(kind, "")
        table = values.get(table_name) if table_name else None
        meta = table.get(name) if isinstance(table, Mapping) else None
        entry: dict[str, Any] = {"name": name, "kind": kind}
        entry["meta"] = "token" if kind == "token" else format_value_meta(table_name, meta)
        if kind == "tensor" and isinstance(meta, Mapping):
            entry["dtype"] = enum_name(DTYPE_NAMES, meta.get("dtype"), "ScalarType")
            entry["shape"] = _shape(meta)
        out.append(entry)
    return out


def _graph_json(graph: Mapping[str, Any]) -> dict[str, Any]:
    nodes = []
    for node in graph.get("nodes") or ():
        args = []
        for na in node.get("inputs") or ():
            arg = na.get("arg") if isinstance(na, Mapping) else None
            args.append(
                {
                    "name": na.get("name", "") if isinstance(na, Mapping) else "",
                    "keyword": isinstance(na, Mapping) and na.get("kind") == KEYWORD,
                    "value": format_argument(arg) if isinstance(arg, Mapping) else "?",
                }
            )
        outputs = []
        for o in node.get("outputs") or ():
            if isinstance(o, Mapping):
                outputs.extend(_values_json(o, graph))
        nodes.append(
            {
                "name": node.get("name"),
                "target": node.get("target"),
                "op": short_target(node["target"]) if isinstance(node.get("target"), str) else None,
                "args": args,
                "outputs": outputs,
                "line": format_node(node, graph),
                "subgraphs": [{"name": n, **_graph_json(sub)} for n, sub in node_subgraphs(node)],
            }
        )
    inputs = []
    for arg in graph.get("inputs") or ():
        inputs.append({"value": format_argument(arg), "meta": format_meta(arg, graph)})
    return {
        "inputs": inputs,
        "nodes": nodes,
        "outputs": [format_argument(o) for o in graph.get("outputs") or ()],
    }


def _payloads_json(payloads: Mapping[str, Payload]) -> dict[str, Any]:
    entries = []
    for fqn in sorted(payloads):
        p = payloads[fqn]
        meta = p.tensor_meta
        entries.append(
            {
                "fqn": fqn,
                "bytes": p.size,
                "meta": payload_meta(p),
                "dtype": enum_name(DTYPE_NAMES, meta.get("dtype"), "ScalarType") if isinstance(meta, Mapping) else None,
                "shape": _shape(meta),
                "is_param": p.is_param,
                "use_pickle": p.use_pickle,
            }
        )
    return {"count": len(entries), "bytes": sum(e["bytes"] for e in entries), "entries": entries}


def _model_json(program: Mapping[str, Any], name: str, weights: Mapping[str, Payload] | None,
                constants: Mapping[str, Payload] | None) -> dict[str, Any]:  # fmt: skip
    graph, signature = graph_and_signature(program)
    torch_version, schema, _ = version_strings(program)
    opset = program.get("opset_version")

    def specs(key: str) -> list[dict[str, Any]]:
        out = []
        for spec in signature.get(key) or ():
            f = spec_fields(spec)
            entry: dict[str, Any] = {"kind": f["kind"], "target": f["target"]}
            if f["kind"] == "constant_input":
                entry.update(name=f["name"], value=f["value"], meta=None)
            else:
                arg = f["arg"]
                entry["value"] = format_argument(arg) if arg is not None else "?"
                entry["meta"] = format_meta(arg, graph) if arg is not None and f["kind"] != "token" else None
            if "persistent" in f:
                entry["persistent"] = f["persistent"]
            entry["line"] = format_spec_line(f, graph)
            out.append(entry)
        return out

    ranges = program.get("range_constraints")
    g = _graph_json(graph)
    out: dict[str, Any] = {
        "name": name,
        "versions": {
            "torch": torch_version,
            "schema": schema,
            "opset": dict(opset) if isinstance(opset, Mapping) else {},
        },
        "verifiers": list(program.get("verifiers") or ()),
        "signature": {"inputs": specs("input_specs"), "outputs": specs("output_specs")},
        "nodes": g["nodes"],
        "graph_outputs": g["outputs"],
        "range_constraints": {
            expr_to_str(k): {"min": (v or {}).get("min_val"), "max": (v or {}).get("max_val")}
            for k, v in (ranges.items() if isinstance(ranges, Mapping) else ())
        },
        "weights": _payloads_json(weights) if weights is not None else None,
        "constants": _payloads_json(constants) if constants is not None else None,
    }
    return out


def listing_json(artifact: Artifact, *, model: str | None = None, weights: bool = True) -> dict[str, Any]:
    """The listing of an artifact as a stable, JSON-ready structure (``show --json``).

    Parameters
    ----------
    artifact : Artifact
        From :func:`pt2canon.load`.
    model : str, optional
        Only this model (default: every model, by name).
    weights : bool
        Include the weights and constants summaries.

    Returns
    -------
    dict
        Version :data:`LISTING_JSON_VERSION` of this structure::

            {"listing_version": 1, "path": str, "format": "pt2"|"legacy"|"json",
             "archive": {key: str},            # Artifact.info
             "models": [{
               "name": str,
               "versions": {"torch": str, "schema": "8.20", "opset": {ns: int}},
               "verifiers": [str],
               "signature": {"inputs": [spec], "outputs": [spec]},
               "nodes": [node],                # document order
               "graph_outputs": [str],         # formatted arguments
               "range_constraints": {symbol: {"min": int|null, "max": int|null}},
               "weights": payloads|null, "constants": payloads|null}]}
            spec     = {"kind", "target": fqn|null, "value": "%x", "meta": str|null,
                        "line": str, ["persistent": bool], ["name": str]}
            node     = {"name", "target", "op", "line",
                        "args": [{"name", "keyword": bool, "value": str}],
                        "outputs": [{"name", "kind", "meta", ["dtype", "shape"]}],
                        "subgraphs": [{"name", "inputs": [{"value", "meta"}],
                                       "nodes": [node], "outputs": [str]}]}
            payloads = {"count", "bytes", "entries": [{"fqn", "bytes", "meta", "dtype",
                        "shape", "is_param", "use_pickle"}]}  # entries sorted by fqn

        ``shape`` entries are ints, or strings for symbolic sizes (``"s77"``).

    Raises
    ------
    InputError
        If ``model`` names no model of the artifact.
    """
    from pt2canon.serde.archive import select_model

    names = [select_model(artifact, model).name] if model is not None else sorted(artifact.models)
    models = []
    for n in names:
        m = artifact.models[n]
        models.append(_model_json(m.program, n, m.weights if weights else None, m.constants if weights else None))
    return {
        "listing_version": LISTING_JSON_VERSION,
        "path": artifact.path,
        "format": artifact.format,
        "archive": dict(artifact.info),
        "models": models,
    }
