"""The canonical program's building blocks agree with the graph model."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pt2canon.canon.program import _emit, canonicalize_program, ordering_edges
from pt2canon.serde.graph import from_networkx, op_nodes, to_networkx
from pt2canon.strategies import programs
from pt2canon.strategies import tensor_meta as _meta


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.randoms(use_true_random=False))
def test_emitting_renamed_json_directly_equals_writing_the_graph_model_back(doc: dict, rnd: random.Random) -> None:
    graph = doc["graph_module"]["graph"]
    G = to_networkx(graph)
    order = op_nodes(G)  # document order is a valid order
    inputs = [n for n, a in G.nodes(data="kind") if a == "input"]
    rnd.shuffle(inputs)
    fresh = {}
    for nid in inputs + order:
        for v in G.nodes[nid]["values"]:
            fresh[v.name] = f"w{len(fresh)}"
    expected = from_networkx(G, order=order, rename=lambda nid, v: fresh[v.name], input_order=inputs)
    assert _emit(graph, order, inputs, fresh) == expected


def test_a_graph_without_mutation_only_chains_its_random_ops() -> None:
    doc = canonicalize_program(_rand_program()).doc
    G = to_networkx(doc["graph_module"]["graph"])
    edges = ordering_edges(G)
    rand = [n for n in op_nodes(G) if "rand" in G.nodes[n]["target"]]
    assert edges == {rand[1]: [rand[0]]}


def _rand_program() -> dict:
    node = lambda name: {  # noqa: E731
        "target": "torch.ops.aten.rand.default",
        "inputs": [{"name": "size", "arg": {"as_ints": [2]}, "kind": 1}],
        "outputs": [{"as_tensor": {"name": name}}],
        "metadata": {},
        "name": name,
    }
    add = {
        "target": "torch.ops.aten.sub.Tensor",
        "inputs": [
            {"name": "self", "arg": {"as_tensor": {"name": "a"}}, "kind": 1},
            {"name": "other", "arg": {"as_tensor": {"name": "b"}}, "kind": 1},
        ],
        "outputs": [{"as_tensor": {"name": "y"}}],
        "metadata": {},
        "name": "y",
    }
    return {
        "graph_module": {
            "graph": {
                "inputs": [],
                "outputs": [{"as_tensor": {"name": "y"}}],
                "nodes": [node("a"), node("b"), add],
                "tensor_values": {},
            },
            "signature": {"input_specs": [], "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": "y"}}}}]},
            "module_call_graph": [],
        },
        "schema_version": {"major": 8, "minor": 20},
    }


def _mutating_program(suffix: str) -> dict:
    """``y = x.add_(1)`` on a user input, returned and reported as a user-input mutation."""
    x, y = "x" + suffix, "y" + suffix
    meta = _meta([{"as_int": 3}])
    add = {
        "target": "torch.ops.aten.add_.Tensor",
        "inputs": [
            {"name": "self", "arg": {"as_tensor": {"name": x}}, "kind": 1},
            {"name": "other", "arg": {"as_int": 1}, "kind": 1},
        ],
        "outputs": [{"as_tensor": {"name": y}}],
        "metadata": {},
        "name": y,
    }
    return {
        "graph_module": {
            "graph": {
                "inputs": [{"as_tensor": {"name": x}}],
                "outputs": [{"as_tensor": {"name": y}}, {"as_tensor": {"name": y}}],
                "nodes": [add],
                "tensor_values": {x: meta, y: meta},
            },
            "signature": {
                "input_specs": [{"user_input": {"arg": {"as_tensor": {"name": x}}}}],
                "output_specs": [
                    {"user_input_mutation": {"arg": {"name": y}, "user_input_name": x}},
                    {"user_output": {"arg": {"as_tensor": {"name": y}}}},
                ],
            },
            "module_call_graph": [],
        },
        "schema_version": {"major": 8, "minor": 20},
    }


def test_a_user_input_mutation_names_both_its_value_and_its_input_canonically() -> None:
    a, b = canonicalize_program(_mutating_program("")), canonicalize_program(_mutating_program("_renamed"))
    assert a.doc == b.doc
    (spec, _) = a.doc["graph_module"]["signature"]["output_specs"]
    assert spec == {"user_input_mutation": {"arg": {"name": "v1"}, "user_input_name": "v0"}}
