"""The canonical program's building blocks agree with the graph model."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from corpus import MLP, CorpusEntry, rewrite_zip, run_and_compare
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pt2canon
from pt2canon.canon.emit import emit_graph
from pt2canon.canon.program import canonicalize_program, drop_unkept_metadata, ordering_edges
from pt2canon.canon.result import DEFAULT_PROFILE, Profile
from pt2canon.cli import main
from pt2canon.serde.archive import read_artifact
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
    assert emit_graph(graph, order, inputs, fresh) == expected


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


# --------------------------------------------------------------------------- hints and ranges


def _dynamic_archive(tmp_path: Path, batch: int, *, drop_ranges: bool) -> Path:
    torch.manual_seed(0)
    ep = torch.export.export(MLP().eval(), (torch.randn(batch, 8),), dynamic_shapes={"x": {0: torch.export.Dim("b")}})
    path = tmp_path / f"b{batch}.pt2"
    torch.export.save(ep, path)
    if drop_ranges:
        doc = read_artifact(path).model.program
        doc["range_constraints"] = {}
        path.write_bytes(rewrite_zip(path, replace={"models/model.json": json.dumps(doc).encode()}))
    return path


def test_a_symbol_without_a_range_keeps_its_hint_so_torch_can_load_the_canonical_archive(tmp_path: Path) -> None:
    path = _dynamic_archive(tmp_path, 5, drop_ranges=True)
    x = (torch.randn(5, 8),)
    torch.export.load(path).module()(*x)  # torch loads it: the hint stands in for the range
    canon = tmp_path / "canon.pt2"
    assert main(["canon", str(path), "-o", str(canon)]) == 0
    run_and_compare(path, canon, x)  # without the hint: "vr must not be None for symbol s0"
    hints = [
        s["as_expr"]["hint"]
        for m in read_artifact(canon).model.program["graph_module"]["graph"]["tensor_values"].values()
        for s in m["sizes"]
        if "as_expr" in s
    ]
    assert hints and all(h == {"as_int": 5} for h in hints)


def test_hints_never_count_in_the_hash_with_or_without_a_range(tmp_path: Path) -> None:
    for drop in (False, True):
        a, b = _dynamic_archive(tmp_path, 5, drop_ranges=drop), _dynamic_archive(tmp_path, 9, drop_ranges=drop)
        assert [pt2canon.hash(str(a), level=lv) for lv in ("structure", "graph", "full")] == [
            pt2canon.hash(str(b), level=lv) for lv in ("structure", "graph", "full")
        ]
    ranged = canonicalize_program(read_artifact(_dynamic_archive(tmp_path, 5, drop_ranges=False)).model.program)
    assert not ranged.hints and "'hint': {" not in str(ranged.doc["graph_module"]["graph"]["tensor_values"])


def test_the_range_of_a_symbol_no_value_mentions_is_dropped_as_torchs_loader_drops_it() -> None:
    doc = _rand_program()
    doc["range_constraints"] = {"u7": {"min_val": 0, "max_val": 4}, "u3": {"min_val": 0, "max_val": 4}}
    assert canonicalize_program(doc).doc["range_constraints"] == {}


class _Prints(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        torch.ops.aten._print("before")
        z = self.lin(x) + y
        torch.ops.aten._print("after")
        return z


def test_effect_tokens_user_inputs_and_outputs_keep_the_calling_convention(tmp_path: Path) -> None:
    # run_decompositions threads _print through with_effects and a token input and output.
    path = tmp_path / "tokens.pt2"
    torch.export.save(torch.export.export(_Prints(), (torch.randn(2, 3), torch.randn(2, 3))).run_decompositions(), path)
    sig = read_artifact(path).model.program["graph_module"]["signature"]
    kinds = ([next(iter(s)) for s in sig["input_specs"]], [next(iter(s)) for s in sig["output_specs"]])
    canon = pt2canon.canonicalize(str(path)).doc["graph_module"]["signature"]
    assert kinds[0][0] == "token" and kinds[1][0] == "token"
    assert ([next(iter(s)) for s in canon["input_specs"]], [next(iter(s)) for s in canon["output_specs"]]) == kinds
    out = tmp_path / "canon.pt2"
    assert main(["canon", str(path), "-o", str(out)]) == 0
    run_and_compare(path, out, (torch.randn(2, 3), torch.randn(2, 3)))


def test_a_nested_program_builds_its_graph_model_once_and_zeroes_offsets_in_every_subgraph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Nested(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            def inner_true(y: torch.Tensor) -> torch.Tensor:
                return torch.cat([y[1:].sin(), y[:1]])  # y[1:] is a view at offset 4

            def outer_true(y: torch.Tensor) -> torch.Tensor:
                return torch.cond(y.sum() > 1, inner_true, lambda z: z.cos(), (y,))

            return torch.cond(x.sum() > 0, outer_true, lambda z: z + 1, (x,))

    ep = torch.export.export(Nested(), (torch.randn(3, 4),))
    doc = pt2canon.load(ep).model.program
    before = [m.get("storage_offset") for m in _all_tensor_values(doc["graph_module"]["graph"])]
    assert {"as_int": 4} in before  # the slice inside the nested branch
    import pt2canon.canon.graph as canon_graph

    calls: list[str] = []
    real = canon_graph.to_networkx

    def counting(graph: dict, *, where: str = "graph") -> object:
        calls.append(where)
        return real(graph, where=where)

    monkeypatch.setattr(canon_graph, "to_networkx", counting)
    canon = canonicalize_program(doc)
    assert calls == ["graph_module.graph"]  # the nested subgraphs come with the top-level model
    offsets = [m.get("storage_offset") for m in _all_tensor_values(canon.doc["graph_module"]["graph"])]
    assert offsets and all(o == {"as_int": 0} for o in offsets)


def _all_tensor_values(graph: dict) -> list[dict]:
    out = list((graph.get("tensor_values") or {}).values())
    for node in graph["nodes"]:
        for na in node["inputs"]:
            if "as_graph" in na["arg"]:
                out += _all_tensor_values(na["arg"]["as_graph"]["graph"])
    return out


def _all_nodes(graph: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of ``graph`` and of its subgraphs, at any depth."""
    out = []
    for node in graph["nodes"]:
        out.append(node)
        for na in node["inputs"]:
            if "as_graph" in na["arg"]:
                out += _all_nodes(na["arg"]["as_graph"]["graph"])
    return out


_METADATA = st.dictionaries(
    st.sampled_from(["stack_trace", "nn_module_stack", "source_fn_stack", "torch_fn", "custom"]),
    st.text(max_size=12),
    max_size=4,
)
_PROFILES = st.sampled_from(
    [
        DEFAULT_PROFILE,
        Profile("modules", frozenset({"nn_module_stack"})),
        Profile("two", frozenset({"custom", "torch_fn"})),
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.data())
def test_a_graph_model_let_go_early_gives_the_same_canonical_form_and_is_left_empty(doc: dict, data: Any) -> None:
    profile = data.draw(_PROFILES)
    kept = canonicalize_program(copy.deepcopy(doc), profile=profile)
    let_go = canonicalize_program(doc, profile=profile, keep_model=False)
    assert json.dumps(let_go.doc, sort_keys=True) == json.dumps(kept.doc, sort_keys=True)
    assert (let_go.graph.order, let_go.graph.value_names, let_go.graph.node_names) == (
        kept.graph.order,
        kept.graph.value_names,
        kept.graph.node_names,
    )
    assert kept.graph.model.number_of_nodes() > 0
    graphs = [let_go.graph]
    while graphs:
        g = graphs.pop()
        assert g.model.number_of_nodes() == 0
        graphs += g.subgraphs.values()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.data())
def test_dropping_the_metadata_a_profile_leaves_out_changes_no_canonical_form(doc: dict, data: Any) -> None:
    profile = data.draw(_PROFILES)
    for node in _all_nodes(doc["graph_module"]["graph"]):  # metadata anywhere, or none at all
        if data.draw(st.booleans()):
            node["metadata"] = data.draw(_METADATA)
        else:
            node.pop("metadata", None)
    had = [("metadata" in node, dict(node.get("metadata", {}))) for node in _all_nodes(doc["graph_module"]["graph"])]
    expected = canonicalize_program(copy.deepcopy(doc), profile=profile).doc
    drop_unkept_metadata(doc, profile)
    after = _all_nodes(doc["graph_module"]["graph"])
    assert [("metadata" in node) for node in after] == [present for present, _ in had]
    for node, (_, md) in zip(after, had):
        if "metadata" in node:
            assert node["metadata"] == {k: v for k, v in md.items() if k in profile.keep_metadata}
    assert canonicalize_program(doc, profile=profile).doc == expected


def test_every_corpus_program_canonicalizes_alike_with_its_model_let_go_and_its_metadata_dropped(
    corpus_entry: CorpusEntry,
) -> None:
    program = read_artifact(corpus_entry.path).model.program
    expected = canonicalize_program(copy.deepcopy(program)).doc
    nodes = _all_nodes(program["graph_module"]["graph"])
    assert not nodes or any(node.get("metadata") for node in nodes)  # torch writes metadata: a real test
    drop_unkept_metadata(program)
    assert all(node.get("metadata", {}) == {} for node in _all_nodes(program["graph_module"]["graph"]))
    assert canonicalize_program(program, keep_model=False).doc == expected
