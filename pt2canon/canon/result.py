"""The canonical form's result types: :class:`CanonicalProgram`, :class:`CanonicalGraph`, :class:`Profile`, and the structure view."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from pt2canon._json import canonical_bytes

__all__ = ["DEFAULT_PROFILE", "CanonicalGraph", "CanonicalProgram", "Profile", "structure_view"]


def _digest(obj: Any) -> str:
    return hashlib.sha256(canonical_bytes(obj)).hexdigest()


@dataclass(frozen=True)
class Profile:
    """Which node metadata survives canonicalization.

    The ``default`` profile drops all node metadata (stack traces,
    ``nn_module_stack``, ``source_fn_stack``, ``torch_fn``, custom keys):
    none of it changes what the program computes. Name keys in
    ``keep_metadata`` to keep them (they then count in the hash).

    Examples
    --------
    >>> import pt2canon
    >>> from pt2canon.canon.hashing import hash_layers
    >>> from pt2canon.canon.program import canonicalize_program
    >>> program = pt2canon.load("examples/mlp_v1.pt2").model.program
    >>> plain = canonicalize_program(program)
    >>> modules = canonicalize_program(program, profile=Profile("modules", frozenset({"nn_module_stack"})))
    >>> plain.profile == DEFAULT_PROFILE == Profile()
    True
    >>> [node["metadata"] for node in plain.doc["graph_module"]["graph"]["nodes"]][:2]
    [{}, {}]
    >>> [sorted(node["metadata"]) for node in modules.doc["graph_module"]["graph"]["nodes"]][:2]
    [['nn_module_stack'], ['nn_module_stack']]
    >>> hash_layers({"model": plain}).layers["structure"] == hash_layers({"model": modules}).layers["structure"]
    False
    """

    name: str = "default"
    keep_metadata: frozenset[str] = frozenset()

    def node_metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """What a node's ``metadata`` becomes in the canonical form: only the kept keys (a new dict).

        Examples
        --------
        >>> md = {"stack_trace": "...", "nn_module_stack": "L__self__,,M"}
        >>> DEFAULT_PROFILE.node_metadata(md), Profile("m", frozenset({"nn_module_stack"})).node_metadata(md)
        ({}, {'nn_module_stack': 'L__self__,,M'})
        """
        keep = self.keep_metadata
        return {key: val for key, val in metadata.items() if key in keep} if keep else {}


DEFAULT_PROFILE = Profile()


@dataclass
class CanonicalGraph:
    """One graph in canonical form, with the maps back to the original.

    Attributes
    ----------
    doc : dict
        The canonical graph JSON.
    structure_digest : str
        sha256 hex of the canonical structure (no tensor metadata); computed
        on first use (subgraph names and the diff need it, the hash does not).
    model : networkx.MultiDiGraph
        The graph model of the *original* graph (metadata intact; storage
        offsets 0, as torch's loader reads them).
    order : list of int
        Op node ids of ``model`` in canonical order.
    value_names : dict
        Original value name -> canonical value name.
    node_names : dict
        Canonical node name -> original node name.
    subgraphs : dict
        Canonical subgraph name -> :class:`CanonicalGraph`.
    input_order, output_order : list of int
        Positions of the original graph inputs and outputs, in canonical order.
    has_asserts : bool
        Whether the graph or a subgraph has a runtime-assert node.

    Examples
    --------
    The top-level graph of the bundled MLP (six parameters, then the input
    ``x``; five ops):

    >>> import hashlib
    >>> import pt2canon
    >>> from pt2canon._json import canonical_bytes
    >>> from pt2canon.canon.program import canonicalize_program
    >>> g = canonicalize_program(pt2canon.load("examples/mlp_v1.pt2").model.program).graph
    >>> [node["name"] for node in g.doc["nodes"]]
    ['n0', 'n1', 'n2', 'n3', 'n4']
    >>> g.node_names
    {'n0': 'linear', 'n1': 'relu', 'n2': 'linear_1', 'n3': 'linear_2', 'n4': 'softmax'}
    >>> g.value_names["x"], g.value_names["softmax"]
    ('v6', 'v11')
    >>> [g.model.nodes[v]["name"] for v in g.order] == list(g.node_names.values())
    True
    >>> sorted(g.model.nodes[g.order[0]]["metadata"]), g.doc["nodes"][0]["metadata"]  # original, canonical
    (['nn_module_stack', 'stack_trace', 'torch_fn'], {})
    >>> g.subgraphs, g.has_asserts
    ({}, False)
    >>> g.structure_digest == hashlib.sha256(canonical_bytes(structure_view(g.doc))).hexdigest()
    True
    """

    doc: dict[str, Any]
    model: nx.MultiDiGraph
    order: list[int]
    value_names: dict[str, str]
    node_names: dict[str, str]
    subgraphs: dict[str, CanonicalGraph] = field(default_factory=dict)
    input_order: list[int] = field(default_factory=list)
    output_order: list[int] = field(default_factory=list)
    has_asserts: bool = False

    @functools.cached_property
    def structure_digest(self) -> str:
        """sha256 hex of :func:`structure_view` of :attr:`doc`, computed on first use."""
        return _digest(structure_view(self.doc))


@dataclass
class CanonicalProgram:
    """A program in canonical form.

    Attributes
    ----------
    doc : dict
        The canonical ``ExportedProgram`` JSON. Treat it as read-only: to
        save time and memory it shares unchanged parts (constant arguments,
        static tensor metadata, one object per renamed shape expression)
        with the input document and within itself; copy it before editing.
    graph : CanonicalGraph
        The top-level graph with its maps back to the original.
    symbols : dict
        Original symbol name -> canonical symbol name.
    profile : Profile
    hints : bool
        Whether :attr:`doc` keeps example hints (on expressions with a
        symbol that has no range constraint, which torch's loader needs);
        the hash leaves them out.

    Examples
    --------
    >>> import pt2canon
    >>> from pt2canon.canon.program import canonicalize_program
    >>> program = pt2canon.load("examples/mlp_v1.pt2").model.program
    >>> c = canonicalize_program(program)
    >>> c.graph.doc is c.doc["graph_module"]["graph"]
    True
    >>> list(program["range_constraints"]), c.symbols, list(c.doc["range_constraints"])
    (['s77'], {'s77': 's0'}, ['s0'])
    >>> c.hints  # the batch symbol has a range: no example size is kept
    False
    >>> c.doc["graph_module"]["signature"]["input_specs"][0]
    {'parameter': {'arg': {'name': 'v0'}, 'parameter_name': 'fc1.weight'}}
    """

    doc: dict[str, Any]
    graph: CanonicalGraph
    symbols: dict[str, str]
    profile: Profile
    hints: bool = False


def structure_view(graph: Mapping[str, Any]) -> dict[str, Any]:
    """The structural part of a canonical graph: inputs, outputs, nodes, no value tables.

    Nodes keep their target, inputs, outputs and the metadata keys the
    profile kept (none by default); subgraphs are replaced by their own
    structure view, recursively, so no tensor metadata at any depth enters
    it (it names subgraphs and makes the hash's ``structure`` layer).

    Examples
    --------
    ``y = neg(x)`` in float32 (dtype 7) and in float16 (dtype 6):

    >>> from pt2canon.canon.program import canonicalize_program
    >>> def graph(dtype):
    ...     ref = lambda v: {"as_tensor": {"name": v}}
    ...     meta = {"dtype": dtype, "sizes": [{"as_int": 3}], "strides": [{"as_int": 1}], "layout": 7,
    ...             "storage_offset": {"as_int": 0}, "requires_grad": False, "device": {"type": "cpu", "index": None}}
    ...     node = {"target": "torch.ops.aten.neg.default", "name": "y", "metadata": {}, "outputs": [ref("y")],
    ...             "inputs": [{"name": "self", "arg": ref("x"), "kind": 1}]}
    ...     g = {"inputs": [ref("x")], "outputs": [ref("y")], "nodes": [node], "tensor_values": {"x": meta, "y": meta}}
    ...     signature = {"input_specs": [{"user_input": {"arg": ref("x")}}],
    ...                  "output_specs": [{"user_output": {"arg": ref("y")}}]}
    ...     return canonicalize_program({"graph_module": {"graph": g, "signature": signature}}).graph.doc
    >>> f32, f16 = graph(7), graph(6)
    >>> view = structure_view(f32)
    >>> sorted(f32), sorted(view)
    (['inputs', 'nodes', 'outputs', 'tensor_values'], ['inputs', 'nodes', 'outputs'])
    >>> view["nodes"]  # doctest: +NORMALIZE_WHITESPACE
    [{'target': 'torch.ops.aten.neg.default',
      'inputs': [{'name': 'self', 'arg': {'as_tensor': {'name': 'v0'}}, 'kind': 1}],
      'outputs': [{'as_tensor': {'name': 'v1'}}]}]
    >>> f32 == f16, structure_view(f32) == structure_view(f16)
    (False, True)
    """
    return {
        "inputs": graph["inputs"],
        "outputs": graph["outputs"],
        "nodes": [_node_structure(n) for n in graph["nodes"]],
    }


def _structure_input(na: Mapping[str, Any]) -> Mapping[str, Any]:
    g = na["arg"].get("as_graph")
    if g is None:
        return na
    return {**na, "arg": {"as_graph": {"name": g["name"], "graph": structure_view(g["graph"])}}}


def _node_structure(node: Mapping[str, Any]) -> dict[str, Any]:
    ins = node["inputs"]
    for na in ins:
        if "as_graph" in na["arg"]:
            ins = [_structure_input(na) for na in ins]
            break
    out = {"target": node["target"], "inputs": ins, "outputs": node["outputs"]}
    if node.get("metadata"):  # only keys a Profile kept
        out["metadata"] = node["metadata"]
    return out
