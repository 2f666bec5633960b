"""The exact canonical order for graphs with symmetries that colour refinement cannot resolve.

:func:`pt2canon.canon.order.canonical_order` raises
:class:`~pt2canon.canon.order.ResidualTie` when ready nodes tie on every
structural key and are not twins. Then :class:`Arrangement`:

1. builds the graph as a vertex-coloured digraph: a vertex per node
   (coloured by its structural label) and per edge (coloured by the
   argument slot, or as an ordering edge), so that its automorphisms are
   exactly the automorphisms of the program's labelled DAG;
2. gives the order a final key, a canonical labelling of that digraph
   (:func:`pt2canon.canon.labelling.canonical_labelling`), so that the
   ``structure`` level is exact: isomorphic graphs get the same order up to
   an automorphism, and non-isomorphic graphs different canonical forms;
3. rearranges the result among the automorphisms of the structure so that
   the finer layers are canonical too, one at a time (output metadata for
   ``tensors``, then FQNs for ``signature``), without ever changing the
   structure: with ``lam`` a canonical labelling of the graph coloured with
   the finer colours and ``kappa`` a canonical labelling (structure colours)
   of the graph renumbered by ``lam``, the node at position ``p`` moves to
   the position of the node that ``structure_labelling`` numbers
   ``kappa[lam[p]]``. That map is an automorphism of the structure (so the
   ``structure`` layer stays as it was) that depends only on the finely
   coloured graph up to isomorphism (so the finer layer is canonical).

A level is skipped when its colours are constant on every class of the
structural refinement: then every automorphism of the structure keeps them,
and any arrangement is as good as another.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import networkx as nx

from pt2canon.canon.labelling import canonical_labelling, dense_colours
from pt2canon.canon.order import edge_key_bytes
from pt2canon.serde.model import out_uses

__all__ = ["Arrangement"]


class Arrangement:
    """A program graph as a coloured digraph, with its canonical labelling and arrangements.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        The graph model (:func:`pt2canon.serde.graph.to_networkx`).
    order_preds : mapping
        The side-effect ordering edges (``{node: [nodes before it]}``).
    output_slots : mapping or None
        Graph output position -> its slot key (outputs whose order means
        nothing share one), as for the order's digests.
    structure : sequence of bytes
        The structural colour (label) of each node of ``G``, in node order.
    bindings : mapping, optional
        ``{v: [(t, label)]}``, labelled edges ``t -> v`` (which graph input
        the output value of ``v`` updates), as for the order's digests.

    Examples
    --------
    Rings of ``add(neg_i, relu_i)`` and ``add(neg_i+1, relu_i)``: every
    ``neg`` looks like every other to the refinement's digests, in a ring of
    six as in two rings of three, and the nodes are not twins.

    >>> from pt2canon.canon.order import Digests, ResidualTie, canonical_order, node_label
    >>> from pt2canon.serde.graph import to_networkx
    >>> ref = lambda name: {"as_tensor": {"name": name}}
    >>> op = lambda target, y, **args: {"target": f"torch.ops.aten.{target}", "name": y, "metadata": {},
    ...     "inputs": [{"name": k, "arg": ref(v), "kind": 1} for k, v in args.items()], "outputs": [ref(y)]}
    >>> def rings(*sizes, reverse=False):
    ...     nodes, adds = [], []
    ...     for r, k in enumerate(sizes):
    ...         nodes += [op("neg.default", f"n{r}_{i}", self="x") for i in range(k)]
    ...         nodes += [op("relu.default", f"r{r}_{i}", self="x") for i in range(k)]
    ...         adds += [op("add.Tensor", f"a{r}_{i}{j}", self=f"n{r}_{(i + j) % k}", other=f"r{r}_{i}")
    ...                  for i in range(k) for j in (0, 1)]
    ...     if reverse:  # the same graph, listed in another order
    ...         nodes, adds = nodes[::-1], adds[::-1]
    ...     return to_networkx({"inputs": [ref("x")], "outputs": [ref("x")], "nodes": nodes + adds})
    >>> def ordered(G, colour=None):
    ...     label = lambda v: node_label(G.nodes[v], {}) if G.nodes[v]["kind"] == "op" else G.nodes[v]["kind"].encode()
    ...     digests = Digests(G, {v: label(v) for v in G}, {})
    ...     keys = [label, digests.ancestry, digests.users]
    ...     try:
    ...         canonical_order(G, [0], keys, {})
    ...     except ResidualTie as tie:
    ...         assert len(tie.nodes) == 6  # the negs
    ...     arrangement = Arrangement(G, {}, None, structure=[label(v) for v in G])
    ...     order = canonical_order(G, [0], keys, {}, exact=arrangement.structure_labelling.__getitem__)
    ...     if colour is not None:  # one node gets another colour (other metadata, say)
    ...         refined = [label(v) + digests.ancestry(v) + digests.users(v) for v in G]
    ...         colours = [b"fp16" if G.nodes[v].get("name") == colour else b"" for v in G]
    ...         _, order = arrangement.arrange([0], order, refined=refined, finer=[colours])
    ...     position = {v: k for k, v in enumerate([0, *order])}  # x is 0
    ...     form = [(G.nodes[v]["target"], [position[u] for u in G.pred[v]]) for v in order]
    ...     return form, [G.nodes[v]["name"] for v in order]

    The canonical form: what each op reads, by canonical position. The adds
    read ``negs`` 1 to 6 and ``relus`` 7 to 12 around one ring:

    >>> six, _ = ordered(rings(6))
    >>> [args for target, args in six if target == "torch.ops.aten.add.Tensor"]
    [[1, 7], [6, 7], [1, 8], [2, 8], [2, 9], [3, 9], [3, 10], [4, 10], [4, 11], [5, 11], [5, 12], [6, 12]]
    >>> six == ordered(rings(6, reverse=True))[0], six == ordered(rings(3, 3))[0]
    (True, False)

    :meth:`arrange` moves nodes only along automorphisms, so the form stays,
    and a node with another colour lands where its place in the structure
    says: any ``neg`` of the ring, in either listing, comes at one position.

    >>> form, names = ordered(rings(6), colour="n0_0")
    >>> form == six
    True
    >>> names.index("n0_0") == ordered(rings(6, reverse=True), colour="n0_3")[1].index("n0_3")
    True
    """

    def __init__(
        self,
        G: nx.MultiDiGraph,
        order_preds: Mapping[int, list[int]],
        output_slots: Mapping[int, Any] | None,
        *,
        structure: Sequence[bytes],
        bindings: Mapping[int, list[tuple[int, bytes]]] | None = None,
    ) -> None:
        self.nodes = list(G)
        index = {v: i for i, v in enumerate(self.nodes)}
        out_node = G.graph["output"]
        keys: list[tuple[bytes, bytes]] = [(b"node", c) for c in structure]
        edges: list[tuple[int, int]] = []
        for u, nbrs in out_uses(G).items():
            for w, keyed in nbrs.items():
                for key, d in keyed.items():
                    slot = (output_slots[key[0]], *key[1:]) if (w == out_node and output_slots is not None) else key
                    e = len(keys)
                    keys.append((b"edge", edge_key_bytes(slot, d["out"])))
                    edges += [(index[u], e), (e, index[w])]
        for v, ps in order_preds.items():
            for p in ps:
                e = len(keys)
                keys.append((b"after", b""))
                edges += [(index[p], e), (e, index[v])]
        for v, ts in (bindings or {}).items():
            for t, lab in ts:
                e = len(keys)
                keys.append((b"bind", lab))
                edges += [(index[t], e), (e, index[v])]
        self.n = len(keys)
        self.edges = edges
        self._keys: list[tuple[bytes, ...]] = list(keys)
        self._labelling = canonical_labelling(self.n, edges, dense_colours(self._keys))
        #: Node id -> its number in a canonical labelling of the structure.
        self.structure_labelling = {v: self._labelling[i] for i, v in enumerate(self.nodes)}

    def arrange(
        self,
        inputs: list[int],
        order: list[int],
        *,
        refined: Sequence[Hashable],
        finer: Sequence[Sequence[bytes]],
    ) -> tuple[list[int], list[int]]:
        """Rearrange ``inputs`` and ``order`` among automorphisms, by each colouring of ``finer`` in turn.

        ``inputs`` and ``order`` must come from the order keyed by
        :attr:`structure_labelling`; ``refined`` is a structural refinement
        class of each node (its label and digests) used to skip levels that
        no automorphism can affect. Returns the new ``(inputs, order)``.
        """
        n_nodes = len(self.nodes)
        index = {v: i for i, v in enumerate(self.nodes)}
        sequence = [*inputs, *order]
        position = [0] * n_nodes
        for k, v in enumerate(sequence):
            position[index[v]] = k
        placed = set(sequence)
        rest = [i for i in range(n_nodes) if self.nodes[i] not in placed]  # the output node
        for k, i in enumerate(rest):
            position[i] = len(sequence) + k
        # ``keys`` colour the graph for the automorphisms in play, ``labelling`` is a
        # canonical labelling for them; a skipped level's colours wait in ``pending``.
        keys, labelling = self._keys, self._labelling
        pending: list[Sequence[bytes]] = []
        classes: list[Hashable] = list(refined)
        for colours in finer:
            seen: dict[Hashable, bytes] = {}
            homogeneous = all(seen.setdefault(c, colours[i]) == colours[i] for i, c in enumerate(classes))
            classes = [(c, colours[i]) for i, c in enumerate(classes)]
            pending.append(colours)
            if homogeneous:
                continue  # every automorphism in play keeps these colours
            fine = [(*k, *(cs[i] if i < n_nodes else b"" for cs in pending)) for i, k in enumerate(keys)]
            lam = canonical_labelling(self.n, self.edges, dense_colours(fine))
            coarse = dense_colours(keys)
            renumbered = [(lam[u], lam[v]) for u, v in self.edges]
            coarse_by_label = [0] * self.n
            for i, c in enumerate(coarse):
                coarse_by_label[lam[i]] = c
            kappa = canonical_labelling(self.n, renumbered, coarse_by_label)
            numbered = [0] * self.n
            for i, c in enumerate(labelling):
                numbered[c] = i
            position = [position[numbered[kappa[lam[i]]]] for i in range(n_nodes)]
            keys, labelling, pending = fine, lam, []
        arranged = sorted((index[v] for v in sequence), key=position.__getitem__)
        n_in = len(inputs)
        nodes = [self.nodes[i] for i in arranged]
        return nodes[:n_in], nodes[n_in:]
