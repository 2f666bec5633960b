"""The canonical JSON of a graph: its nodes in canonical order, its values renamed.

:func:`emit_graph` writes the graph document that :func:`pt2canon.canon.graph.canonical_graph`
returns, from the original JSON and the order and names the canonical form chose.
:class:`_NodeEmitter` writes one op node; its loop over the nodes runs compiled where the
extension ``pt2canon/canon/_emit.c`` was built (``emit_nodes()``, the same statements in the
same order, :meth:`_NodeEmitter.node` for every node that is not plain parsed JSON), and
``PT2CANON_COMPILED=0`` in the environment (or :data:`ENABLED` set false) selects the Python
loop, the reference. ``tests/canon/test_emit_compiled.py`` proves the two give equal documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from pt2canon._compiled import enabled
from pt2canon.canon.result import Profile
from pt2canon.canon.signature import rename_arg
from pt2canon.serde.tags import REF_KINDS, VALUE_TABLES

__all__ = ["AVAILABLE", "ENABLED", "compiled", "emit_graph"]


class _TensorArgs(dict):  # type: ignore[type-arg]
    """Old value name -> the renamed ``{"as_tensor": {"name": new}}``, one shared object per value."""

    def __init__(self, names: Mapping[str, str]) -> None:
        super().__init__()
        self.names = names

    def __missing__(self, old: str) -> dict[str, Any]:
        arg = self[old] = {"as_tensor": {"name": self.names[old]}}
        return arg


def _rename_value_args(
    args: list[dict[str, Any]], names: Mapping[str, str], tensor_args: _TensorArgs | None = None
) -> list[dict[str, Any]]:
    """Arguments (``inputs``/``outputs`` entries) with their value references renamed."""
    tensor_args = _TensorArgs(names) if tensor_args is None else tensor_args
    out = []
    for arg in args:
        t = arg.get("as_tensor")
        if t is not None and len(arg) == 1 and len(t) == 1:
            out.append(tensor_args[t["name"]])
        else:
            out.append(rename_arg(arg, names))
    return out


class _NodeEmitter:
    """The canonical JSON of the op nodes of one graph, one node per :meth:`node` call.

    Attributes
    ----------
    nodes : list
        The graph's ``nodes``, as parsed.
    n_in : int
        How many graph inputs there are: node id ``nid`` is ``nodes[nid - n_in]``
        (:func:`pt2canon.serde.graph.to_networkx`'s numbering).
    names : Mapping[str, str]
        Old value name -> canonical name.
    tensor_args : _TensorArgs
        The renamed tensor arguments, one object per value, shared by every node.
    node_names : bool
        Whether the ``k``-th node, if it has a name, is named ``n<k>``.
    metadata : callable or None
        :meth:`Profile.node_metadata` of the profile, or None to keep metadata as it is.
    drop_metadata : bool
        Whether ``metadata`` gives ``{}`` for every node (the default profile's,
        not a subclass's): the compiled loop then makes ``{}`` itself.
    """

    __slots__ = ("drop_metadata", "metadata", "n_in", "names", "node_names", "nodes", "tensor_args")

    def __init__(
        self, nodes: list[Any], n_in: int, names: Mapping[str, str], *, node_names: bool, profile: Profile | None
    ) -> None:
        self.nodes = nodes
        self.n_in = n_in
        self.names = names
        self.tensor_args = _TensorArgs(names)
        self.node_names = node_names
        self.metadata = None if profile is None else profile.node_metadata
        self.drop_metadata = False
        if profile is not None:  # the method node() calls (one set on the instance too): Profile's own, of this profile
            method = self.metadata
            self.drop_metadata = (
                not profile.keep_metadata
                and getattr(method, "__func__", None) is Profile.node_metadata
                and getattr(method, "__self__", None) is profile
            )

    def node(self, k: int, nid: int) -> dict[str, Any]:
        """The canonical JSON of node ``nid``, the ``k``-th in canonical order (a new dict)."""
        names, tensor_args = self.names, self.tensor_args
        n = self.nodes[nid - self.n_in]
        ins = []
        for na in n["inputs"]:
            arg = na["arg"]
            t = arg.get("as_tensor")
            if t is not None and len(arg) == 1 and len(t) == 1:
                ins.append({**na, "arg": tensor_args[t["name"]]})
            else:
                renamed = arg if "as_graph" in arg else rename_arg(arg, names)
                ins.append(na if renamed is arg else {**na, "arg": renamed})
        outs = n["outputs"]
        o = outs[0] if len(outs) == 1 else None
        t = o.get("as_tensor") if o is not None and len(o) == 1 else None
        if t is not None and len(t) == 1:  # the commonest: one plain tensor output
            new_outs = [tensor_args[t["name"]]]
        else:
            new_outs = _rename_value_args(outs, names, tensor_args)
        node = {**n, "inputs": ins, "outputs": new_outs}
        if self.node_names and "name" in n:
            node["name"] = f"n{k}"
        if self.metadata is not None:
            md = n.get("metadata")
            if md is not None:
                node["metadata"] = self.metadata(md)
        return node


def emit_graph(
    graph: dict[str, Any],
    order: list[int],
    inputs: list[int],
    names: Mapping[str, str],
    *,
    node_names: bool = False,
    profile: Profile | None = None,
) -> dict[str, Any]:
    """The graph JSON in ``order`` with values renamed by ``names``.

    Equal to ``from_networkx(G, order=..., rename=..., input_order=...)``
    (a test proves it) but renames the original JSON directly, which is
    twice as fast: node ids of :func:`pt2canon.serde.graph.to_networkx` are input positions,
    then node positions offset by the number of inputs. With
    ``node_names`` the ``k``-th node, if named, is named ``n<k>``; with
    ``profile`` node metadata keeps only the keys it keeps
    (:meth:`Profile.node_metadata`). Every node dict
    and ``inputs`` list is new; node-input entries and arguments are shared
    with ``graph`` when nothing in them is renamed, and renamed tensor
    arguments within the result (one ``{"as_tensor": ...}`` object per
    value): replace entries, never edit them in place.

    Examples
    --------
    Node ids: the input is 0, the one op 1:

    >>> from pt2canon.canon.graph import _example_graph
    >>> doc = emit_graph(_example_graph("x", "y"), [1], [0], {"x": "v0", "y": "v1"})
    >>> doc["inputs"], doc["nodes"][0]["inputs"][1]["arg"], doc["outputs"]
    ([{'as_tensor': {'name': 'v0'}}], {'as_tensor': {'name': 'v0'}}, [{'as_tensor': {'name': 'v1'}}])
    """
    n_in = len(graph["inputs"])
    nodes = graph["nodes"]
    emitter = _NodeEmitter(nodes, n_in, names, node_names=node_names, profile=profile)
    if ENABLED and compiled is not None and type(nodes) is list and type(order) is list:
        out_nodes = compiled.emit_nodes(emitter, order)
    else:
        out_nodes = [emitter.node(k, nid) for k, nid in enumerate(order)]
    tensor_args = emitter.tensor_args
    g_inputs = graph["inputs"]
    doc = {
        **graph,
        "inputs": _rename_value_args([g_inputs[i] for i in inputs], names, tensor_args),
        "outputs": _rename_value_args(graph["outputs"], names, tensor_args),
        "nodes": out_nodes,
    }
    for t in VALUE_TABLES.values():
        if t in graph:
            doc[t] = {names.get(k, k): v for k, v in graph[t].items()}
    if graph.get("custom_obj_values"):
        # A custom object's entry repeats its value name: ``{"name": "obj_attr", "class_fqn": ...}``.
        doc["custom_obj_values"] = {
            k: {**v, "name": k} if isinstance(v, dict) and "name" in v else v
            for k, v in doc["custom_obj_values"].items()
        }
    return doc


#: The compiled node loop (``pt2canon/canon/_emit.c``: ``emit_nodes()``), or None where it was
#: not built.
compiled: ModuleType | None
try:
    from pt2canon.canon import _emit
except ImportError:  # not built (no C compiler at install time): _NodeEmitter.node() writes every node
    compiled = None
else:  # the functions it calls for what is not a plain tensor are this module's
    _emit.configure(frozenset(REF_KINDS), rename_arg, _rename_value_args, _TensorArgs)
    compiled = _emit

#: Whether the compiled extension was built and imports.
AVAILABLE: bool = compiled is not None
#: Whether :func:`emit_graph` calls it: available, and ``PT2CANON_COMPILED`` is not ``0`` (read
#: on each call: setting it false here selects the Python loop, the reference).
ENABLED: bool = enabled(AVAILABLE)
