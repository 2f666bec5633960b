"""The schema checks' fast path never changes their verdict: with it or without it, the same error or none."""

from __future__ import annotations

import copy
import json
import warnings
from typing import Any

import pytest
from corpus import Corpus, member_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pt2canon.serde.schema as schema
from pt2canon.errors import Pt2CanonError, SchemaError
from pt2canon.serde.layout import DEFAULT_LIMITS, Limits

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.sampled_from(["", "x", "v0"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["name", "as_int", "as_tensor"]), inner, max_size=2)
    ),
    max_leaves=6,
)


def _leaves(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``obj`` (containers included, the root excluded)."""
    out = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        out.append((*path, k))
        out += _leaves(v, (*path, k))
    return out


def _verdict(
    doc: Any, *, fast: bool, monkeypatch: pytest.MonkeyPatch, limits: Limits = DEFAULT_LIMITS
) -> tuple[str, ...]:
    with monkeypatch.context() as m:
        if not fast:
            for name in ("plain_node", "plain_argument", "plain_tensor_meta", "plain_spec", "plain_call_entry"):
                m.setattr(schema, name, lambda *_args: False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                schema.check_program(doc, limits=limits)
            except Pt2CanonError as exc:
                return (type(exc).__name__, str(exc))
    return ("accepted", *sorted(str(w.message) for w in caught))


@pytest.fixture(scope="module")
def mlp_doc(corpus: Corpus) -> dict[str, Any]:
    return json.loads(member_bytes(corpus["mlp"].path, "models/model.json"))


def _mutated(doc: dict[str, Any], where: str, pick: int, leaf: int, value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with one value inside one part of ``where`` (a node, a spec, ...) replaced by ``value``."""
    doc = copy.deepcopy(doc)
    gm = doc["graph_module"]
    graph = gm["graph"]
    table = {
        "nodes": graph["nodes"],
        "tensor_values": graph["tensor_values"],
        "graph inputs": graph["inputs"],
        "input_specs": gm["signature"]["input_specs"],
        "module_call_graph": gm["module_call_graph"],
    }[where]
    keys = list(range(len(table))) if isinstance(table, list) else sorted(table)
    part = table[keys[pick % len(keys)]]
    path = _leaves(part)[leaf % len(_leaves(part))]
    holder = part
    for k in path[:-1]:
        holder = holder[k]
    holder[path[-1]] = value
    return doc


_PARTS = st.sampled_from(["nodes", "tensor_values", "graph inputs", "input_specs", "module_call_graph"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=_PARTS, pick=st.integers(0, 10_000), leaf=st.integers(0, 10_000), value=_JSON)
def test_a_part_with_one_value_replaced_gets_the_same_verdict_with_and_without_the_fast_path(
    mlp_doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch, where: str, pick: int, leaf: int, value: Any
) -> None:
    doc = _mutated(mlp_doc, where, pick, leaf, value)
    assert _verdict(doc, fast=True, monkeypatch=monkeypatch) == _verdict(doc, fast=False, monkeypatch=monkeypatch)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=_PARTS, pick=st.integers(0, 10_000), leaf=st.integers(0, 10_000), value=_JSON,
       limits=st.builds(Limits, max_depth=st.integers(2, 16), max_node_values=st.integers(0, 12),
                        max_tensor_rank=st.integers(0, 6)))  # fmt: skip
def test_under_lowered_limits_the_fast_path_still_gives_the_full_checks_verdict(
    mlp_doc: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    pick: int,
    leaf: int,
    value: Any,
    limits: Limits,
) -> None:
    # The fast checks count nothing against the limits, so under limits lower than what they
    # accept they must step aside (before, a plain node went past max_node_values=10 unrefused).
    doc = _mutated(mlp_doc, where, pick, leaf, value)
    fast = _verdict(doc, fast=True, monkeypatch=monkeypatch, limits=limits)
    assert fast == _verdict(doc, fast=False, monkeypatch=monkeypatch, limits=limits)


def test_a_plain_node_or_tensor_over_a_lowered_limit_is_refused() -> None:
    x = {"as_tensor": {"name": "x"}}
    node = {"target": "torch.ops.aten.cat.default", "inputs": [{"name": f"a{i}", "arg": x} for i in range(20)],
            "outputs": []}  # fmt: skip
    graph = {"inputs": [x], "outputs": [], "nodes": [node]}
    assert schema.plain_node(node)
    with pytest.raises(SchemaError, match=r"graph.nodes\[0\]: node takes and gives 20 values, .* max_node_values=10"):
        schema.check_graph(graph, limits=Limits(max_node_values=10))
    dims = [{"as_int": 1}] * 5
    meta = {"dtype": 7, "sizes": dims, "strides": dims, "storage_offset": {"as_int": 0}, "layout": 0,
            "device": {"type": "cpu", "index": None}, "requires_grad": False}  # fmt: skip
    assert schema.plain_tensor_meta(meta)
    with pytest.raises(SchemaError, match=r"sizes: 5 dimensions, over the limit max_tensor_rank=3"):
        schema.check_graph({**graph, "nodes": [], "tensor_values": {"x": meta}}, limits=Limits(max_tensor_rank=3))
    nested = {"target": "t", "inputs": [{"name": "a", "arg": {"as_int_lists": [[1], [2]]}}], "outputs": []}
    assert schema.plain_node(nested)
    with pytest.raises(SchemaError, match="over the limit max_depth=7"):
        schema.check_graph({**graph, "nodes": [nested]}, limits=Limits(max_depth=7))


def test_the_fast_path_takes_the_common_parts_of_a_real_export(mlp_doc: dict[str, Any]) -> None:
    # Without this the property above would hold trivially (a fast path that accepts nothing).
    graph = mlp_doc["graph_module"]["graph"]
    assert all(schema.plain_node(n) for n in graph["nodes"])
    assert all(schema.plain_tensor_meta(m) for m in graph["tensor_values"].values())
    assert all(schema.plain_argument(a) for a in graph["inputs"])
    specs = mlp_doc["graph_module"]["signature"]["input_specs"]
    assert sum(schema.plain_spec(s, schema.INPUT_SPEC_TAGS) for s in specs) == len(specs) - 1  # all but the user input
    entries = mlp_doc["graph_module"]["module_call_graph"]
    assert sum(map(schema.plain_call_entry, entries)) == len(entries) - 1  # all but the root's
