"""Alignment of two canonical graphs: which node of A is which node of B.

The diff does not compare canonical names (one inserted op renumbers every
value after it); it first *aligns* the two graphs, node for node, in the
manner of XLA's ``hlo_diff`` (GumTree generalised to DAGs), then compares
aligned pairs (:mod:`pt2canon.diff.nodes`).

Each side is a :class:`~pt2canon.diff.sides.GraphSide`: a DAG of *view
ids* (op nodes in canonical order, then the graph inputs, then the output
node) whose edges are uses at argument slots (:mod:`pt2canon.diff.sides`).

Phases
------
0. **Anchors.** The output nodes are paired. Graph inputs are paired by
   key: parameters, buffers, tensor constants and custom objects by
   signature kind and FQN; user inputs (and constant inputs) by position
   among user inputs; tokens by position; subgraph inputs by position.
   Inputs left over are paired with leftovers of the same kind in
   canonical order (a renamed parameter is one changed input, not one
   removed and one added). Output slots are keyed the same way (user
   outputs by position, mutations by kind and FQN).
1. **Identical subgraphs first.** Every node gets a *fingerprint*, a
   Merkle hash over its label (target, constant arguments, output
   template, subgraph digests) and, per argument slot, the producer's
   output index and fingerprint; inputs hash their key. Equal fingerprints
   mean identical ancestry cones. Fingerprints that occur exactly once on
   each side are matched, deepest node first (depth = longest path from
   the inputs, a proxy for the size of the cone; ties by canonical index
   of B), and each match pulls in its whole cone slot by slot.
2. **Growing along edges** (worklist, FIFO, to a fixpoint). For a matched
   pair, *backward*: the producers at the same slot with the same output
   index and the same shallow label (target and constant arguments,
   subgraphs not looked into) are matched; *forward*: the unmatched users
   of the pair at the same slot and output index with the same shallow
   label are matched when there is exactly one on each side; when there
   are several, those whose operands all map to each other are matched
   when their output metadata and their users (the users' fingerprints,
   a Merkle hash over uses from the output back, and the direct users'
   labels and metadata) single them out on both sides, or, failing that,
   one of the two does; the rest in canonical
   order only when they are interchangeable (equal in both, as many on
   each side); then those whose fingerprints are equal and unique. The
   others wait for phase 3.
3. **Bounded bottom-up pass** over B's unmatched op nodes in canonical
   order. Candidates (at most :data:`MAX_CANDIDATES` per source) are the
   unmatched A nodes that use the counterpart of one of the node's
   producers (directly, or through one unmatched op on either side: an
   op inserted or deleted in between), produce for the counterpart of one
   of its users, or share its target and its ``nn_module_stack`` path
   (the hint), or its target when neither has operands. Each is scored::

       2 x (slots whose producers are aligned + use edges that are aligned)
     + 1 x (slots whose producers, or uses whose users, are one hop
            apart: an unmatched node in between, as around an inserted or
            deleted op; and producers read in other slots, as for swapped
            operands)
     + 3 if the target is equal and an edge is aligned, 1 if the target
       is equal alone (+ 1 more if the constant arguments are equal too)
     + 1 if the module paths are equal + 1 if the output metadata is equal
     + 2 if the users' fingerprints are equal (same uses downstream)

   and accepted when at least one edge is aligned, or the target is equal
   and something is one hop apart or neither node has operands; a pair
   whose targets differ must share an argument name (or both have no
   operands): ``relu(self)`` may become ``gelu(self)``, not ``rand(size)``. All scored
   pairs of the round are taken best first (a greedy maximum-weight
   matching); ties go to the nearer relative canonical position, then the
   lower canonical index of B, then of A. Matches feed phase 2 again; the
   pass repeats at most :data:`MAX_ROUNDS` times.
4. Whatever is left is added (B only) or removed (A only). Matched
   higher-order ops align their subgraphs, argument by argument,
   recursively (inputs and outputs by position).

Every step visits each node and edge a bounded number of times: the cost
is O((N + E) · MAX_CANDIDATES). Nothing depends on original node order or
names, so the alignment of two rewrites of the same program is the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from pt2canon.canon.program import CanonicalGraph, CanonicalProgram
from pt2canon.diff.fqns import ModuleRenames
from pt2canon.diff.matcher import MAX_CANDIDATES, MAX_ROUNDS, match_sides
from pt2canon.diff.pairing import subgraph_input_keys
from pt2canon.diff.records import TOP_GRAPH, GraphPath
from pt2canon.diff.sides import GraphSide, program_side, subgraph_side

__all__ = [
    "MAX_CANDIDATES",
    "MAX_ROUNDS",
    "Alignment",
    "SubgraphPair",
    "align_graphs",
    "align_programs",
]


class SubgraphPair(NamedTuple):
    """The subgraphs held by argument ``arg`` of aligned ops ``a_op`` (A) and ``b_op`` (B), aligned.

    Examples
    --------
    :func:`align_programs` makes one per subgraph argument of each aligned
    pair of higher-order ops (``cond``'s branches, ``map``'s body, ...) in
    :attr:`Alignment.subgraphs`; the bundled MLPs have none:

    >>> import pt2canon
    >>> a, b = pt2canon.canonicalize("examples/mlp_v1.pt2"), pt2canon.canonicalize("examples/mlp_v2.pt2")
    >>> align_programs(a, b).subgraphs
    []

    Its fields, for a ``cond`` at ``n4`` in A and ``n5`` in B whose true
    branch (argument 1) is aligned (here two top-level graphs stand in for
    the branches):

    >>> pair = SubgraphPair(a_op=4, b_op=5, arg=1, alignment=align_graphs(a.graph, b.graph))
    >>> pair.arg, pair.alignment.added()
    (1, [3])
    """

    a_op: int
    b_op: int
    arg: int
    alignment: Alignment


@dataclass
class Alignment:
    """The node-for-node pairing of two graphs, with subgraph alignments.

    Attributes
    ----------
    a, b : GraphSide
    a_to_b, b_to_a : list of int or None
        View id -> partner view id.
    graph : GraphPath
        Which graph: the model's name when several models are diffed, and
        the way down to this subgraph.
    subgraphs : list of SubgraphPair
    stats : dict
        Matches per phase (``anchors``, ``identical``, ``propagated``, ``similar``).
    fqns : dict
        A's FQN -> B's of each parameter, buffer, constant and object the
        alignment paired (top-level graph only).
    renames : ModuleRenames
        Which module of A became which of B, read off ``fqns``.
    symbols : dict
        A's canonical symbol -> B's, where they differ (see
        :func:`pt2canon.diff.symbols.learn_symbols`); empty until learned.

    Examples
    --------
    :func:`align_programs` makes one. ``mlp_v1`` has five ops (linear,
    relu, linear, linear, softmax); ``mlp_v2`` a GELU after the second
    linear, so B's op 3 has no partner and A's ops 3 and 4 are B's 4 and 5:

    >>> import pt2canon
    >>> a, b = pt2canon.canonicalize("examples/mlp_v1.pt2"), pt2canon.canonicalize("examples/mlp_v2.pt2")
    >>> al = align_programs(a, b)
    >>> al.a.n_ops, al.b.n_ops, al.added(), al.removed()
    (5, 6, [3], [])
    >>> list(al.op_pairs())
    [(0, 0), (1, 1), (2, 2), (3, 4), (4, 5)]
    >>> al.b.target[3], al.b_to_a[3] is None
    ('torch.ops.aten.gelu.default', True)

    The seven inputs (six parameters, then ``x``) and the output pair
    with theirs; the parameters keep their FQNs:

    >>> al.input_pairs() == [(j, j) for j in range(7)], al.b_to_a[al.b.out] == al.a.out
    (True, True)
    >>> al.fqns["head.weight"], bool(al.renames)
    ('head.weight', False)
    >>> sum(al.stats.values())  # 5 op pairs + 7 input pairs + the output
    13
    """

    a: GraphSide
    b: GraphSide
    a_to_b: list[int | None]
    b_to_a: list[int | None]
    graph: GraphPath = TOP_GRAPH
    subgraphs: list[SubgraphPair] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    fqns: dict[str, str] = field(default_factory=dict)
    renames: ModuleRenames = field(default_factory=ModuleRenames)
    symbols: dict[str, str] = field(default_factory=dict)

    def op_pairs(self) -> Iterable[tuple[int, int]]:
        """Matched op pairs in B's canonical order."""
        for b in range(self.b.n_ops):
            a = self.b_to_a[b]
            if a is not None:
                yield a, b

    def added(self) -> list[int]:
        return [b for b in range(self.b.n_ops) if self.b_to_a[b] is None]

    def removed(self) -> list[int]:
        return [a for a in range(self.a.n_ops) if self.a_to_b[a] is None]

    def input_pairs(self) -> list[tuple[int | None, int | None]]:
        """Input pairs by canonical position (``None`` where one side has none), B's order first."""
        a0, b0 = self.a.n_ops, self.b.n_ops
        out: list[tuple[int | None, int | None]] = []
        for j in range(self.b.n_inputs):
            pa = self.b_to_a[b0 + j]
            out.append((None if pa is None else pa - a0, j))
        for i in range(self.a.n_inputs):
            if self.a_to_b[a0 + i] is None:
                out.append((i, None))
        return out


def _align(a: GraphSide, b: GraphSide, graph: GraphPath, labels: dict[bytes, int]) -> Alignment:
    m = match_sides(a, b)
    al = Alignment(a=a, b=b, a_to_b=m.ma, b_to_a=m.mb, graph=graph, stats=m.stats, fqns=m.fqns, renames=m.renames)
    for x, y in al.op_pairs():
        sa, sb = a.subgraph_names(x), b.subgraph_names(y)
        for i in sorted(set(sa) & set(sb)):
            ca, cb = a.cg.subgraphs[sa[i]], b.cg.subgraphs[sb[i]]
            path = graph.child(f"n{y}", sb[i])
            keys = subgraph_input_keys(a, b, al.a_to_b, x, y, _n_inputs(ca), _n_inputs(cb))
            side_a = subgraph_side(ca, labels, keys[0] if keys else None)
            side_b = subgraph_side(cb, labels, keys[1] if keys else None)
            al.subgraphs.append(SubgraphPair(x, y, i, _align(side_a, side_b, path, labels)))
    return al


def _n_inputs(cg: CanonicalGraph) -> int:
    return len(cg.doc.get("inputs") or ())


def align_programs(a: CanonicalProgram, b: CanonicalProgram, *, graph: GraphPath = TOP_GRAPH) -> Alignment:
    """Align the top-level graphs of two canonical programs, subgraphs recursively.

    Examples
    --------
    ``mlp_v1_again`` is the same program as ``mlp_v1``: every node pairs
    with its own canonical position. ``mlp_v2`` adds one op (see
    :class:`Alignment` for how to read the result):

    >>> import pt2canon
    >>> v1, again, v2 = (pt2canon.canonicalize(f"examples/mlp_{n}.pt2") for n in ("v1", "v1_again", "v2"))
    >>> al = align_programs(v1, again)
    >>> al.a_to_b == list(range(al.a.out + 1)), al.added(), al.removed()
    (True, [], [])
    >>> al = align_programs(v1, v2)
    >>> al.added(), [al.b.target[y].split(".")[-2] for y in al.added()]
    ([3], ['gelu'])

    Swapped, the GELU is a removed op:

    >>> align_programs(v2, v1).removed()
    [3]
    """
    labels: dict[bytes, int] = {}
    return _align(program_side(a, labels), program_side(b, labels), graph, labels)


def align_graphs(a: CanonicalGraph, b: CanonicalGraph, *, graph: GraphPath = TOP_GRAPH) -> Alignment:
    """Align two canonical graphs whose inputs and outputs correspond by position.

    For subgraphs (``cond``'s branches, ...), whose inputs have no
    signature: inputs are keyed by position, not by FQN.

    Examples
    --------
    >>> import pt2canon
    >>> a, b = pt2canon.canonicalize("examples/mlp_v1.pt2"), pt2canon.canonicalize("examples/mlp_v2.pt2")
    >>> al = align_graphs(a.graph, b.graph)
    >>> al.added(), al.a.input_keys[:2], al.input_pairs()[-1]
    ([3], [('in', 0), ('in', 1)], (6, 6))
    """
    labels: dict[bytes, int] = {}
    return _align(subgraph_side(a, labels), subgraph_side(b, labels), graph, labels)
