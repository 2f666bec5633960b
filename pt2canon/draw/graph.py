"""The top-level graph of a program as a ``networkx.DiGraph`` keyed by canonical names (:func:`to_digraph`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pt2canon.serde.metadata import module_stack
from pt2canon.serde.model import node, nodes
from pt2canon.serde.spec import input_specs

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

    from pt2canon.canon.program import CanonicalProgram

__all__ = ["to_digraph"]


def _canonical(source: Any, model: str | None = None) -> CanonicalProgram:
    from pt2canon.canon.program import CanonicalProgram

    if isinstance(source, CanonicalProgram):
        return source
    import pt2canon

    return pt2canon.canonicalize(source, model=model)


def label_of(source: Any) -> str:
    path = getattr(source, "path", None)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
    return os.path.basename(str(path)) if path and not str(path).startswith("<") else ""


def _arg_names(arg: Any) -> list[str]:
    from pt2canon.serde.graph import iter_refs

    if not isinstance(arg, Mapping):
        return []
    if isinstance(arg.get("name"), str):  # a TensorArgument/TokenArgument of a signature spec
        return [arg["name"]]
    try:
        return [name for _, _, name, _ in iter_refs(dict(arg))]
    except (TypeError, KeyError, AttributeError):
        return []


def to_digraph(program: Any, *, model: str | None = None) -> nx.DiGraph:
    """The top-level graph of a program as a ``networkx.DiGraph`` keyed by canonical names.

    Parameters
    ----------
    program : CanonicalProgram, or anything :func:`pt2canon.load` reads
        Canonicalized first unless it already is.
    model : str, optional
        Which model of a multi-model archive.

    Returns
    -------
    networkx.DiGraph
        Nodes ``n0, n1, ...`` (ops, canonical order), ``v<k>`` (graph
        inputs, by their canonical value name) and ``output``; an edge per
        producer/consumer pair. Node attributes: ``kind`` (``input``,
        ``op``, ``output``), ``op`` (``aten.relu.default``), ``target``,
        ``line`` (the canonical listing line), ``meta`` (output metadata,
        ``f32[s0, 32]``), ``module`` (module path or ``None``),
        ``module_stack`` (``[(path, type), ...]``), ``original`` (name in
        the original file), ``role`` and ``fqn`` (inputs: signature kind
        and parameter/buffer name). Edge attribute ``values``: the
        canonical names of the values passed. Graph attribute
        ``canonical``: the :class:`~pt2canon.canon.program.CanonicalProgram`.
    """
    import networkx as nx

    from pt2canon.listing import format_meta, format_node, short_target

    canon = _canonical(program, model)
    cg = canon.graph
    G = cg.model
    doc_graph = canon.doc["graph_module"]["graph"]
    signature = canon.doc["graph_module"].get("signature") or {}
    vn = cg.value_names
    roles: dict[str, tuple[str, str | None]] = {}
    for spec in input_specs(signature):
        if spec.tag != "?":
            for name in _arg_names(spec.body.get("arg")):
                roles[name] = (spec.tag, spec.fqn)
    position: dict[str, int] = {}
    for i, arg in enumerate(doc_graph.get("inputs") or ()):
        for name in _arg_names(arg):
            position.setdefault(name, i)
    D = nx.DiGraph(canonical=canon)
    names: dict[int, str] = {}
    keyed = []
    for inp in nodes(G, "input"):
        vals = [vn.get(v.name, v.name) for v in inp.values]
        pos = min((position.get(v, 1 << 30) for v in vals), default=1 << 30)
        keyed.append((pos, inp.index, inp.id, vals))
    keyed.sort()
    for i, (pos, _, nid, vals) in enumerate(keyed):
        name = vals[0] if vals else f"input{i}"
        names[nid] = name
        role, fqn = roles.get(name, ("user_input", None))
        arg = doc_graph["inputs"][pos] if pos < len(doc_graph.get("inputs") or ()) else None
        meta = format_meta(arg, doc_graph) if isinstance(arg, Mapping) else None
        original = ", ".join(v.name for v in node(G, nid).values)
        D.add_node(
            name,
            kind="input",
            role=role,
            fqn=fqn,
            meta=meta,
            original=original,
            op=None,
            target=None,
            line=f"%{name}: {role}{' ' + fqn if fqn else ''}{'  ' + meta if meta else ''}",
            module=None,
            module_stack=[],
        )
    for k, (nid, doc_node) in enumerate(zip(cg.order, doc_graph["nodes"])):
        name = f"n{k}"
        names[nid] = name
        metas = [m for m in (format_meta(o, doc_graph) for o in doc_node.get("outputs") or ()) if m is not None]
        stack = module_stack(node(G, nid).metadata)
        D.add_node(
            name,
            kind="op",
            op=short_target(doc_node["target"]),
            target=doc_node["target"],
            line=format_node(doc_node, doc_graph),
            meta=", ".join(metas) if metas else None,
            module=stack[-1][0] if stack else None,
            module_stack=stack,
            original=cg.node_names.get(name, ""),
            role=None,
            fqn=None,
        )
    out = G.graph["output"]
    names[out] = "output"
    outs = doc_graph.get("outputs") or ()
    out_metas = [m for m in (format_meta(o, doc_graph) for o in outs) if m is not None]
    D.add_node(
        "output",
        kind="output",
        op=None,
        target=None,
        role=None,
        fqn=None,
        original="output",
        line=_return_text(outs),
        meta=", ".join(out_metas) or None,
        module=None,
        module_stack=[],
    )
    for u, v, data in G.edges(data=True):
        nu, nv = names[u], names[v]
        value = vn.get(data["value"], data["value"])
        if D.has_edge(nu, nv):
            if value not in D[nu][nv]["values"]:
                D[nu][nv]["values"].append(value)
        else:
            D.add_edge(nu, nv, values=[value])
    return D


def _return_text(outs: Any) -> str:
    texts = [_arg_text(o) for o in outs]
    return f"return ({texts[0]},)" if len(texts) == 1 else f"return ({', '.join(texts)})"


def _arg_text(arg: Any) -> str:
    from pt2canon.listing import format_argument

    return format_argument(arg) if isinstance(arg, Mapping) else "?"
