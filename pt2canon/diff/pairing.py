"""Pairing what the node alignment does not pair by itself: named inputs, subgraph inputs, renamed outputs.

:func:`pair_named_inputs` pairs parameters, buffers, constants and
objects through the aligned ops that read them (the FQN anchors of the
matcher only guided the node alignment); :func:`subgraph_input_keys`
keys a higher-order op's subgraph inputs through its operands;
:func:`renamed_outputs` keys the mutations of renamed inputs in B's names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pt2canon.diff.fqns import ModuleRenames
from pt2canon.diff.sides import FQN_OUTPUTS, GraphSide

__all__ = ["pair_named_inputs", "renamed_outputs", "subgraph_input_keys"]


def pair_named_inputs(a: GraphSide, b: GraphSide, ma: list[int | None], mb: list[int | None]) -> dict[str, str]:
    """Pair parameters, buffers, constants and objects through the aligned ops that read them.

    The FQN anchors of phase 0 only guided the node alignment: an FQN
    shifted by an inserted block (``features.12.*`` -> ``features.13.*``)
    names another tensor. Now each named input is paired, in turn:

    1. with the one its aligned reader reads at the same single-tensor
       argument (first reader in B's order wins; a position in a list
       such as ``cond``'s operands shifts, so lists do not count here),
       unless B's input of its kind and FQN still is it
       (:func:`_fqn_holds`: the operands were swapped);
    2. by FQN: A's FQN with its module renamed as step 1 showed
       (:class:`~pt2canon.diff.fqns.ModuleRenames`), of the same kind;
    3. by the same FQN and kind;
    4. with an input an aligned reader reads anywhere, of the same kind
       and metadata, in argument order;
    5. inputs that no op reads on either side (the other names of tied
       weights), of the same kind and metadata, in canonical order.

    The rest is added or removed; nothing is paired by position. The
    mutation outputs of renamed inputs take B's keys.

    Examples
    --------
    The matcher calls it with its matches so far (``ma``/``mb``, view id
    -> partner, edited in place). On the bundled MLPs each parameter is
    read by the same linear on both sides, so each keeps its FQN:

    >>> import pt2canon
    >>> from pt2canon.diff.align import align_programs
    >>> al = align_programs(pt2canon.canonicalize("examples/mlp_v1.pt2"), pt2canon.canonicalize("examples/mlp_v2.pt2"))
    >>> ma, mb = list(al.a_to_b), list(al.b_to_a)
    >>> fqns = pair_named_inputs(al.a, al.b, ma, mb)
    >>> len(fqns), all(fa == fb for fa, fb in fqns.items()), ma == al.a_to_b
    (6, True, True)
    """
    named_a = [x for x in range(a.n_ops, a.out) if a.named_input(x)]
    named_b = [y for y in range(b.n_ops, b.out) if b.named_input(y)]
    if not named_a or not named_b:
        return {}
    for x in named_a:
        anchored = ma[x]
        if anchored is not None:
            mb[anchored] = None
            ma[x] = None

    def pair(x: int, y: int) -> None:
        ma[x], mb[y] = y, x

    same_fqn = {b.input_keys[y - b.n_ops]: y for y in named_b}
    # The uses of B's named inputs by aligned ops, in B's order (first reader first).
    uses = sorted(
        ((y, s, o, py) for py in named_b for s, o, y in b.users[py] if y < b.n_ops and mb[y] is not None),
        key=lambda use: use[0],
    )
    readers: list[tuple[int, int]] = []
    for y, s, o, py in uses:  # 1. the same single-tensor argument of aligned readers
        reader = mb[y]
        assert reader is not None
        if not readers or readers[-1][1] != y:
            readers.append((reader, y))
        e = a.operands[reader].get(s)
        if e is None or e[0] != o or len(s[1]) != 1 or not a.named_input(e[1]):
            continue
        if mb[py] is None and ma[e[1]] is None and not _fqn_holds(a, b, mb, e[1], py, same_fqn):
            pair(e[1], py)
    if all(mb[y] is not None for y in named_b) or all(ma[x] is not None for x in named_a):
        return dict(_fqn_pairs(a, b, ma, named_a))
    renames = ModuleRenames.learn(_fqn_pairs(a, b, ma, named_a))
    where_b = {b.input_keys[y - b.n_ops]: y for y in named_b if mb[y] is None}
    for renamed_module in (True, False):  # 2. and 3. by FQN, module renamed and as it is
        if renamed_module and not renames:
            continue
        for x in named_a:
            kind, fqn = a.input_keys[x - a.n_ops]
            found = where_b.get((kind, renames.rename(fqn) if renamed_module else fqn))
            if ma[x] is None and found is not None and mb[found] is None:
                pair(x, found)
    for x, y in readers:  # 4. an aligned reader, any argument, the same kind and metadata
        if not any(b.named_input(p) and mb[p] is None for _o, p in b.operands[y].values()):
            continue
        left_a = [p for _s, _o, p in a.ordered_operands(x) if a.named_input(p) and ma[p] is None]
        if not left_a:
            continue
        for _s, _o, py in b.ordered_operands(y):
            if not (b.named_input(py) and mb[py] is None):
                continue
            kind = b.input_keys[py - b.n_ops][0]
            for px in left_a:
                same = a.shape_key(px) == b.shape_key(py)
                if ma[px] is None and a.input_keys[px - a.n_ops][0] == kind and same:
                    pair(px, py)
                    break
    unread_a = [x for x in named_a if ma[x] is None and not a.users[x]]
    unread_b = [y for y in named_b if mb[y] is None and not b.users[y]]
    for x in unread_a:  # 5. inputs no op reads on either side (tied weights' other names): kind and metadata
        kind = a.input_keys[x - a.n_ops][0]
        for y in unread_b:
            if mb[y] is None and b.input_keys[y - b.n_ops][0] == kind and a.shape_key(x) == b.shape_key(y):
                pair(x, y)
                break
    return dict(_fqn_pairs(a, b, ma, named_a))


def _fqn_holds(a: GraphSide, b: GraphSide, mb: list[int | None], x: int, y: int, same_fqn: Mapping[Any, int]) -> bool:
    """Whether A's ``x`` is B's input of its own kind and FQN rather than ``y``, which its reader reads.

    It is when B has that input, of the same metadata, read by an op
    aligned with one of ``x``'s readers: then the reader reads another
    input than before (swapped operands), it is not the tensor renamed.
    A shifted FQN names a tensor of other metadata, or one no aligned op
    reads (a tied weight's other name).
    """
    other = same_fqn.get(a.input_keys[x - a.n_ops])
    if other is None or other == y or a.shape_key(x) != b.shape_key(other):
        return False
    readers_a = {u for _s, _o, u in a.users[x]}
    return any(mb[u] in readers_a for _s, _o, u in b.users[other])


def _fqn_pairs(a: GraphSide, b: GraphSide, ma: list[int | None], named_a: list[int]) -> list[tuple[str, str]]:
    """``(A's FQN, B's FQN)`` of the named inputs paired so far."""
    out = []
    for x in named_a:
        partner = ma[x]
        if partner is not None:
            out.append((a.input_keys[x - a.n_ops][1], b.input_keys[partner - b.n_ops][1]))
    return out


def subgraph_input_keys(
    a: GraphSide, b: GraphSide, a_to_b: list[int | None], x: int, y: int, n_a: int, n_b: int
) -> tuple[list[Any], list[Any]] | None:
    """Keys of the subgraph inputs of ops ``x`` (A) and ``y`` (B), aligned by ``a_to_b``, paired through their operands.

    A subgraph's inputs are the higher-order op's last value references in
    argument order (``cond``'s operands, ``while_loop``'s carried and
    additional inputs, ``map``'s xs and positional args). Inputs whose
    operands are produced by aligned values get equal keys, at the same
    position first (an operand list holding one value twice keeps its
    order), then anywhere (a list that shifted); the others pair among
    themselves in order. ``None`` when the op has fewer references than
    the subgraph has inputs.

    Examples
    --------
    B passes ``cond`` its operands the other way round (and its branches
    take them so): A's first subgraph input is B's second.

    >>> import torch, pt2canon
    >>> from pt2canon.diff.align import align_programs
    >>> class Branchy(torch.nn.Module):
    ...     def __init__(self, swap):
    ...         super().__init__()
    ...         self.swap = swap
    ...     def forward(self, p, x, y):
    ...         if self.swap:
    ...             return torch.cond(p, lambda b, a: a - b, lambda b, a: a + b, (y, x))
    ...         return torch.cond(p, lambda a, b: a - b, lambda a, b: a + b, (x, y))
    >>> args = (torch.tensor(True), torch.ones(2), torch.zeros(2))
    >>> al = align_programs(*(pt2canon.canonicalize(torch.export.export(Branchy(s), args)) for s in (False, True)))
    >>> x = next(v for v in range(al.a.n_ops) if al.a.target[v] == "torch.ops.higher_order.cond")
    >>> subgraph_input_keys(al.a, al.b, list(al.a_to_b), x, al.a_to_b[x], 2, 2)
    ([('in', 1), ('in', 0)], [('in', 0), ('in', 1)])
    """
    ops_a, ops_b = a.ordered_operands(x), b.ordered_operands(y)
    if len(ops_a) < n_a or len(ops_b) < n_b:
        return None
    tail_a, tail_b = ops_a[len(ops_a) - n_a :], ops_b[len(ops_b) - n_b :]
    partner: dict[int, int] = {}  # A's input -> B's input

    def same(i: int, j: int) -> bool:
        return j not in partner.values() and tail_a[i][1] == tail_b[j][1] and a_to_b[tail_a[i][2]] == tail_b[j][2]

    for i in range(min(n_a, n_b)):
        if same(i, i):
            partner[i] = i
    for i in range(n_a):
        if i not in partner:
            j = next((j for j in range(n_b) if same(i, j)), None)
            if j is not None:
                partner[i] = j
    left_b = [j for j in range(n_b) if j not in partner.values()]
    partner.update(zip((i for i in range(n_a) if i not in partner), left_b))
    keys_b: list[Any] = [("in", j) for j in range(n_b)]
    keys_a: list[Any] = [("in", partner[i]) if i in partner else ("in?", "a", i) for i in range(n_a)]
    return keys_a, keys_b


def renamed_outputs(a: GraphSide, fqns: Mapping[str, str]) -> dict[Any, Any]:
    """A's output keys of mutations and gradients of renamed parameters and buffers, in B's FQNs.

    Examples
    --------
    The same program with its mutated buffer renamed from ``count`` to ``steps``:

    >>> import torch, pt2canon
    >>> from pt2canon.diff.align import align_programs
    >>> class Counter(torch.nn.Module):
    ...     def __init__(self, name):
    ...         super().__init__()
    ...         self.buffer = name
    ...         self.register_buffer(name, torch.zeros(2))
    ...     def forward(self, x):
    ...         getattr(self, self.buffer).add_(x)
    ...         return x + 1
    >>> def canon(name):  # functional form: the mutation becomes an output
    ...     return pt2canon.canonicalize(torch.export.export(Counter(name), (torch.ones(2),)).run_decompositions())
    >>> a = align_programs(canon("count"), canon("steps")).a
    >>> a.built_output_spec_keys()
    [('buffer_mutation', 'count'), ('user', 0)]
    >>> renamed_outputs(a, {"count": "steps"})
    {('buffer_mutation', 'count'): ('buffer_mutation', 'steps')}
    """
    out = {}
    for kind, fqn in a.built_output_spec_keys():
        if kind in FQN_OUTPUTS and fqns.get(fqn, fqn) != fqn:
            out[(kind, fqn)] = (kind, fqns[fqn])
    return out
