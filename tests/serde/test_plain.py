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
from json_paths import at, leaves

import pt2canon.serde.schema as schema
from pt2canon.errors import Pt2CanonError, SchemaError
from pt2canon.serde.layout import DEFAULT_LIMITS, Limits
from pt2canon.serde.plain import PLAIN_NODE_VALUES, PLAIN_RANK

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.sampled_from(["", "x", "v0"])
    | st.builds(dict, name=st.just("x")),  # the argument of a state spec, where an Argument union belongs
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["name", "as_int", "as_tensor"]), inner, max_size=2)
    ),
    max_leaves=6,
)


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


@pytest.fixture(scope="module")
def docs(mlp_doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    # No corpus export updates state, so "mutation" adds a buffer mutation to the MLP: an output
    # spec of the plain shape, wired to a graph output as torch wires it.
    mutation = copy.deepcopy(mlp_doc)
    graph, sig = mutation["graph_module"]["graph"], mutation["graph_module"]["signature"]
    name = graph["nodes"][0]["outputs"][0]["as_tensor"]["name"]
    graph["outputs"].insert(0, {"as_tensor": {"name": name}})
    sig["output_specs"].insert(0, {"buffer_mutation": {"arg": {"name": name}, "buffer_name": "fc1.weight"}})
    graph["outputs"].insert(1, {"as_tensor": {"name": name}})
    sig["output_specs"].insert(1, {"user_input_mutation": {"arg": {"name": name}, "user_input_name": "x"}})
    return {"mlp": mlp_doc, "mutation": mutation}


_PARTS = ("nodes", "tensor_values", "graph inputs", "input_specs", "output_specs", "module_call_graph")
_KEYS = st.sampled_from(["name", "arg", "kind", "as_tensor", "as_int", "fqn", "signature", "parameter_name", "x"])


@st.composite
def _edits(draw: st.DrawFn) -> tuple[str, str, int, int, Any]:
    """One edit of one part: replace a value, delete a key or element, or add a key to an object."""
    what = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
    value = draw(_KEYS) if what == "add" else None
    return what, draw(st.sampled_from(_PARTS)), draw(st.integers(0, 10_000)), draw(st.integers(0, 10_000)), value


# One to three edits, so that a key can go and another come (``kind`` for ``x``).
_EDITS = st.lists(_edits(), min_size=1, max_size=3)
_VALUES = st.lists(_JSON, min_size=3, max_size=3)


def _mutated(doc: dict[str, Any], edits: list[tuple[str, str, int, int, Any]], values: list[Any]) -> dict[str, Any]:
    """A copy of ``doc`` with parts (a node, a spec, ...) edited as ``edits`` say."""
    doc = copy.deepcopy(doc)
    for edit, value in zip(edits, values, strict=False):
        _edit(doc, edit, copy.deepcopy(value))  # a value of its own: no edit reaches into another
    return doc


def _edit(doc: dict[str, Any], edit: tuple[str, str, int, int, Any], value: Any) -> None:
    what, where, pick, leaf, key = edit
    gm = doc["graph_module"]
    graph = gm["graph"]
    table = {
        "nodes": graph["nodes"],
        "tensor_values": graph["tensor_values"],
        "graph inputs": graph["inputs"],
        "input_specs": gm["signature"]["input_specs"],
        "output_specs": gm["signature"]["output_specs"],
        "module_call_graph": gm["module_call_graph"],
    }[where]
    keys = list(range(len(table))) if isinstance(table, list) else sorted(table)
    part = table[keys[pick % len(keys)]]
    paths = leaves(part)
    if what == "add":  # to the part itself or to an object inside it
        objects = [part, *(x for x in (at(part, p) for p in paths) if isinstance(x, dict))]
        objects[leaf % len(objects)][key] = value
        return
    if not paths:
        return
    path = paths[leaf % len(paths)]
    holder = at(part, path[:-1])
    if what == "delete":
        del holder[path[-1]]
    else:
        holder[path[-1]] = value


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["mlp", "mutation"]), edits=_EDITS, values=_VALUES)
def test_parts_edited_get_the_same_verdict_with_and_without_the_fast_path(
    docs: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, name: str, edits: Any, values: Any
) -> None:
    doc = _mutated(docs[name], edits, values)
    assert _verdict(doc, fast=True, monkeypatch=monkeypatch) == _verdict(doc, fast=False, monkeypatch=monkeypatch)


# Limits around what the fast checks accept (PLAIN_NODE_VALUES = 4160, PLAIN_RANK = 64, the real
# exports need max_depth 9 and their nodes take the fast path from 10), so that they are on in some
# draws and off in others, and far below it.
_LIMITS = st.builds(
    Limits,
    max_depth=st.integers(2, 16),
    max_node_values=st.sampled_from([0, 3, 12, 4159, 4160, 10_000]),
    max_tensor_rank=st.sampled_from([0, 3, 63, 64, 1_000]),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["mlp", "mutation"]), edits=_EDITS, values=_VALUES, limits=_LIMITS)
def test_under_lowered_limits_the_fast_path_still_gives_the_full_checks_verdict(
    docs: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    edits: Any,
    values: Any,
    limits: Limits,
) -> None:
    # The fast checks count nothing against the limits, so under limits lower than what they
    # accept they must step aside (before, a plain node went past max_node_values=10 unrefused).
    doc = _mutated(docs[name], edits, values)
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


def test_the_fast_path_bounds_hold_at_their_edges() -> None:
    # What the fast checks accept stays within PLAIN_NODE_VALUES and PLAIN_RANK, so at limits
    # equal to them (the fast path on) a part just over is still refused, by the full check.
    x = {"as_tensor": {"name": "x"}}
    ins = [{"name": f"a{i}", "arg": {"as_ints": list(range(64))}} for i in range(65)]
    graph = {"inputs": [x], "outputs": [], "nodes": [{"target": "t", "inputs": ins, "outputs": []}]}
    at_bound = Limits(max_node_values=PLAIN_NODE_VALUES, max_tensor_rank=PLAIN_RANK)
    with pytest.raises(SchemaError, match="node takes and gives 4225 values, over the limit max_node_values=4160"):
        schema.check_graph(graph, limits=at_bound)
    dims = [{"as_int": 1}] * 64
    meta = {"dtype": 7, "sizes": dims, "strides": [*dims, {"as_int": 1}], "storage_offset": {"as_int": 0},
            "layout": 0, "device": {"type": "cpu", "index": None}, "requires_grad": False}  # fmt: skip
    with pytest.raises(SchemaError, match="strides: 65 dimensions, over the limit max_tensor_rank=64"):
        schema.check_graph({**graph, "nodes": [], "tensor_values": {"x": meta}}, limits=at_bound)
    spec = {"user_input": {"arg": {"name": "x"}}}  # a user input's arg is an Argument union
    assert not schema.plain_spec(spec, schema.INPUT_SPEC_TAGS)


def test_the_predicates_leave_to_the_full_check_what_it_warns_about_or_refuses() -> None:
    # Cases that random edits reach rarely, each of which a looser predicate would accept.
    node = {"target": "t", "inputs": [{"name": "a", "arg": {"as_int": 1}, "x": 0}], "outputs": []}  # no "kind"
    assert not schema.plain_node(node)
    with pytest.warns(schema.UnknownFieldsWarning, match=r"nodes\[0\].inputs\[0\]: x"):
        schema.check_graph({"inputs": [], "outputs": [], "nodes": [node]})
    spec = {"user_input_mutation": {"arg": {"name": "y"}, "user_input_name": 5}}  # a name, not an FQN
    assert not schema.plain_spec(spec, schema.OUTPUT_SPEC_TAGS)


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


def test_the_fast_path_takes_plain_output_specs(docs: dict[str, dict[str, Any]]) -> None:
    schema.check_program(docs["mutation"])  # a document the checks accept
    specs = docs["mutation"]["graph_module"]["signature"]["output_specs"]
    assert schema.plain_spec(specs[0], schema.OUTPUT_SPEC_TAGS)
    assert not any(schema.plain_spec(s, schema.INPUT_SPEC_TAGS) for s in specs)  # the side matters


def test_a_node_whose_string_to_argument_map_is_no_object_is_refused_not_crashed() -> None:
    node = {"target": "t", "inputs": [{"name": "a", "arg": {"as_string_to_argument": 5}}], "outputs": []}
    with pytest.raises(SchemaError, match=r"nodes\[0\].inputs\[0\].arg.as_string_to_argument: expected an object"):
        schema.check_graph({"inputs": [], "outputs": [], "nodes": [node]})


def test_a_graph_nested_past_the_stack_is_refused_not_crashed_when_the_limits_allow_it() -> None:
    # With max_depth raised past what the stack can walk, check_graph refuses, as check_program does.
    graph: dict[str, Any] = {"inputs": [], "outputs": [], "nodes": []}
    for _ in range(2_000):
        cond = {"name": "branch", "arg": {"as_graph": {"name": "g", "graph": graph}}}
        graph = {"inputs": [], "outputs": [], "nodes": [{"target": "cond", "inputs": [cond], "outputs": []}]}
    with pytest.raises(SchemaError, match="graph is nested too deeply"):
        schema.check_graph(graph, limits=Limits(max_depth=10**9))
