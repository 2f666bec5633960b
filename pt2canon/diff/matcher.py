"""The matcher behind :func:`pt2canon.diff.align.align_programs`: which node of A is which node of B.

Phases 0-3 of the alignment, as :mod:`pt2canon.diff.align` describes
them: anchors, identical cones, growing along edges, the bounded
bottom-up pass; then the named inputs are paired through the aligned ops
(:mod:`pt2canon.diff.pairing`). :func:`match_sides` runs it (twice when
modules turn out renamed).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

from pt2canon._json import canonical_bytes
from pt2canon.diff.fqns import ModuleRenames
from pt2canon.diff.pairing import pair_named_inputs, renamed_outputs
from pt2canon.diff.sides import FQN_OUTPUTS, NAMED_INPUTS, GraphSide

__all__ = ["MAX_CANDIDATES", "MAX_ROUNDS", "Matcher", "match_sides"]

#: Candidates looked at per source and node in the bottom-up pass.
MAX_CANDIDATES = 16
#: Rounds of the bottom-up pass (each followed by propagation).
MAX_ROUNDS = 4


def _users_meta(side: GraphSide, v: int) -> frozenset[Any]:
    """The uses of ``v`` with each user's shallow label and output metadata (one level down)."""
    return frozenset((s, o, side.plabel[u], canonical_bytes(side.metas(u))) for s, o, u in side.users[v])


class Matcher:
    """The matching of two sides, phase by phase (:meth:`run` runs them all).

    ``ma[x]`` is B's partner of A's view id ``x`` (``None``: none yet),
    ``mb[y]`` A's of B's ``y``; ``stats`` counts the pairs each phase made;
    ``fqns`` pairs A's FQNs with B's and ``renames`` the module renames
    they show (phase 4, :func:`~pt2canon.diff.pairing.pair_named_inputs`).

    Examples
    --------
    The bundled MLPs: ``mlp_v2`` adds a GELU (B's op 3), so A's op 3 is B's 4:

    >>> import pt2canon
    >>> from pt2canon.diff.sides import program_side
    >>> labels = {}
    >>> a, b = (program_side(pt2canon.canonicalize(f"examples/mlp_{n}.pt2"), labels) for n in ("v1", "v2"))
    >>> m = Matcher(a, b)
    >>> m.run()
    >>> m.ma[:5], m.stats
    ([0, 1, 2, 4, 5], {'anchors': 8, 'identical': 3, 'propagated': 2, 'similar': 0})
    """

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
    def free_operand_pairs(self, x: int, y: int) -> Iterator[tuple[int, int]]:
        """The producer ops of A's ``x`` and B's ``y`` at the same argument slot and value, both unmatched.

        Pairs come in the order of ``x``'s operands; each is unmatched when
        it is yielded (the caller may match it before taking the next).
        """
        a, b, ma, mb = self.a, self.b, self.ma, self.mb
        ob = b.operands[y]
        for s, (o, px) in a.operands[x].items():
            e = ob.get(s)
            if e is None or e[0] != o:
                continue
            py = e[1]
            if px < a.n_ops and py < b.n_ops and ma[px] is None and mb[py] is None:
                yield px, py

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
                for px, py in self.free_operand_pairs(x, y):
                    if a.fp[px] == b.fp[py]:
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
            for px, py in self.free_operand_pairs(x, y):
                if a.plabel[px] == b.plabel[py]:
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


def match_sides(a: GraphSide, b: GraphSide) -> Matcher:
    """Run the matcher; when modules turn out renamed (an inserted block), run it again with A's
    FQN anchors and mutation outputs in B's names, so that what the FQNs anchor agrees with
    the structure (the ``num_batches_tracked`` update of a shifted block pairs with its block's).

    Examples
    --------
    >>> import pt2canon
    >>> from pt2canon.diff.sides import program_side
    >>> labels = {}
    >>> a, b = (program_side(pt2canon.canonicalize(f"examples/mlp_{n}.pt2"), labels) for n in ("v1", "v2"))
    >>> m = match_sides(a, b)
    >>> m.mb[3] is None, sorted(m.fqns.items())[:2]  # B's GELU has no partner; each FQN keeps its name
    (True, [('fc1.bias', 'fc1.bias'), ('fc1.weight', 'fc1.weight')])
    """
    m = Matcher(a, b)
    m.run()
    if m.renames and a.output_spec_keys is not None:
        a.anchor_keys = [(k[0], m.renames.rename(k[1])) if k[0] in NAMED_INPUTS else k for k in a.input_keys]
        predicted = {f: m.renames.rename(f) for k, f in a.built_output_spec_keys() if k in FQN_OUTPUTS}
        a.rekey_outputs(renamed_outputs(a, predicted))
        m = Matcher(a, b)
        m.run()
    if a.output_spec_keys is not None:
        a.rekey_outputs(renamed_outputs(a, m.fqns))
    return m
