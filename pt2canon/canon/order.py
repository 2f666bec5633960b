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
from collections.abc import Callable, Collection, Mapping
from typing import Any

import networkx as nx

from pt2canon._json import canonical_bytes

__all__ = ["Digests", "canonical_order", "first_uses", "node_label"]


def _h(*parts: bytes) -> bytes:
    return hashlib.blake2b(b"\x1f".join(parts), digest_size=16).digest()


def node_label(attrs: Mapping[str, Any], subgraph_digests: Mapping[int, str]) -> bytes:
    """The structural label of an op node: target, constant arguments, argument shapes.

    Value references are blanked (they are edges); ``as_graph`` arguments
    are replaced by the digest of the subgraph's canonical form, so the
    label does not depend on any name.
    """
    args = []
    for i, na in enumerate(attrs["args"]):
        if i in subgraph_digests:
            args.append([na.get("name"), na.get("kind"), {"as_graph": subgraph_digests[i]}])
        else:
            args.append([na.get("name"), na.get("kind"), na["arg"]])
    return canonical_bytes([attrs["target"], args, attrs["outputs"]])


_KEY_BYTES: dict[Any, bytes] = {}


def _same(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return key


def _key_bytes(key: Any, out: int) -> bytes:
    """Stable bytes for an edge's argument slot and the producer value it reads."""
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
    """

    def __init__(
        self,
        G: nx.MultiDiGraph,
        labels: Mapping[int, bytes],
        order_preds: Mapping[int, list[int]],
        extra: Callable[[int], bytes] | None = None,
        output_slots: Mapping[int, Any] | None = None,
    ) -> None:
        self.G = G
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
                ins.append(_key_bytes(slot(key), d["out"]) + A[u])
        ins.sort()
        ops = self.order_preds.get(v)
        if ops:
            ins.append(b"after")
            ins.extend(sorted(A[p] for p in ops))
        return _h(self.labels[v], self.extra(v), *ins)

    def _users_of(self, v: int) -> bytes:
        A, U = self.A, self.U
        outs = []
        for w, keyed in self.G._succ[v].items():
            slot = self._slot if w == self.out_node else _same
            for key, d in keyed.items():
                outs.append(_key_bytes(slot(key), d["out"]) + A[w] + U[w] + self.extra(w))
        for s in self.order_succs.get(v, ()):
            outs.append(b"before" + A[s] + U[s])
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
            after = [*succ[x], *order_succs.get(x, ())]
            missing = [w for w in after if w not in U]
            if missing:
                stack.extend(missing)
                continue
            for w in after:
                self.ancestry(w)
            U[x] = self._users_of(x)
            stack.pop()
        return U[v]


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

    def _first_difference(self, other: _Tail) -> tuple[bytes, bytes] | None:
        for i in range(len(self._fns)):
            a, b = self._key(i), other._key(i)
            if a != b:
                return a, b
        return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Tail) and self._first_difference(other) is None

    def __lt__(self, other: _Tail) -> bool:
        d = self._first_difference(other)
        return d is not None and d[0] < d[1]

    __hash__ = None  # type: ignore[assignment]


def canonical_order(
    G: nx.MultiDiGraph,
    inputs: list[int],
    labels: Mapping[int, bytes],
    order_preds: Mapping[int, list[int]],
    digests: Digests | None = None,
    tie: Callable[[int], bytes] | None = None,
    meta_digests: Digests | None = None,
    *,
    deferred: Collection[int] = (),
    last: Callable[[int], bytes] | None = None,
) -> list[int]:
    """Kahn's algorithm over op nodes; ``inputs`` are the input node ids in canonical order.

    ``tie(node)`` gives the next tie-breaker, computed lazily: the node's
    output metadata (with canonical symbols); ``meta_digests`` (digests that
    mix every node's output metadata in) come next, separating structurally
    identical nodes whose neighbours differ only in shapes or dtypes; then
    ``last(node)``. These keys only order nodes that tie on every
    structural key, which are interchangeable for the ``structure`` layer,
    so they cannot change it.

    ``deferred`` input nodes (parameters, buffers, constants: inputs whose
    names must not decide the order) have no rank up front: they count as
    available, a key shows each not yet placed as rank ``-1``, and they are
    placed, in argument order, just before the first op that reads them.
    :func:`first_uses` recovers that placement from the returned order.

    Returns the op node ids in canonical order (the output node excluded).
    """
    tie = tie or (lambda v: b"")
    digests = digests or Digests(G, labels, order_preds)
    ancestry, users = digests.ancestry, digests.users
    m_ancestry, m_users = (
        (meta_digests.ancestry, meta_digests.users) if meta_digests else (lambda v: b"", lambda v: b"")
    )
    label = labels.__getitem__
    rank: dict[int, int] = {nid: i for i, nid in enumerate(inputs)}
    pred, succ = G._pred, G._succ
    out_node = G.graph["output"]
    missing: dict[int, int] = {}
    order_succs: dict[int, list[int]] = {}
    for v, ps in order_preds.items():
        for p in ps:
            order_succs.setdefault(p, []).append(v)
    heap: list[tuple[Any, ...]] = []
    fns = (label, ancestry, users, tie, m_ancestry, m_users, last or (lambda v: b""))
    waiting = set(deferred)  # deferred inputs not placed yet
    push_heap = heapq.heappush

    def push(v: int) -> None:
        # Edges iterate in the order the node's arguments list them (grouped by
        # producer), which depends only on the node itself.
        ranks = tuple([(rank.get(u, -1), d["out"]) for u, keyed in pred[v].items() for d in keyed.values()])
        latest = max(ranks)[0] if ranks else -1
        push_heap(heap, (latest, ranks, _Tail(fns, v), v))

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
    order: list[int] = []
    while heap:
        v = heapq.heappop(heap)[-1]
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
    if len(order) != len(ops):  # pragma: no cover - graphs are checked acyclic on load
        raise AssertionError("cycle among op nodes")
    return order


def first_uses(G: nx.MultiDiGraph, order: list[int], deferred: Collection[int]) -> list[int]:
    """The ``deferred`` nodes that ops read, in the order :func:`canonical_order` placed them.

    That is: by the first op (in ``order``) that reads each, then by argument
    order within that op. Deferred nodes no op reads are left out.
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
