"""Isomorphic ties: interchangeable nodes never make the canonical form depend on input order."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pt2canon._json import canonical_bytes
from pt2canon.canon.hashing import hash_layers
from pt2canon.canon.program import canonicalize_program

T = "torch.ops.aten."


def _meta(*sizes: int) -> dict[str, Any]:
    return {
        "dtype": 7,
        "sizes": [{"as_int": s} for s in sizes],
        "requires_grad": False,
        "device": {"type": "cpu", "index": None},
        "strides": [{"as_int": 1} for _ in sizes],
        "storage_offset": {"as_int": 0},
        "layout": 7,
    }


def _node(target: str, inputs: list[tuple[str, dict[str, Any]]], out: str) -> dict[str, Any]:
    return {
        "target": T + target,
        "inputs": [{"name": n, "arg": a, "kind": 1} for n, a in inputs],
        "outputs": [{"as_tensor": {"name": out}}],
        "metadata": {},
        "name": out,
    }


def _program(nodes: list[dict[str, Any]], outputs: list[str], inputs: tuple[str, ...] = ("x",)) -> dict[str, Any]:
    values = {v: _meta(2, 3) for v in inputs}
    for n in nodes:
        values[n["outputs"][0]["as_tensor"]["name"]] = _meta(2, 3)
    return {
        "graph_module": {
            "graph": {
                "inputs": [{"as_tensor": {"name": v}} for v in inputs],
                "outputs": [{"as_tensor": {"name": o}} for o in outputs],
                "nodes": nodes,
                "tensor_values": values,
                "sym_int_values": {},
                "sym_bool_values": {},
                "is_single_tensor_return": False,
                "custom_obj_values": {},
                "sym_float_values": {},
            },
            "signature": {
                "input_specs": [{"user_input": {"arg": {"as_tensor": {"name": v}}}} for v in inputs],
                "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": o}}}} for o in outputs],
            },
            "module_call_graph": [],
            "metadata": {},
        },
        "opset_version": {"aten": 10},
        "range_constraints": {},
        "schema_version": {"major": 8, "minor": 20},
        "verifiers": [],
        "torch_version": "2.13.0+cpu",
        "guards_code": [],
    }


def _zeros(out: str) -> dict[str, Any]:
    return _node("zeros.default", [("size", {"as_ints": [2, 3]})], out)


def _two_constant_producers(first: str, second: str) -> dict[str, Any]:
    """Two identical ``zeros`` nodes with no tensor inputs, feeding ``sin`` and ``cos``."""
    producers = {"a": _zeros("a"), "b": _zeros("b")}
    nodes = [
        producers[first],
        producers[second],
        _node("sin.default", [("self", {"as_tensor": {"name": "a"}})], "s"),
        _node("cos.default", [("self", {"as_tensor": {"name": "b"}})], "c"),
        _node("sub.Tensor", [("self", {"as_tensor": {"name": "s"}}), ("other", {"as_tensor": {"name": "c"}})], "y"),
    ]
    return _program(nodes, ["y"])


def test_identical_constant_producers_listed_in_either_order_give_the_same_hash() -> None:
    ab, ba = _two_constant_producers("a", "b"), _two_constant_producers("b", "a")
    assert canonical_bytes(canonicalize_program(ab).doc) == canonical_bytes(canonicalize_program(ba).doc)
    for level in ("structure", "graph"):
        assert (
            hash_layers({"m": canonicalize_program(ab)}, level=level).hash
            == hash_layers({"m": canonicalize_program(ba)}, level=level).hash
        )


def test_torch_canonicalize_breaks_the_same_tie_by_original_position() -> None:
    torch = pytest.importorskip("torch")
    del torch
    from torch._export.serde import schema
    from torch._export.serde.serialize import _dataclass_to_dict, _dict_to_dataclass, canonicalize

    outs = []
    for order in (("a", "b"), ("b", "a")):
        ep = _dict_to_dataclass(schema.ExportedProgram, _two_constant_producers(*order))
        outs.append(canonical_bytes(_dataclass_to_dict(canonicalize(ep))))
    assert outs[0] != outs[1], "torch's canonicalize no longer fails this case: update docs/canonical-form.md"


def test_nodes_differing_only_in_a_constant_listed_in_either_order_give_the_same_hash() -> None:
    base = _program(
        [
            _node("mul.Scalar", [("self", {"as_tensor": {"name": "x"}}), ("other", {"as_float": 2.0})], "p"),
            _node("mul.Scalar", [("self", {"as_tensor": {"name": "x"}}), ("other", {"as_float": 3.0})], "q"),
            _node("add.Tensor", [("self", {"as_tensor": {"name": "p"}}), ("other", {"as_tensor": {"name": "q"}})], "y"),
        ],
        ["y"],
    )
    swapped = copy.deepcopy(base)
    nodes = swapped["graph_module"]["graph"]["nodes"]
    nodes[0], nodes[1] = nodes[1], nodes[0]
    assert canonical_bytes(canonicalize_program(base).doc) == canonical_bytes(canonicalize_program(swapped).doc)
    listing = [n["inputs"][1]["arg"] for n in canonicalize_program(base).doc["graph_module"]["graph"]["nodes"][:2]]
    assert listing == [{"as_float": 2.0}, {"as_float": 3.0}], "the constant decides the order, not the position"


def test_swapping_the_wiring_of_the_tied_pair_is_a_different_program() -> None:
    a = _two_constant_producers("a", "b")
    b = copy.deepcopy(a)
    sub = b["graph_module"]["graph"]["nodes"][4]
    sub["inputs"][0]["arg"], sub["inputs"][1]["arg"] = sub["inputs"][1]["arg"], sub["inputs"][0]["arg"]
    assert (
        hash_layers({"m": canonicalize_program(a)}, level="structure").hash
        != hash_layers({"m": canonicalize_program(b)}, level="structure").hash
    )


@pytest.mark.parametrize("n", [2, 5])
def test_many_interchangeable_nodes_give_one_canonical_form_for_every_permutation(n: int) -> None:
    import itertools

    seen = set()
    base_nodes = [_node("relu.default", [("self", {"as_tensor": {"name": "x"}})], f"r{i}") for i in range(n)]
    for perm in itertools.islice(itertools.permutations(range(n)), 24):
        nodes = [copy.deepcopy(base_nodes[i]) for i in perm]
        cat = _node("cat.default", [("tensors", {"as_tensors": [{"name": f"r{i}"} for i in range(n)]})], "y")
        seen.add(canonical_bytes(canonicalize_program(_program([*nodes, cat], ["y"])).doc))
    assert len(seen) == 1


def test_uses_of_different_outputs_of_one_node_are_told_apart_by_output_index() -> None:
    from pt2canon.serde.graph import to_networkx

    mx = {
        "target": T + "max.dim",
        "inputs": [
            {"name": "self", "arg": {"as_tensor": {"name": "x"}}, "kind": 1},
            {"name": "dim", "arg": {"as_int": 0}, "kind": 1},
        ],
        "outputs": [{"as_tensor": {"name": "m"}}, {"as_tensor": {"name": "i"}}],
        "metadata": {},
        "name": "max",
    }

    def program(first: str, second: str) -> dict[str, Any]:
        div = _node(
            "div.Tensor", [("self", {"as_tensor": {"name": first}}), ("other", {"as_tensor": {"name": second}})], "y"
        )
        return _program([copy.deepcopy(mx), div], ["y"])

    G = to_networkx(program("i", "m")["graph_module"]["graph"])
    outs = sorted(d["out"] for _, _, d in G.in_edges(2, data=True))
    assert outs == [0, 1]
    a, b = program("i", "m"), program("m", "i")
    assert (
        hash_layers({"m": canonicalize_program(a)}, level="structure").hash
        != hash_layers({"m": canonicalize_program(b)}, level="structure").hash
    )


def _nested_cond(inner_size: int) -> dict[str, Any]:
    """``cond(x, true=<graph holding another cond>, false=<sin>)``; the innermost graph's shape varies."""

    def leaf(target: str, size: int) -> dict[str, Any]:
        return {
            "inputs": [{"as_tensor": {"name": "a"}}],
            "outputs": [{"as_tensor": {"name": "b"}}],
            "nodes": [_node(target, [("self", {"as_tensor": {"name": "a"}})], "b")],
            "tensor_values": {"a": _meta(2, size), "b": _meta(2, size)},
        }

    def cond(pred: str, operand: str, true: dict[str, Any], false: dict[str, Any], out: str) -> dict[str, Any]:
        return {
            "target": "torch.ops.higher_order.cond",
            "inputs": [
                {"name": "", "arg": {"as_tensor": {"name": pred}}, "kind": 1},
                {"name": "", "arg": {"as_graph": {"name": "true_graph", "graph": true}}, "kind": 1},
                {"name": "", "arg": {"as_graph": {"name": "false_graph", "graph": false}}, "kind": 1},
                {"name": "", "arg": {"as_tensors": [{"name": operand}]}, "kind": 1},
            ],
            "outputs": [{"as_tensor": {"name": out}}],
            "metadata": {},
            "name": out,
        }

    middle = {
        "inputs": [{"as_tensor": {"name": "a"}}],
        "outputs": [{"as_tensor": {"name": "c"}}],
        "nodes": [cond("a", "a", leaf("cos.default", inner_size), leaf("exp.default", inner_size), "c")],
        "tensor_values": {"a": _meta(2, 3), "c": _meta(2, 3)},
    }
    return _program([cond("x", "x", middle, leaf("sin.default", 3), "y")], ["y"])


def test_shapes_inside_a_nested_subgraph_do_not_change_the_structure_hash() -> None:
    a, b = _nested_cond(3), _nested_cond(5)
    structure = [hash_layers({"m": canonicalize_program(d)}, level="structure").hash for d in (a, b)]
    graph = [hash_layers({"m": canonicalize_program(d)}, level="graph").hash for d in (a, b)]
    assert structure[0] == structure[1]
    assert graph[0] != graph[1]
