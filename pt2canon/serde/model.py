"""Typed access to the graph model, and :func:`lint`, which checks its invariants.

:mod:`pt2canon.serde.graph` builds the model (a ``networkx.MultiDiGraph``
whose nodes carry attribute dicts); this module is how the rest of the
package reads it. :class:`GraphNode` is a view of one node with the fields
documented in :mod:`pt2canon.serde.graph` as attributes, plus, as in
``torch.fx.Node``, the nodes it reads (:attr:`GraphNode.all_input_nodes`)
and the nodes that read it (:attr:`GraphNode.users`). The hot loops of
:mod:`pt2canon.serde.graph` and :mod:`pt2canon.canon.order` read the
attribute dicts directly; nothing else needs to.

:func:`lint` checks what every stage relies on and names the node, the rule
broken and the fix, the way ``torch.fx.Graph.lint`` does.

Examples
--------
>>> from pt2canon.serde.graph import to_networkx
>>> g = {"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [{"as_tensor": {"name": "y"}}],
...      "nodes": [{"target": "torch.ops.aten.neg.default", "metadata": {}, "name": "y",
...                 "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}}],
...                 "outputs": [{"as_tensor": {"name": "y"}}]}]}
>>> G = to_networkx(g)
>>> [str(n) for n in nodes(G)]
['%x = input[0]', '%y = torch.ops.aten.neg.default(%x)', 'output(%y)']
>>> node(G, 1).all_input_nodes, node(G, 1).users
([0], [2])
>>> lint(G)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from pt2canon.errors import GraphError

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

    from pt2canon.serde.graph import Value

__all__ = [
    "Adjacency",
    "EdgeKey",
    "GraphNode",
    "NodeAttrs",
    "Use",
    "in_uses",
    "lint",
    "node",
    "node_attrs",
    "nodes",
    "out_uses",
    "output_node",
]

Kind = Literal["input", "op", "output"]


class NodeAttrs(TypedDict, total=False):
    """The attribute dict of one node of the graph model (the fields :mod:`pt2canon.serde.graph` documents).

    Every node has ``kind``, ``index`` and ``values``; ops have ``target``,
    ``name``, ``args``, ``outputs``, ``metadata``, ``subgraphs`` and
    ``extra``; inputs have ``arg``; the output node has ``args``. The dict
    is the model's own: read it, never edit it.

    Examples
    --------
    The bundled MLP's first op (node 7: the seven inputs come first); the
    names of the values it reads are on its edges, not in ``args``:

    >>> from pt2canon.serde.archive import read_artifact
    >>> from pt2canon.serde.graph import to_networkx
    >>> with read_artifact("examples/mlp_v1.pt2") as art:
    ...     G = to_networkx(art.model.program["graph_module"]["graph"])
    >>> attrs = node_attrs(G)
    >>> attrs[7]["kind"], attrs[7]["target"], attrs[7]["args"][0]
    ('op', 'torch.ops.aten.linear.default', {'name': 'input', 'arg': {'as_tensor': {'name': None}}, 'kind': 1})
    >>> attrs[0]["kind"], attrs[0]["index"], [v.name for v in attrs[0]["values"]]
    ('input', 0, ['p_fc1_weight'])
    """

    kind: Kind
    index: int
    values: tuple[Value, ...]
    target: str
    name: Any
    args: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    metadata: Any
    subgraphs: dict[int, nx.MultiDiGraph]
    extra: dict[str, Any]
    arg: dict[str, Any]


class Use(TypedDict):
    """The attributes of an edge: one use of a value (shared by every use of that value: never edit it).

    ``value`` is the name used, ``slot`` where the producer defines it (its
    ``Value.slot``), ``out`` its index in the producer's ``values``,
    ``vkind`` its kind (``"tensor"``, ``"sym_int"``, ...), ``field`` the key
    that holds the name in the argument (``"name"`` or ``"as_name"``).

    Examples
    --------
    The second op of the bundled MLP (node 8, a ReLU) reads the first's
    (node 7) only value at its ``self`` argument:

    >>> from pt2canon.serde.archive import read_artifact
    >>> from pt2canon.serde.graph import to_networkx
    >>> with read_artifact("examples/mlp_v1.pt2") as art:
    ...     G = to_networkx(art.model.program["graph_module"]["graph"])
    >>> ((key, use),) = in_uses(G)[8][7].items()
    >>> key, use["value"], use["out"], use["vkind"]
    ((0, 'self', ('as_tensor',)), 'linear', 0, 'tensor')
    """

    value: str
    slot: tuple[Any, ...]
    out: int
    vkind: str
    field: str


EdgeKey = tuple[int, Any, tuple[Any, ...]]
"""An edge's key: ``(input index, argument name, path of the reference inside the argument)``."""

Adjacency = Mapping[int, Mapping[int, Mapping[EdgeKey, Use]]]
"""``{node: {neighbour: {edge key: use}}}``: the uses between each pair of nodes."""


def node_attrs(G: nx.MultiDiGraph) -> Mapping[int, NodeAttrs]:
    """The attribute dict of every node by id: the model's own dicts, for loops over many nodes.

    Reading a field is a dict lookup, as fast as networkx's internals; the
    typed :class:`NodeAttrs` names the fields, so a misspelt one fails type
    checking. Use :func:`node` for a view with documented attributes.

    Examples
    --------
    >>> from pt2canon.serde.graph import to_networkx
    >>> G = to_networkx({"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [], "nodes": []})
    >>> attrs = node_attrs(G)
    >>> attrs[0]["kind"], [v.name for v in attrs[0]["values"]], attrs[1]["kind"]
    ('input', ['x'], 'output')
    """
    return G._node  # type: ignore[no-any-return]


def in_uses(G: nx.MultiDiGraph) -> Adjacency:
    """``{node: {producer: {edge key: use}}}``: what each node reads, from which node, in which argument.

    The model's own adjacency (networkx's ``G.pred`` without its view
    objects), for loops over many nodes; :attr:`GraphNode.all_input_nodes`
    is the one-node form.

    Examples
    --------
    >>> from pt2canon.serde.graph import to_networkx
    >>> G = to_networkx({"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [{"as_tensor": {"name": "y"}}],
    ...     "nodes": [{"target": "torch.ops.aten.mul.Tensor", "metadata": {}, "outputs": [{"as_tensor": {"name": "y"}}],
    ...                "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}},
    ...                           {"name": "other", "arg": {"as_tensor": {"name": "x"}}}]}]})
    >>> sorted((key[1], use["value"]) for key, use in in_uses(G)[1][0].items())  # mul(x, x) reads x twice
    [('other', 'x'), ('self', 'x')]
    """
    return G._pred  # type: ignore[no-any-return]


def out_uses(G: nx.MultiDiGraph) -> Adjacency:
    """``{node: {user: {edge key: use}}}``: who reads each node's values (networkx's ``G.succ``).

    Examples
    --------
    >>> from pt2canon.serde.graph import to_networkx
    >>> G = to_networkx({"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [{"as_tensor": {"name": "x"}}],
    ...                  "nodes": []})
    >>> list(out_uses(G)[0]), G.graph["output"]  # the input is read by the output node only
    ([1], 1)
    """
    return G._succ  # type: ignore[no-any-return]


class GraphNode:
    """A view of node ``id`` of a graph model ``G`` (reads through to ``G``; nothing is copied).

    Attributes
    ----------
    id : int
        The node id (inputs first, then ops, then the output, in document order).
    kind : {"input", "op", "output"}
    index : int
        Position within its block (the op's index in ``graph.nodes``).
    values : tuple of Value
        The values it defines (an op's outputs, an input's value; none for the output).

    Examples
    --------
    Views come from :func:`node`, :func:`nodes` and :func:`output_node`:

    >>> from pt2canon.serde.graph import to_networkx
    >>> G = to_networkx({"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [{"as_tensor": {"name": "y"}}],
    ...                  "nodes": [{"target": "torch.ops.aten.neg.default", "name": "y",
    ...                             "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}}],
    ...                             "outputs": [{"as_tensor": {"name": "y"}}]}]})
    >>> n = node(G, 1)
    >>> n
    GraphNode(%y = torch.ops.aten.neg.default(%x))
    >>> n.kind, n.index, n.target, n.name, [v.name for v in n.values]
    ('op', 0, 'torch.ops.aten.neg.default', 'y', ['y'])
    >>> n.args  # the reference to x is blanked: the edge from node 0 holds it
    [{'name': 'self', 'arg': {'as_tensor': {'name': None}}}]
    """

    __slots__ = ("G", "id")

    def __init__(self, G: nx.MultiDiGraph, id: int) -> None:
        self.G = G
        self.id = id

    @property
    def _attrs(self) -> dict[str, Any]:
        return self.G._node[self.id]  # type: ignore[no-any-return]

    @property
    def kind(self) -> Kind:
        return self._attrs["kind"]  # type: ignore[no-any-return]

    @property
    def index(self) -> int:
        return self._attrs["index"]  # type: ignore[no-any-return]

    @property
    def values(self) -> tuple[Value, ...]:
        return self._attrs.get("values", ())  # type: ignore[no-any-return]

    @property
    def target(self) -> str | None:
        """The op's target (``torch.ops.aten.add.Tensor``); ``None`` for inputs and the output."""
        return self._attrs.get("target")

    @property
    def name(self) -> str | None:
        """The op node's ``name`` field, ``None`` where the document has none."""
        name = self._attrs.get("name")
        return name if isinstance(name, str) else None

    @property
    def metadata(self) -> dict[str, Any]:
        """The op's node metadata (empty where the document has none)."""
        meta = self._attrs.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def args(self) -> list[dict[str, Any]]:
        """Argument templates (value references blanked); for the output node, its output arguments."""
        return self._attrs.get("args", [])  # type: ignore[no-any-return]

    @property
    def subgraphs(self) -> dict[int, nx.MultiDiGraph]:
        """``{input index: graph model}`` of the op's ``as_graph`` arguments."""
        return self._attrs.get("subgraphs", {})  # type: ignore[no-any-return]

    @property
    def all_input_nodes(self) -> list[int]:
        """The nodes whose values this node reads, each once, in order of first use."""
        uses = sorted((key, u) for u, keyed in self.G._pred[self.id].items() for key in keyed)
        return list(dict.fromkeys(u for _, u in uses))

    @property
    def users(self) -> list[int]:
        """The nodes that read one of this node's values, by id."""
        return sorted(self.G._succ[self.id])

    def __repr__(self) -> str:
        return f"GraphNode({self})"

    def __str__(self) -> str:
        """One line, ``%out = target(%a, %b)``, as torch.fx prints a node."""
        args = ", ".join(f"%{d['value']}" for _, d in sorted(_uses(self.G, self.id), key=lambda kd: kd[0]))
        outs = ", ".join(f"%{v.name}" for v in self.values)
        if self.kind == "input":
            return f"{outs} = input[{self.index}]"
        if self.kind == "output":
            return f"output({args})"
        return f"{outs or '_'} = {self.target}({args})"


def _uses(G: nx.MultiDiGraph, v: int) -> Iterator[tuple[Any, dict[str, Any]]]:
    for keyed in G._pred[v].values():
        yield from keyed.items()


def node(G: nx.MultiDiGraph, id: int) -> GraphNode:
    """The :class:`GraphNode` view of node ``id``.

    Raises
    ------
    GraphError
        If the graph has no node ``id``.

    Examples
    --------
    >>> from pt2canon.serde.graph import to_networkx
    >>> G = to_networkx({"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [{"as_tensor": {"name": "x"}}],
    ...                  "nodes": []})
    >>> node(G, 0)
    GraphNode(%x = input[0])
    >>> node(G, 5)
    Traceback (most recent call last):
    ...
    pt2canon.errors.GraphError: node id=5 is not in the graph (it has 2 nodes, ids 0..1)
    """
    if id not in G._node:
        raise GraphError(f"node id={id!r} is not in the graph (it has {len(G)} nodes, ids 0..{len(G) - 1})")
    return GraphNode(G, id)


def nodes(G: nx.MultiDiGraph, kind: Kind | None = None) -> Iterator[GraphNode]:
    """Views of every node (or every node of one ``kind``), in id order.

    Examples
    --------
    >>> from pt2canon.serde.graph import to_networkx
    >>> G = to_networkx({"inputs": [{"as_tensor": {"name": "x"}}, {"as_tensor": {"name": "w"}}],
    ...                  "outputs": [{"as_tensor": {"name": "y"}}],
    ...                  "nodes": [{"target": "torch.ops.aten.mul.Tensor", "name": "y",
    ...                             "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}},
    ...                                        {"name": "other", "arg": {"as_tensor": {"name": "w"}}}],
    ...                             "outputs": [{"as_tensor": {"name": "y"}}]}]})
    >>> [n.id for n in nodes(G)], [str(n) for n in nodes(G, "input")]
    ([0, 1, 2, 3], ['%x = input[0]', '%w = input[1]'])
    """
    for nid, attrs in G._node.items():
        if kind is None or attrs["kind"] == kind:
            yield GraphNode(G, nid)


def output_node(G: nx.MultiDiGraph) -> GraphNode:
    """The graph's output node.

    Examples
    --------
    >>> from pt2canon.serde.graph import to_networkx
    >>> G = to_networkx({"inputs": [{"as_tensor": {"name": "x"}}, {"as_tensor": {"name": "w"}}],
    ...                  "outputs": [{"as_tensor": {"name": "w"}}, {"as_tensor": {"name": "x"}}], "nodes": []})
    >>> out = output_node(G)
    >>> out, out.id, out.all_input_nodes
    (GraphNode(output(%w, %x)), 2, [1, 0])
    """
    return node(G, G.graph["output"])


def lint(G: nx.MultiDiGraph, *, where: str = "graph") -> None:
    """Check the invariants of a graph model; raise :class:`GraphError` naming the node, the rule and the fix.

    Rules: node ids run inputs, ops, output, in document order with
    ``index`` their position in the block; one output node, which
    ``G.graph["output"]`` names and nothing reads; every value defined once;
    every edge names a value its producer defines, at the slot it defines it
    in; every edge runs from an earlier node to a later one (so the graph
    is a DAG in document order); inputs read nothing. Subgraphs are checked
    the same way, with their JSON path.

    Raises
    ------
    GraphError
        On the first rule broken.

    Examples
    --------
    A graph made by :func:`~pt2canon.serde.graph.to_networkx` passes; one
    edited into a cycle (``a`` now also reads ``b``, which reads ``a``) does
    not:

    >>> from pt2canon.serde.graph import to_networkx
    >>> neg = lambda name, src: {"target": "torch.ops.aten.neg.default", "name": name,
    ...                          "inputs": [{"name": "self", "arg": {"as_tensor": {"name": src}}}],
    ...                          "outputs": [{"as_tensor": {"name": name}}]}
    >>> G = to_networkx({"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [{"as_tensor": {"name": "b"}}],
    ...                  "nodes": [neg("a", "x"), neg("b", "a")]})
    >>> lint(G)
    >>> uses_of_b = G.edges[2, 3, (0, "", ("as_tensor",))]
    >>> _ = G.add_edge(2, 1, key=(1, "other", ("as_tensor",)), **uses_of_b)
    >>> lint(G)
    Traceback (most recent call last):
    ...
    pt2canon.errors.GraphError: graph: node 1 (%a = torch.ops.aten.neg.default(%x, %b)): reads 'b' from node 2, which comes later (a cycle, or nodes out of topological order); move the producer first
    """
    order = {"input": 0, "op": 1, "output": 2}
    seen: dict[str, int] = {}
    last = (-1, -1)
    expected = {"input": 0, "op": 0, "output": 0}
    out = G.graph.get("output")
    for n in nodes(G):
        here = f"node {n.id} ({n})"
        if n.kind not in order:
            raise GraphError(f"{here}: kind={n.kind!r} is not input, op or output; rebuild the graph", where=where)
        if (order[n.kind], n.id) < last or n.index != expected[n.kind]:
            raise GraphError(
                f"{here}: out of order (ids run inputs, ops, output in document order, index {expected[n.kind]} "
                f"expected, got {n.index}); rebuild the graph with to_networkx",
                where=where,
            )
        expected[n.kind] += 1
        last = (order[n.kind], n.id)
        for v in n.values:
            if v.name in seen:
                raise GraphError(
                    f"{here}: defines value {v.name!r}, which node {seen[v.name]} defines already; rename one of them",
                    where=where,
                )
            seen[v.name] = n.id
        if n.kind == "input" and G._pred[n.id]:
            raise GraphError(
                f"{here}: a graph input reads node(s) {n.all_input_nodes}; remove those edges", where=where
            )
        for u, keyed in G._pred[n.id].items():
            for key, d in keyed.items():
                producer = G._node[u].get("values", ())
                k = d.get("out")
                if not isinstance(k, int) or not 0 <= k < len(producer) or producer[k].name != d.get("value"):
                    raise GraphError(
                        f"{here}: argument {key[1] or key[0]!r} reads {d.get('value')!r} from node {u}, which "
                        f"does not define it at out={k!r}; rebuild the edge from the producer's values",
                        where=where,
                    )
                if producer[k].slot != d.get("slot"):
                    raise GraphError(
                        f"{here}: argument {key[1] or key[0]!r} reads {d.get('value')!r} at slot {d.get('slot')!r}, "
                        f"but node {u} defines it at {producer[k].slot!r}; rebuild the edge",
                        where=where,
                    )
                if u >= n.id:
                    raise GraphError(
                        f"{here}: reads {d.get('value')!r} from node {u}, which comes later (a cycle, or nodes out "
                        "of topological order); move the producer first",
                        where=where,
                    )
        for i, sub in n.subgraphs.items():
            lint(sub, where=f"{where}.nodes[{n.index}].inputs[{i}].arg.as_graph.graph")
    if expected["output"] != 1 or out is None or G._node.get(out, {}).get("kind") != "output":
        raise GraphError(
            f"the graph has {expected['output']} output node(s) and graph['output']={out!r}; "
            "it needs exactly one, named by graph['output']",
            where=where,
        )
    if G._succ[out]:
        raise GraphError(f"node {out} (the output) is read by {sorted(G._succ[out])}; remove those edges", where=where)
