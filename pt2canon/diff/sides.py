"""One graph as the aligner sees it: :class:`GraphSide`, built from a canonical graph.

Each side is viewed as a DAG of *view ids*: op nodes ``0..n-1`` in
canonical order (view id ``k`` is canonical node ``n{k}``), graph inputs
``n..n+m-1`` in canonical input order, and the output node ``n+m``. An
edge is a use: the consumer's *argument slot* (argument name, or index
when the schema gives none, plus the position inside a list argument), the
producer's output index and the producer. Inputs and outputs carry
alignment keys: parameters, buffers, tensor constants and custom objects
by signature kind and FQN, user inputs and outputs by position, mutations
by kind and FQN (:func:`output_spec_keys`); a subgraph's by position.
Each node has interned labels (deep, with subgraph digests, and shallow),
a fingerprint (a Merkle hash of its ancestry cone), a depth and its users'
fingerprint (a Merkle hash of its uses down to the output).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pt2canon._json import canonical_bytes
from pt2canon.canon.program import CanonicalGraph, CanonicalProgram
from pt2canon.serde.graph import VALUE_TABLES
from pt2canon.serde.metadata import module_path
from pt2canon.serde.model import NodeAttrs, in_uses, node_attrs
from pt2canon.serde.spec import FQN_FIELD, spec_view

__all__ = ["FQN_OUTPUTS", "NAMED_INPUTS", "GraphSide", "Slot", "output_spec_keys", "program_side", "subgraph_side"]

#: Input kinds that name a tensor or object of the module by FQN (paired through their readers).
NAMED_INPUTS = frozenset({"parameter", "buffer", "tensor_constant", "custom_obj"})
#: Output kinds keyed by the FQN of the input they write or belong to.
FQN_OUTPUTS = {"parameter_mutation": "parameter", "buffer_mutation": "buffer", "gradient_to_parameter": "parameter"}

_POSITIONAL_IN = {"user_input": "user", "constant_input": "user", "token": "token"}
_POSITIONAL_OUT = {"user_output": "user", "loss_output": "user", "token": "token"}

Slot = tuple[Any, Any]


def _input_keys(specs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Alignment key of each input spec (canonical order)."""
    keys: list[tuple[Any, ...]] = []
    counts: Counter[str] = Counter()
    for spec in specs:
        tag, body = spec_view(spec)
        group = _POSITIONAL_IN.get(tag)
        if group is not None:
            keys.append((group, counts[group]))
            counts[group] += 1
        else:
            keys.append((tag, body.get(FQN_FIELD.get(tag, ""), "")))
    return keys


@dataclass
class GraphSide:
    """One graph seen by the aligner (see the module docstring for view ids).

    Attributes
    ----------
    cg : CanonicalGraph
    n_ops, n_inputs : int
    nid : list of int
        View id -> node id of ``cg.model``.
    operands : list of dict
        View id -> ``{slot: (output index, producer view id)}``.
    users : list of list
        View id -> ``[(slot, output index, user view id)]``.
    label, plabel : list of int
        Interned deep label (with subgraph digests) and shallow label
        (target and constant arguments); inputs and the output have their own.
    target : list of str or None
    fp : list of int
        Fingerprints (phase 1).
    depth : list of int
    ufp : list of int
        Users' fingerprints: a Merkle hash over a node's uses (slot, output
        index, user's shallow label and users' fingerprint), from the output back.
    input_keys : list
        Alignment key of each input, in canonical input order.
    anchor_keys : list or None
        The keys phase 0 anchors inputs by, when not ``input_keys`` (A's
        FQNs with modules renamed as a first alignment showed).
    input_specs : list or None
        Canonical signature input specs (top-level graph only).
    output_keys : dict
        Original output index -> alignment key.
    output_specs, output_spec_keys : list or None
        Canonical signature output specs and their keys (top-level graph only).

    Examples
    --------
    :func:`program_side` and :func:`subgraph_side` make one. ``mlp_v1``
    has five ops and seven inputs (six parameters, then ``x``), so the
    output node is view id 12:

    >>> import pt2canon
    >>> side = program_side(pt2canon.canonicalize("examples/mlp_v1.pt2"), {})
    >>> side.n_ops, side.n_inputs, side.out
    (5, 7, 12)
    >>> side.name(0), side.original_name(0), side.module(0), side.target[1]
    ('n0', 'linear', 'fc1', 'torch.ops.aten.relu.default')
    >>> side.name(5), side.input_keys[0], side.name(11), side.input_keys[6], side.name(side.out)
    ('v0', ('parameter', 'fc1.weight'), 'v6', ('user', 0), 'output')
    """

    cg: CanonicalGraph
    n_ops: int
    n_inputs: int
    nid: list[int]
    operands: list[dict[Slot, tuple[int, int]]]
    users: list[list[tuple[Slot, int, int]]]
    label: list[int]
    plabel: list[int]
    target: list[str | None]
    fp: list[int]
    depth: list[int]
    ufp: list[int]
    input_keys: list[Any]
    input_specs: list[dict[str, Any]] | None
    output_keys: dict[int, Any]
    output_specs: list[dict[str, Any]] | None = None
    output_spec_keys: list[Any] | None = None
    _modules: dict[int, str | None] = field(default_factory=dict, repr=False)
    _tables: dict[str, Mapping[str, Any]] | None = field(default=None, repr=False)
    _metas: dict[int, list[Any]] = field(default_factory=dict, repr=False)
    _subs: dict[int, dict[int, str]] = field(default_factory=dict, repr=False)
    _built_outputs: tuple[Any, ...] | None = field(default=None, repr=False)
    anchor_keys: list[Any] | None = None

    @property
    def out(self) -> int:
        """View id of the output node."""
        return self.n_ops + self.n_inputs

    def is_op(self, v: int) -> bool:
        return v < self.n_ops

    def attrs(self, v: int) -> NodeAttrs:
        """The graph-model attributes of view id ``v`` (:class:`pt2canon.serde.model.NodeAttrs`)."""
        return node_attrs(self.cg.model)[self.nid[v]]

    def name(self, v: int) -> str:
        """``n12`` for an op, the canonical value name for an input, ``output``."""
        if v < self.n_ops:
            return f"n{v}"
        if v == self.out:
            return "output"
        vals = self.attrs(v).get("values", ())
        return self.value_name(v, 0) if vals else f"input {v - self.n_ops}"

    def original_name(self, v: int) -> str | None:
        if v < self.n_ops:
            return self.cg.node_names.get(f"n{v}") or None
        if v == self.out:
            return None
        vals = self.attrs(v).get("values", ())
        return vals[0].name if vals else None

    def value_name(self, v: int, out: int) -> str:
        """The canonical name of view id ``v``'s ``out``-th value."""
        vals = self.attrs(v).get("values", ())
        if out < len(vals):
            return self.cg.value_names.get(vals[out].name, vals[out].name)
        return f"{self.name(v)}:{out}"

    def module(self, v: int) -> str | None:
        """Module path from the node's ``nn_module_stack`` (ops only)."""
        if v >= self.n_ops:
            return None
        if v not in self._modules:
            self._modules[v] = module_path(self.attrs(v).get("metadata"))
        return self._modules[v]

    def metas(self, v: int) -> list[Any]:
        """Canonical metadata (symbols renamed) of each value ``v`` defines; ``None`` for tokens."""
        cached = self._metas.get(v)
        if cached is not None:
            return cached
        tables = self._tables
        if tables is None:
            doc = self.cg.doc
            tables = self._tables = {k: doc.get(t) or {} for k, t in VALUE_TABLES.items()}
        names = self.cg.value_names
        empty: Mapping[str, Any] = {}
        out = self._metas[v] = [
            tables.get(val.kind, empty).get(names.get(val.name, val.name)) for val in self.attrs(v).get("values", ())
        ]
        return out

    def subgraph_names(self, v: int) -> dict[int, str]:
        """Argument index -> canonical subgraph name of op ``v``."""
        return self._subs.get(v, {})

    def shape_key(self, v: int) -> tuple[Any, ...]:
        """Dtype and static sizes of the values ``v`` defines (symbolic sizes as ``None``: symbol names
        depend on each side's order of first use)."""
        return _shape_key(self.attrs(v))

    def named_input(self, v: int) -> bool:
        """True for an input that is a parameter, buffer, tensor constant or custom object."""
        return self.n_ops <= v < self.out and self.input_keys[v - self.n_ops][0] in NAMED_INPUTS

    def ordered_operands(self, v: int) -> list[tuple[Slot, int, int]]:
        """``(slot, output index, producer)`` of op ``v``'s value references, in argument order."""
        position = {na.get("name") or str(i): i for i, na in enumerate(self.attrs(v)["args"])}

        def order(item: tuple[Slot, tuple[int, int]]) -> tuple[int, str]:
            (arg, path), _ = item
            return position.get(arg, position.get(str(arg), -1)), repr(path)

        return [(s, o, p) for s, (o, p) in sorted(self.operands[v].items(), key=order)]

    def built_output_spec_keys(self) -> list[Any]:
        """The output spec keys as the side was built (before :meth:`rekey_outputs`)."""
        if self._built_outputs is not None:
            return list(self._built_outputs[3])
        return list(self.output_spec_keys or ())

    def rekey_outputs(self, keys: Mapping[Any, Any]) -> None:
        """Key the outputs first keyed ``k`` by ``keys[k]`` (a renamed parameter's mutation, ...).

        Always from the keys the side was built with, so that calling it
        again replaces the earlier renaming instead of renaming twice.
        """
        out = self.out
        if self._built_outputs is None:
            if not keys:
                return
            ops = dict(self.operands[out])
            users = {p: list(self.users[p]) for p in {e[1] for e in ops.values()}}
            self._built_outputs = (ops, users, dict(self.output_keys), list(self.output_spec_keys or ()))
        base_ops, base_users, base_keys, base_spec_keys = self._built_outputs
        self.operands[out] = {_rekeyed(s, keys): e for s, e in base_ops.items()}
        for p, uses in base_users.items():
            self.users[p] = [(_rekeyed(s, keys), o, u) if u == out else (s, o, u) for s, o, u in uses]
        self.output_keys = {i: keys.get(k, k) for i, k in base_keys.items()}
        if self.output_spec_keys is not None:
            self.output_spec_keys = [keys.get(k, k) for k in base_spec_keys]

    def doc_node(self, v: int) -> dict[str, Any]:
        """The canonical document's node of op ``v``."""
        return self.cg.doc["nodes"][v]  # type: ignore[no-any-return]


def _rekeyed(slot: Slot, keys: Mapping[Any, Any]) -> Slot:
    return (keys.get(slot[0], slot[0]), slot[1])


def _shape_key(attrs: Mapping[str, Any]) -> tuple[Any, ...]:
    """Dtype and static sizes of each value a node defines (symbolic sizes as ``None``), for fingerprints."""
    out: list[Any] = []
    for val in attrs.get("values", ()):
        meta = val.meta
        sizes = meta.get("sizes") if isinstance(meta, dict) else None
        out.append(None if sizes is None else (meta.get("dtype"), *[s.get("as_int") for s in sizes]))
    return tuple(out)


def _build_side(
    cg: CanonicalGraph,
    input_ids: list[int],
    input_keys: list[Any],
    output_keys: dict[int, Any],
    labels: dict[bytes, int],
    input_specs: list[dict[str, Any]] | None = None,
) -> GraphSide:
    G = cg.model
    nodes, pred = node_attrs(G), in_uses(G)
    order = cg.order
    n, m = len(order), len(input_ids)
    out_nid = G.graph["output"]
    nid = [*order, *input_ids, out_nid]
    vid = {x: i for i, x in enumerate(nid)}
    N = n + m + 1
    operands: list[dict[Slot, tuple[int, int]]] = [{} for _ in range(N)]
    users: list[list[tuple[Slot, int, int]]] = [[] for _ in range(N)]
    label = [0] * N
    plabel = [0] * N
    target: list[str | None] = [None] * N
    subs: dict[int, dict[int, str]] = {}
    docs = cg.doc["nodes"]
    intern = labels.setdefault
    fp = [0] * N
    depth = [0] * N
    out_label = intern(b"<output>", len(labels))
    for v in range(n, N - 1):
        key = input_keys[v - n]
        # A parameter's FQN is not its identity (an inserted block shifts the FQNs after it): its
        # fingerprint is its kind and shape; the others' (user inputs by position) their key.
        named = key[0] in NAMED_INPUTS
        fp[v] = hash(("in", key[0], _shape_key(nodes[nid[v]])) if named else ("in", key))
        label[v] = plabel[v] = intern(canonical_bytes(["<input>", repr(key)]), len(labels))
    # Ops in canonical (topological) order, then the output: operands, users, labels, fingerprints.
    for v in [*range(n), N - 1]:
        x = nid[v]
        ops = operands[v]
        is_out = v == N - 1
        fps = []
        dmax = 0
        for u, keyed in pred[x].items():
            pu = vid[u]
            us, fu = users[pu], fp[pu]
            if depth[pu] > dmax:
                dmax = depth[pu]
            for key, d in keyed.items():
                slot = (output_keys.get(key[0], ("out", key[0])), key[2]) if is_out else (key[1] or key[0], key[2])
                o = d["out"]
                ops[slot] = (o, pu)
                us.append((slot, o, v))
                fps.append((slot, o, fu))
        if is_out:
            label[v] = plabel[v] = out_label
        else:
            attrs = nodes[x]
            t = attrs["target"]
            target[v] = t
            args = attrs["args"]
            if attrs["subgraphs"]:
                doc_inputs = docs[v]["inputs"]
                names = {i: doc_inputs[i]["arg"]["as_graph"]["name"] for i in attrs["subgraphs"]}
                subs[v] = names
                deep = [
                    {**na, "arg": {"as_graph": cg.subgraphs[names[i]].structure_digest}} if i in names else na
                    for i, na in enumerate(args)
                ]
                shallow = [{**na, "arg": {"as_graph": None}} if i in names else na for i, na in enumerate(args)]
                label[v] = intern(canonical_bytes([t, deep, attrs["outputs"]]), len(labels))
                plabel[v] = intern(canonical_bytes(["shallow", t, shallow, attrs["outputs"]]), len(labels))
            else:
                label[v] = plabel[v] = intern(canonical_bytes([t, args, attrs["outputs"]]), len(labels))
        fp[v] = hash((label[v], _shape_key(nodes[x]), frozenset(fps)))
        depth[v] = dmax + 1
    # Users' fingerprints: a Merkle hash over each node's uses, from the output back.
    ufp = [0] * N
    ufp[N - 1] = hash("<output>")
    for v in [*range(n - 1, -1, -1), *range(n, N - 1)]:  # ops from the last, then the inputs
        ufp[v] = hash(frozenset((s, o, plabel[u], ufp[u]) for s, o, u in users[v]))
    return GraphSide(
        cg=cg,
        n_ops=n,
        n_inputs=m,
        nid=nid,
        operands=operands,
        users=users,
        label=label,
        plabel=plabel,
        target=target,
        fp=fp,
        depth=depth,
        ufp=ufp,
        input_keys=input_keys,
        input_specs=input_specs,
        output_keys=output_keys,
        _subs=subs,
    )


def output_spec_keys(
    out_specs: list[dict[str, Any]],
    in_specs: list[dict[str, Any]],
    in_keys: list[Any],
    value_names: Mapping[str, str],
) -> list[Any]:
    """Alignment key of each canonical output spec: user outputs by position, mutations by kind and FQN.

    A user-input mutation is keyed by the key of the input it names.

    Examples
    --------
    >>> ins = [{"parameter": {"arg": {"name": "w"}, "parameter_name": "fc.weight"}},
    ...        {"buffer": {"arg": {"name": "n"}, "buffer_name": "bn.num_batches_tracked", "persistent": True}},
    ...        {"user_input": {"arg": {"as_tensor": {"name": "x"}}}}]
    >>> outs = [{"buffer_mutation": {"arg": {"as_tensor": {"name": "add"}}, "buffer_name": "bn.num_batches_tracked"}},
    ...         {"user_input_mutation": {"arg": {"as_tensor": {"name": "copy"}}, "user_input_name": "x"}},
    ...         {"user_output": {"arg": {"as_tensor": {"name": "y"}}}}]
    >>> keys = [("parameter", "fc.weight"), ("buffer", "bn.num_batches_tracked"), ("user", 0)]
    >>> output_spec_keys(outs, ins, keys, {})
    [('buffer_mutation', 'bn.num_batches_tracked'), ('user_input_mutation', ('user', 0)), ('user', 0)]
    """
    by_value: dict[str, Any] = {}
    for spec, key in zip(in_specs, in_keys):
        _, body = spec_view(spec)
        arg = body.get("arg")
        if isinstance(arg, Mapping):
            inner = arg if "name" in arg else next(iter(arg.values()), None)
            if isinstance(inner, Mapping) and isinstance(inner.get("name"), str):
                by_value[inner["name"]] = key
    keys: list[Any] = []
    counts: Counter[str] = Counter()
    for spec in out_specs:
        tag, body = spec_view(spec)
        group = _POSITIONAL_OUT.get(tag)
        if group is not None:
            keys.append((group, counts[group]))
            counts[group] += 1
        elif tag in ("user_input_mutation", "gradient_to_user_input"):
            name = body.get("user_input_name", "")
            keys.append((tag, by_value.get(value_names.get(name, name), by_value.get(name, name))))
        else:
            keys.append((tag, body.get(FQN_FIELD.get(tag, ""), "")))
    return keys


def program_side(canon: CanonicalProgram, labels: dict[bytes, int]) -> GraphSide:
    """The top-level graph of a program, inputs and outputs keyed by the signature.

    ``labels`` interns node labels; the two sides of one alignment share it.

    Examples
    --------
    >>> import pt2canon
    >>> labels = {}
    >>> a = program_side(pt2canon.canonicalize("examples/mlp_v1.pt2"), labels)
    >>> b = program_side(pt2canon.canonicalize("examples/mlp_v2.pt2"), labels)
    >>> a.input_keys == b.input_keys, a.output_spec_keys, b.n_ops - a.n_ops
    (True, [('user', 0)], 1)
    >>> a.label[0] == b.label[0]  # both first ops are fc1's linear: one interned label
    True
    """
    in_order, out_order = canon.graph.input_order, canon.graph.output_order
    csig = canon.doc["graph_module"]["signature"]
    cin, cout = csig["input_specs"], csig["output_specs"]
    in_keys = _input_keys(cin)
    okeys = output_spec_keys(cout, cin, in_keys, canon.graph.value_names)
    out_keys = {orig: okeys[j] for j, orig in enumerate(out_order)}
    side = _build_side(canon.graph, list(in_order), in_keys, out_keys, labels, input_specs=cin)
    side.output_specs = cout
    side.output_spec_keys = okeys
    return side


def subgraph_side(cg: CanonicalGraph, labels: dict[bytes, int], input_keys: list[Any] | None = None) -> GraphSide:
    """A subgraph, inputs keyed by ``input_keys`` (default: by position) and outputs by position.

    Examples
    --------
    Any canonical graph will do; here ``mlp_v1``'s top-level graph, whose
    parameters are then keyed by position, not by FQN:

    >>> import pt2canon
    >>> side = subgraph_side(pt2canon.canonicalize("examples/mlp_v1.pt2").graph, {})
    >>> side.input_keys[:2], side.output_keys, side.input_specs is None
    ([('in', 0), ('in', 1)], {0: ('out', 0)}, True)
    """
    G = cg.model
    inputs = [x for x, k in G.nodes(data="kind") if k == "input"]
    outs = G.nodes[G.graph["output"]]["args"]
    keys = input_keys if input_keys is not None else [("in", j) for j in range(len(inputs))]
    return _build_side(cg, inputs, keys, {i: ("out", i) for i in range(len(outs))}, labels)
