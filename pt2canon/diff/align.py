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

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pt2canon._json import canonical_bytes
from pt2canon.canon.program import CanonicalGraph, CanonicalProgram
from pt2canon.diff.fqns import ModuleRenames
from pt2canon.diff.pairing import pair_named_inputs, renamed_outputs, subgraph_input_keys
from pt2canon.diff.records import TOP_GRAPH, GraphPath
from pt2canon.diff.sides import FQN_OUTPUTS, NAMED_INPUTS, GraphSide, program_side, subgraph_side

__all__ = [
    "MAX_CANDIDATES",
    "MAX_ROUNDS",
    "Alignment",
    "SubgraphPair",
    "align_graphs",
    "align_programs",
]

#: Candidates looked at per source and node in the bottom-up pass.
MAX_CANDIDATES = 16
#: Rounds of the bottom-up pass (each followed by propagation).
MAX_ROUNDS = 4


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


# --------------------------------------------------------------------------- matching


def _users_meta(side: GraphSide, v: int) -> frozenset[Any]:
    """The uses of ``v`` with each user's shallow label and output metadata (one level down)."""
    return frozenset((s, o, side.plabel[u], canonical_bytes(side.metas(u))) for s, o, u in side.users[v])


class _Matcher:
    def __init__(self, a: GraphSide, b: GraphSide):
        self.a, self.b = a, b
        self.ma: list[int | None] = [None] * (a.out + 1)
        self.mb: list[int | None] = [None] * (b.out + 1)
        self.queue: deque[tuple[int, int]] = deque()
        self.stats = {"anchors": 0, "identical": 0, "propagated": 0, "similar": 0}
        self.renames = ModuleRenames()
        self.fqns: dict[str, str] = {}

    def match(self, x: int, y: int, phase: str) -> None:
        self.ma[x] = y
        self.mb[y] = x
        self.queue.append((x, y))
        self.stats[phase] += 1

    # phase 0 --------------------------------------------------------------
    def anchors(self) -> None:
        a, b = self.a, self.b
        self.match(a.out, b.out, "anchors")
        where = {k: a.n_ops + j for j, k in enumerate(a.anchor_keys or a.input_keys)}
        for j, k in enumerate(b.input_keys):
            x = where.get(k)
            if x is not None and self.ma[x] is None:
                self.match(x, b.n_ops + j, "anchors")
        # Leftovers of the same kind, in canonical order.
        left_a: dict[Any, deque[int]] = {}
        for j, k in enumerate(a.anchor_keys or a.input_keys):
            if self.ma[a.n_ops + j] is None:
                left_a.setdefault(k[0], deque()).append(a.n_ops + j)
        for j, k in enumerate(b.input_keys):
            y = b.n_ops + j
            q = left_a.get(k[0])
            if self.mb[y] is None and q:
                self.match(q.popleft(), y, "anchors")

    # phase 1 --------------------------------------------------------------
    def identical(self) -> None:
        a, b = self.a, self.b
        ca = Counter(a.fp[: a.n_ops])
        cb = Counter(b.fp[: b.n_ops])
        where = {f: x for x, f in enumerate(a.fp[: a.n_ops]) if ca[f] == 1}
        cands = [y for y in range(b.n_ops) if cb[b.fp[y]] == 1 and b.fp[y] in where]
        cands.sort(key=lambda y: (-b.depth[y], y))
        ma, mb = self.ma, self.mb
        for y0 in cands:
            x0 = where[b.fp[y0]]
            if ma[x0] is not None or mb[y0] is not None:
                continue
            stack = [(x0, y0)]
            while stack:
                x, y = stack.pop()
                if ma[x] is not None or mb[y] is not None:
                    continue
                self.match(x, y, "identical")
                ob = b.operands[y]
                for s, (o, px) in a.operands[x].items():
                    e = ob.get(s)
                    if e is None or e[0] != o:
                        continue
                    py = e[1]
                    if px < a.n_ops and py < b.n_ops and a.fp[px] == b.fp[py] and ma[px] is None and mb[py] is None:
                        stack.append((px, py))

    # phase 2 --------------------------------------------------------------
    def propagate(self) -> None:
        """Grow the matching along edges to a fixpoint (phase 2).

        A pair whose output metadata differ (a block of other widths inserted
        in a chain of blocks of one op each) is deferred: it is matched only
        when nothing with equal metadata is left to grow from, so that the
        pairs that agree in every respect decide first.
        """
        a, b, ma, mb = self.a, self.b, self.ma, self.mb
        queue = self.queue
        deferred: deque[tuple[int, int]] = deque()

        def grow(x: int, y: int) -> None:
            if a.metas(x) == b.metas(y):
                self.match(x, y, "propagated")
            else:
                deferred.append((x, y))

        while True:
            if not queue:
                while deferred and not queue:
                    x, y = deferred.popleft()
                    if ma[x] is None and mb[y] is None:
                        self.match(x, y, "propagated")
                if not queue:
                    return
            x, y = queue.popleft()
            ob = b.operands[y]
            for s, (o, px) in a.operands[x].items():
                e = ob.get(s)
                if e is None or e[0] != o:
                    continue
                py = e[1]
                if px < a.n_ops and py < b.n_ops and ma[px] is None and mb[py] is None and a.plabel[px] == b.plabel[py]:
                    grow(px, py)
            ua = [(s, o, u) for s, o, u in a.users[x] if ma[u] is None]
            if not ua:
                continue
            ub = [(s, o, u) for s, o, u in b.users[y] if mb[u] is None]
            if not ub:
                continue
            ga: dict[Any, list[int]] = {}
            for s, o, u in ua:
                lst = ga.setdefault((s, o, a.plabel[u]), [])
                if u not in lst:
                    lst.append(u)
            gb: dict[Any, list[int]] = {}
            for s, o, u in ub:
                lst = gb.setdefault((s, o, b.plabel[u]), [])
                if u not in lst:
                    lst.append(u)
            for key, us in gb.items():
                xs = ga.get(key)
                if not xs:
                    continue
                xs = [u for u in xs if ma[u] is None]
                us = [u for u in us if mb[u] is None]
                if len(xs) == 1 and len(us) == 1:
                    grow(xs[0], us[0])
                elif xs and us:
                    self._disambiguate(xs, us)

    def _disambiguate(self, xs: list[int], ys: list[int]) -> None:
        """Pair same-label users by fully aligned operands, else by unique fingerprint."""
        a, b, ma = self.a, self.b, self.ma
        sig_a: dict[Any, list[int]] = {}
        for x in xs:
            mapped = [(s, o, ma[p]) for s, (o, p) in a.operands[x].items()]
            if all(m[2] is not None for m in mapped):
                sig_a.setdefault(frozenset(mapped), []).append(x)
        sig_b: dict[Any, list[int]] = {}
        for y in ys:
            sig_b.setdefault(frozenset((s, o, p) for s, (o, p) in b.operands[y].items()), []).append(y)
        done_a: set[int] = set()
        done_b: set[int] = set()
        for sig, ys_ in sig_b.items():
            xs_ = sig_a.get(sig)
            if not xs_:
                continue
            # Equal operands and labels. Tell them apart by output metadata and by their users'
            # fingerprints, pairing only keys unique on both sides; what is left is paired in
            # canonical order only when it is interchangeable (all keys equal, as many each side).
            keys_a = {x: (canonical_bytes(a.metas(x)), a.ufp[x], _users_meta(a, x)) for x in xs_}
            keys_b = {y: (canonical_bytes(b.metas(y)), b.ufp[y], _users_meta(b, y)) for y in ys_}
            for part in (lambda k: k, lambda k: k[0], lambda k: k[1:]):
                ca = Counter(part(keys_a[x]) for x in xs_ if x not in done_a)
                cb = Counter(part(keys_b[y]) for y in ys_ if y not in done_b)
                for y in ys_:
                    if y in done_b:
                        continue
                    k = part(keys_b[y])
                    if cb[k] == 1 and ca.get(k) == 1:
                        x = next(x for x in xs_ if x not in done_a and part(keys_a[x]) == k)
                        self.match(x, y, "propagated")
                        done_a.add(x)
                        done_b.add(y)
            rest_x = [x for x in xs_ if x not in done_a]
            rest_y = [y for y in ys_ if y not in done_b]
            if len(rest_x) == len(rest_y) and len({keys_a[x] for x in rest_x} | {keys_b[y] for y in rest_y}) == 1:
                for x, y in zip(rest_x, rest_y):
                    self.match(x, y, "propagated")
                    done_a.add(x)
                    done_b.add(y)
        fa = Counter(a.fp[x] for x in xs if x not in done_a)
        fb = Counter(b.fp[y] for y in ys if y not in done_b)
        for y in ys:
            if y in done_b or fb[b.fp[y]] != 1 or fa.get(b.fp[y]) != 1:
                continue
            x = next(x for x in xs if x not in done_a and a.fp[x] == b.fp[y])
            if self.ma[x] is None:
                self.match(x, y, "propagated")

    # phase 3 --------------------------------------------------------------
    def similar(self) -> bool:
        a, b, ma, mb = self.a, self.b, self.ma, self.mb
        na, nb = max(a.n_ops, 1), max(b.n_ops, 1)
        # Hints: unmatched A ops by (target, module path), and operand-less ones by target.
        by_module: dict[Any, list[int]] = {}
        by_source: dict[Any, list[int]] = {}
        any_left = False
        for x in range(a.n_ops):
            if ma[x] is None:
                any_left = True
                mod = a.module(x)
                if mod is not None:
                    by_module.setdefault((a.target[x], mod), []).append(x)
                if not a.operands[x]:
                    by_source.setdefault(a.target[x], []).append(x)
        if not any_left:
            return False
        scored: list[tuple[int, float, int, int]] = []
        for y in range(b.n_ops):
            if mb[y] is not None:
                continue
            cands = self._candidates(y, by_module, by_source)
            for x in cands:
                if ma[x] is not None:
                    continue
                sc = self._score(x, y)
                if sc is not None:
                    scored.append((-sc, abs(x / na - y / nb), y, x))
        # Best pairs first, over the whole round; ties by relative position, then B's and A's index.
        scored.sort()
        found = False
        for _, _, y, x in scored:
            if ma[x] is None and mb[y] is None:
                self.match(x, y, "similar")
                found = True
        self.propagate()
        return found

    def _add_users(self, cands: dict[int, None], px: int, hop: bool) -> None:
        """Unmatched users of A's ``px`` (and, with ``hop``, their unmatched users) into ``cands``."""
        a, ma = self.a, self.ma
        k = 0
        for _s, _o, u in a.users[px]:
            if u < a.n_ops and ma[u] is None:
                if u not in cands:
                    cands[u] = None
                    k += 1
                if hop:  # one op of A deleted in between
                    for _s2, _o2, w in a.users[u][:MAX_CANDIDATES]:
                        if w < a.n_ops and ma[w] is None and w not in cands:
                            cands[w] = None
                            k += 1
                if k >= MAX_CANDIDATES:
                    return

    def _candidates(self, y: int, by_module: dict[Any, list[int]], by_source: dict[Any, list[int]]) -> dict[int, None]:
        """Unmatched A ops that may pair with B's ``y`` (insertion-ordered, bounded per source)."""
        a, b, ma, mb = self.a, self.b, self.ma, self.mb
        cands: dict[int, None] = {}
        # Users of the counterparts of y's producers (and of their producers: one op of B inserted).
        for _o, py in b.operands[y].values():
            px = mb[py]
            if px is not None:
                self._add_users(cands, px, True)
            else:
                for _o2, q in b.operands[py].values():
                    qx = mb[q]
                    if qx is not None:
                        self._add_users(cands, qx, False)
        # Producers, at the same slot, for the counterparts of y's users.
        for s, _o, uy in b.users[y]:
            ux = mb[uy]
            if ux is None:
                continue
            e = a.operands[ux].get(s)
            if e is not None and e[1] < a.n_ops and ma[e[1]] is None:
                cands[e[1]] = None
        # Same target: with the module hint, or when neither has operands.
        mod = b.module(y)
        hinted = by_module.get((b.target[y], mod), ()) if mod is not None else ()
        sources = by_source.get(b.target[y], ()) if not b.operands[y] else ()
        for group in (hinted, sources):
            k = 0
            for x in group:
                if ma[x] is None:
                    cands[x] = None
                    k += 1
                    if k >= MAX_CANDIDATES:
                        break
        return cands

    def _score(self, x: int, y: int) -> int | None:
        a, b, ma = self.a, self.b, self.ma
        oa, ob = a.operands[x], b.operands[y]
        exact = loose = 0
        for s, (o, px) in oa.items():
            e = ob.get(s)
            if e is None:
                continue
            py = e[1]
            if ma[px] == py and e[0] == o:
                exact += 1
            elif any(ma[q] == py for _, q in a.operands[px].values()) or any(
                ma[px] == q for _, q in b.operands[py].values()
            ):
                loose += 1
        if oa and ob:
            # The same producers read in other slots (swapped operands).
            common = Counter((o, ma[p]) for o, p in oa.values() if ma[p] is not None) & Counter(ob.values())
            loose += max(0, sum(common.values()) - exact)
        ub = {(s, o, u) for s, o, u in b.users[y]}
        for s, o, u in a.users[x]:
            if (s, o, ma[u]) in ub:
                exact += 1
        # Users one hop apart: an op deleted after x in A, or inserted after y in B.
        mb = self.mb
        below_a = {
            w2
            for _s, _o, w in a.users[x][:MAX_CANDIDATES]
            if ma[w] is None
            for _s2, _o2, w2 in a.users[w][:MAX_CANDIDATES]
        }
        below_b = {
            w2
            for _s, _o, w in b.users[y][:MAX_CANDIDATES]
            if mb[w] is None
            for _s2, _o2, w2 in b.users[w][:MAX_CANDIDATES]
        }
        if below_a:
            loose += sum(1 for _s, _o, u in b.users[y] if mb[u] is not None and mb[u] in below_a)
        if below_b:
            loose += sum(1 for _s, _o, u in a.users[x] if ma[u] is not None and ma[u] in below_b)
        same_target = a.target[x] == b.target[y]
        if not same_target and (oa or ob) and not (oa.keys() & ob.keys()):
            return None  # other targets with no argument in common: not the same op changed
        if not (exact or (same_target and (loose or (not oa and not ob)))):
            return None
        score = 2 * exact + loose
        if same_target:
            # A shared target is strong evidence next to an aligned edge, a weak one without; equal
            # constant arguments too break the tie between the users of a deleted or inserted op.
            score += (3 if exact else 1) + (a.plabel[x] == b.plabel[y])
        mod = b.module(y)
        if mod is not None and a.module(x) == mod:
            score += 1
        if a.metas(x) == b.metas(y):
            score += 1
        if a.ufp[x] == b.ufp[y]:
            score += 2
        return score

    # phase 5 --------------------------------------------------------------
    def pair_named_inputs(self) -> None:
        """Phase 5: pair the named inputs through their readers (:func:`pt2canon.diff.pairing.pair_named_inputs`)."""
        self.fqns = pair_named_inputs(self.a, self.b, self.ma, self.mb)
        self.renames = ModuleRenames.learn(self.fqns.items())

    def run(self) -> None:
        self.anchors()
        self.queue.clear()  # structure first: identical cones propagate before the FQN anchors
        self.identical()
        self.queue.extend((x, y) for x, y in enumerate(self.ma) if y is not None)
        self.propagate()
        for _ in range(MAX_ROUNDS):
            if not self.similar():
                break
        self.pair_named_inputs()


def _match(a: GraphSide, b: GraphSide) -> _Matcher:
    """Run the matcher; when modules turn out renamed (an inserted block), run it again with A's
    FQN anchors and mutation outputs in B's names, so that what the FQNs anchor agrees with
    the structure (the ``num_batches_tracked`` update of a shifted block pairs with its block's)."""
    m = _Matcher(a, b)
    m.run()
    if m.renames and a.output_spec_keys is not None:
        a.anchor_keys = [(k[0], m.renames.rename(k[1])) if k[0] in NAMED_INPUTS else k for k in a.input_keys]
        predicted = {f: m.renames.rename(f) for k, f in a.built_output_spec_keys() if k in FQN_OUTPUTS}
        a.rekey_outputs(renamed_outputs(a, predicted))
        m = _Matcher(a, b)
        m.run()
    if a.output_spec_keys is not None:
        a.rekey_outputs(renamed_outputs(a, m.fqns))
    return m


def _align(a: GraphSide, b: GraphSide, graph: GraphPath, labels: dict[bytes, int]) -> Alignment:
    m = _match(a, b)
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
