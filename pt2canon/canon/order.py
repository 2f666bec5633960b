"""Rank-based topological order of a graph's op nodes, with structural tie-breaks.

The canonical order is Kahn's algorithm over the DAG of
:mod:`pt2canon.serde.graph` plus the ordering edges of
:mod:`pt2canon.canon.effects`, choosing among ready nodes by the key::

    (latest input rank, input ranks in argument order, node label,
     ancestry digest, users digest, output metadata,
     ancestry and users digests with every node's output metadata,
     a last resort given by the caller)

* the *input ranks* are the canonical positions of the producers of a
  node's arguments (with the output slot), so the listing reads in
  data-flow order: a node comes as soon as what it reads is there;
  *deferred* inputs (the caller's parameters and buffers) have no rank
  until the first op that reads them is placed, and count as ``-1``;
* the *label* is the op target with its constant arguments and the shape
  of its argument lists (value references blanked, subgraphs by content
  digest): see :func:`node_label`;
* the *ancestry digest* is a Merkle hash over the node's label and the
  ancestry digests of its producers, slot by slot (from the inputs down);
* the *users digest* is a Merkle hash over the multiset of the node's
  uses: argument slot, user's ancestry digest and user's users digest
  (from the output back).

The label and the digests are computed lazily (:class:`Digests`): only
when the keys before them tie, which in real graphs is rare. No key ever
contains a node's original position. Two nodes whose keys are
equal compute the same function of the same values and are used alike, so
either may go first without changing the canonical form; ``heapq`` then
compares node ids only to keep its tuples ordered, and the test suite
proves on generated graphs that the choice does not change the output.
Cost: O((N + E) log N).
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import networkx as nx

from pt2canon._json import canonical_bytes
from pt2canon.serde.graph import REF_KINDS

__all__ = ["Digests", "ResidualTie", "canonical_order", "edge_key_bytes", "first_uses", "node_label", "skeleton_label"]


def _h(*parts: bytes) -> bytes:
    return hashlib.blake2b(b"\x1f".join(parts), digest_size=16).digest()


def node_label(attrs: Mapping[str, Any], subgraph_digests: Mapping[int, str]) -> bytes:
    """The structural label of an op node: target, constant arguments, argument shapes.

    Value references are blanked (they are edges); ``as_graph`` arguments
    are replaced by the digest of the subgraph's canonical form, so the
    label does not depend on any name.

    Examples
    --------
    The node of ``y = x * c``, read from graphs with other names and constants:

    >>> import json
    >>> from pt2canon.serde.graph import to_networkx
    >>> def mul(x, y, c):
    ...     ref = lambda name: {"as_tensor": {"name": name}}
    ...     G = to_networkx({"inputs": [ref(x)], "outputs": [ref(y)], "nodes": [
    ...         {"target": "torch.ops.aten.mul.Scalar", "name": y, "metadata": {}, "outputs": [ref(y)],
    ...          "inputs": [{"name": "self", "arg": ref(x), "kind": 1},
    ...                     {"name": "other", "arg": {"as_float": c}, "kind": 1}]}]})
    ...     return G.nodes[1]  # node 0 is the graph input
    >>> target, args, outputs = json.loads(node_label(mul("x", "y", 2.0), {}))
    >>> target, args
    ('torch.ops.aten.mul.Scalar', [['self', 1, {'as_tensor': {'name': None}}], ['other', 1, {'as_float': 2.0}]])
    >>> node_label(mul("x", "y", 2.0), {}) == node_label(mul("a", "b", 2.0), {})
    True
    >>> node_label(mul("x", "y", 2.0), {}) == node_label(mul("x", "y", 3.0), {})
    False
    """
    args = []
    for i, na in enumerate(attrs["args"]):
        if i in subgraph_digests:
            args.append([na.get("name"), na.get("kind"), {"as_graph": subgraph_digests[i]}])
        else:
            args.append([na.get("name"), na.get("kind"), na["arg"]])
    return canonical_bytes([attrs["target"], args, attrs["outputs"]])


def skeleton_label(attrs: Mapping[str, Any], subgraph_digests: Mapping[int, str]) -> bytes:
    """:func:`node_label` without the values of constant arguments (their union tag stays).

    The order compares skeletons (and digests built from them) before full
    labels, so a changed constant (a LayerNorm's ``eps``) cannot reorder
    branches that the skeleton already tells apart.

    Examples
    --------
    >>> import json
    >>> from pt2canon.serde.graph import to_networkx
    >>> def mul(c):  # the node of y = x * c
    ...     ref = lambda name: {"as_tensor": {"name": name}}
    ...     G = to_networkx({"inputs": [ref("x")], "outputs": [ref("y")], "nodes": [
    ...         {"target": "torch.ops.aten.mul.Scalar", "name": "y", "metadata": {}, "outputs": [ref("y")],
    ...          "inputs": [{"name": "self", "arg": ref("x"), "kind": 1},
    ...                     {"name": "other", "arg": {"as_float": c}, "kind": 1}]}]})
    ...     return G.nodes[1]
    >>> json.loads(skeleton_label(mul(2.0), {}))[1]
    [['self', 1, {'as_tensor': {'name': None}}], ['other', 1, 'as_float']]
    >>> skeleton_label(mul(2.0), {}) == skeleton_label(mul(3.0), {})
    True
    >>> node_label(mul(2.0), {}) == node_label(mul(3.0), {})
    False
    """
    args = []
    for i, na in enumerate(attrs["args"]):
        arg = na["arg"]
        if i in subgraph_digests:
            arg = {"as_graph": subgraph_digests[i]}
        elif len(arg) == 1 and next(iter(arg)) not in REF_KINDS:
            arg = next(iter(arg))  # a constant: its tag only
        args.append([na.get("name"), na.get("kind"), arg])
    return canonical_bytes([attrs["target"], args, attrs["outputs"]])


_KEY_BYTES: dict[Any, bytes] = {}


def _same(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return key


def edge_key_bytes(key: Any, out: int) -> bytes:
    """Stable bytes for an edge's argument slot and the producer value it reads (memoized).

    Examples
    --------
    >>> edge_key_bytes(("self",), 0)
    b"(('self',), 0)"
    """
    k = (key, out)
    b = _KEY_BYTES.get(k)
    if b is None:
        if len(_KEY_BYTES) > 100_000:
            _KEY_BYTES.clear()
        b = _KEY_BYTES[k] = repr(k).encode()
    return b


class Digests:
    """Ancestry and users digests, computed lazily and memoized.

    The heap key compares them only when the cheaper keys before them tie,
    which in real graphs is rare; each is computed on first use with an
    explicit stack (no recursion limit), and then memoized.

    Examples
    --------
    In ``b = neg(x); c = neg(x); d = relu(b)``, ``b`` and ``c`` compute the
    same function of the same input, but only ``b`` is read by ``relu``:

    >>> from pt2canon.serde.graph import to_networkx
    >>> ref = lambda name: {"as_tensor": {"name": name}}
    >>> op = lambda target, x, y: {"target": f"torch.ops.aten.{target}.default", "name": y, "metadata": {},
    ...                            "inputs": [{"name": "self", "arg": ref(x), "kind": 1}], "outputs": [ref(y)]}
    >>> G = to_networkx({"inputs": [ref("x")], "outputs": [ref("c"), ref("d")],
    ...                  "nodes": [op("neg", "x", "b"), op("neg", "x", "c"), op("relu", "b", "d")]})
    >>> [G.nodes[v].get("name") for v in G]
    [None, 'b', 'c', 'd', None]
    >>> labels = {v: G.nodes[v].get("target", G.nodes[v]["kind"]).encode() for v in G}
    >>> d = Digests(G, labels, order_preds={})
    >>> d.ancestry(1) == d.ancestry(2), d.users(1) == d.users(2)
    (True, False)
    """

    def __init__(
        self,
        G: nx.MultiDiGraph,
        labels: Mapping[int, bytes],
        order_preds: Mapping[int, list[int]],
        extra: Callable[[int], bytes] | None = None,
        output_slots: Mapping[int, Any] | None = None,
        bindings: Mapping[int, list[tuple[int, bytes]]] | None = None,
    ) -> None:
        self.G = G
        #: ``{v: [(t, label)]}``: labelled edges ``t -> v`` that are not data edges: the graph
        #: input ``t`` that the output value of ``v`` updates (a buffer mutation, a gradient).
        self.bindings = bindings or {}
        self.bound: dict[int, list[tuple[int, bytes]]] = {}
        for v, ts in self.bindings.items():
            for t, lab in ts:
                self.bound.setdefault(t, []).append((v, lab))
        self.labels = labels
        #: Key of each graph output position in the digests (default: the position). A caller
        #: gives outputs whose order carries no meaning (mutations of state) one shared key.
        self.output_slots = output_slots
        self.out_node = G.graph["output"]
        #: Per-node bytes mixed into both digests (the output metadata), so that
        #: structurally identical nodes whose surroundings differ only in
        #: shapes or dtypes are still told apart.
        self.extra = extra or (lambda v: b"")
        self.order_preds = order_preds
        self.order_succs: dict[int, list[int]] = {}
        for v, ps in order_preds.items():
            for p in ps:
                self.order_succs.setdefault(p, []).append(v)
        self.A: dict[int, bytes] = {}
        self.U: dict[int, bytes] = {}

    def _ancestry_of(self, v: int) -> bytes:
        A = self.A
        ins = []
        slot = self._slot if v == self.out_node else _same
        for u, keyed in self.G._pred[v].items():
            for key, d in keyed.items():
                ins.append(edge_key_bytes(slot(key), d["out"]) + A[u])
        ins.sort()
        ops = self.order_preds.get(v)
        if ops:
            ins.append(b"after")
            ins.extend(sorted(A[p] for p in ops))
        binds = self.bindings.get(v)
        if binds:
            ins.extend(sorted(b"bind" + lab + A[t] for t, lab in binds))
        return _h(self.labels[v], self.extra(v), *ins)

    def _users_of(self, v: int) -> bytes:
        A, U = self.A, self.U
        outs = []
        for w, keyed in self.G._succ[v].items():
            slot = self._slot if w == self.out_node else _same
            for key, d in keyed.items():
                outs.append(edge_key_bytes(slot(key), d["out"]) + A[w] + U[w] + self.extra(w))
        for s in self.order_succs.get(v, ()):
            outs.append(b"before" + A[s] + U[s])
        for w, lab in self.bound.get(v, ()):
            outs.append(b"bound" + lab + A[w] + U[w])
        outs.sort()
        return _h(b"users", *outs)

    def _slot(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        """An edge key into the output node, its position replaced by the caller's output slot."""
        if self.output_slots is None:
            return key
        return (self.output_slots[key[0]], *key[1:])

    def ancestry(self, v: int) -> bytes:
        """Merkle digest of ``v``'s label and its producers' ancestry, slot by slot."""
        A, pred, order_preds = self.A, self.G._pred, self.order_preds
        stack = [v]
        while stack:
            x = stack[-1]
            if x in A:
                stack.pop()
                continue
            missing = [u for u in pred[x] if u not in A]
            missing += [p for p in order_preds.get(x, ()) if p not in A]
            missing += [t for t, _ in self.bindings.get(x, ()) if t not in A]
            if missing:
                stack.extend(missing)
                continue
            A[x] = self._ancestry_of(x)
            stack.pop()
        return A[v]

    def users(self, v: int) -> bytes:
        """Merkle digest of ``v``'s uses: slot, user's ancestry, user's users digest."""
        U, succ, order_succs = self.U, self.G._succ, self.order_succs
        stack = [v]
        while stack:
            x = stack[-1]
            if x in U:
                stack.pop()
                continue
            after = [*succ[x], *order_succs.get(x, ()), *(w for w, _ in self.bound.get(x, ()))]
            missing = [w for w in after if w not in U]
            if missing:
                stack.extend(missing)
                continue
            for w in after:
                self.ancestry(w)
            U[x] = self._users_of(x)
            stack.pop()
        return U[v]


class ResidualTie(Exception):
    """Refinement left a tie between ready nodes that are not provably interchangeable.

    Raised by :func:`canonical_order` when no ``exact`` key was given; the
    caller then computes a canonical labelling and orders again with it.

    Examples
    --------
    With a structural key that cannot tell ``neg(x)`` from ``relu(x)``
    (they are not interchangeable: ``add`` reads them in different slots):

    >>> from pt2canon.serde.graph import to_networkx
    >>> ref = lambda name: {"as_tensor": {"name": name}}
    >>> op = lambda target, y, **args: {"target": f"torch.ops.aten.{target}", "name": y, "metadata": {},
    ...     "inputs": [{"name": k, "arg": ref(v), "kind": 1} for k, v in args.items()], "outputs": [ref(y)]}
    >>> G = to_networkx({"inputs": [ref("x")], "outputs": [ref("c")], "nodes": [
    ...     op("neg.default", "a", self="x"), op("relu.default", "b", self="x"),
    ...     op("add.Tensor", "c", self="a", other="b")]})
    >>> try:
    ...     canonical_order(G, [0], [lambda v: b""], {})
    ... except ResidualTie as tie:
    ...     print(tie, [G.nodes[v]["name"] for v in sorted(tie.nodes)])
    2 ready nodes tie on every structural key ['a', 'b']
    """

    def __init__(self, nodes: list[int]) -> None:
        super().__init__(f"{len(nodes)} ready nodes tie on every structural key")
        self.nodes = nodes


class _Tail:
    """The lazy tie-breaking keys of one node, compared in order, each computed on first need."""

    __slots__ = ("_fns", "_nid", "_vals")

    def __init__(self, fns: tuple[Callable[[int], bytes], ...], nid: int) -> None:
        self._fns, self._nid = fns, nid
        self._vals: list[bytes] = []

    def _key(self, i: int) -> bytes:
        vals = self._vals
        while len(vals) <= i:
            vals.append(self._fns[len(vals)](self._nid))
        return vals[i]

    def _first_difference(self, other: _Tail, upto: int | None = None) -> tuple[bytes, bytes] | None:
        for i in range(len(self._fns) if upto is None else upto):
            a, b = self._key(i), other._key(i)
            if a != b:
                return a, b
        return None

    def _complete(self, other: _Tail) -> bool:
        """Whether both have every key computed (then lists compare in C: twins compare often)."""
        n = len(self._fns)
        return len(self._vals) == n and len(other._vals) == n

    def same_prefix(self, other: _Tail, upto: int) -> bool:
        """Whether the first ``upto`` keys are equal."""
        if self._complete(other):
            return self._vals[:upto] == other._vals[:upto]
        return self._first_difference(other, upto) is None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Tail):
            return False
        if self._complete(other):
            return self._vals == other._vals
        return self._first_difference(other) is None

    def __lt__(self, other: _Tail) -> bool:
        if self._complete(other):
            return self._vals < other._vals
        d = self._first_difference(other)
        return d is not None and d[0] < d[1]

    __hash__ = None  # type: ignore[assignment]


def canonical_order(
    G: nx.MultiDiGraph,
    inputs: list[int],
    structural: Sequence[Callable[[int], bytes]],
    order_preds: Mapping[int, list[int]],
    *,
    refining: Sequence[Callable[[int], bytes]] = (),
    exact: Callable[[int], Any] | None = None,
    deferred: Collection[int] = (),
    output_slots: Mapping[int, Any] | None = None,
    labels: Mapping[int, bytes] | None = None,
    bindings: Mapping[int, list[tuple[int, bytes]]] | None = None,
) -> list[int]:
    """Kahn's algorithm over op nodes; ``inputs`` are the input node ids in canonical order.

    Ready nodes are compared by ``(latest input rank, input ranks)`` and
    then by the ``structural`` keys, each a function of a node computed
    lazily (labels, then digests): these define the ``structure`` level.

    When ready nodes tie on all of them, they are checked to be
    *interchangeable twins* (:func:`_twin_signature`): the same label, the
    same producers in the same slots — except inputs in ``deferred`` that
    only they read, matched by label — the same users in the same slots
    and the same ordering edges. Swapping two twins (with their private
    inputs) is an automorphism of the graph, so the structure does not
    depend on which comes first; the ``refining`` keys (output metadata,
    FQNs) choose, so the finer layers are canonical too. A tie between
    nodes that are not twins raises :class:`ResidualTie`, unless ``exact``
    is given: a final key from a canonical labelling of the graph
    (:mod:`pt2canon.canon.labelling`) that leaves no tie at all.

    ``deferred`` input nodes (the caller's parameters and buffers) have no
    rank up front: they count as available, a key shows each not yet
    placed as rank ``-1``, and they are placed, in argument order, just
    before the first op that reads them. :func:`first_uses` recovers that
    placement from the returned order. ``output_slots`` maps graph output
    positions to their key in the twin check (outputs whose order means
    nothing share one); ``labels`` gives the labels of deferred inputs for
    that check; ``bindings`` are the labelled edges of :class:`Digests`
    (which input a value updates), part of it too.

    Returns the op node ids in canonical order (the output node excluded).
    No key contains an original position; ``heapq`` compares node ids only
    to keep its tuples ordered, between entries that are twins or equal in
    ``exact``.

    Examples
    --------
    ``c = neg(x) + relu(x)``, its nodes listed in two orders under two sets
    of names, ordered by their labels:

    >>> from pt2canon.serde.graph import to_networkx
    >>> ref = lambda name: {"as_tensor": {"name": name}}
    >>> op = lambda target, y, **args: {"target": f"torch.ops.aten.{target}", "name": y, "metadata": {},
    ...     "inputs": [{"name": k, "arg": ref(v), "kind": 1} for k, v in args.items()], "outputs": [ref(y)]}
    >>> def ordered(nodes):
    ...     G = to_networkx({"inputs": [ref("x")], "outputs": [ref(nodes[-1]["name"])], "nodes": nodes})
    ...     order = canonical_order(G, [0], [lambda v: node_label(G.nodes[v], {})], {})
    ...     return [(G.nodes[v]["target"], G.nodes[v]["name"]) for v in order]
    >>> ordered([op("neg.default", "a", self="x"), op("relu.default", "b", self="x"),
    ...          op("add.Tensor", "c", self="a", other="b")])
    [('torch.ops.aten.neg.default', 'a'), ('torch.ops.aten.relu.default', 'b'), ('torch.ops.aten.add.Tensor', 'c')]
    >>> ordered([op("relu.default", "r", self="x"), op("neg.default", "n", self="x"),
    ...          op("add.Tensor", "s", self="n", other="r")])
    [('torch.ops.aten.neg.default', 'n'), ('torch.ops.aten.relu.default', 'r'), ('torch.ops.aten.add.Tensor', 's')]

    Both ops read only ``x`` (the same input ranks), so their labels, which
    start with the target, decide: ``neg`` sorts before ``relu``.
    """
    fns = (*structural, exact) if exact is not None else (*structural, *refining)
    n_struct = len(structural)
    labels = {} if labels is None else labels
    rank: dict[int, int] = {nid: i for i, nid in enumerate(inputs)}
    pred, succ = G._pred, G._succ
    out_node = G.graph["output"]
    missing: dict[int, int] = {}
    order_succs: dict[int, list[int]] = {}
    for v, ps in order_preds.items():
        for p in ps:
            order_succs.setdefault(p, []).append(v)
    heap: list[tuple[Any, ...]] = []
    waiting = set(deferred)  # deferred inputs not placed yet
    push_heap, pop_heap = heapq.heappush, heapq.heappop

    def push(v: int) -> None:
        # Edges iterate in the order the node's arguments list them (grouped by
        # producer), which depends only on the node itself.
        ranks = tuple([(rank.get(u, -1), d["out"]) for u, keyed in pred[v].items() for d in keyed.values()])
        latest = max(ranks)[0] if ranks else -1
        push_heap(heap, (latest, ranks, _Tail(fns, v), v))

    def tied(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
        return a[0] == b[0] and a[1] == b[1] and a[2].same_prefix(b[2], n_struct)

    def twin(v: int) -> tuple[Any, ...]:
        return _twin_signature(G, v, waiting, labels, order_preds, order_succs, output_slots, bindings or {})

    order: list[int] = []

    def place(v: int) -> None:
        if waiting:
            for u in pred[v]:  # grouped by producer, in argument order
                if u in waiting:
                    waiting.discard(u)
                    rank[u] = len(rank)
        rank[v] = len(rank)
        order.append(v)
        for w, keyed in succ[v].items():
            if w in missing:
                missing[w] -= len(keyed)
                if missing[w] == 0:
                    push(w)
        for w in order_succs.get(v, ()):
            missing[w] -= 1
            if missing[w] == 0:
                push(w)

    ops = [v for v in G if v not in rank and v not in waiting and v != out_node]
    for v in ops:
        n = sum(len(k) for u, k in pred[v].items()) + len(order_preds.get(v, ()))
        missing[v] = n
    # Inputs are already placed (or available, if deferred): release their uses.
    for u in (*inputs, *waiting):
        for w, keyed in succ[u].items():
            if w in missing:
                missing[w] -= len(keyed)
    for v in ops:
        if missing[v] == 0:
            push(v)
    while heap:
        top = pop_heap(heap)
        if exact is not None or not heap or not tied(top, heap[0]):
            place(top[-1])
            continue
        group = [top]
        while heap and tied(top, heap[0]):
            group.append(pop_heap(heap))
        signature = twin(top[-1])
        if any(twin(e[-1]) != signature for e in group[1:]):
            raise ResidualTie([e[-1] for e in group])
        # Twins, in the order of the refining keys. They stay the smallest entries while
        # they are placed (a node they make ready comes later: its latest input rank is
        # newer), so they are placed together.
        for e in group:
            place(e[-1])
    if len(order) != len(ops):  # pragma: no cover - graphs are checked acyclic on load
        raise AssertionError("cycle among op nodes")
    return order


def _twin_signature(
    G: nx.MultiDiGraph,
    v: int,
    waiting: Collection[int],
    labels: Mapping[int, bytes],
    order_preds: Mapping[int, list[int]],
    order_succs: Mapping[int, list[int]],
    output_slots: Mapping[int, Any] | None,
    bindings: Mapping[int, list[tuple[int, bytes]]],
) -> tuple[Any, ...]:
    """What two interchangeable nodes share: producers, users (with slots) and ordering edges.

    A producer that is a deferred input not placed yet and read by ``v``
    alone is known by its label, so two ops reading two private parameters
    of one kind (the ``num_batches_tracked`` updates of several batch
    norms) are twins; every other producer and user is known by its node
    id. Graph outputs are keyed by ``output_slots``.
    """
    out_node = G.graph["output"]
    ins = []

    def who(u: int) -> Any:
        return ("private", labels[u]) if u in waiting and len(G._succ[u]) <= 1 else u

    for u, keyed in G._pred[v].items():
        for key, d in keyed.items():
            ins.append((edge_key_bytes(key, d["out"]), who(u)))
    for t, lab in bindings.get(v, ()):
        ins.append((b"bind" + lab, who(t)))
    outs = []
    for w, keyed in G._succ[v].items():
        for key, d in keyed.items():
            k = (output_slots[key[0]], *key[1:]) if (w == out_node and output_slots is not None) else key
            outs.append((edge_key_bytes(k, d["out"]), w))
    return (
        sorted(ins, key=repr),
        sorted(outs, key=repr),
        sorted(order_preds.get(v, ())),
        sorted(order_succs.get(v, ())),
    )


def first_uses(G: nx.MultiDiGraph, order: list[int], deferred: Collection[int]) -> list[int]:
    """The ``deferred`` nodes that ops read, in the order :func:`canonical_order` placed them.

    That is: by the first op (in ``order``) that reads each, then by argument
    order within that op. Deferred nodes no op reads are left out.

    Examples
    --------
    ``h = mm(x, w2); y = mm(h, w1)`` with parameters ``w1, w2, w3`` (inputs 0
    to 2; ``w3`` is never read) and the user input ``x`` (input 3):

    >>> from pt2canon.serde.graph import op_nodes, to_networkx
    >>> ref = lambda name: {"as_tensor": {"name": name}}
    >>> mm = lambda a, b, y: {"target": "torch.ops.aten.mm.default", "name": y, "metadata": {}, "outputs": [ref(y)],
    ...     "inputs": [{"name": "self", "arg": ref(a), "kind": 1}, {"name": "mat2", "arg": ref(b), "kind": 1}]}
    >>> G = to_networkx({"inputs": [ref("w1"), ref("w2"), ref("w3"), ref("x")], "outputs": [ref("y")],
    ...                  "nodes": [mm("x", "w2", "h"), mm("h", "w1", "y")]})
    >>> first_uses(G, op_nodes(G), deferred={0, 1, 2})
    [1, 0]
    """
    waiting = set(deferred)
    placed = []
    pred = G._pred
    for v in order:
        if not waiting:
            break
        for u in pred[v]:
            if u in waiting:
                waiting.discard(u)
                placed.append(u)
    return placed
