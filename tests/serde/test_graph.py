"""The networkx graph model: exact round trips on real exports, its structure, and broken graphs."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import torch
from corpus import CorpusEntry, run_and_compare, save

from pt2canon._json import canonical_bytes
from pt2canon.errors import GraphError
from pt2canon.serde.archive import read_artifact
from pt2canon.serde.graph import from_networkx, op_nodes, to_networkx
from pt2canon.serde.writer import write_archive


def _program(entry: CorpusEntry) -> dict[str, Any]:
    return read_artifact(entry.path).model.program


def _subgraphs(graph: dict[str, Any], path: str = "graph") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``as_graph`` subgraph, recursively, with its JSON path."""
    for j, node in enumerate(graph["nodes"]):
        for i, na in enumerate(node["inputs"]):
            if "as_graph" in na["arg"]:
                sub_path = f"{path}.nodes[{j}].inputs[{i}].arg.as_graph.graph"
                sub = na["arg"]["as_graph"]["graph"]
                yield sub_path, sub
                yield from _subgraphs(sub, sub_path)


def _ref_names(obj: Any) -> Iterator[str]:
    """Value names referenced in an argument: every string under a ``name``/``as_name`` key.

    Written independently of ``pt2canon.serde.graph.iter_refs``; subgraphs are not entered.
    """
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "as_graph":
                continue
            if key in ("name", "as_name") and isinstance(value, str):
                yield value
            else:
                yield from _ref_names(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _ref_names(value)


# -- every corpus entry ----------------------------------------------------------------


def test_json_to_graph_to_json_is_exact(corpus_entry: CorpusEntry) -> None:
    graph = _program(corpus_entry)["graph_module"]["graph"]
    before = canonical_bytes(graph)
    back = from_networkx(to_networkx(graph))
    assert back == graph
    # Byte-equal too: no 1 -> 1.0 or True -> 1 drift, no key lost or added.
    assert canonical_bytes(back) == before
    assert canonical_bytes(graph) == before  # the input was not modified


def test_every_subgraph_round_trips_exactly_and_hangs_off_its_node(corpus_entry: CorpusEntry) -> None:
    graph = _program(corpus_entry)["graph_module"]["graph"]
    subs = list(_subgraphs(graph))
    G = to_networkx(graph)
    attached = sum(len(G.nodes[n]["subgraphs"]) for n in op_nodes(G))
    top_level = [p for p, _ in subs if p.count(".as_graph.") == 1]
    assert attached == len(top_level)
    for path, sub in subs:
        assert from_networkx(to_networkx(sub, where=path)) == sub, path


def test_the_graph_has_one_node_per_input_op_and_output_and_one_edge_per_use(corpus_entry: CorpusEntry) -> None:
    graph = _program(corpus_entry)["graph_module"]["graph"]
    G = to_networkx(graph)
    kinds = [G.nodes[n]["kind"] for n in G.nodes]
    assert kinds.count("input") == len(graph["inputs"])
    assert kinds.count("op") == len(graph["nodes"])
    assert kinds.count("output") == 1
    uses = sum(len(list(_ref_names(na["arg"]))) for node in graph["nodes"] for na in node["inputs"])
    uses += sum(len(list(_ref_names(arg))) for arg in graph["outputs"])
    assert G.number_of_edges() == uses
    for u, v, data in G.edges(data=True):
        defined = {val.name for val in G.nodes[u]["values"]}
        assert data["value"] in defined, (u, v, data)
    assert nx.is_directed_acyclic_graph(G)
    assert [G.nodes[n]["target"] for n in op_nodes(G)] == [n["target"] for n in graph["nodes"]]


# -- structure on chosen exports --------------------------------------------------------------


class _Square(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x


def test_a_value_used_twice_by_one_node_gives_two_edges(tmp_path: Path) -> None:
    ep = torch.export.export(_Square(), (torch.randn(3),))
    graph = read_artifact(save(ep, tmp_path / "square.pt2")).model.program["graph_module"]["graph"]
    G = to_networkx(graph)
    (mul,) = op_nodes(G)
    edges = sorted(G.in_edges(mul, keys=True, data="value"))
    assert [(u, key[:2], value) for u, _, key, value in edges] == [(0, (0, "self"), "x"), (0, (1, "other"), "x")]


def test_an_unused_output_of_a_multi_output_op_is_kept_without_edges(corpus: dict[str, CorpusEntry]) -> None:
    graph = _program(corpus["multi_output_unused"])["graph_module"]["graph"]
    G = to_networkx(graph)
    unused = []
    for n in op_nodes(G):
        values = G.nodes[n]["values"]
        if len(values) < 2:
            continue
        used = {d["value"] for _, _, d in G.out_edges(n, data=True)}
        unused += [(G.nodes[n]["target"], v.name) for v in values if v.name not in used]
    targets = {t for t, _ in unused}
    assert {"torch.ops.aten.split.Tensor", "torch.ops.aten.max.dim", "torch.ops.aten.topk.default"} <= targets
    assert from_networkx(G) == graph


def test_cond_branches_are_nested_graphs_with_their_own_inputs(corpus: dict[str, CorpusEntry]) -> None:
    graph = _program(corpus["cond"])["graph_module"]["graph"]
    G = to_networkx(graph)
    (cond,) = [n for n in op_nodes(G) if G.nodes[n]["target"] == "torch.ops.higher_order.cond"]
    subs = G.nodes[cond]["subgraphs"]
    assert sorted(subs) == [1, 2]  # inputs: pred, true_fn, false_fn, operands
    for sub in subs.values():
        assert isinstance(sub, nx.MultiDiGraph)
        assert any(sub.nodes[n]["kind"] == "input" for n in sub.nodes)
    true_targets = {subs[1].nodes[n]["target"] for n in op_nodes(subs[1])}
    false_targets = {subs[2].nodes[n]["target"] for n in op_nodes(subs[2])}
    assert "torch.ops.aten.sin.default" in true_targets
    assert "torch.ops.aten.cos.default" in false_targets


def _random_topological_order(G: nx.MultiDiGraph, seed: int) -> list[int]:
    rng = random.Random(seed)
    indegree = {n: G.in_degree(n) for n in G.nodes}
    ready = [n for n, d in indegree.items() if d == 0]
    order = []
    while ready:
        n = ready.pop(rng.randrange(len(ready)))
        order.append(n)
        for _, v in G.out_edges(n):
            indegree[v] -= 1
            if indegree[v] == 0:
                ready.append(v)
    ops = set(op_nodes(G))
    return [n for n in order if n in ops]


@pytest.mark.parametrize("name", ["transformer_layer", "multi_output_unused", "aliased_weights", "dynamic_batch"])
def test_any_topological_order_written_back_is_a_program_torch_runs_the_same(
    corpus: dict[str, CorpusEntry], name: str, tmp_path: Path
) -> None:
    # These programs have no side effects, so every topological order computes the same.
    entry = corpus[name]
    art = read_artifact(entry.path)
    program = copy.deepcopy(art.model.program)
    G = to_networkx(program["graph_module"]["graph"])
    orders = [_random_topological_order(G, seed) for seed in range(20)]
    order = next((o for o in orders if o != op_nodes(G)), orders[0])  # a chain has only one order
    if name in ("transformer_layer", "multi_output_unused"):
        assert order != op_nodes(G)
    program["graph_module"]["graph"] = from_networkx(G, order=order)
    assert [n["target"] for n in program["graph_module"]["graph"]["nodes"]] == [G.nodes[n]["target"] for n in order]
    out = tmp_path / "reordered.pt2"
    write_archive(out, art, {"model": program})
    run_and_compare(entry.ep, out, entry.args, entry.kwargs)


# -- broken graphs -------------------------------------------------------------------------


def _mlp_graph(corpus: dict[str, CorpusEntry]) -> dict[str, Any]:
    return copy.deepcopy(_program(corpus["mlp"])["graph_module"]["graph"])


def test_a_dangling_reference_is_a_graph_error_naming_the_node_and_the_value(corpus: dict[str, CorpusEntry]) -> None:
    graph = _mlp_graph(corpus)
    node = graph["nodes"][1]
    node["inputs"][0]["arg"] = {"as_tensor": {"name": "ghost"}}
    with pytest.raises(GraphError) as exc:
        to_networkx(graph, where="graph_module.graph")
    msg = str(exc.value)
    assert msg.startswith("graph_module.graph: ")
    assert f"node 1 ({node['name']})" in msg
    assert "'ghost'" in msg and "which no graph input or earlier node defines" in msg


def test_a_use_before_its_definition_is_reported_as_out_of_order(corpus: dict[str, CorpusEntry]) -> None:
    graph = _mlp_graph(corpus)
    graph["nodes"][0], graph["nodes"][1] = graph["nodes"][1], graph["nodes"][0]
    with pytest.raises(GraphError, match=r"which a later node defines \(the graph is not in topological order"):
        to_networkx(graph)


def test_a_value_defined_twice_is_a_graph_error(corpus: dict[str, CorpusEntry]) -> None:
    graph = _mlp_graph(corpus)
    first = graph["nodes"][0]["outputs"][0]["as_tensor"]["name"]
    graph["nodes"][1]["outputs"][0] = {"as_tensor": {"name": first}}
    with pytest.raises(GraphError, match=rf"value '{first}' is defined twice"):
        to_networkx(graph)


def test_a_dangling_reference_inside_a_cond_branch_names_the_subgraph_path(corpus: dict[str, CorpusEntry]) -> None:
    graph = copy.deepcopy(_program(corpus["cond"])["graph_module"]["graph"])
    (path, sub), *_ = _subgraphs(graph, "graph_module.graph")
    sub["outputs"] = [{"as_tensor": {"name": "nowhere"}}]
    with pytest.raises(GraphError) as exc:
        to_networkx(graph, where="graph_module.graph")
    assert str(exc.value).startswith(f"{path}: graph output")
    assert "'nowhere'" in str(exc.value)
