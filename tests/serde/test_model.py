"""Typed access to the graph model agrees with torch.fx; lint names the node and the rule."""

from __future__ import annotations

import copy
import operator
from typing import Any

import networkx as nx
import pytest
from corpus import CORE_NAMES, Corpus
from hypothesis import given, settings
from hypothesis import strategies as st

from pt2canon.errors import GraphError
from pt2canon.serde.archive import read_artifact
from pt2canon.serde.graph import to_networkx
from pt2canon.serde.model import lint, node, nodes, output_node
from pt2canon.strategies import programs


def _model(doc: dict[str, Any]) -> nx.MultiDiGraph:
    return to_networkx(doc["graph_module"]["graph"])


def _fx_ids(ep: Any) -> dict[Any, int]:
    """fx node -> graph-model id: placeholders are inputs, each op an op node (getitem: its source)."""
    ids: dict[Any, int] = {}
    placeholders = [n for n in ep.graph.nodes if n.op == "placeholder"]
    nxt = len(placeholders)
    for n in ep.graph.nodes:
        if n.op == "placeholder":
            ids[n] = placeholders.index(n)
        elif n.op == "call_function" and n.target is operator.getitem:
            ids[n] = ids[n.args[0]]
        elif n.op == "call_function":
            ids[n] = nxt
            nxt += 1
        elif n.op == "output":
            ids[n] = nxt
    return ids


@pytest.mark.parametrize("name", [n for n in CORE_NAMES if n != "cond"])
def test_inputs_and_users_are_the_ones_torch_fx_gives_each_node(corpus: Corpus, name: str) -> None:
    if name not in corpus:
        pytest.skip("does not export with this torch")
    entry = corpus[name]
    G = _model(read_artifact(entry.path).model.program)
    ids = _fx_ids(entry.ep)
    for fx_node, nid in ids.items():
        if fx_node.op == "call_function" and fx_node.target is operator.getitem:
            continue
        ours = node(G, nid)
        assert set(ours.all_input_nodes) == {ids[x] for x in fx_node.all_input_nodes}, fx_node
        theirs = {ids[u] for u in fx_node.users if not (u.op == "call_function" and u.target is operator.getitem)}
        theirs |= {ids[w] for u in fx_node.users if u.target is operator.getitem for w in u.users}
        assert set(ours.users) == theirs, fx_node


def test_every_program_torch_saves_lints_clean_and_reads_the_same_through_the_views(corpus: Corpus) -> None:
    for entry in corpus.values():
        doc = read_artifact(entry.path).model.program
        G = _model(doc)
        lint(G)
        ops = list(nodes(G, "op"))
        assert [n.target for n in ops] == [n["target"] for n in doc["graph_module"]["graph"]["nodes"]]
        assert output_node(G).kind == "output" and not output_node(G).users


def _break_edge(G: nx.MultiDiGraph, rnd: Any) -> int:
    edges = list(G.edges(keys=True, data=True))
    _, v, _, d = edges[rnd.randrange(len(edges))]
    d["out"] = d["out"] + 1
    return v


def _duplicate_value(G: nx.MultiDiGraph, rnd: Any) -> int:
    ops = [n for n in nodes(G, "op") if n.values]
    target = ops[rnd.randrange(len(ops))]
    first = node(G, 0).values[0]
    attrs = G._node[target.id]
    attrs["values"] = (first._replace(slot=attrs["values"][0].slot), *attrs["values"][1:])
    return target.id


def _reverse_edge(G: nx.MultiDiGraph, rnd: Any) -> int:
    ops = [n.id for n in nodes(G, "op") if any(u >= len(list(nodes(G, "input"))) for u in G._pred[n.id])]
    if not ops:
        return -1
    v = ops[rnd.randrange(len(ops))]
    u = next(u for u in G._pred[v] if G._node[u]["kind"] == "op")
    keyed = G._pred[v].pop(u)
    del G._succ[u][v]
    G._succ[v][u] = G._pred[u][v] = keyed
    return u


@settings(max_examples=60, deadline=None)
@given(programs(), st.sampled_from([_break_edge, _duplicate_value, _reverse_edge]), st.randoms())
def test_a_broken_model_fails_lint_naming_the_node_that_breaks_the_rule(
    doc: dict[str, Any], breaker: Any, rnd: Any
) -> None:
    G = _model(copy.deepcopy(doc))
    lint(G)
    nid = breaker(G, rnd)
    if nid < 0:
        return
    with pytest.raises(GraphError, match=rf"node {nid} \("):
        lint(G)
