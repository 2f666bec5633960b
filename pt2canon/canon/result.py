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
    """

    name: str = "default"
    keep_metadata: frozenset[str] = frozenset()


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
