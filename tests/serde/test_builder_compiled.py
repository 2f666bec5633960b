"""The compiled op-node loop builds the graph model the Python builder builds, on real, generated and edited graphs.

``pt2canon.serde.graph.compiled`` (``_builder.c``) runs ``_Builder.op`` for every op node of a
graph; the Python ``op`` stays the reference (``graph.ENABLED = False`` selects it). Each graph is
converted both ways and the models must be the same in everything a later stage can see: node ids
and attributes in order, edges with their keys and data in adjacency order, graph attributes,
subgraphs, and which dicts are shared (an edge's data by every use of its value, one key dict by
both adjacency maps, one template by every plain tensor argument of the same name and kind). A graph
that is not well formed must raise the same exception with the same message both ways.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from typing import Any

import networkx as nx
import pytest
from corpus import Corpus, member_bytes
from differential import Shared, edited_graph
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pt2canon.errors import Pt2CanonError
from pt2canon.serde import graph as graph_mod
from pt2canon.serde.graph import to_networkx
from pt2canon.strategies import programs

needs_compiled = pytest.mark.skipif(not graph_mod.AVAILABLE, reason="pt2canon.serde._builder is not built here")


def _dump(G: nx.MultiDiGraph, shared: Shared) -> Any:
    """Everything a later stage can read from ``G``, in order, with the sharing of its dicts."""

    def value(v: Any) -> Any:
        if isinstance(v, nx.MultiDiGraph):
            return ("graph", _dump(v, shared))
        if isinstance(v, dict):
            return ("dict", shared(v), [(k, value(x)) for k, x in v.items()])
        if isinstance(v, list):
            return ("list", shared(v), [value(x) for x in v])
        if isinstance(v, tuple):
            return (type(v).__name__, [value(x) for x in v])
        return (type(v).__name__, repr(v))

    nodes = [(n, value(attrs)) for n, attrs in G.nodes(data=True)]
    succ = [(u, [(v, shared(kd), value(kd)) for v, kd in nbrs.items()]) for u, nbrs in G.succ.items()]
    pred = [(v, [(u, shared(kd)) for u, kd in nbrs.items()]) for v, nbrs in G.pred.items()]
    return (value(dict(G.graph)), nodes, succ, pred)


def _built(graph: dict[str, Any], compiled: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The dumped model of ``graph`` (or the exception), built by the compiled loop or by Python."""
    with monkeypatch.context() as m:
        m.setattr(graph_mod, "ENABLED", compiled)
        try:
            G = to_networkx(graph)
        except Exception as exc:  # the same exception, of the same type, from both
            return ("raised", type(exc).__name__, str(exc))
    return _dump(G, Shared())


def _assert_same(graph: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    before = copy.deepcopy(graph)
    expected = _built(graph, False, monkeypatch)
    assert _built(graph, True, monkeypatch) == expected
    assert graph == before  # neither edits its input
    return expected


@needs_compiled
def test_every_graph_of_the_corpus_gets_the_same_model_from_both(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = 0
    for entry in corpus.values():
        doc = json.loads(member_bytes(entry.path, "models/model.json"))
        dumped = _assert_same(doc["graph_module"]["graph"], monkeypatch)
        assert dumped[0] != "raised", entry.path
        nodes += len(dumped[1])
    assert nodes > 300  # the comparison covers real graphs (338 nodes), not a handful of nodes


@needs_compiled
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=programs(max_nodes=20))
def test_generated_programs_get_the_same_model_from_both(doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    assert _assert_same(doc["graph_module"]["graph"], monkeypatch)[0] != "raised"


@needs_compiled
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_edited_graphs_get_the_same_model_or_the_same_error_from_both(
    data: st.DataObject, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = data.draw(programs(max_nodes=8))
    _assert_same(data.draw(edited_graph(doc["graph_module"]["graph"], ["x", "kind", "name", "metadata"])), monkeypatch)


@needs_compiled
def test_a_graph_error_names_the_same_node_and_value_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    def op(name: str, src: str) -> dict[str, Any]:
        return {
            "target": "torch.ops.aten.neg.default",
            "name": name,
            "inputs": [{"name": "self", "arg": {"as_tensor": {"name": src}}, "kind": 1}],
            "outputs": [{"as_tensor": {"name": name}}],
        }

    outputs = [{"as_tensor": {"name": "b"}}]
    dangling = {"inputs": [{"as_tensor": {"name": "x"}}], "outputs": outputs, "nodes": [op("a", "y"), op("b", "a")]}
    twice = {"inputs": [{"as_tensor": {"name": "x"}}], "outputs": outputs, "nodes": [op("b", "x"), op("b", "b")]}
    for g, words in ((dangling, "refers to value 'y'"), (twice, "defined twice")):
        raised = _assert_same(g, monkeypatch)
        assert raised[0] == "raised" and words in raised[2]
        with pytest.raises(Pt2CanonError, match=words):
            to_networkx(g)


@needs_compiled
@pytest.mark.parametrize("compiled", [False, True])
def test_an_argument_with_an_unknown_key_keeps_it_in_its_own_template_only(
    compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    def neg(name: str, src: str, **extra: Any) -> dict[str, Any]:
        return {
            "target": "torch.ops.aten.neg.default",
            "name": name,
            "inputs": [{"name": "self", "arg": {"as_tensor": {"name": src}}, "kind": 1, **extra}],
            "outputs": [{"as_tensor": {"name": name}}],
        }

    nodes = [neg("a", "x", note="newer schema"), neg("b", "a"), neg("c", "b")]
    g = {"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [{"as_tensor": {"name": "c"}}], "nodes": nodes}
    monkeypatch.setattr(graph_mod, "ENABLED", compiled)
    G = to_networkx(g)
    (a,), (b,), (c,) = (G.nodes[i]["args"] for i in (1, 2, 3))
    assert a["note"] == "newer schema" and "note" not in b and "note" not in c
    assert b is c  # the plain {name, arg, kind} template is one dict for every node
    assert _assert_same(g, monkeypatch) == _built(g, compiled, monkeypatch)


def test_the_builder_is_compiled_where_the_fast_checks_are() -> None:
    # Both extensions build with the same compiler and flags: one without the other is a broken build.
    from pt2canon.serde import plain

    assert graph_mod.AVAILABLE is plain.AVAILABLE
    assert graph_mod.ENABLED is (graph_mod.AVAILABLE and os.environ.get("PT2CANON_COMPILED", "1") != "0")


@needs_compiled
def test_pt2canon_compiled_0_turns_the_compiled_builder_off() -> None:
    code = "from pt2canon.serde import graph; print(graph.AVAILABLE, graph.ENABLED)"
    base = {k: v for k, v in os.environ.items() if k != "PT2CANON_COMPILED"}
    for env, expected in (({}, "True True"), ({"PT2CANON_COMPILED": "0"}, "True False")):
        done = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True)
        assert done.stdout.strip() == expected, done.stderr


# A document whose keys or names run Python code (a str subclass's __eq__, a key with another key's
# hash) can edit the graph while it is converted: after ops() has looked at a node and taken it. The
# compiled loop must neither read a replaced container as what it was nor iterate a freed list.
_EDITED_WHILE_CONVERTED = """
from pt2canon.serde import graph as g
class Evil(str):
    __hash__ = str.__hash__
    def __eq__(self, other):
        later["arg"] = [1, 2, 3]  # was a dict when ops() looked at the node
        return str.__eq__(self, other)
later = {"name": "other", "arg": {"as_int": 1}}
doc = {"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [],
       "nodes": [{"target": "t", "name": "y", "outputs": [],
                  "inputs": [{"name": "self", "arg": {"as_tensor": {"name": Evil("x")}}}, later]}]}
try:
    g.to_networkx(doc)
except Exception as exc:
    print("raised", type(exc).__name__)
"""


@needs_compiled
def test_a_graph_edited_while_it_is_converted_raises_instead_of_crashing() -> None:
    done = subprocess.run([sys.executable, "-c", _EDITED_WHILE_CONVERTED], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr  # a segmentation fault (-11) before
    assert done.stdout.startswith("raised"), done.stdout


@needs_compiled
def test_the_inputs_list_is_read_once_as_op_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    node: dict[Any, Any] = {}

    class Key:  # looking "as_tensor" up in the argument calls __eq__, which replaces the node's inputs
        def __hash__(self) -> int:
            return hash("as_tensor")

        def __eq__(self, other: object) -> bool:
            node["inputs"] = []
            return False

    key = Key()
    for compiled in (False, True):
        node.clear()
        node.update(target="t", name="y", outputs=[], inputs=[{"name": "a", "arg": {key: 1}}, {"name": "b", "arg": {}}])
        monkeypatch.setattr(graph_mod, "ENABLED", compiled)
        G = to_networkx({"inputs": [], "outputs": [], "nodes": [node]})
        assert [na["name"] for na in G.nodes[0]["args"]] == ["a", "b"], compiled  # [] compiled, before
