"""Alignment of two canonical graphs: identical cones first, growth along edges, a bounded similarity pass."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import torch
from corpus import transformer_stack
from hypothesis import HealthCheck, given, settings

import pt2canon
from pt2canon.canon.program import canonicalize_program
from pt2canon.diff.align import Alignment, align_programs
from pt2canon.serde.metadata import module_path
from pt2canon.strategies import programs, rewrites

SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def align(a: dict[str, Any], b: dict[str, Any]) -> Alignment:
    return align_programs(canonicalize_program(a), canonicalize_program(b))


def meta(dtype: int = 7) -> dict[str, Any]:
    return {
        "dtype": dtype,
        "sizes": [{"as_int": 3}],
        "requires_grad": False,
        "device": {"type": "cpu", "index": None},
        "strides": [{"as_int": 1}],
        "storage_offset": {"as_int": 0},
        "layout": 7,
    }


def make(
    ops: list[tuple[str, str, list[str]]], outputs: list[str], dtypes: dict[str, int] | None = None
) -> dict[str, Any]:
    """User input ``x``, one node per ``(name, aten target, tensor args)``."""
    dtypes = dtypes or {}
    nodes = [
        {
            "target": "torch.ops.aten." + t,
            "inputs": [
                {"name": ("self", "other")[i], "arg": {"as_tensor": {"name": a}}, "kind": 1} for i, a in enumerate(args)
            ],
            "outputs": [{"as_tensor": {"name": n}}],
            "metadata": {"nn_module_stack": f"L__self__,,M;L__self___{n},blocks.{n},torch.nn.Module"},
            "name": n,
        }
        for n, t, args in ops
    ]
    graph = {
        "inputs": [{"as_tensor": {"name": "x"}}],
        "outputs": [{"as_tensor": {"name": o}} for o in outputs],
        "nodes": nodes,
        "tensor_values": {"x": meta(), **{n: meta(dtypes.get(n, 7)) for n, _, _ in ops}},
        "sym_int_values": {},
        "sym_bool_values": {},
        "sym_float_values": {},
        "custom_obj_values": {},
    }
    return {
        "graph_module": {
            "graph": graph,
            "signature": {
                "input_specs": [{"user_input": {"arg": {"as_tensor": {"name": "x"}}}}],
                "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": o}}}} for o in outputs],
            },
            "module_call_graph": [],
        },
        "opset_version": {},
        "range_constraints": {},
        "schema_version": {"major": 8, "minor": 20},
        "torch_version": "2.13.0",
    }


def pairs_by_original_name(al: Alignment) -> dict[str, str]:
    return {al.a.original_name(x): al.b.original_name(y) for x, y in al.op_pairs()}  # type: ignore[misc]


def test_the_module_path_is_the_innermost_nn_module_stack_entry() -> None:
    stack = "L__self__,,m.Enc;L__self___layers_3,layers.3,m.Layer;L__self___layers_3_linear1,layers.3.linear1,torch.nn.Linear"
    assert module_path({"nn_module_stack": stack}) == "layers.3.linear1"
    # Commas inside brackets do not split (as torch's metadata_split).
    assert (
        module_path({"nn_module_stack": "k,getattr(L['self'].layers, '0'),torch.nn.Linear"})
        == "getattr(L['self'].layers, '0')"
    )
    assert module_path({"nn_module_stack": "L__self__,,m.Enc"}) == ""
    assert module_path({}) is None and module_path({"nn_module_stack": "garbage"}) is None and module_path(None) is None


@SETTINGS
@given(programs().flatmap(lambda d: rewrites(d).map(lambda r: (d, r))))
def test_a_rewrite_aligns_every_node_with_a_node_of_the_same_label(pair: tuple[dict, dict]) -> None:
    doc, rewritten = pair
    al = align(doc, rewritten)
    assert al.added() == [] and al.removed() == []
    for x, y in al.op_pairs():
        assert al.a.plabel[x] == al.b.plabel[y]
        assert al.a.metas(x) == al.b.metas(y)
    assert all(p is not None for p in al.a_to_b) and all(p is not None for p in al.b_to_a)
    for _, _, _, sub in al.subgraphs:
        assert sub.added() == [] and sub.removed() == []


@SETTINGS
@given(programs())
def test_alignment_is_deterministic_and_symmetric(doc: dict) -> None:
    one, two = align(doc, doc), align(doc, doc)
    assert one.a_to_b == two.a_to_b == list(range(len(one.a_to_b)))  # a program aligns with itself node for node


def test_identical_ancestry_is_matched_first_and_the_rest_grows_along_edges() -> None:
    ops = [
        ("a", "relu.default", ["x"]),
        ("b", "sin.default", ["a"]),
        ("c", "neg.default", ["b"]),
        ("d", "exp.default", ["c"]),
    ]
    changed = [
        ("a", "relu.default", ["x"]),
        ("b", "cos.default", ["a"]),
        ("c", "neg.default", ["b"]),
        ("d", "exp.default", ["c"]),
    ]
    al = align(make(ops, ["d"]), make(changed, ["d"]))
    assert pairs_by_original_name(al) == {"a": "a", "b": "b", "c": "c", "d": "d"}
    # a: an identical cone; c and d: from the output backwards; b: by similarity (one target changed).
    assert al.stats == {"anchors": 2, "identical": 1, "propagated": 2, "similar": 1}


def test_an_inserted_op_leaves_exactly_that_op_unmatched() -> None:
    ops = [("a", "relu.default", ["x"]), ("b", "sin.default", ["a"]), ("c", "neg.default", ["b"])]
    inserted = [
        ("a", "relu.default", ["x"]),
        ("t", "tanh.default", ["a"]),
        ("b", "sin.default", ["t"]),
        ("c", "neg.default", ["b"]),
    ]
    al = align(make(ops, ["c"]), make(inserted, ["c"]))
    assert pairs_by_original_name(al) == {"a": "a", "b": "b", "c": "c"}
    assert [al.b.original_name(y) for y in al.added()] == ["t"] and al.removed() == []


def test_swapped_operands_pair_the_same_node_when_nothing_else_anchors_it() -> None:
    ops = [
        ("a", "relu.default", ["x"]),
        ("b", "sin.default", ["x"]),
        ("s", "sub.Tensor", ["a", "b"]),
        ("o", "cos.default", ["x"]),
    ]
    swapped = [
        ("a", "relu.default", ["x"]),
        ("b", "sin.default", ["x"]),
        ("s", "sub.Tensor", ["b", "a"]),
        ("o", "cos.default", ["x"]),
    ]
    al = align(make(ops, ["o"]), make(swapped, ["o"]))  # s is dead: no user anchors it
    assert pairs_by_original_name(al) == {"a": "a", "b": "b", "s": "s", "o": "o"}
    assert al.stats["similar"] == 1


def test_interchangeable_nodes_pair_by_equal_metadata() -> None:
    # A: mul(x, x) f16 and add(x, x) f32; B: the add became a mul. The two muls of B differ only in dtype.
    ops = [("m", "mul.Tensor", ["x", "x"]), ("p", "add.Tensor", ["x", "x"])]
    changed = [("m", "mul.Tensor", ["x", "x"]), ("p", "mul.Tensor", ["x", "x"])]
    dtypes = {"m": 6, "p": 7}
    al = align(make(ops, ["x"], dtypes), make(changed, ["x"], dtypes))
    assert pairs_by_original_name(al) == {"m": "m", "p": "p"}


def _full(name: str, value: float) -> dict[str, Any]:
    return {
        "target": "torch.ops.aten.full.default",
        "inputs": [
            {"name": "size", "arg": {"as_ints": [3]}, "kind": 1},
            {"name": "fill_value", "arg": {"as_float": value}, "kind": 1},
        ],
        "outputs": [{"as_tensor": {"name": name}}],
        "metadata": {"nn_module_stack": f"L__self__,,M;L__self___{name},blocks.{name},torch.nn.Module"},
        "name": name,
    }


def test_identical_nodes_read_by_the_output_pair_by_output_slot() -> None:
    ops = [("u", "relu.default", ["x"]), ("v", "relu.default", ["x"])]
    al = align(make(ops, ["u", "v"]), make(ops, ["v", "u"]))
    assert pairs_by_original_name(al) == {"u": "v", "v": "u"}  # output 0 with output 0


def test_module_paths_are_hints_for_otherwise_unanchored_nodes() -> None:
    # Two dead constant-producing nodes, both constants changed: no edge anchors them; in B
    # their canonical order (by constant) is the reverse of A's. The module path decides.
    base = make([("o", "cos.default", ["x"])], ["o"])
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    for doc, (vp, vq) in ((a, (1.0, 2.0)), (b, (3.0, 0.5))):
        g = doc["graph_module"]["graph"]
        g["nodes"] += [_full("p", vp), _full("q", vq)]
        g["tensor_values"].update(p=meta(), q=meta())
    al = align(a, b)
    assert pairs_by_original_name(al) == {"p": "p", "q": "q", "o": "o"}
    # Without module paths the nearer canonical position decides: the constants are crossed.
    for doc in (a, b):
        for n in doc["graph_module"]["graph"]["nodes"]:
            n["metadata"] = {}
    assert pairs_by_original_name(align(a, b)) == {"p": "q", "q": "p", "o": "o"}


def test_equal_metadata_decides_between_otherwise_interchangeable_nodes() -> None:
    ops = [("u", "relu.default", ["x"]), ("v", "relu.default", ["x"]), ("o", "cos.default", ["x"])]
    al = align(make(ops, ["o"], {"u": 6, "v": 7}), make(ops, ["o"], {"u": 7, "v": 6}))
    assert pairs_by_original_name(al) == {"u": "v", "v": "u", "o": "o"}


def test_graph_inputs_align_by_signature_kind_and_fqn_and_user_inputs_by_position(corpus: Any) -> None:
    doc = pt2canon.load(corpus["mlp"].path).model.program
    new = copy.deepcopy(doc)
    gm = new["graph_module"]
    gm["graph"]["inputs"].append({"as_tensor": {"name": "y"}})
    gm["graph"]["tensor_values"]["y"] = gm["graph"]["tensor_values"]["x"]
    gm["signature"]["input_specs"].append({"user_input": {"arg": {"as_tensor": {"name": "y"}}}})
    al = align(doc, new)
    pairs = al.input_pairs()
    assert pairs[:-1] == [(j, j) for j in range(len(pairs) - 1)] and pairs[-1] == (None, len(pairs) - 1)
    # Parameters in canonical order (by first use: linear(x, weight, bias)), user inputs by position.
    assert [al.b.input_keys[j] for _, j in pairs] == [
        ("parameter", "fc1.weight"),
        ("parameter", "fc1.bias"),
        ("parameter", "fc2.weight"),
        ("parameter", "fc2.bias"),
        ("user", 0),
        ("user", 1),
    ]


def test_subgraphs_of_matched_higher_order_ops_are_aligned_recursively(corpus: Any) -> None:
    doc = pt2canon.load(corpus["cond"].path).model.program
    new = json.loads(json.dumps(doc).replace('"torch.ops.aten.sin.default"', '"torch.ops.aten.tanh.default"'))
    al = align(doc, new)
    assert al.added() == [] and al.removed() == [] and len(al.subgraphs) == 2
    changed = [
        pair.alignment
        for pair in al.subgraphs
        if any(pair.alignment.a.target[x] != pair.alignment.b.target[y] for x, y in pair.alignment.op_pairs())
    ]
    (sub,) = changed
    assert sub.added() == [] and sub.removed() == []
    ((node, subgraph),) = sub.graph.steps
    assert node.startswith("n") and subgraph.startswith("subgraph_")


@pytest.fixture(scope="module")
def six_layers() -> tuple[dict[str, Any], dict[str, Any]]:
    module, ep, args = transformer_stack(6)
    layer = module.layers[3]
    sa_block = layer._sa_block
    layer._sa_block = lambda *a, **k: torch.relu(sa_block(*a, **k))
    ep2 = torch.export.export(module, args)
    return pt2canon.load(ep).model.program, pt2canon.load(ep2).model.program


def test_on_a_real_export_the_cones_before_an_insertion_match_as_identical_and_the_rest_propagates(
    six_layers: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    a, b = six_layers
    al = align(a, b)
    assert al.removed() == []
    (added,) = al.added()
    assert al.b.target[added] == "torch.ops.aten.relu.default" and al.b.module(added) == "layers.3"
    n = al.a.n_ops
    assert n == 210 and al.b.n_ops == 211
    # Everything upstream of the insertion is one identical cone family; downstream grows along edges.
    assert al.stats["identical"] >= added - 1
    assert al.stats["identical"] + al.stats["propagated"] + al.stats["similar"] == n
    assert al.stats["similar"] == 0
    # The pairing preserves each node's module and target.
    for x, y in al.op_pairs():
        assert al.a.target[x] == al.b.target[y] and al.a.module(x) == al.b.module(y)
