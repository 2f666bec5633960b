"""The canonical form of a program: order, names, symbols, metadata profile.

:func:`canonicalize_program` turns the JSON of a serialized
``ExportedProgram`` into its canonical JSON, a document of the same schema
that ``torch.export.load`` reads and that computes what the original
computes. Two programs that differ only in node order, value/node/subgraph
names, symbol names, metadata, key order or example-size hints get the same
canonical document.

Steps, per graph (subgraphs first, recursively):

1. graph model (:func:`pt2canon.serde.graph.to_networkx`);
2. ordering edges for side effects (:func:`ordering_edges`): ordered ops
   (mutation, randomness, asserts, unknown custom ops) keep their relative
   order, and every read of a mutated value or of an alias of it stays on
   its side of the mutation;
3. op nodes ordered by :mod:`pt2canon.canon.order`; tokens, user inputs and
   constant inputs ranked by position, while inputs named by an FQN
   (parameters, buffers, tensor constants, custom objects) are placed by
   first use, so that no FQN decides the order (torch's ``canonicalize``
   sorts them by FQN);
4. inputs listed by signature kind (tokens, parameters, buffers, tensor
   constants, custom objects, then user and constant inputs in their own
   order: the calling convention), outputs by kind, mutations and
   gradients by the canonical position of their input;
5. values (and constant-input placeholders) renamed ``v0, v1, ...`` and op
   nodes ``n0, n1, ...`` in canonical order; subgraphs named
   ``subgraph_<12 hex>`` after the digest of their canonical structure
   (``_<k>`` appended for repeats in one graph); assert messages quote the
   node their condition comes from (:mod:`pt2canon.canon.messages`);
6. node metadata dropped except the keys the :class:`Profile` keeps;
7. symbols renamed in order of first appearance and expressions re-printed
   (:mod:`pt2canon.canon.symbols`), then the symbols of assert messages;
   ranges of symbols no value mentions dropped; example-size hints dropped
   except for symbols without a range (torch's loader needs them).

Before step 1 every value's storage offset is set to 0: torch's loader
ignores it, so torch's own load -> save writes 0 (see
:func:`_without_storage_offsets`).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import networkx as nx

from pt2canon._json import canonical_bytes
from pt2canon.canon.arrange import Arrangement
from pt2canon.canon.effects import OpEffects, effects_from_name, effects_of_node, needs_node_args
from pt2canon.canon.messages import is_assert, name_assert_messages, rename_message_symbols
from pt2canon.canon.order import Digests, ResidualTie, canonical_order, first_uses, node_label, skeleton_label
from pt2canon.canon.symbols import SymbolRenamer
from pt2canon.errors import GraphError
from pt2canon.serde.graph import (
    REF_KINDS,
    VALUE_TABLES,
    from_networkx,
    iter_refs,
    op_nodes,
    set_at,
    to_networkx,
)

__all__ = [
    "DEFAULT_PROFILE",
    "CanonicalGraph",
    "CanonicalProgram",
    "Profile",
    "canonicalize_program",
    "ordering_edges",
    "structure_view",
]

_INPUT_RANK = {
    "token": 0,
    "parameter": 1,
    "buffer": 2,
    "tensor_constant": 3,
    "custom_obj": 4,
    "user_input": 5,
    "constant_input": 5,  # the calling convention: user and constant inputs keep their positions
}
_INPUT_FQN = {
    "parameter": "parameter_name",
    "buffer": "buffer_name",
    "tensor_constant": "tensor_constant_name",
    "custom_obj": "custom_obj_name",
}
_OUTPUT_RANK = {
    "token": 0, "parameter_mutation": 1, "buffer_mutation": 2, "user_input_mutation": 3, "user_output": 4,
    "loss_output": 4, "gradient_to_parameter": 5, "gradient_to_user_input": 6,
}  # fmt: skip


@dataclass(frozen=True)
class Profile:
    """Which node metadata survives canonicalization.

    The ``default`` profile drops all node metadata (stack traces,
    ``nn_module_stack``, ``source_fn_stack``, ``torch_fn``, custom keys):
    none of it changes what the program computes. Name keys in
    ``keep_metadata`` to keep them (they then count in the hash).
    """

    name: str = "default"
    keep_metadata: frozenset[str] = frozenset()


DEFAULT_PROFILE = Profile()


@dataclass
class CanonicalGraph:
    """One graph in canonical form, with the maps back to the original.

    Attributes
    ----------
    doc : dict
        The canonical graph JSON.
    structure_digest : str
        sha256 hex of the canonical structure (no tensor metadata); computed
        on first use (subgraph names and the diff need it, the hash does not).
    model : networkx.MultiDiGraph
        The graph model of the *original* graph (metadata intact; storage
        offsets 0, as torch's loader reads them).
    order : list of int
        Op node ids of ``model`` in canonical order.
    value_names : dict
        Original value name -> canonical value name.
    node_names : dict
        Canonical node name -> original node name.
    subgraphs : dict
        Canonical subgraph name -> :class:`CanonicalGraph`.
    input_order, output_order : list of int
        Positions of the original graph inputs and outputs, in canonical order.
    has_asserts : bool
        Whether the graph or a subgraph has a runtime-assert node.
    """

    doc: dict[str, Any]
    model: nx.MultiDiGraph
    order: list[int]
    value_names: dict[str, str]
    node_names: dict[str, str]
    subgraphs: dict[str, CanonicalGraph] = field(default_factory=dict)
    input_order: list[int] = field(default_factory=list)
    output_order: list[int] = field(default_factory=list)
    has_asserts: bool = False

    @functools.cached_property
    def structure_digest(self) -> str:
        """sha256 hex of :func:`structure_view` of :attr:`doc`, computed on first use."""
        return _digest(structure_view(self.doc))


@dataclass
class CanonicalProgram:
    """A program in canonical form.

    Attributes
    ----------
    doc : dict
        The canonical ``ExportedProgram`` JSON. Treat it as read-only: to
        save time and memory it shares unchanged parts (constant arguments,
        static tensor metadata, one object per renamed shape expression)
        with the input document and within itself; copy it before editing.
    graph : CanonicalGraph
        The top-level graph with its maps back to the original.
    symbols : dict
        Original symbol name -> canonical symbol name.
    profile : Profile
    hints : bool
        Whether :attr:`doc` keeps example hints (on expressions with a
        symbol that has no range constraint, which torch's loader needs);
        the hash leaves them out.
    """

    doc: dict[str, Any]
    graph: CanonicalGraph
    symbols: dict[str, str]
    profile: Profile
    hints: bool = False


def structure_view(graph: Mapping[str, Any]) -> dict[str, Any]:
    """The structural part of a canonical graph: inputs, outputs, nodes, no value tables.

    Nodes keep their target, inputs, outputs and the metadata keys the
    profile kept (none by default); subgraphs are replaced by their own
    structure view, recursively, so no tensor metadata at any depth enters
    it (it names subgraphs and makes the hash's ``structure`` layer).
    """
    return {
        "inputs": graph["inputs"],
        "outputs": graph["outputs"],
        "nodes": [_node_structure(n) for n in graph["nodes"]],
    }


def _structure_input(na: Mapping[str, Any]) -> Mapping[str, Any]:
    g = na["arg"].get("as_graph")
    if g is None:
        return na
    return {**na, "arg": {"as_graph": {"name": g["name"], "graph": structure_view(g["graph"])}}}


def _node_structure(node: Mapping[str, Any]) -> dict[str, Any]:
    ins = node["inputs"]
    for na in ins:
        if "as_graph" in na["arg"]:
            ins = [_structure_input(na) for na in ins]
            break
    out = {"target": node["target"], "inputs": ins, "outputs": node["outputs"]}
    if node.get("metadata"):  # only keys a Profile kept
        out["metadata"] = node["metadata"]
    return out


# --------------------------------------------------------------------------- effects


def _effects(G: nx.MultiDiGraph, nid: int, sub_ordered: bool) -> OpEffects:
    attrs = G._node[nid]
    target = attrs["target"]
    eff = effects_from_name(target)
    if needs_node_args(target):
        eff = effects_of_node(target, {na.get("name"): na["arg"] for na in attrs["args"]})
    if sub_ordered and not eff.ordered:
        return OpEffects(mutates=frozenset({"*"}), effectful=True)
    return eff


def ordering_edges(G: nx.MultiDiGraph, ordered_subgraphs: set[int] | None = None) -> dict[int, list[int]]:
    """Extra ``pred -> node`` edges that pin side effects, from the document order.

    * ordered ops form one chain in their original relative order;
    * for each alias class (a value, the views of it and the results of
      in-place ops on it) every reader between two mutations is placed
      after the first and before the second.

    ``ordered_subgraphs`` holds the HOP nodes whose subgraphs contain
    ordered ops; they count as ordered and as mutating their tensor inputs.

    Returns ``{node: [nodes that must come before it]}``.
    """
    ordered_subgraphs = ordered_subgraphs or set()
    ops = op_nodes(G)
    effects = {v: _effects(G, v, v in ordered_subgraphs) for v in ops}
    if not any(e.mutates for e in effects.values()):
        # No mutation: only the chain of ordered ops (random draws, asserts).
        chain = [v for v in ops if effects[v].ordered]
        return {v: [p] for p, v in itertools.pairwise(chain) if v not in G._succ[p]}
    parent: dict[tuple[int, Any], tuple[int, Any]] = {}

    def find(x: tuple[int, Any]) -> tuple[int, Any]:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    preds: dict[int, set[int]] = {}
    last_ordered: int | None = None
    readers: dict[Any, list[int]] = {}
    last_mut: dict[Any, int] = {}
    pred_adj = G._pred
    for v in ops:
        eff = effects[v]
        args = G._node[v]["args"]
        ins = []  # (class root, mutated?)
        first_tensor = None
        for u, keyed in pred_adj[v].items():
            for key, d in keyed.items():
                if d["vkind"] != "tensor":
                    continue
                root = find((u, d["slot"]))
                idx, argname = key[0], key[1]
                if first_tensor is None or (idx, argname) < first_tensor[0]:
                    first_tensor = ((idx, argname), root)
                m = bool(eff.mutates) and (
                    "*" in eff.mutates
                    or argname in eff.mutates
                    or ("<out>" in eff.mutates and args[idx].get("kind") == 2)
                )
                ins.append((root, m))
        if eff.ordered:
            if last_ordered is not None:
                preds.setdefault(v, set()).add(last_ordered)
            last_ordered = v
        mutated = {r for r, m in ins if m}
        for root, _ in ins:
            lm = last_mut.get(root)
            if lm is not None and lm != v:
                preds.setdefault(v, set()).add(lm)
            if root not in mutated:
                readers.setdefault(root, []).append(v)
        for root in mutated:
            for r in readers.pop(root, ()):
                if r != v:
                    preds.setdefault(v, set()).add(r)
            last_mut[root] = v
        if eff.view and first_tensor is not None:
            for val in G._node[v]["values"]:
                if val.kind == "tensor":
                    parent[find((v, val.slot))] = first_tensor[1]
    # Drop edges already implied by a data edge, keep the rest as sorted lists.
    return {
        v: sorted(p for p in ps if v not in G._succ[p])
        for v, ps in preds.items()
        if any(v not in G._succ[p] for p in ps)
    }


# --------------------------------------------------------------------------- graphs

_ZERO_OFFSET = {"as_int": 0}


def _without_storage_offsets(graph: dict[str, Any]) -> dict[str, Any]:
    """``graph`` with the storage offset of each of its values 0 (subgraphs: see :func:`_canonical_graph`).

    torch's loader ignores a value's ``storage_offset`` (it rebuilds each
    value with ``empty_strided``), so ``torch.export.load`` then
    ``torch.export.save`` writes 0 for every view at an offset (``select``,
    ``split``, ``unbind``, slices): the offset of a view is determined by
    its op, and the program's computation never reads it. A new graph dict
    and table only where an offset changes; the input is never edited.
    """
    tables = graph.get("tensor_values")
    new_tables = None
    for name, meta in (tables or {}).items():
        so = meta.get("storage_offset")
        if so is not None and so != _ZERO_OFFSET:
            if new_tables is None:
                new_tables = dict(tables)  # type: ignore[arg-type]
            new_tables[name] = {**meta, "storage_offset": _ZERO_OFFSET}
    return graph if new_tables is None else {**graph, "tensor_values": new_tables}


def _digest(obj: Any) -> str:
    return hashlib.sha256(canonical_bytes(obj)).hexdigest()


def _canonical_graph(
    graph: dict[str, Any],
    *,
    where: str,
    input_specs: list[dict[str, Any]] | None,
    profile: Profile,
    output_specs: list[dict[str, Any]] | None = None,
) -> CanonicalGraph:
    """Canonicalize one graph; ``input_specs`` are the signature's (top-level graph only).

    Inputs named by an FQN (parameters, buffers, tensor constants, custom
    objects) are placed by first use (:func:`pt2canon.canon.order.canonical_order`),
    so their names never decide the order; tokens, user inputs and constant
    inputs keep their positions; subgraph inputs are positional. Storage
    offsets are 0 first (each subgraph is canonicalized by a call of its own).
    """
    graph = _without_storage_offsets(graph)
    G = to_networkx(graph, where=where)
    ops = op_nodes(G)
    # 1. subgraphs first: their digests enter their parent node's label.
    sub_digests: dict[int, dict[int, str]] = {}
    sub_canon: dict[int, dict[int, CanonicalGraph]] = {}
    ordered_subgraphs: set[int] = set()
    for nid in ops:
        subs = G._node[nid]["subgraphs"]
        if not subs:
            continue
        for i, sg in subs.items():
            sub_json = from_networkx(sg)
            cg = _canonical_graph(
                sub_json, where=f"{where}.nodes[{G._node[nid]['index']}].inputs[{i}]", input_specs=None, profile=profile
            )
            sub_canon.setdefault(nid, {})[i] = cg
            sub_digests.setdefault(nid, {})[i] = cg.structure_digest
            if _has_ordered(cg.doc):
                ordered_subgraphs.add(nid)
    # 2. ordering edges, labels, digests.
    order_preds = ordering_edges(G, ordered_subgraphs)
    # Input node ids are input positions.
    n_in = len(graph["inputs"])
    kinds = _input_kinds(input_specs, n_in)
    fixed = sorted((i for i in range(n_in) if not kinds[i].deferred), key=lambda i: (kinds[i].rank, i))
    deferred = {i for i in range(n_in) if kinds[i].deferred}
    input_rank = {nid: i for i, nid in enumerate(fixed)}

    def label(nid: int) -> bytes:
        attrs = G._node[nid]
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

    out_slots = _output_slots(output_specs, input_specs, input_rank)
    labels = _LazyMap(label)
    tie = _tie_breaker(G, [*fixed, *sorted(deferred, key=lambda i: (kinds[i].rank, kinds[i].fqn))])
    memo: dict[int, bytes] = {}

    def meta(nid: int) -> bytes:
        b = memo.get(nid)
        if b is None:
            b = memo[nid] = tie(nid) if G._node[nid]["kind"] == "op" or nid in deferred else b""
        return b

    def fqns_read(nid: int) -> bytes:
        # The last resort between ops that differ only in which same-shaped parameters they read.
        return canonical_bytes([kinds[u].fqn for u in G._pred[nid] if u in deferred])

    skeletons = _LazyMap(
        lambda nid: (
            skeleton_label(G._node[nid], sub_digests.get(nid, {})) if G._node[nid]["kind"] == "op" else labels[nid]
        )
    )
    binds = _bindings(G, output_specs, input_specs)
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
    node_attrs = G._node
    for nid in (*inputs, *order):
        for v in node_attrs[nid]["values"]:
            values[v.name] = f"v{len(values)}"
        if nid < n_in and kinds[nid].kind == "constant_input":
            placeholder = input_specs[nid]["constant_input"].get("name")  # type: ignore[index]
            if isinstance(placeholder, str) and placeholder not in values:
                values[placeholder] = f"v{len(values)}"
    node_names: dict[str, str] = {}
    for k, nid in enumerate(order):
        old = node_attrs[nid]["name"]
        node_names[f"n{k}"] = old if isinstance(old, str) else ""
    doc = _emit(graph, order, inputs, values, node_names=True, keep_metadata=profile.keep_metadata)
    # 4. per node: subgraphs; then the node names quoted in assert messages.
    seen_sub: dict[str, int] = {}
    subgraphs: dict[str, CanonicalGraph] = {}
    own_asserts = False
    for nid, node in zip(order, doc["nodes"]):
        for i, cg in sub_canon.get(nid, {}).items():
            base = f"subgraph_{cg.structure_digest[:12]}"
            n = seen_sub.get(base, 0)
            seen_sub[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
            subgraphs[name] = cg
            node["inputs"][i] = {**node["inputs"][i], "arg": {"as_graph": {"name": name, "graph": cg.doc}}}
        if is_assert(node["target"]):
            own_asserts = True
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
    kinds: list[_InputKind],
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


class _TensorArgs(dict):  # type: ignore[type-arg]
    """Old value name -> the renamed ``{"as_tensor": {"name": new}}``, one shared object per value."""

    def __init__(self, names: Mapping[str, str]) -> None:
        super().__init__()
        self.names = names

    def __missing__(self, old: str) -> dict[str, Any]:
        arg = self[old] = {"as_tensor": {"name": self.names[old]}}
        return arg


def _rename_value_args(
    args: list[dict[str, Any]], names: Mapping[str, str], tensor_args: _TensorArgs | None = None
) -> list[dict[str, Any]]:
    """Arguments (``inputs``/``outputs`` entries) with their value references renamed."""
    tensor_args = _TensorArgs(names) if tensor_args is None else tensor_args
    out = []
    for arg in args:
        t = arg.get("as_tensor")
        if t is not None and len(arg) == 1 and len(t) == 1:
            out.append(tensor_args[t["name"]])
        else:
            out.append(_rename_arg(arg, names))
    return out


def _emit(
    graph: dict[str, Any],
    order: list[int],
    inputs: list[int],
    names: Mapping[str, str],
    *,
    node_names: bool = False,
    keep_metadata: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The graph JSON in ``order`` with values renamed by ``names``.

    Equal to ``from_networkx(G, order=..., rename=..., input_order=...)``
    (a test proves it) but renames the original JSON directly, which is
    twice as fast: node ids of :func:`to_networkx` are input positions,
    then node positions offset by the number of inputs. With
    ``node_names`` the ``k``-th node is named ``n<k>``; with
    ``keep_metadata`` node metadata keeps only those keys. Every node dict
    and ``inputs`` list is new; node-input entries and arguments are shared
    with ``graph`` when nothing in them is renamed, and renamed tensor
    arguments within the result (one ``{"as_tensor": ...}`` object per
    value): replace entries, never edit them in place.
    """
    n_in = len(graph["inputs"])
    nodes = graph["nodes"]
    out_nodes = []
    tensor_args = _TensorArgs(names)
    for k, nid in enumerate(order):
        n = nodes[nid - n_in]
        ins = []
        for na in n["inputs"]:
            arg = na["arg"]
            t = arg.get("as_tensor")
            if t is not None and len(arg) == 1 and len(t) == 1:
                ins.append({**na, "arg": tensor_args[t["name"]]})
            else:
                renamed = arg if "as_graph" in arg else _rename_arg(arg, names)
                ins.append(na if renamed is arg else {**na, "arg": renamed})
        node = {**n, "inputs": ins, "outputs": _rename_value_args(n["outputs"], names, tensor_args)}
        if node_names and "name" in n:
            node["name"] = f"n{k}"
        if keep_metadata is not None:
            md = n.get("metadata")
            if md is not None:
                node["metadata"] = (
                    {key: val for key, val in md.items() if key in keep_metadata} if keep_metadata else {}
                )
        out_nodes.append(node)
    g_inputs = graph["inputs"]
    doc = {
        **graph,
        "inputs": _rename_value_args([g_inputs[i] for i in inputs], names, tensor_args),
        "outputs": _rename_value_args(graph["outputs"], names, tensor_args),
        "nodes": out_nodes,
    }
    for t in VALUE_TABLES.values():
        if t in graph:
            doc[t] = {names.get(k, k): v for k, v in graph[t].items()}
    if graph.get("custom_obj_values"):
        # A custom object's entry repeats its value name: ``{"name": "obj_attr", "class_fqn": ...}``.
        doc["custom_obj_values"] = {
            k: {**v, "name": k} if isinstance(v, dict) and "name" in v else v
            for k, v in doc["custom_obj_values"].items()
        }
    return doc


def _tie_breaker(G: nx.MultiDiGraph, inputs: list[int]) -> Callable[[int], bytes]:
    """Lazy last key: a node's output metadata, symbols named as the inputs name them."""
    state: dict[str, SymbolRenamer] = {}

    def renamer() -> SymbolRenamer:
        r = state.get("r")
        if r is None:
            r = state["r"] = SymbolRenamer()
            for nid in inputs:
                for v in G._node[nid]["values"]:
                    _meta_key(v.meta, r)
            r.frozen = True
        return r

    def key(nid: int) -> bytes:
        metas = [v.meta for v in G._node[nid]["values"]]
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


def _natural(name: str) -> tuple[str, int]:
    m = re.match(r"^(\D*)(\d+)$", name)
    return (m.group(1), int(m.group(2))) if m else (name, -1)


def _has_ordered(graph: Mapping[str, Any]) -> bool:
    for node in graph["nodes"]:
        if effects_from_name(node["target"]).ordered:
            return True
        for na in node["inputs"]:
            if "as_graph" in na["arg"] and _has_ordered(na["arg"]["as_graph"]["graph"]):
                return True
    return False


# --------------------------------------------------------------------------- symbols


def _rename_symbols(doc: dict[str, Any], renamer: SymbolRenamer, *, messages: bool) -> bool:
    """Rename symbols in every value table and range constraint, in canonical order of appearance.

    Example hints are dropped, except on expressions with a symbol that has
    no range constraint: torch's loader needs a range or a hint for every
    symbol (``vr must not be None``). Range constraints of symbols that no
    value of any graph mentions are dropped, as torch's loader drops them.
    With ``messages``, then the symbols of assert messages. Returns whether
    any hint was kept.
    """
    rc = doc.get("range_constraints") or {}
    # One renamed SymInt object per distinct expression, shared by every place it appears.
    renamed: dict[str, dict[str, Any]] = {}
    hinted: dict[tuple[str, bytes], dict[str, Any]] = {}
    unconstrained: set[str] = set()  # expressions with a symbol that has no range

    def renamed_expr(e: dict[str, Any]) -> dict[str, Any]:
        text = e["expr_str"]
        out = renamed.get(text)
        if out is not None:  # the common case: every symbol has a range, and the hint goes
            return out
        if text not in unconstrained:
            if all(name in rc for name in renamer.symbol_names(text)):
                out = renamed[text] = {"as_expr": {"expr_str": renamer.expr(text), "hint": None}}
                return out
            unconstrained.add(text)
        hint = e.get("hint")
        key = (text, canonical_bytes(hint))
        out = hinted.get(key)
        if out is None:
            out = hinted[key] = {"as_expr": {"expr_str": renamer.expr(text), "hint": hint}}
        return out

    def sym(s: Any) -> Any:
        if "as_expr" in s:
            return renamed_expr(s["as_expr"])
        return s

    def syms(seq: list[Any]) -> list[Any]:
        for s in seq:
            if "as_expr" in s:
                return [x if (e := x.get("as_expr")) is None else renamed_expr(e) for x in seq]
        return seq

    def meta(m: dict[str, Any]) -> dict[str, Any]:
        sizes, strides = m["sizes"], m["strides"]  # required (schema checks)
        new_sizes, new_strides = syms(sizes), syms(strides)
        so = m.get("storage_offset")
        new_so = renamed_expr(so["as_expr"]) if so is not None and "as_expr" in so else so
        if new_sizes is sizes and new_strides is strides and new_so is so:
            return m  # static: nothing to rename
        out = dict(m)
        out["sizes"], out["strides"] = new_sizes, new_strides
        if so is not None:
            out["storage_offset"] = new_so
        return out

    def visit(graph: dict[str, Any]) -> None:
        tables = {k: graph.get(t, {}) for k, t in VALUE_TABLES.items() if k != "custom_obj"}
        done: dict[str, set[str]] = {k: set() for k in tables}
        tensors, done_tensors = tables["tensor"], done["tensor"]

        def touch(arg: dict[str, Any]) -> None:
            t = arg.get("as_tensor")
            if t is not None and len(arg) == 1 and len(t) == 1:  # the common case, inlined
                name = t["name"]
                if name in tensors and name not in done_tensors:
                    done_tensors.add(name)
                    tensors[name] = meta(tensors[name])
                return
            for _, _, name, kind in iter_refs(arg):
                table = tables.get(kind)
                if table is None or name not in table or name in done[kind]:
                    continue
                done[kind].add(name)
                val = table[name]
                table[name] = meta(val) if kind == "tensor" else sym(val)

        for a in graph["inputs"]:
            touch(a)
        for node in graph["nodes"]:
            for na in node["inputs"]:
                if "as_graph" in na["arg"]:
                    visit(na["arg"]["as_graph"]["graph"])
            for o in node["outputs"]:
                touch(o)
        # Values no node defines (kept for exactness) come last.
        for kind, table in tables.items():
            for name, val in list(table.items()):
                if name not in done[kind]:
                    table[name] = meta(val) if kind == "tensor" else sym(val)

    graph = doc["graph_module"]["graph"]
    visit(graph)
    in_graph = set(renamer.mapping)
    # Then the symbols assert messages quote, in canonical order (the ones no value mentions,
    # only a range constraint or a stale message, are named there).
    if messages:
        rename_message_symbols(graph, renamer)
    doc["range_constraints"] = dict(
        sorted(((renamer.mapping[k], v) for k, v in rc.items() if k in in_graph), key=lambda kv: _natural(kv[0]))
    )
    return any(o["as_expr"]["hint"] is not None for o in hinted.values())


# --------------------------------------------------------------------------- program


class _InputKind(NamedTuple):
    kind: str  # the spec tag, with a buffer's persistence
    rank: int  # of the kind, in torch's order
    fqn: str
    deferred: bool  # placed by first use (named by an FQN)


def _input_kinds(specs: list[dict[str, Any]] | None, n: int) -> list[_InputKind]:
    if specs is None:  # a subgraph: positional inputs
        return [_InputKind("input", 0, "", False)] * n
    out = []
    for spec in specs:
        ((tag, body),) = spec.items()
        fqn_key = _INPUT_FQN.get(tag)
        kind = f"buffer/{body.get('persistent')}" if tag == "buffer" else tag
        out.append(_InputKind(kind, _INPUT_RANK[tag], body.get(fqn_key, "") if fqn_key else "", fqn_key is not None))
    return out


_BINDING_TAGS = {
    "parameter_mutation": "parameter_name",
    "buffer_mutation": "buffer_name",
    "gradient_to_parameter": "parameter_name",
    "user_input_mutation": "user_input_name",
    "gradient_to_user_input": "user_input_name",
}


def _bindings(
    G: nx.MultiDiGraph, output_specs: list[dict[str, Any]] | None, input_specs: list[dict[str, Any]] | None
) -> dict[int, list[tuple[int, bytes]]]:
    """Which graph input each mutation or gradient output updates, as labelled edges.

    Returns ``{producer node: [(input node, label)]}``: the node whose value
    is the ``k``-th graph output updates input ``t`` (found by FQN or by
    user-input name); the label is the spec tag and which of the producer's
    values it is. This relation is structure: a buffer mutated by one value
    or by another is another program, whatever the buffers are named.
    """
    if output_specs is None or input_specs is None:
        return {}
    by_name: dict[tuple[str, str], int] = {}
    for i, spec in enumerate(input_specs):
        ((tag, body),) = spec.items()
        fqn_key = _INPUT_FQN.get(tag)
        if fqn_key is not None:
            by_name.setdefault((fqn_key, body.get(fqn_key, "")), i)
        arg = body.get("arg")
        if tag == "user_input" and isinstance(arg, dict):
            for _, _, name, _ in iter_refs(arg):
                by_name.setdefault(("user_input_name", name), i)
    producers: dict[int, tuple[int, int]] = {}
    for u, keyed in G._pred[G.graph["output"]].items():
        for key, d in keyed.items():
            producers[key[0]] = (u, d["out"])
    out: dict[int, list[tuple[int, bytes]]] = {}
    for i, spec in enumerate(output_specs):
        ((tag, body),) = spec.items()
        field_name = _BINDING_TAGS.get(tag)
        if field_name is None or i not in producers:
            continue
        target = by_name.get((field_name, body.get(field_name, "")))
        if target is None:
            continue
        u, k = producers[i]
        out.setdefault(u, []).append((target, canonical_bytes([tag, k])))
    return out


def _output_slots(
    output_specs: list[dict[str, Any]] | None, input_specs: list[dict[str, Any]] | None, input_rank: Mapping[int, int]
) -> dict[int, Any] | None:
    """The key of each graph output position in the order's digests (``None``: the positions themselves).

    User outputs, loss outputs and tokens are positional (the k-th of their
    kind); a user-input mutation or gradient is keyed by its user input's
    position; mutations of and gradients to parameters and buffers share one
    key per kind: which state they update is told by the values they read,
    and their order in the document means nothing.
    """
    if output_specs is None or input_specs is None:
        return None
    user_input: dict[str, int] = {}
    for i, spec in enumerate(input_specs):
        arg = spec.get("user_input", {}).get("arg")
        if isinstance(arg, dict):
            for _, _, name, _ in iter_refs(arg):
                user_input.setdefault(name, input_rank.get(i, -1))
    counts: dict[str, int] = {}
    slots: dict[int, tuple[Any, ...]] = {}
    for i, spec in enumerate(output_specs):
        ((tag, body),) = spec.items()
        if tag in ("parameter_mutation", "buffer_mutation", "gradient_to_parameter"):
            slots[i] = (tag,)
        elif tag in ("user_input_mutation", "gradient_to_user_input"):
            slots[i] = (tag, user_input.get(body.get("user_input_name", ""), -1))
        else:
            group = "user" if tag in ("user_output", "loss_output") else tag
            slots[i] = (group, counts.get(group, 0))
            counts[group] = counts.get(group, 0) + 1
    return slots


def _rank_outputs(specs: list[dict[str, Any]], input_specs: list[dict[str, Any]], input_order: list[int]) -> list[int]:
    """Output positions in canonical order: by kind, then mutations and gradients by their input's position.

    The input a mutation or gradient output refers to is found by FQN
    (``buffer_name``, ``parameter_name``) or by value name
    (``user_input_name``); user outputs keep their positions.
    """
    position = {i: k for k, i in enumerate(input_order)}
    by_target: dict[tuple[str, str], int] = {}
    for i, spec in enumerate(input_specs):
        ((tag, body),) = spec.items()
        if tag in _INPUT_FQN:
            by_target.setdefault((tag, body.get(_INPUT_FQN[tag], "")), position[i])
        arg = body.get("arg")
        if tag == "user_input" and isinstance(arg, dict):
            for _, _, name, _ in iter_refs(arg):
                by_target.setdefault(("value", name), position[i])

    def key(i: int) -> tuple[int, int, str, int]:
        ((tag, body),) = specs[i].items()
        if tag in ("parameter_mutation", "gradient_to_parameter"):
            target = ("parameter", body.get("parameter_name", ""))
        elif tag == "buffer_mutation":
            target = ("buffer", body.get("buffer_name", ""))
        elif tag in ("user_input_mutation", "gradient_to_user_input"):
            target = ("value", body.get("user_input_name", ""))
        else:
            return (_OUTPUT_RANK[tag], -1, "", i)
        pos = by_target.get(target)
        if pos is None:  # refers to no input: after the others, by name
            return (_OUTPUT_RANK[tag], len(position), target[1], i)
        return (_OUTPUT_RANK[tag], pos, "", i)

    return sorted(range(len(specs)), key=key)


def _rename_arg(arg: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """``arg`` with the value names it refers to renamed (names ``names`` lacks are kept); ``arg`` itself if none."""
    if len(arg) == 1:
        tag = next(iter(arg))
        if tag not in REF_KINDS:
            return arg  # a constant
        if tag == "as_tensor" and len(arg[tag]) == 1:
            name = arg[tag]["name"]
            return {"as_tensor": {"name": names.get(name, name)}}
    refs = list(iter_refs(arg))
    if not refs:
        return arg
    return set_at(arg, [(path, fld, names.get(name, name)) for path, fld, name, _ in refs])


def _rename_spec(spec: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    ((tag, body),) = spec.items()
    body = dict(body)
    if tag == "constant_input":
        body["name"] = names.get(body["name"], body["name"])
    if "user_input_name" in body:  # user_input_mutation, gradient_to_user_input (their arg too, below)
        body["user_input_name"] = names.get(body["user_input_name"], body["user_input_name"])
    if "arg" in body:
        a = body["arg"]
        if tag in ("user_input", "user_output"):
            body["arg"] = _rename_arg(a, names)
        else:
            body["arg"] = {**a, "name": names.get(a["name"], a["name"])}
    return {tag: body}


def canonicalize_program(program: dict[str, Any], *, profile: Profile = DEFAULT_PROFILE) -> CanonicalProgram:
    """Canonicalize a serialized ``ExportedProgram`` document.

    Parameters
    ----------
    program : dict
        Parsed ``model.json`` (shape-checked; see :func:`pt2canon.serde.schema.check_program`).
    profile : Profile
        Which node metadata to keep (default: none).

    Returns
    -------
    CanonicalProgram
        The canonical document and the maps back to the original names.

    Raises
    ------
    GraphError
        If the graph and its signature disagree or a reference dangles.
    """
    gm = program["graph_module"]
    graph = gm["graph"]
    sig = gm["signature"]
    in_specs, out_specs = sig["input_specs"], sig["output_specs"]
    if len(in_specs) != len(graph["inputs"]):
        raise GraphError(
            f"signature has {len(in_specs)} input specs but the graph has {len(graph['inputs'])} inputs",
            where="graph_module.signature.input_specs",
        )
    if len(out_specs) != len(graph["outputs"]):
        raise GraphError(
            f"signature has {len(out_specs)} output specs but the graph has {len(graph['outputs'])} outputs",
            where="graph_module.signature.output_specs",
        )
    cg = _canonical_graph(
        graph, where="graph_module.graph", input_specs=in_specs, profile=profile, output_specs=out_specs
    )
    in_order = cg.input_order
    out_order = cg.output_order = _rank_outputs(out_specs, in_specs, in_order)
    cg.doc["outputs"] = [cg.doc["outputs"][i] for i in out_order]
    names = cg.value_names
    keep = profile.keep_metadata
    new_gm: dict[str, Any] = {
        **gm,
        "graph": cg.doc,
        "signature": {
            **sig,
            "input_specs": [_rename_spec(in_specs[i], names) for i in in_order],
            "output_specs": [_rename_spec(out_specs[i], names) for i in out_order],
        },
        "metadata": {k: v for k, v in (gm.get("metadata") or {}).items() if k in keep},
    }
    mcg = []
    for entry in gm.get("module_call_graph", []):
        s = entry.get("signature")
        if s is not None:
            s = {
                **s,
                "inputs": [_rename_arg(a, names) for a in s.get("inputs", [])],
                "outputs": [_rename_arg(a, names) for a in s.get("outputs", [])],
            }
        mcg.append({**entry, "signature": s})
    new_gm["module_call_graph"] = sorted(mcg, key=lambda e: e["fqn"])
    doc: dict[str, Any] = {**program, "graph_module": new_gm}
    if "opset_version" in doc:
        doc["opset_version"] = dict(sorted(doc["opset_version"].items()))
    if "guards_code" in doc:
        doc["guards_code"] = sorted(doc["guards_code"])
    renamer = SymbolRenamer()
    hints = False
    if _has_symbols(program, cg):
        hints = _rename_symbols(doc, renamer, messages=cg.has_asserts)
    else:
        if cg.has_asserts:
            rename_message_symbols(cg.doc, renamer)
        doc["range_constraints"] = {}
    return CanonicalProgram(doc=doc, graph=cg, symbols=dict(renamer.mapping), profile=profile, hints=hints)


def _has_symbols(program: dict[str, Any], graph: CanonicalGraph) -> bool:
    """Whether any symbolic expression appears: range constraints, or a value table of any graph."""
    if program.get("range_constraints"):
        return True
    return _scan_expr(graph)


def _scan_expr(cg: CanonicalGraph) -> bool:
    graph = cg.doc
    for t in ("sym_int_values", "sym_float_values", "sym_bool_values"):
        for s in (graph.get(t) or {}).values():
            if "as_expr" in s:
                return True
    for m in (graph.get("tensor_values") or {}).values():
        for s in m["sizes"]:
            if "as_expr" in s:
                return True
        for s in m["strides"]:
            if "as_expr" in s:
                return True
        so = m.get("storage_offset")
        if so is not None and "as_expr" in so:
            return True
    return any(_scan_expr(sub) for sub in cg.subgraphs.values())
