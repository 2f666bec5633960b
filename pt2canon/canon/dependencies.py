"""Ordering edges: which ops must stay in document order (effects, tokens, asserts), as DAG edges."""

from __future__ import annotations

import itertools
from typing import Any

import networkx as nx

from pt2canon.canon.effects import OpEffects, effects_from_name, effects_of_node, needs_node_args
from pt2canon.serde.graph import op_nodes
from pt2canon.serde.model import in_uses, node_attrs, out_uses

__all__ = ["ordering_edges"]


def _effects(G: nx.MultiDiGraph, nid: int, sub_ordered: bool) -> OpEffects:
    attrs = node_attrs(G)[nid]
    target = attrs["target"]
    eff = effects_from_name(target)
    if needs_node_args(target):
        eff = effects_of_node(target, {na.get("name") or "": na["arg"] for na in attrs["args"]})
    if sub_ordered and not eff.ordered:
        return OpEffects(mutates=frozenset({"*"}), effectful=True)
    return eff


def ordering_edges(G: nx.MultiDiGraph, ordered_subgraphs: set[int] | None = None) -> dict[int, list[int]]:
    """Extra ``pred -> node`` edges that pin side effects, from the document order.

    * ordered ops form one chain in their original relative order;
    * for each alias class (a value, the views of it and the results of
      in-place ops on it) every reader between two mutations is placed
      after the first and before the second.

    ``ordered_subgraphs`` holds the HOP nodes whose subgraphs contain
    ordered ops; they count as ordered and as mutating their tensor inputs.

    Returns ``{node: [nodes that must come before it]}``.

    Examples
    --------
    ``r = relu(x); m = x.add_(1); s = neg(x)``: ``relu`` reads ``x`` before
    the in-place add, ``neg`` after it, though neither reads ``m``
    (node ids: ``x`` 0, then the ops 1 to 3 in document order):

    >>> from pt2canon.serde.graph import to_networkx
    >>> ref = lambda name: {"as_tensor": {"name": name}}
    >>> def op(target, y, x, *more):
    ...     args = [{"name": "self", "arg": ref(x), "kind": 1}, *({"name": "other", "arg": a, "kind": 1} for a in more)]
    ...     return {"target": target, "name": y, "metadata": {}, "inputs": args, "outputs": [ref(y)]}
    >>> G = to_networkx({"inputs": [ref("x")], "outputs": [ref("r"), ref("s")], "nodes": [
    ...     op("torch.ops.aten.relu.default", "r", "x"),
    ...     op("torch.ops.aten.add_.Tensor", "m", "x", {"as_int": 1}),
    ...     op("torch.ops.aten.neg.default", "s", "x")]})
    >>> ordering_edges(G)
    {2: [1], 3: [2]}

    When ``neg`` reads ``m`` instead, its data edge already orders it:

    >>> G = to_networkx({"inputs": [ref("x")], "outputs": [ref("r"), ref("s")], "nodes": [
    ...     op("torch.ops.aten.relu.default", "r", "x"),
    ...     op("torch.ops.aten.add_.Tensor", "m", "x", {"as_int": 1}),
    ...     op("torch.ops.aten.neg.default", "s", "m")]})
    >>> ordering_edges(G)
    {2: [1]}

    Without mutation only the ordered ops are chained: of ``a = rand([2]);
    c = exp(a); b = rand([2])``, the second draw stays after the first:

    >>> rand = lambda y: {"target": "torch.ops.aten.rand.default", "name": y, "metadata": {},
    ...                   "inputs": [{"name": "size", "arg": {"as_ints": [2]}, "kind": 1}], "outputs": [ref(y)]}
    >>> G = to_networkx({"inputs": [], "outputs": [ref("c"), ref("b")],
    ...                  "nodes": [rand("a"), op("torch.ops.aten.exp.default", "c", "a"), rand("b")]})
    >>> ordering_edges(G)
    {2: [0]}
    """
    ordered_subgraphs = ordered_subgraphs or set()
    ops = op_nodes(G)
    attrs, succ = node_attrs(G), out_uses(G)
    effects = {v: _effects(G, v, v in ordered_subgraphs) for v in ops}
    if not any(e.mutates for e in effects.values()):
        # No mutation: only the chain of ordered ops (random draws, asserts).
        chain = [v for v in ops if effects[v].ordered]
        return {v: [p] for p, v in itertools.pairwise(chain) if v not in succ[p]}
    parent: dict[tuple[int, Any], tuple[int, Any]] = {}

    def find(x: tuple[int, Any]) -> tuple[int, Any]:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    preds: dict[int, set[int]] = {}
    last_ordered: int | None = None
    readers: dict[Any, list[int]] = {}
    last_mut: dict[Any, int] = {}
    pred_adj = in_uses(G)
    for v in ops:
        eff = effects[v]
        args = attrs[v]["args"]
        ins = []  # (class root, mutated?)
        first_tensor = None
        for u, keyed in pred_adj[v].items():
            for key, d in keyed.items():
                if d["vkind"] != "tensor":
                    continue
                root = find((u, d["slot"]))
                idx, argname = key[0], key[1]
                if first_tensor is None or (idx, argname) < first_tensor[0]:
                    first_tensor = ((idx, argname), root)
                m = bool(eff.mutates) and (
                    "*" in eff.mutates
                    or argname in eff.mutates
                    or ("<out>" in eff.mutates and args[idx].get("kind") == 2)
                )
                ins.append((root, m))
        if eff.ordered:
            if last_ordered is not None:
                preds.setdefault(v, set()).add(last_ordered)
            last_ordered = v
        mutated = {r for r, m in ins if m}
        for root, _ in ins:
            lm = last_mut.get(root)
            if lm is not None and lm != v:
                preds.setdefault(v, set()).add(lm)
            if root not in mutated:
                readers.setdefault(root, []).append(v)
        for root in mutated:
            for r in readers.pop(root, ()):
                if r != v:
                    preds.setdefault(v, set()).add(r)
            last_mut[root] = v
        if eff.view and first_tensor is not None:
            for val in attrs[v]["values"]:
                if val.kind == "tensor":
                    parent[find((v, val.slot))] = first_tensor[1]
    # Drop edges already implied by a data edge, keep the rest as sorted lists.
    return {
        v: sorted(p for p in ps if v not in succ[p]) for v, ps in preds.items() if any(v not in succ[p] for p in ps)
    }
