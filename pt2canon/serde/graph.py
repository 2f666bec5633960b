"""The graph model: a serialized torch ``Graph`` as a ``networkx.MultiDiGraph``.

:func:`to_networkx` turns the JSON of a serialized graph into a DAG and
:func:`from_networkx` turns it back; the round trip gives an equal document.

Nodes
    One per graph input (``kind="input"``), one per op node (``kind="op"``)
    and one output node (``kind="output"``). Node ids are ints: inputs first,
    then ops, then the output, each block in document order; ``index`` is the
    position within the block.

Node attributes
    ``kind``, ``index``;
    ``values``: the values the node defines, a tuple of :class:`Value`
    (``slot`` says where in the node's ``outputs`` (or input argument) the
    name stands, ``meta`` is its ``TensorMeta``/``SymInt``/... entry);
    for ops: ``target``, ``name``, ``args`` (the ``inputs`` list with every
    value reference blanked to ``None``: the constant arguments and the
    shape of each argument), ``outputs`` (the outputs template, names
    blanked), ``metadata``, ``subgraphs`` (``{input_index: MultiDiGraph}``
    for ``as_graph`` arguments), ``extra`` (unknown keys, kept verbatim);
    ``args`` entries may be shared between nodes (one per argument name
    and kind for a plain tensor argument): read them, never edit them;
    for inputs: ``arg`` (the ``Argument`` template); for the output: ``args``.

Edges
    One per use, from producer to consumer: a node that uses ``x`` twice has
    two edges. The edge key is ``(input_index, argument_name, path)`` where
    ``path`` locates the reference inside the argument
    (``("as_tensors", 2)``). Edge attributes: ``value`` (the name used),
    ``slot`` (which of the producer's values, as its ``Value.slot``), ``out``
    (the same as an index into the producer's ``values``), ``vkind``,
    ``field``. The attribute dict depends only on the value used, so all
    the uses of one value share one dict (one per value, not per edge):
    read it, never edit it.

Value references are found by union tag (:data:`pt2canon.serde.tags.REF_KINDS`): tensors,
optional tensors, tensor lists, nested tensor lists, sym ints/floats/bools
by name, custom objects and tokens. ``as_graph`` arguments are subgraphs,
recursively converted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, NamedTuple

import networkx as nx

from pt2canon._compiled import enabled
from pt2canon.errors import GraphError
from pt2canon.serde.tags import REF_KINDS, VALUE_TABLES, Path, iter_refs

__all__ = [
    "REF_KINDS",
    "VALUE_TABLES",
    "Value",
    "from_networkx",
    "iter_refs",
    "op_nodes",
    "set_at",
    "to_networkx",
]

_GRAPH_KNOWN = frozenset({"inputs", "outputs", "nodes", *VALUE_TABLES.values()})
_NODE_KNOWN = frozenset({"target", "inputs", "outputs", "metadata", "name", "is_hop_single_tensor_return"})


class _Missing:
    """Marks a node field that the document does not have (kept absent on output)."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


class Value(NamedTuple):
    """A value a node defines: where its name stands, the name, kind and metadata.

    Examples
    --------
    The values of a node are in its ``values`` attribute; ``meta`` is the
    value's entry in the graph's table of its kind (here ``tensor_values``):

    >>> g = {"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [{"as_tensor": {"name": "y"}}],
    ...      "nodes": [{"target": "torch.ops.aten.neg.default", "name": "y",
    ...                 "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}}],
    ...                 "outputs": [{"as_tensor": {"name": "y"}}]}],
    ...      "tensor_values": {"x": {"dtype": 7}, "y": {"dtype": 7}}}
    >>> (v,) = to_networkx(g).nodes[1]["values"]
    >>> v
    Value(slot=(0, ('as_tensor',), 'name'), name='y', kind='tensor', meta={'dtype': 7})
    >>> v.slot[0]  # the node's first output
    0
    """

    slot: tuple[Any, ...]
    name: str
    kind: str
    meta: Any


def set_at(arg: dict[str, Any], edits: Iterable[tuple[Path, str, Any]]) -> dict[str, Any]:
    """A copy of ``arg`` with ``obj_at(path)[field] = value`` for each ``(path, field, value)``.

    Copy on write: only the dicts and lists on the way to an edited field
    are copied; everything else is shared with ``arg``, which is left as it
    was.

    Examples
    --------
    >>> arg = {"as_sym_ints": [{"as_int": 4}, {"as_name": "s0"}]}
    >>> new = set_at(arg, [(("as_sym_ints", 1), "as_name", "s9")])
    >>> new, arg["as_sym_ints"][1], new["as_sym_ints"][0] is arg["as_sym_ints"][0]
    ({'as_sym_ints': [{'as_int': 4}, {'as_name': 's9'}]}, {'as_name': 's0'}, True)
    """
    out = dict(arg)
    copied = {id(out)}
    for path, fld, value in edits:
        obj: Any = out
        for p in path:
            child = obj[p]
            if id(child) not in copied:
                child = dict(child) if type(child) is dict else list(child)
                copied.add(id(child))
                obj[p] = child
            obj = child
        obj[fld] = value
    return out


_SIMPLE = {
    ("as_tensor",): ("as_tensor", "name"),
    ("as_token",): ("as_token", "name"),
    ("as_sym_int",): ("as_sym_int", "as_name"),
    ("as_sym_float",): ("as_sym_float", "as_name"),
    ("as_sym_bool",): ("as_sym_bool", "as_name"),
}
# Shared blank templates for the common one-reference arguments. Never mutated:
# _fill builds a new dict for them.
_SIMPLE_BLANK = {tag: {tag: {fld: None}} for tag, fld in _SIMPLE.values()}
_BLANK_TENSOR = _SIMPLE_BLANK["as_tensor"]


def _blank(arg: dict[str, Any], refs: list[tuple[Path, str, str, str]]) -> dict[str, Any]:
    """A copy of ``arg`` with every referenced name set to ``None``."""
    if not refs:
        return arg
    if len(refs) == 1 and len(arg) == 1:
        simple = _SIMPLE.get(refs[0][0])
        if simple is not None and len(arg[simple[0]]) == 1:
            return _SIMPLE_BLANK[simple[0]]
    return set_at(arg, [(path, fld, None) for path, fld, _, _ in refs])


def _fill(template: dict[str, Any], names: dict[tuple[Path, str], str]) -> dict[str, Any]:
    if not names:
        return template
    if len(names) == 1:
        ((path, fld), name) = next(iter(names.items()))
        simple = _SIMPLE.get(path)
        if simple is not None and template is _SIMPLE_BLANK[simple[0]]:
            return {simple[0]: {fld: name}}
    return set_at(template, [(path, fld, name) for (path, fld), name in names.items()])


def op_nodes(G: nx.MultiDiGraph) -> list[int]:
    """Op node ids in document order.

    Examples
    --------
    Ids run inputs, ops, output: one input and two ops give ops 1 and 2
    (and the output 3).

    >>> op = lambda name, src: {"target": "torch.ops.aten.neg.default", "name": name,
    ...                         "inputs": [{"name": "self", "arg": {"as_tensor": {"name": src}}}],
    ...                         "outputs": [{"as_tensor": {"name": name}}]}
    >>> G = to_networkx({"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [{"as_tensor": {"name": "b"}}],
    ...                  "nodes": [op("a", "x"), op("b", "a")]})
    >>> op_nodes(G), G.graph["output"]
    ([1, 2], 3)
    """
    return [n for n, a in G._node.items() if a["kind"] == "op"]


_AS_TENSOR = ("as_tensor",)
# Slots of a node's k-th output when it is a plain ``as_tensor`` (shared, never mutated).
_TENSOR_SLOTS: list[tuple[Any, ...]] = []


def _tensor_slot(k: int) -> tuple[Any, ...]:
    while len(_TENSOR_SLOTS) <= k:
        _TENSOR_SLOTS.append((len(_TENSOR_SLOTS), _AS_TENSOR, "name"))
    return _TENSOR_SLOTS[k]


def _edge_data(name: str, slot: Path, out: int, kind: str, fld: str) -> dict[str, Any]:
    """The attributes of every edge that uses value ``name``: one dict per value, shared by its uses."""
    return {"value": name, "slot": slot, "out": out, "vkind": kind, "field": fld}


def _use_data(d: tuple[int, Path, str, int, dict[str, Any]], name: str, kind: str, fld: str) -> dict[str, Any]:
    """The edge data of a use of ``kind`` under ``fld``: the value's shared dict if they are the definition's."""
    data = d[4]
    if data["vkind"] == kind and data["field"] == fld:
        return data
    return _edge_data(name, d[1], d[3], kind, fld)  # a reference of another kind than its definition


def _plain_tensor(arg: dict[str, Any]) -> str | None:
    """The name of a plain ``{"as_tensor": {"name": ...}}`` argument, else ``None``."""
    t = arg.get("as_tensor")
    if t is not None and len(arg) == 1 and len(t) == 1:
        return t["name"]  # type: ignore[no-any-return]
    return None


class _Builder:
    """One pass over a shape-checked graph: node attributes, value definitions, edges.

    The common arguments (a plain ``as_tensor`` reference, or a constant)
    take an inlined path; everything else goes through :func:`iter_refs`.
    """

    def __init__(self, graph: dict[str, Any], where: str):
        self.graph = graph
        self.where = where
        self.G = nx.MultiDiGraph()
        #: value name -> (node id, slot, kind, index in the node's values, edge data of its uses)
        self.defs: dict[str, tuple[int, Path, str, int, dict[str, Any]]] = {}
        self.tables = {k: graph.get(t) or {} for k, t in VALUE_TABLES.items()}
        #: per kind, how many defined values have an entry in its table (all of them: no orphans)
        self.found = dict.fromkeys(VALUE_TABLES, 0)
        #: tensors defined as plain op outputs that have a ``tensor_values`` entry (counted apart)
        self.tensors_found = 0
        #: the template of a plain tensor argument depends on its name and kind only: one dict
        #: each, shared by every node (the templates are read, never edited)
        self.tensor_templates: dict[tuple[Any, int], dict[str, Any]] = {}
        self.base = 0
        #: converts a subgraph: ``sub(graph, where)`` (set by :meth:`build`)
        self.sub: Callable[[dict[str, Any], str], nx.MultiDiGraph] = lambda sg, w: to_networkx(sg, where=w)

    def _label(self, j: int | None) -> str:
        if j is None:
            return "graph output"
        n = self.graph["nodes"][j]
        return f"node {j} ({n.get('name') or n['target']})"

    def define(
        self, node: int, label: Callable[[], str], arg: dict[str, Any], slot_prefix: Path, first: int = 0
    ) -> tuple[dict[str, Any], list[Value]]:
        """Register the values ``arg`` defines; ``first`` is the node's count of values so far."""
        refs = list(iter_refs(arg))
        values: list[Value] = []
        defs, tables = self.defs, self.tables
        for path, fld, name, kind in refs:
            if name in defs:
                raise GraphError(f"value {name!r} is defined twice (again by {label()})", where=self.where)
            slot = (*slot_prefix, path, fld)
            out = first + len(values)
            defs[name] = (node, slot, kind, out, _edge_data(name, slot, out, kind, fld))
            table = tables.get(kind)
            meta = table.get(name) if table is not None else None
            if meta is not None:
                self.found[kind] += 1
            values.append(Value(slot, name, kind, meta))
        return _blank(arg, refs), values

    def _dangling(self, name: str, position: int, j: int | None, argname: str, index: int) -> GraphError:
        later = any(name == r[2] for n in self.graph["nodes"][position:] for o in n["outputs"] for r in iter_refs(o))
        why = (
            "which a later node defines (the graph is not in topological order, or has a cycle)"
            if later
            else "which no graph input or earlier node defines"
        )
        return GraphError(
            f"{self._label(j)} argument {argname or index!r} refers to value {name!r}, {why}", where=self.where
        )

    def use(self, node: int, j: int | None, index: int, argname: str, arg: dict[str, Any], position: int) -> Any:
        """Record the edges of one argument; return its template (references blanked)."""
        defs, edge = self.defs, self.edge
        name = _plain_tensor(arg)
        if name is not None:
            d = defs.get(name)
            if d is None:
                raise self._dangling(name, position, j, argname, index)
            edge(d[0], node, (index, argname, _AS_TENSOR), _use_data(d, name, "tensor", "name"))
            return _SIMPLE_BLANK["as_tensor"]
        if len(arg) == 1 and next(iter(arg)) not in REF_KINDS:
            return arg  # a constant
        refs = list(iter_refs(arg))
        for path, fld, name, kind in refs:
            d = defs.get(name)
            if d is None:
                raise self._dangling(name, position, j, argname, index)
            edge(d[0], node, (index, argname, path), _use_data(d, name, kind, fld))
        return _blank(arg, refs)

    def edge(self, u: int, v: int, key: tuple[int, str, Path], data: dict[str, Any]) -> None:
        """Add edge ``u -> v`` as ``MultiDiGraph.add_edge`` would, for nodes that exist and a new key.

        One key dict per ``(u, v)``, shared by ``_succ[u][v]`` and ``_pred[v][u]``.
        """
        G = self.G
        keydict = G._succ[u].get(v)
        if keydict is None:
            keydict = G._succ[u][v] = G._pred[v][u] = {}
        keydict[key] = data

    def op(self, j: int, n: dict[str, Any]) -> None:
        """Add op node ``j`` (``n``, its JSON): its attributes, the values it defines, the edges into it.

        The compiled ``ops()`` (``pt2canon/serde/_builder.c``) does the same,
        statement by statement, for every node whose containers are plain
        dicts and lists, and calls this method for any other node.
        """
        G, defs = self.G, self.defs
        succ = G._succ
        nid = self.base + j
        succ[nid] = {}
        preds: dict[int, dict[Any, Any]] = {}
        G._pred[nid] = preds  # before the edges into it
        args: list[dict[str, Any]] = []
        subgraphs: dict[int, nx.MultiDiGraph] = {}
        for i, na in enumerate(n["inputs"]):
            arg = na["arg"]
            if "as_graph" in arg:
                args.append(self.graph_arg(j, i, na, subgraphs))
                continue
            t = arg.get("as_tensor")
            if t is not None and len(arg) == 1 and len(t) == 1 and t["name"] in defs:
                # inlined use() of the commonest argument, a plain tensor
                name = t["name"]
                d = defs[name]
                keydict = preds.get(d[0])
                if keydict is None:
                    keydict = succ[d[0]][nid] = preds[d[0]] = {}
                argname = na["name"]
                keydict[(i, argname, _AS_TENSOR)] = d[4] if d[2] == "tensor" else _use_data(d, name, "tensor", "name")
                kind = na.get("kind")
                if type(kind) is int and len(na) == 3:  # {name, arg, kind}: one shared template
                    tk = (argname, kind)
                    shared = self.tensor_templates.get(tk)
                    if shared is None:
                        shared = self.tensor_templates[tk] = {**na, "arg": _BLANK_TENSOR}
                    args.append(shared)
                else:
                    args.append({**na, "arg": _BLANK_TENSOR})
                continue
            if t is None and arg.keys().isdisjoint(REF_KINDS):
                args.append(na)  # a constant: the template is the argument itself
                continue
            template = self.use(nid, j, i, na["name"], arg, j)
            args.append(na if template is arg else {**na, "arg": template})
        outs: list[dict[str, Any]] = []
        values: list[Value] = []
        for k, o in enumerate(n["outputs"]):
            t = o.get("as_tensor")
            name = t["name"] if t is not None and len(o) == 1 and len(t) == 1 else None
            if name is not None and name not in defs:
                slot = _tensor_slot(k)
                out_ = len(values)
                defs[name] = (nid, slot, "tensor", out_, _edge_data(name, slot, out_, "tensor", "name"))
                meta = self.tables["tensor"].get(name)
                if meta is not None:
                    self.tensors_found += 1
                values.append(Value(slot, name, "tensor", meta))
                outs.append(_BLANK_TENSOR)
                continue
            template, defined = self.output(j, k, o, len(values))
            outs.append(template)
            values.extend(defined)
        G._node[nid] = {
            "kind": "op",
            "index": j,
            "target": n["target"],
            "name": n.get("name", _MISSING),
            "args": args,
            "outputs": outs,
            "values": tuple(values),
            "metadata": n.get("metadata", _MISSING),
            "subgraphs": subgraphs,
            "extra": {} if n.keys() <= _NODE_KNOWN else {k: v for k, v in n.items() if k not in _NODE_KNOWN},
            "hop_single": n.get("is_hop_single_tensor_return", _MISSING),
        }

    def graph_arg(self, j: int, i: int, na: dict[str, Any], subgraphs: dict[int, nx.MultiDiGraph]) -> dict[str, Any]:
        """Op node ``j``'s ``as_graph`` argument ``i``: its graph model into ``subgraphs``; its template."""
        ga = na["arg"]["as_graph"]
        subgraphs[i] = self.sub(ga["graph"], f"{self.where}.nodes[{j}].inputs[{i}].arg.as_graph.graph")
        return {**na, "arg": {"as_graph": {**ga, "graph": None}}}

    def output(self, j: int, k: int, o: dict[str, Any], first: int) -> tuple[dict[str, Any], list[Value]]:
        """Op node ``j``'s output ``k`` that is not a plain new tensor: ``define()`` with its label."""

        def label() -> str:
            return self._label(j)

        return self.define(self.base + j, label, o, (k,), first)

    def build(self, sub: Callable[[dict[str, Any], str], nx.MultiDiGraph]) -> nx.MultiDiGraph:
        self.sub = sub
        g, G = self.graph, self.G
        inputs, nodes = g["inputs"], g["nodes"]
        defs = self.defs
        # Filled directly, as MultiDiGraph.add_node would (the graph is new).
        node_attrs, succ, pred = G._node, G._succ, G._pred
        G.graph["extra"] = {k: v for k, v in g.items() if k not in _GRAPH_KNOWN}
        for i, arg in enumerate(inputs):

            def input_label(i: int = i) -> str:
                return f"graph input {i}"

            template, defined = self.define(i, input_label, arg, ())
            node_attrs[i] = {"kind": "input", "index": i, "arg": template, "values": tuple(defined)}
            succ[i], pred[i] = {}, {}
        base = len(inputs)
        self.base = base
        if ENABLED and compiled is not None and type(self.tables["tensor"]) is dict and type(nodes) is list:
            # Not ``self.tensors_found += compiled.ops(...)``: that reads the count before the call, and
            # the nodes ops() hands to op() add to it during the call.
            found = compiled.ops(self, nodes, base, succ, pred, node_attrs, defs, self.tables["tensor"])
            self.tensors_found += found
        else:
            op = self.op
            for j, n in enumerate(nodes):
                op(j, n)
        out = base + len(nodes)
        succ[out], pred[out] = {}, {}
        node_attrs[out] = {
            "kind": "output",
            "index": 0,
            "args": [self.use(out, None, i, "", a, len(nodes)) for i, a in enumerate(g["outputs"])],
        }
        # Table entries no value of their kind defines (kept for an exact round trip); none
        # when every entry was found by a value of its kind (each value is defined once).
        self.found["tensor"] += self.tensors_found
        G.graph["orphans"] = {
            VALUE_TABLES[k]: (
                {}
                if self.found[k] == len(self.tables[k])
                else {n: m for n, m in self.tables[k].items() if n not in defs or defs[n][2] != k}
            )
            for k in VALUE_TABLES
        }
        G.graph["tables"] = [
            t
            for t in ("tensor_values", "sym_int_values", "sym_bool_values", "custom_obj_values", "sym_float_values")
            if t in g
        ]
        G.graph["output"] = out
        return G


#: The compiled op-node loop (``pt2canon/serde/_builder.c``: ``ops()``, :meth:`_Builder.op` for every
#: node), or None where it was not built or ``PT2CANON_COMPILED=0`` turns it off.
compiled: ModuleType | None
try:
    from pt2canon.serde import _builder
except ImportError:  # not built (no C compiler at install time): _Builder.op() builds every node
    compiled = None
else:  # the constants and the functions that make values and edge data are this module's
    _builder.configure(
        _AS_TENSOR,
        _BLANK_TENSOR,
        _MISSING,
        _NODE_KNOWN,
        frozenset(REF_KINDS),
        _tensor_slot,
        _edge_data,
        _use_data,
        Value,
    )
    compiled = _builder

#: Whether the compiled extension was built and imports.
AVAILABLE: bool = compiled is not None
#: Whether :func:`to_networkx` calls it: available, and ``PT2CANON_COMPILED`` is not ``0`` (read
#: on each call: setting it false here selects the Python path, the reference).
ENABLED: bool = enabled(AVAILABLE)


def to_networkx(graph: dict[str, Any], *, where: str = "graph") -> nx.MultiDiGraph:
    """Convert a serialized ``Graph`` (parsed JSON) to a ``MultiDiGraph``.

    Parameters
    ----------
    graph : dict
        ``program["graph_module"]["graph"]``, already shape-checked by
        :func:`pt2canon.serde.schema.check_program`.
    where : str
        JSON path used in error messages.

    Raises
    ------
    GraphError
        On a dangling reference, a value defined twice, or a use before the
        definition (which is how a cycle shows in a node list).

    Examples
    --------
    >>> g = {"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [{"as_tensor": {"name": "y"}}],
    ...      "nodes": [{"target": "torch.ops.aten.add.Tensor", "metadata": {}, "name": "y",
    ...                 "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}},
    ...                            {"name": "other", "arg": {"as_tensor": {"name": "x"}}}],
    ...                 "outputs": [{"as_tensor": {"name": "y"}}]}]}
    >>> G = to_networkx(g)
    >>> sorted(G.edges(keys=True))
    [(0, 1, (0, 'self', ('as_tensor',))), (0, 1, (1, 'other', ('as_tensor',))), (1, 2, (0, '', ('as_tensor',)))]
    >>> from_networkx(G) == g
    True
    """
    return _Builder(graph, where).build(lambda sg, w: to_networkx(sg, where=w))


def from_networkx(
    G: nx.MultiDiGraph,
    *,
    order: list[int] | None = None,
    rename: Callable[[int, Value], str] | None = None,
    input_order: list[int] | None = None,
) -> dict[str, Any]:
    """Convert a graph made by :func:`to_networkx` back to serialized JSON.

    Parameters
    ----------
    order : list of int, optional
        Op node ids in the order to write them (default: document order).
    rename : callable, optional
        ``rename(node_id, value) -> new_name`` for every defined value
        (default: keep names).
    input_order : list of int, optional
        Input node ids in the order to write them (default: document order).

    Examples
    --------
    Two independent ops, written in the other order with every value
    renamed after its node id (references follow the rename; the nodes'
    own ``name`` fields are left as they are):

    >>> op = lambda target, name: {"target": target, "name": name,
    ...                            "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}}],
    ...                            "outputs": [{"as_tensor": {"name": name}}]}
    >>> g = {"inputs": [{"as_tensor": {"name": "x"}}],
    ...      "outputs": [{"as_tensor": {"name": "a"}}, {"as_tensor": {"name": "b"}}],
    ...      "nodes": [op("torch.ops.aten.neg.default", "a"), op("torch.ops.aten.relu.default", "b")]}
    >>> G = to_networkx(g)
    >>> from_networkx(G) == g
    True
    >>> doc = from_networkx(G, order=[2, 1], rename=lambda nid, v: f"v{nid}")
    >>> [(n["target"], n["inputs"][0]["arg"], n["outputs"]) for n in doc["nodes"]]  # doctest: +NORMALIZE_WHITESPACE
    [('torch.ops.aten.relu.default', {'as_tensor': {'name': 'v0'}}, [{'as_tensor': {'name': 'v2'}}]),
     ('torch.ops.aten.neg.default', {'as_tensor': {'name': 'v0'}}, [{'as_tensor': {'name': 'v1'}}])]
    >>> doc["outputs"]
    [{'as_tensor': {'name': 'v1'}}, {'as_tensor': {'name': 'v2'}}]
    """
    names: dict[tuple[int, Path], str] = {}
    tables: dict[str, dict[str, Any]] = {t: {} for t in VALUE_TABLES.values()}
    nodes_attr = G._node
    pred = G._pred

    def defined(nid: int, template: Any, prefix: Path) -> dict[str, Any]:
        fills = {}
        for v in nodes_attr[nid]["values"]:
            if v.slot[: len(prefix)] != prefix:
                continue
            new = rename(nid, v) if rename else v.name
            names[(nid, v.slot)] = new
            fills[(v.slot[len(prefix)], v.slot[len(prefix) + 1])] = new
            if v.meta is not None and v.kind in VALUE_TABLES:
                tables[VALUE_TABLES[v.kind]][new] = v.meta
        return _fill(template, fills)

    def used(nid: int) -> dict[int, dict[tuple[Path, str], str]]:
        by_index: dict[int, dict[tuple[Path, str], str]] = {}
        for u, keyed in pred[nid].items():
            for key, d in keyed.items():
                by_index.setdefault(key[0], {})[(key[2], d["field"])] = names[(u, d["slot"])]
        return by_index

    if input_order is None:
        input_order = [nid for nid, a in nodes_attr.items() if a["kind"] == "input"]
    inputs = [defined(nid, nodes_attr[nid]["arg"], ()) for nid in input_order]
    ops = order if order is not None else op_nodes(G)
    out_nodes = []
    for nid in ops:
        a = nodes_attr[nid]
        refs = used(nid)
        node_inputs = []
        for i, na in enumerate(a["args"]):
            if i in a["subgraphs"]:
                arg = {"as_graph": {**na["arg"]["as_graph"], "graph": from_networkx(a["subgraphs"][i])}}
            else:
                arg = _fill(na["arg"], refs.get(i, {}))
            node_inputs.append({**na, "arg": arg})
        outputs = [defined(nid, t, (k,)) for k, t in enumerate(a["outputs"])]
        node: dict[str, Any] = {"target": a["target"], "inputs": node_inputs, "outputs": outputs}
        for key, attr in (("metadata", "metadata"), ("is_hop_single_tensor_return", "hop_single"), ("name", "name")):
            if a[attr] is not _MISSING:
                node[key] = a[attr]
        node.update(a["extra"])
        out_nodes.append(node)
    out = G.graph["output"]
    refs = used(out)
    outputs = [_fill(t, refs.get(i, {})) for i, t in enumerate(nodes_attr[out]["args"])]
    doc: dict[str, Any] = {"inputs": inputs, "outputs": outputs, "nodes": out_nodes}
    for t in G.graph["tables"]:
        doc[t] = {**tables[t], **G.graph["orphans"][t]}
    doc.update(G.graph["extra"])
    return doc
