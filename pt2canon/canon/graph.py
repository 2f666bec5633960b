"""One graph (and its subgraphs) in canonical order with canonical names: the heart of the canonical form."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import networkx as nx

from pt2canon._json import canonical_bytes
from pt2canon.canon.arrange import Arrangement
from pt2canon.canon.dependencies import ordering_edges
from pt2canon.canon.effects import effects_from_name
from pt2canon.canon.emit import emit_graph
from pt2canon.canon.messages import is_assert, name_assert_messages
from pt2canon.canon.order import Digests, ResidualTie, canonical_order, first_uses, node_label, skeleton_label
from pt2canon.canon.result import CanonicalGraph, Profile
from pt2canon.canon.signature import InputClass, input_classes, mutation_bindings, output_slots
from pt2canon.canon.symbols import SymbolRenamer
from pt2canon.serde.graph import (
    from_networkx,
    op_nodes,
    to_networkx,
)
from pt2canon.serde.model import in_uses, node_attrs

__all__ = ["canonical_graph"]


def _example_graph(x: str, y: str) -> dict[str, Any]:  # for the Examples below: ``y = x + x``
    arg = {"as_tensor": {"name": x}}
    return {
        "inputs": [arg], "outputs": [{"as_tensor": {"name": y}}],
        "nodes": [{"target": "torch.ops.aten.add.Tensor", "metadata": {}, "outputs": [{"as_tensor": {"name": y}}],
                   "inputs": [{"name": "self", "arg": arg, "kind": 1}, {"name": "other", "arg": arg, "kind": 1}]}],
        "tensor_values": {}, "sym_int_values": {}, "sym_bool_values": {}, "sym_float_values": {},
        "custom_obj_values": {}, "is_single_tensor_return": False,
    }  # fmt: skip


_ZERO_OFFSET = {"as_int": 0}


def _without_storage_offsets(graph: dict[str, Any]) -> dict[str, Any]:
    """``graph`` with the storage offset of each of its values 0, in its subgraphs too.

    torch's loader ignores a value's ``storage_offset`` (it rebuilds each
    value with ``empty_strided``), so ``torch.export.load`` then
    ``torch.export.save`` writes 0 for every view at an offset (``select``,
    ``split``, ``unbind``, slices): the offset of a view is determined by
    its op, and the program's computation never reads it. New dicts only
    where an offset changes; the input is never edited.
    """
    tables = graph.get("tensor_values")
    new_tables = None
    for name, meta in (tables or {}).items():
        so = meta.get("storage_offset")
        if so is not None and so != _ZERO_OFFSET:
            if new_tables is None:
                new_tables = dict(tables)  # type: ignore[arg-type]
            new_tables[name] = {**meta, "storage_offset": _ZERO_OFFSET}
    nodes = graph.get("nodes") or []
    new_nodes = None
    for j, node in enumerate(nodes):
        inputs = node.get("inputs") or []
        for na in inputs:  # the common node has no subgraph: one test per argument
            arg = na.get("arg")
            if not isinstance(arg, dict) or "as_graph" in arg:
                break
        else:
            continue
        new_inputs = None
        for i, na in enumerate(inputs):
            ga = na.get("arg", {}).get("as_graph") if isinstance(na.get("arg"), dict) else None
            if ga is None or not isinstance(ga.get("graph"), dict):
                continue
            sub = _without_storage_offsets(ga["graph"])
            if sub is not ga["graph"]:
                if new_inputs is None:
                    new_inputs = list(inputs)
                new_inputs[i] = {**na, "arg": {**na["arg"], "as_graph": {**ga, "graph": sub}}}
        if new_inputs is not None:
            if new_nodes is None:
                new_nodes = list(nodes)
            new_nodes[j] = {**node, "inputs": new_inputs}
    if new_tables is None and new_nodes is None:
        return graph
    out = dict(graph)
    if new_tables is not None:
        out["tensor_values"] = new_tables
    if new_nodes is not None:
        out["nodes"] = new_nodes
    return out


def canonical_graph(
    graph: dict[str, Any],
    *,
    where: str,
    input_specs: list[dict[str, Any]] | None,
    profile: Profile,
    output_specs: list[dict[str, Any]] | None = None,
    model: nx.MultiDiGraph | None = None,
    keep_model: bool = True,
) -> CanonicalGraph:
    """Canonicalize one graph; ``input_specs`` are the signature's (top-level graph only).

    Inputs named by an FQN (parameters, buffers, tensor constants, custom
    objects) are placed by first use (:func:`pt2canon.canon.order.canonical_order`),
    so their names never decide the order; tokens, user inputs and constant
    inputs keep their positions; subgraph inputs are positional. Storage
    offsets are 0 first, in the subgraphs too. The graph model is built
    once, subgraphs included: a subgraph is canonicalized from its
    parent's ``model`` of it (and ``graph``, its JSON, already has no
    offsets). With ``keep_model=False`` the graph model is emptied
    (``G.clear()``, its subgraphs' too) once the order and the names are
    known, before the canonical document is written, and the result's
    ``model`` is that empty graph: a caller that needs only the document
    (the hash) never holds the model and the new document at once, so the
    document reuses the model's memory.

    Examples
    --------
    Two graphs that differ only in their value names have one canonical form:

    >>> from pt2canon.canon.result import DEFAULT_PROFILE
    >>> a = canonical_graph(_example_graph("x", "y"), where="graph", input_specs=None, profile=DEFAULT_PROFILE)
    >>> b = canonical_graph(_example_graph("u", "v"), where="graph", input_specs=None, profile=DEFAULT_PROFILE)
    >>> a.doc == b.doc, a.doc["inputs"], a.doc["nodes"][0]["outputs"]
    (True, [{'as_tensor': {'name': 'v0'}}], [{'as_tensor': {'name': 'v1'}}])
    """
    if model is None:
        graph = _without_storage_offsets(graph)
        G = to_networkx(graph, where=where)
    else:
        G = model
    attrs_of, reads = node_attrs(G), in_uses(G)
    ops = op_nodes(G)
    # 1. subgraphs first: their digests enter their parent node's label.
    sub_digests: dict[int, dict[int, str]] = {}
    sub_canon: dict[int, dict[int, CanonicalGraph]] = {}
    ordered_subgraphs: set[int] = set()
    for nid in ops:
        subs = attrs_of[nid]["subgraphs"]
        if not subs:
            continue
        for i, sg in subs.items():
            sub_json = from_networkx(sg)
            cg = canonical_graph(
                sub_json,
                where=f"{where}.nodes[{attrs_of[nid]['index']}].inputs[{i}]",
                input_specs=None,
                profile=profile,
                model=sg,
                keep_model=keep_model,
            )
            sub_canon.setdefault(nid, {})[i] = cg
            sub_digests.setdefault(nid, {})[i] = cg.structure_digest
            if _has_ordered(cg.doc):
                ordered_subgraphs.add(nid)
    # 2. ordering edges, labels, digests.
    order_preds = ordering_edges(G, ordered_subgraphs)
    # Input node ids are input positions.
    n_in = len(graph["inputs"])
    kinds = input_classes(input_specs, n_in)
    fixed = sorted((i for i in range(n_in) if not kinds[i].deferred), key=lambda i: (kinds[i].rank, i))
    deferred = {i for i in range(n_in) if kinds[i].deferred}
    input_rank = {nid: i for i, nid in enumerate(fixed)}

    def label(nid: int) -> bytes:
        attrs = attrs_of[nid]
        kind = attrs["kind"]
        if kind == "op":
            return node_label(attrs, sub_digests.get(nid, {}))
        if kind == "input":
            # A deferred input is known by its kind only: no name, no position.
            where = kinds[nid].kind if nid in deferred else input_rank[nid]
            return canonical_bytes(["input", where, attrs["arg"]])
        if out_slots is None:
            return canonical_bytes(["output", attrs["args"]])
        slotted = [[out_slots[i], t] for i, t in enumerate(attrs["args"])]
        return canonical_bytes(["output", sorted(slotted, key=canonical_bytes)])

    out_slots = output_slots(output_specs, input_specs, input_rank)
    labels = _LazyMap(label)
    tie = _tie_breaker(G, [*fixed, *sorted(deferred, key=lambda i: (kinds[i].rank, kinds[i].fqn))])
    memo: dict[int, bytes] = {}

    def meta(nid: int) -> bytes:
        b = memo.get(nid)
        if b is None:
            b = memo[nid] = tie(nid) if attrs_of[nid]["kind"] == "op" or nid in deferred else b""
        return b

    def fqns_read(nid: int) -> bytes:
        # The last resort between ops that differ only in which same-shaped parameters they read.
        return canonical_bytes([kinds[u].fqn for u in reads[nid] if u in deferred])

    skeletons = _LazyMap(
        lambda nid: (
            skeleton_label(attrs_of[nid], sub_digests.get(nid, {})) if attrs_of[nid]["kind"] == "op" else labels[nid]
        )
    )
    binds = mutation_bindings(G, output_specs, input_specs)
    skeleton_digests = Digests(G, skeletons, order_preds, output_slots=out_slots, bindings=binds)
    digests = Digests(G, labels, order_preds, output_slots=out_slots, bindings=binds)
    meta_digests = Digests(G, labels, order_preds, extra=meta, output_slots=out_slots, bindings=binds)
    # Labels first (cheap, and a node's own constants rarely tie), then digests of the
    # skeleton (constants blanked) before full digests: a constant far downstream cannot
    # reorder branches the skeleton tells apart (Q/K/V projections).
    structural = (
        labels.__getitem__,
        skeleton_digests.ancestry,
        skeleton_digests.users,
        digests.ancestry,
        digests.users,
    )
    try:
        order = canonical_order(
            G,
            fixed,
            structural,
            order_preds,
            refining=(meta, meta_digests.ancestry, meta_digests.users, fqns_read),
            deferred=deferred,
            output_slots=out_slots,
            labels=labels,
            bindings=binds,
        )
        # Unread inputs: by their uses (a parameter returned as it is) before metadata before FQN,
        # so no metadata decides where a structurally distinct input goes.
        inputs = _input_sequence(
            G, order, fixed, deferred, kinds, binds, key=lambda i: (digests.users(i), meta(i), kinds[i].fqn)
        )
    except ResidualTie:
        # Refinement cannot tell apart some nodes that are not interchangeable: order by a
        # canonical labelling (BLISS), then let metadata and FQNs choose among automorphisms.
        arrangement = Arrangement(G, order_preds, out_slots, structure=[labels[v] for v in G], bindings=binds)
        exact = arrangement.structure_labelling
        order = canonical_order(
            G, fixed, structural, order_preds, exact=exact.__getitem__, deferred=deferred, output_slots=out_slots
        )
        inputs = _input_sequence(G, order, fixed, deferred, kinds, binds, key=exact.__getitem__)
        inputs, order = arrangement.arrange(
            inputs,
            order,
            refined=[labels[v] + digests.ancestry(v) + digests.users(v) for v in G],
            finer=(
                [meta(v) for v in G],
                [kinds[v].fqn.encode() if v in deferred else b"" for v in G],
            ),
        )
    # 3. names: values v0, v1, ... in input then op order; nodes n0, n1, ...
    # A constant input (``None`` or a number passed where the user's argument was)
    # has a placeholder name but no value: it takes the next name in the same sequence.
    values: dict[str, str] = {}
    for nid in inputs:
        for v in attrs_of[nid]["values"]:
            values[v.name] = f"v{len(values)}"
        if kinds[nid].kind == "constant_input":
            placeholder = input_specs[nid]["constant_input"].get("name")  # type: ignore[index]
            if isinstance(placeholder, str) and placeholder not in values:
                values[placeholder] = f"v{len(values)}"
    # Then the values of the ops, in order: each defined once (the graph model refuses a
    # second definition), so the k-th is the k-th name after the inputs' ...
    op_values = [v.name for nid in order for v in attrs_of[nid]["values"]]
    start = len(values)
    if values.keys().isdisjoint(op_values):
        values.update(zip(op_values, map("v{}".format, range(start, start + len(op_values)))))
    else:  # ... unless one is also a constant input's placeholder name: named as one loop does
        for name in op_values:
            values[name] = f"v{len(values)}"
    node_names: dict[str, str] = {}
    for k, nid in enumerate(order):
        old = attrs_of[nid]["name"]
        node_names[f"n{k}"] = old if isinstance(old, str) else ""
    if not keep_model:
        G.clear()
    doc = emit_graph(graph, order, inputs, values, node_names=True, profile=profile)
    # 4. per node: subgraphs; then the node names quoted in assert messages.
    seen_sub: dict[str, int] = {}
    subgraphs: dict[str, CanonicalGraph] = {}
    if sub_canon:
        for nid, node in zip(order, doc["nodes"]):
            for i, cg in sub_canon.get(nid, {}).items():
                base = f"subgraph_{cg.structure_digest[:12]}"
                n = seen_sub.get(base, 0)
                seen_sub[base] = n + 1
                name = base if n == 0 else f"{base}_{n}"
                subgraphs[name] = cg
                node["inputs"][i] = {**node["inputs"][i], "arg": {"as_graph": {"name": name, "graph": cg.doc}}}
    own_asserts = any(is_assert(t) for t in {node["target"] for node in doc["nodes"]})
    if own_asserts:
        name_assert_messages(doc)
    has_asserts = own_asserts or any(cg.has_asserts for cg in subgraphs.values())
    return CanonicalGraph(
        doc,
        G,
        order,
        values,
        node_names,
        subgraphs,
        input_order=inputs,
        output_order=list(range(len(doc["outputs"]))),
        has_asserts=has_asserts,
    )


def _input_sequence(
    G: nx.MultiDiGraph,
    order: list[int],
    fixed: list[int],
    deferred: set[int],
    kinds: list[InputClass],
    bindings: Mapping[int, list[tuple[int, bytes]]],
    *,
    key: Callable[[int], Any],
) -> list[int]:
    """Input node ids in canonical order, by kind.

    Deferred inputs come by first use; those no op reads but a graph output
    updates (a buffer only written) by the position of the op whose value
    updates them; the rest by ``key``.
    """
    placed = first_uses(G, order, deferred)
    rank = {v: k for k, v in enumerate([*fixed, *order])}  # a mutation may write an input as it is
    bound: dict[int, tuple[int, bytes]] = {}
    for v, ts in bindings.items():
        for t, label in ts:
            if t in deferred and v in rank:
                bound[t] = min(bound.get(t, (rank[v], label)), (rank[v], label))
    rest = deferred.difference(placed)
    written = sorted((t for t in rest if t in bound), key=lambda t: (kinds[t].rank, bound[t], key(t)))
    unused = sorted((t for t in rest if t not in bound), key=lambda i: (kinds[i].rank, key(i)))
    seq = {nid: k for k, nid in enumerate([*fixed, *placed, *written, *unused])}
    return sorted(seq, key=lambda i: (kinds[i].rank, seq[i]))


class _LazyMap(dict):  # type: ignore[type-arg]
    """A dict that computes a missing value with ``fn(key)`` and keeps it."""

    def __init__(self, fn: Callable[[int], bytes]) -> None:
        super().__init__()
        self._fn = fn

    def __missing__(self, key: int) -> bytes:
        value = self[key] = self._fn(key)
        return value


def _tie_breaker(G: nx.MultiDiGraph, inputs: list[int]) -> Callable[[int], bytes]:
    """Lazy last key: a node's output metadata, symbols named as the inputs name them."""
    state: dict[str, SymbolRenamer] = {}
    attrs_of = node_attrs(G)

    def renamer() -> SymbolRenamer:
        r = state.get("r")
        if r is None:
            r = state["r"] = SymbolRenamer()
            for nid in inputs:
                for v in attrs_of[nid]["values"]:
                    _meta_key(v.meta, r)
            r.frozen = True
        return r

    def key(nid: int) -> bytes:
        metas = [v.meta for v in attrs_of[nid]["values"]]
        if all(_static(m) for m in metas):  # no symbol to name: the metadata as it is
            return b"static" + canonical_bytes(metas)
        return canonical_bytes([_meta_key(m, renamer()) for m in metas])

    return key


def _static(meta: Any) -> bool:
    """Whether a value's metadata names no shape symbol (plain ints only)."""
    if not isinstance(meta, dict):
        return meta is None
    if "sizes" not in meta:
        return "as_expr" not in meta
    so = meta.get("storage_offset")
    return (
        all("as_int" in d for d in meta["sizes"])
        and all("as_int" in d for d in meta["strides"])
        and (so is None or "as_int" in so)
    )


def _meta_key(meta: Any, r: SymbolRenamer) -> Any:
    if not isinstance(meta, dict):
        return meta

    def sym(s: Any) -> Any:
        return r.expr(s["as_expr"]["expr_str"]) if isinstance(s, dict) and "as_expr" in s else s

    if "sizes" in meta:
        return [
            meta.get("dtype"),
            [sym(s) for s in meta["sizes"]],
            [sym(s) for s in meta["strides"]],
            sym(meta.get("storage_offset")),
            meta.get("device"),
            meta.get("layout"),
            meta.get("requires_grad"),
        ]
    return sym(meta)


def _has_ordered(graph: Mapping[str, Any]) -> bool:
    for node in graph["nodes"]:
        if effects_from_name(node["target"]).ordered:
            return True
        for na in node["inputs"]:
            if "as_graph" in na["arg"] and _has_ordered(na["arg"]["as_graph"]["graph"]):
                return True
    return False
