"""The canonical form of a program: order, names, symbols, metadata profile.

:func:`canonicalize_program` turns the JSON of a serialized
``ExportedProgram`` into its canonical JSON, a document of the same schema
that ``torch.export.load`` reads and that computes what the original
computes. Two programs that differ only in node order, value/node/subgraph
names, symbol names, metadata, key order or example-size hints get the same
canonical document.

Steps, per graph (subgraphs first, recursively; :mod:`pt2canon.canon.graph`):

1. graph model (:func:`pt2canon.serde.graph.to_networkx`);
2. ordering edges for side effects (:func:`ordering_edges`,
   :mod:`pt2canon.canon.dependencies`): ordered ops
   (mutation, randomness, asserts, unknown custom ops) keep their relative
   order, and every read of a mutated value or of an alias of it stays on
   its side of the mutation;
3. op nodes ordered by :mod:`pt2canon.canon.order`; tokens, user inputs and
   constant inputs ranked by position, while inputs named by an FQN
   (parameters, buffers, tensor constants, custom objects) are placed by
   first use, so that no FQN decides the order (torch's ``canonicalize``
   sorts them by FQN);
4. inputs listed by signature kind (tokens, parameters, buffers, tensor
   constants, custom objects, then user and constant inputs in their own
   order: the calling convention), outputs by kind, mutations and
   gradients by the canonical position of their input
   (:mod:`pt2canon.canon.signature`);
5. values (and constant-input placeholders) renamed ``v0, v1, ...`` and op
   nodes ``n0, n1, ...`` in canonical order; subgraphs named
   ``subgraph_<12 hex>`` after the digest of their canonical structure
   (``_<k>`` appended for repeats in one graph); assert messages quote the
   node their condition comes from (:mod:`pt2canon.canon.messages`);
6. node metadata dropped except the keys the :class:`Profile` keeps;
7. symbols renamed in order of first appearance and expressions re-printed
   (:mod:`pt2canon.canon.symbols`, over the whole document:
   :mod:`pt2canon.canon.document_symbols`), then the symbols of assert messages;
   ranges of symbols no value mentions dropped; example-size hints dropped
   except for symbols without a range (torch's loader needs them).

Before step 1 every value's storage offset is set to 0: torch's loader
ignores it, so torch's own load -> save writes 0 (see
:func:`pt2canon.canon.graph._without_storage_offsets`). The result types
are in :mod:`pt2canon.canon.result`.
"""

from __future__ import annotations

from typing import Any

from pt2canon.canon.dependencies import ordering_edges
from pt2canon.canon.document_symbols import rename_document_symbols
from pt2canon.canon.graph import canonical_graph
from pt2canon.canon.messages import rename_message_symbols
from pt2canon.canon.result import DEFAULT_PROFILE, CanonicalGraph, CanonicalProgram, Profile, structure_view
from pt2canon.canon.signature import rank_outputs, rename_arg, rename_spec
from pt2canon.canon.symbols import SymbolRenamer
from pt2canon.errors import GraphError

__all__ = [
    "DEFAULT_PROFILE",
    "CanonicalGraph",
    "CanonicalProgram",
    "Profile",
    "canonicalize_program",
    "drop_unkept_metadata",
    "ordering_edges",
    "structure_view",
]


def canonicalize_program(
    program: dict[str, Any], *, profile: Profile = DEFAULT_PROFILE, keep_model: bool = True
) -> CanonicalProgram:
    """Canonicalize a serialized ``ExportedProgram`` document.

    Parameters
    ----------
    program : dict
        Parsed ``model.json`` (shape-checked; see :func:`pt2canon.serde.schema.check_program`).
    profile : Profile
        Which node metadata to keep (default: none).
    keep_model : bool
        ``False`` frees the graph model before the canonical document is
        written (``graph.model`` is then empty): the hash needs only the
        document, and peak memory is then the larger of the two, not their
        sum (see :func:`pt2canon.canon.graph.canonical_graph`).

    Returns
    -------
    CanonicalProgram
        The canonical document and the maps back to the original names.

    Raises
    ------
    GraphError
        If the graph and its signature disagree or a reference dangles.

    Examples
    --------
    ``c = neg(x) + relu(x)``, written twice: with other names, and with the
    two independent ops listed in the other order.

    >>> def program(x, a, b, c, *, swap=False):  # a = neg(x), b = relu(x), c = a + b
    ...     ref = lambda v: {"as_tensor": {"name": v}}
    ...     op = lambda target, y, *args: {"target": target, "name": y, "metadata": {}, "outputs": [ref(y)],
    ...         "inputs": [{"name": k, "arg": ref(v), "kind": 1} for k, v in zip(("self", "other"), args)]}
    ...     ops = [op("torch.ops.aten.neg.default", a, x), op("torch.ops.aten.relu.default", b, x)]
    ...     nodes = [*(ops[::-1] if swap else ops), op("torch.ops.aten.add.Tensor", c, a, b)]
    ...     signature = {"input_specs": [{"user_input": {"arg": ref(x)}}],
    ...                  "output_specs": [{"user_output": {"arg": ref(c)}}]}
    ...     graph = {"inputs": [ref(x)], "outputs": [ref(c)], "nodes": nodes}
    ...     return {"graph_module": {"graph": graph, "signature": signature}}
    >>> p = canonicalize_program(program("x", "a", "b", "c"))
    >>> q = canonicalize_program(program("inp", "n", "r", "out", swap=True))
    >>> p.doc == q.doc
    True
    >>> [(n["name"], n["target"]) for n in q.doc["graph_module"]["graph"]["nodes"]]
    [('n0', 'torch.ops.aten.neg.default'), ('n1', 'torch.ops.aten.relu.default'), ('n2', 'torch.ops.aten.add.Tensor')]
    >>> q.graph.node_names, q.graph.value_names
    ({'n0': 'n', 'n1': 'r', 'n2': 'out'}, {'inp': 'v0', 'n': 'v1', 'r': 'v2', 'out': 'v3'})

    The bundled MLP exported twice with different example batch sizes (other
    example-size hints of its batch symbol) has one canonical form:

    >>> import pt2canon
    >>> v1, again = (pt2canon.load(f"examples/{n}.pt2").model.program for n in ("mlp_v1", "mlp_v1_again"))
    >>> canonicalize_program(v1).doc == canonicalize_program(again).doc
    True

    A signature that does not match its graph is refused:

    >>> bad = program("x", "a", "b", "c")
    >>> bad["graph_module"]["signature"]["input_specs"] = []
    >>> from pt2canon.errors import GraphError
    >>> try:
    ...     canonicalize_program(bad)
    ... except GraphError as exc:
    ...     print(exc)
    graph_module.signature.input_specs: signature has 0 input specs but the graph has 1 inputs
    """
    gm = program["graph_module"]
    graph = gm["graph"]
    sig = gm["signature"]
    in_specs, out_specs = sig["input_specs"], sig["output_specs"]
    if len(in_specs) != len(graph["inputs"]):
        raise GraphError(
            f"signature has {len(in_specs)} input specs but the graph has {len(graph['inputs'])} inputs",
            where="graph_module.signature.input_specs",
        )
    if len(out_specs) != len(graph["outputs"]):
        raise GraphError(
            f"signature has {len(out_specs)} output specs but the graph has {len(graph['outputs'])} outputs",
            where="graph_module.signature.output_specs",
        )
    cg = canonical_graph(
        graph,
        where="graph_module.graph",
        input_specs=in_specs,
        profile=profile,
        output_specs=out_specs,
        keep_model=keep_model,
    )
    in_order = cg.input_order
    out_order = cg.output_order = rank_outputs(out_specs, in_specs, in_order)
    cg.doc["outputs"] = [cg.doc["outputs"][i] for i in out_order]
    names = cg.value_names
    keep = profile.keep_metadata
    new_gm: dict[str, Any] = {
        **gm,
        "graph": cg.doc,
        "signature": {
            **sig,
            "input_specs": [rename_spec(in_specs[i], names) for i in in_order],
            "output_specs": [rename_spec(out_specs[i], names) for i in out_order],
        },
        "metadata": {k: v for k, v in (gm.get("metadata") or {}).items() if k in keep},
    }
    mcg = []
    for entry in gm.get("module_call_graph", []):
        s = entry.get("signature")
        if s is not None:
            s = {
                **s,
                "inputs": [rename_arg(a, names) for a in s.get("inputs", [])],
                "outputs": [rename_arg(a, names) for a in s.get("outputs", [])],
            }
        mcg.append({**entry, "signature": s})
    new_gm["module_call_graph"] = sorted(mcg, key=lambda e: e["fqn"])
    doc: dict[str, Any] = {**program, "graph_module": new_gm}
    if "opset_version" in doc:
        doc["opset_version"] = dict(sorted(doc["opset_version"].items()))
    if "guards_code" in doc:
        doc["guards_code"] = sorted(doc["guards_code"])
    renamer = SymbolRenamer()
    hints = False
    if _has_symbols(program, cg):
        hints = rename_document_symbols(doc, renamer, messages=cg.has_asserts)
    else:
        if cg.has_asserts:
            rename_message_symbols(cg.doc, renamer)
        doc["range_constraints"] = {}
    return CanonicalProgram(doc=doc, graph=cg, symbols=dict(renamer.mapping), profile=profile, hints=hints)


def drop_unkept_metadata(program: dict[str, Any], profile: Profile = DEFAULT_PROFILE) -> None:
    """Replace, in place, every node's ``metadata`` by what ``profile`` keeps of it, in every graph of ``program``.

    The canonical document keeps only that (step 6), and no other step
    reads node metadata, so canonicalizing ``program`` afterwards gives the
    same document. :func:`pt2canon.api.digest` calls it on an archive it
    read itself, before the graph model is built: neither the model nor the
    canonical document then sits beside the stack traces, which are much of
    a program's JSON. A node without ``metadata`` stays without.

    Examples
    --------
    >>> import pt2canon
    >>> program = pt2canon.load("examples/mlp_v1.pt2").model.program
    >>> before = canonicalize_program(program).doc
    >>> drop_unkept_metadata(program)
    >>> [node["metadata"] for node in program["graph_module"]["graph"]["nodes"]][:2]
    [{}, {}]
    >>> canonicalize_program(program).doc == before
    True
    """
    _drop_graph_metadata(program["graph_module"]["graph"], profile)


def _drop_graph_metadata(graph: dict[str, Any], profile: Profile) -> None:
    for node in graph["nodes"]:
        md = node.get("metadata")
        if md is not None:
            node["metadata"] = profile.node_metadata(md)
        for na in node["inputs"]:
            ga = na["arg"].get("as_graph")
            if ga is not None:
                _drop_graph_metadata(ga["graph"], profile)


def _has_symbols(program: dict[str, Any], graph: CanonicalGraph) -> bool:
    """Whether any symbolic expression appears: range constraints, or a value table of any graph."""
    if program.get("range_constraints"):
        return True
    return _scan_expr(graph)


def _scan_expr(cg: CanonicalGraph) -> bool:
    graph = cg.doc
    for t in ("sym_int_values", "sym_float_values", "sym_bool_values"):
        for s in (graph.get(t) or {}).values():
            if "as_expr" in s:
                return True
    for m in (graph.get("tensor_values") or {}).values():
        for s in m["sizes"]:
            if "as_expr" in s:
                return True
        for s in m["strides"]:
            if "as_expr" in s:
                return True
        so = m.get("storage_offset")
        if so is not None and "as_expr" in so:
            return True
    return any(_scan_expr(sub) for sub in cg.subgraphs.values())
