"""The compiled node loop writes the canonical graph JSON the Python emitter writes, on real, generated and edited graphs.

``pt2canon.canon.emit.compiled`` (``_emit.c``) runs the emitter's node method for every node of
the canonical order; the Python loop stays the reference (``emit.ENABLED = False`` selects it).
Each graph is emitted both ways and the documents must be the same in everything a later stage
can see: keys and values in order, and which containers are shared, with the input graph (an
entry that nothing renames is the input's own) and within the result (one renamed tensor argument
per value). A graph or a call that is not well formed must raise the same exception both ways.
"""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from corpus import Corpus, member_bytes
from differential import Shared, edited_graph
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_paths import at, leaves

from pt2canon.canon import emit as emit_mod
from pt2canon.canon import graph as canon_graph
from pt2canon.canon.emit import emit_graph
from pt2canon.canon.program import canonicalize_program
from pt2canon.canon.result import DEFAULT_PROFILE, Profile
from pt2canon.strategies import programs

needs_compiled = pytest.mark.skipif(not emit_mod.AVAILABLE, reason="pt2canon.canon._emit is not built here")


def _dump(obj: Any, shared: Shared) -> Any:
    if isinstance(obj, dict):
        # A key as its type and repr: one whose __eq__ runs code is compared without running it.
        return ("dict", shared(obj), [((type(k).__name__, repr(k)), _dump(v, shared)) for k, v in obj.items()])
    if isinstance(obj, list):
        return ("list", shared(obj), [_dump(v, shared) for v in obj])
    return (type(obj).__name__, repr(obj))


def _emitted(call: tuple[Any, ...], compiled: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The dumped result of ``emit_graph(*call)`` (or the exception), compiled or in Python."""
    graph, order, inputs, names, node_names, profile = call
    shared = Shared()
    _dump(graph, shared)  # the input's containers first: what the result shares with it gets their numbers
    with monkeypatch.context() as m:
        m.setattr(emit_mod, "ENABLED", compiled)
        try:
            doc = emit_graph(graph, order, inputs, names, node_names=node_names, profile=profile)
        except Exception as exc:  # the same exception, of the same type, from both
            return ("raised", type(exc).__name__, str(exc))
    return _dump(doc, shared)


def _assert_same(call: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch) -> Any:
    before = copy.deepcopy(call[0])
    expected = _emitted(call, False, monkeypatch)
    assert _emitted(call, True, monkeypatch) == expected
    assert call[0] == before  # neither edits its input
    return expected


def _calls(program: dict[str, Any], monkeypatch: pytest.MonkeyPatch, profile: Profile) -> list[tuple[Any, ...]]:
    """The ``emit_graph`` calls canonicalizing ``program`` makes (every graph, subgraphs too)."""
    calls: list[tuple[Any, ...]] = []

    def spy(graph: Any, order: Any, inputs: Any, names: Any, *, node_names: bool = False, profile: Any = None) -> Any:
        calls.append((graph, order, inputs, names, node_names, profile))
        return emit_graph(graph, order, inputs, names, node_names=node_names, profile=profile)

    with monkeypatch.context() as m:
        m.setattr(canon_graph, "emit_graph", spy)
        canonicalize_program(program, profile=profile)
    return calls


_KEEP_STACK = Profile("modules", frozenset({"nn_module_stack", "stack_trace"}))


@needs_compiled
def test_every_graph_of_the_corpus_is_emitted_the_same_by_both(corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = 0
    for entry in corpus.values():
        program = json.loads(member_bytes(entry.path, "models/model.json"))
        for profile in (DEFAULT_PROFILE, _KEEP_STACK):
            for call in _calls(program, monkeypatch, profile):
                dumped = _assert_same(call, monkeypatch)
                assert dumped[0] != "raised", entry.path
                nodes += len(call[1])
    assert nodes > 350  # the comparison covers real graphs (195 op nodes, twice), not a handful


@needs_compiled
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=programs(max_nodes=20))
def test_generated_programs_are_emitted_the_same_by_both(doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for call in _calls(doc, monkeypatch, DEFAULT_PROFILE):
        assert _assert_same(call, monkeypatch)[0] != "raised"


class _Names(Mapping[str, str]):
    """A names mapping that is not a dict (``emit_graph`` takes any Mapping)."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def __getitem__(self, key: str) -> str:
        return self.names[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


class _Upper(Profile):
    """A profile whose own node_metadata runs (the compiled loop must call it, not make ``{}``)."""

    def node_metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        return {k.upper(): v for k, v in metadata.items()}


@st.composite
def _call(draw: st.DrawFn) -> tuple[Any, ...]:
    """An ``emit_graph`` call on an edited generated graph, with orders, names and profiles of every kind."""
    doc = draw(programs(max_nodes=8))
    graph = draw(edited_graph(doc["graph_module"]["graph"], ["x", "as_graph", "as_tensor", "name", "metadata"]))
    n_in = len(graph["inputs"]) if isinstance(graph.get("inputs"), list) else 0
    n_nodes = len(graph["nodes"]) if isinstance(graph.get("nodes"), list) else 0
    order: list[Any] = draw(st.permutations(range(n_in, n_in + n_nodes)))
    if draw(st.booleans()):  # an id out of range, of another type, or before the nodes
        order.insert(draw(st.integers(0, len(order))), draw(st.sampled_from([-1, 0, n_in + n_nodes, True, 2**70, "1"])))
    inputs = list(range(n_in))
    rnd = random.Random(draw(st.integers(0, 2**16)))
    rnd.shuffle(inputs)
    values = sorted({v for p in leaves(graph) if p and p[-1] == "name" for v in [at(graph, p)] if isinstance(v, str)})
    kept = [v for v in values if draw(st.booleans()) or len(values) < 3]  # some names missing: KeyError both ways
    names: Mapping[str, str] = {v: f"v{i}" for i, v in enumerate(kept)}
    if draw(st.booleans()):
        names = _Names(dict(names))
    profile = draw(st.sampled_from([None, DEFAULT_PROFILE, _KEEP_STACK, _Upper()]))
    return (graph, order, inputs, names, draw(st.booleans()), profile)


@needs_compiled
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=_call())
def test_edited_graphs_and_odd_calls_are_emitted_the_same_or_raise_the_same_by_both(
    call: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    _assert_same(call, monkeypatch)


@needs_compiled
@pytest.mark.parametrize("compiled", [False, True])
def test_one_renamed_tensor_argument_per_value_and_unrenamed_entries_are_the_inputs_own(
    compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    def add(name: str, a: str, b: str) -> dict[str, Any]:
        return {
            "target": "torch.ops.aten.add.Tensor",
            "name": name,
            "inputs": [
                {"name": "self", "arg": {"as_tensor": {"name": a}}, "kind": 1},
                {"name": "other", "arg": {"as_tensor": {"name": b}}, "kind": 1},
                {"name": "alpha", "arg": {"as_int": 2}, "kind": 2},
            ],
            "outputs": [{"as_tensor": {"name": name}}],
            "metadata": {"stack_trace": "x.py:1", "nn_module_stack": "m"},
        }

    graph = {
        "inputs": [{"as_tensor": {"name": "x"}}],
        "outputs": [{"as_tensor": {"name": "b"}}],
        "nodes": [add("a", "x", "x"), add("b", "a", "x")],
    }
    names = {"x": "v0", "a": "v1", "b": "v2"}
    monkeypatch.setattr(emit_mod, "ENABLED", compiled)
    doc = emit_graph(graph, [2, 1], [0], names, node_names=True, profile=DEFAULT_PROFILE)
    first, second = doc["nodes"]
    assert [first["name"], second["name"]] == ["n0", "n1"]
    assert first["inputs"][0]["arg"] == {"as_tensor": {"name": "v1"}}  # node "b" first: the order given
    # Every use of x, and the graph input, is one renamed object; the constant entry is the input's.
    uses = [first["inputs"][1]["arg"], second["inputs"][0]["arg"], second["inputs"][1]["arg"], doc["inputs"][0]]
    assert all(u is uses[0] for u in uses) and uses[0] == {"as_tensor": {"name": "v0"}}
    assert first["inputs"][2] is graph["nodes"][1]["inputs"][2]
    assert first["outputs"][0] is doc["outputs"][0]
    assert first["metadata"] == {} and graph["nodes"][0]["metadata"]["stack_trace"] == "x.py:1"
    kept = emit_graph(graph, [1, 2], [0], names, profile=_Upper())
    assert kept["nodes"][0]["metadata"] == {"STACK_TRACE": "x.py:1", "NN_MODULE_STACK": "m"}
    assert kept["nodes"][0]["name"] == "a"  # node_names=False keeps the names
    with pytest.raises(KeyError, match="'a'"):
        emit_graph(graph, [1, 2], [0], {"x": "v0"})


def test_the_emitter_is_compiled_where_the_builder_is() -> None:
    # The extensions build with the same compiler and flags: one without the other is a broken build.
    from pt2canon.serde import graph as graph_mod

    assert emit_mod.AVAILABLE is graph_mod.AVAILABLE
    assert emit_mod.ENABLED is (emit_mod.AVAILABLE and os.environ.get("PT2CANON_COMPILED", "1") != "0")


@needs_compiled
def test_pt2canon_compiled_0_turns_the_compiled_emitter_off() -> None:
    code = "from pt2canon.canon import emit; print(emit.AVAILABLE, emit.ENABLED)"
    base = {k: v for k, v in os.environ.items() if k != "PT2CANON_COMPILED"}
    for env, expected in (({}, "True True"), ({"PT2CANON_COMPILED": "0"}, "True False")):
        done = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True)
        assert done.stdout.strip() == expected, done.stderr


@needs_compiled
def test_entries_beside_the_plain_shapes_are_renamed_as_python_renames_them(monkeypatch: pytest.MonkeyPatch) -> None:
    sub = {"inputs": [], "outputs": [], "nodes": []}
    graph = {
        "inputs": [{"as_tensor": {"name": "x"}}],
        "outputs": [{"as_tensor": {"name": "a"}}],
        "nodes": [
            {  # no "name": none is given; an output with a newer schema's key; a subgraph beside a tensor
                "target": "torch.ops.higher_order.cond",
                "inputs": [
                    {"name": "true_fn", "arg": {"as_graph": {"name": "g", "graph": sub}, "as_tensor": {"name": "x"}}}
                ],
                "outputs": [{"as_tensor": {"name": "a"}, "note": 1}],
            }
        ],
    }
    call = (graph, [1], [0], {"x": "v0", "a": "v1"}, True, None)
    assert _assert_same(call, monkeypatch)[0] != "raised"
    for compiled in (False, True):
        monkeypatch.setattr(emit_mod, "ENABLED", compiled)
        (node,) = emit_graph(*call[:4], node_names=True)["nodes"]
        assert "name" not in node
        assert node["inputs"][0] is graph["nodes"][0]["inputs"][0]  # a subgraph argument is the input's own
        assert node["outputs"] == [{"as_tensor": {"name": "v1"}, "note": 1}]


# Keys whose __eq__ runs code (parsed JSON never holds one) can edit the graph while the compiled
# loop reads it, after it has looked at a node and taken it: it must neither read a replaced
# container as what it was nor use a freed one.
_EDITED_WHILE_EMITTED = """
from pt2canon.canon import emit
class Evil(str):
    __hash__ = str.__hash__
    def __eq__(self, other):
        # Each container was a dict when the loop looked; this frees the one being read.
        node["inputs"][0]["arg"] = [1, 2, 3]
        node["inputs"][1]["arg"] = [1, 2, 3]
        node["outputs"] = None
        return str.__eq__(self, other)
node = {"target": "t", "name": "y", "outputs": [{"as_tensor": {"name": "y"}}],
        "inputs": [{"name": "self", "arg": {Evil("as_tensor"): {"name": "x"}}}, {"name": "b", "arg": {"as_int": 1}}]}
graph = {"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [], "nodes": [node]}
try:
    emit.emit_graph(graph, [1], [0], {"x": "v0", "y": "v1"})
except Exception as exc:
    print("raised", type(exc).__name__)
else:
    print("emitted")
"""


@needs_compiled
def test_a_graph_edited_while_it_is_emitted_raises_or_is_emitted_instead_of_crashing() -> None:
    base = {k: v for k, v in os.environ.items() if k != "PT2CANON_COMPILED"}
    env = {**base, "PYTHONMALLOC": "debug"}  # freed memory is overwritten: a use after free shows
    done = subprocess.run([sys.executable, "-c", _EDITED_WHILE_EMITTED], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr  # not a segmentation fault (-11)
    assert done.stdout.split()[0] in ("raised", "emitted"), done.stdout


@needs_compiled
def test_an_entry_is_copied_before_its_tensor_is_looked_up_as_python_copies_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # {**na, "arg": tensor_args[t["name"]]} copies na first: what the names lookup does to na is not in the copy.
    def make() -> tuple[Any, ...]:
        na = {"name": "self", "arg": {"as_tensor": {"name": "x"}}}

        class Editing(_Names):
            def __getitem__(self, key: str) -> str:
                na["kind"] = 99
                return self.names[key]

        node = {"target": "t", "inputs": [na], "outputs": [{"as_tensor": {"name": "y"}}]}
        graph = {"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [], "nodes": [node]}
        return (graph, [1], [0], Editing({"x": "v0", "y": "v1"}), False, None)

    expected = _emitted(make(), False, monkeypatch)  # a new graph each way: code edits it
    assert _emitted(make(), True, monkeypatch) == expected


@needs_compiled
@pytest.mark.parametrize("level", ["argument", "node"])
def test_a_key_whose_eq_answers_once_is_looked_up_once_as_python_looks_it_up(
    level: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No container changes: the compiled loop must not look a key up twice where node() looks once.
    def make() -> tuple[Any, ...]:
        class Once(str):
            __hash__ = str.__hash__
            calls = 0

            def __eq__(self, other: object) -> bool:
                Once.calls += 1
                return Once.calls == 1 and str.__eq__(self, other)

        na = {"name": "a", "arg": {"as_tensor": {"name": "x"}}}
        if level == "argument":
            na["arg"] = {Once("as_tensor"): {"name": "x"}}
        node = {"target": "t", Once("inputs") if level == "node" else "inputs": [na], "outputs": []}
        graph = {"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [], "nodes": [node]}
        return (graph, [1], [0], {"x": "v0"}, False, None)

    expected = _emitted(make(), False, monkeypatch)  # a new graph each way: code edits it
    assert expected[0] != "raised"
    assert _emitted(make(), True, monkeypatch) == expected


class _NoTruth:
    def __bool__(self) -> bool:
        raise ValueError("no truth value")


@needs_compiled
@pytest.mark.parametrize("order", [[], [1]])
def test_node_names_is_taken_as_true_or_false_where_python_takes_it(
    order: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not before the loop: an empty order never asks, and a node's own KeyError comes first.
    node = {"target": "t", "name": "a", "inputs": [{"name": "a", "arg": {"as_tensor": {"name": "q"}}}], "outputs": []}
    graph = {"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [], "nodes": [node]}
    call = (graph, order, [0], {"x": "v0"}, _NoTruth(), None)
    expected = _assert_same(call, monkeypatch)
    assert expected[0] == ("raised" if order else "dict")


@needs_compiled
def test_a_profiles_own_node_metadata_set_on_the_instance_is_called(monkeypatch: pytest.MonkeyPatch) -> None:
    profile = Profile()
    object.__setattr__(profile, "node_metadata", lambda md: {"kept": sorted(md)})
    node = {"target": "t", "inputs": [], "outputs": [], "metadata": {"stack_trace": "s"}}
    call = ({"inputs": [], "outputs": [], "nodes": [node]}, [0, -(2**63)], [], {}, False, profile)
    expected = _assert_same(call, monkeypatch)
    assert expected[0] == "raised"  # the id -2**63 (no overflow in the compiled loop: it is node()'s IndexError)
    assert _assert_same((*call[:1], [0], *call[2:]), monkeypatch)[0] != "raised"


# A finalizer the GC runs while a renamed tensor argument is made (allocations can collect, synchronously
# before Python 3.12) drops the names entry the compiled loop had looked up: it must hold that value.
_COLLECTED_WHILE_EMITTED = """
import gc
from pt2canon.canon import emit
names, kept = {}, []
class Finalized:
    def __del__(self):
        names.clear()
class Key(str):
    armed = False
    def __hash__(self):
        return hash("x")
    def __eq__(self, other):
        if Key.armed:
            kept.extend([{} for _ in range(200)])  # no free dicts left: the next one is allocated, and collects
            c = Finalized(); c.me = c; del c
        return False
names[Key("zz")] = "w"
names["x"] = "".join(["v", "0" * 40])  # held by names alone
node = {"target": "t", "inputs": [{"name": "a", "arg": {"as_tensor": {"name": "x"}}}], "outputs": []}
graph = {"inputs": [], "outputs": [], "nodes": [node]}
gc.collect()
Key.armed = True
gc.set_threshold(1)
doc = emit.emit_graph(graph, [0], [], names)
gc.set_threshold(700)
print(doc["nodes"][0]["inputs"][0]["arg"]["as_tensor"]["name"])
"""


@needs_compiled
def test_a_value_a_finalizer_drops_while_it_is_renamed_is_held() -> None:
    base = {k: v for k, v in os.environ.items() if k != "PT2CANON_COMPILED"}
    env = {**base, "PYTHONMALLOC": "debug"}
    done = subprocess.run([sys.executable, "-c", _COLLECTED_WHILE_EMITTED], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr  # not a segmentation fault (-11)
    assert done.stdout.strip() == "v" + "0" * 40
