"""Graph drawings and summaries of exported programs, for notebooks.

:func:`draw_svg` draws a program's top-level graph as SVG text, with
canonical node names (``n0, n1, ...`` for ops in canonical order, the
canonical value name ``v<k>`` for a graph input, ``output``):

* with Graphviz ``dot`` (``dot -Tsvg`` in a subprocess) when it is on the
  ``PATH``; it gives the best layered layouts;
* otherwise with networkx and matplotlib, which the ``notebook`` extra
  installs: nodes are put in layers by topological generation
  (``networkx.multipartite_layout``), ordered within a layer by the mean
  position of their neighbours, and drawn to SVG by matplotlib.

Large graphs are collapsed by module path (the innermost ``nn_module_stack``
entry of each op): with ``collapse_depth=k`` every module whose path has
``k`` components (``layers.3`` has two) becomes one box holding the ops of
that module and of its submodules, and ops of shallower modules stay ops.
By default (``collapse_depth=None``) a graph of more than ``max_nodes``
drawn nodes is collapsed at the deepest depth that draws at most
``max_nodes`` nodes, so a 48-layer transformer (1,680 ops) is drawn as 48
``layers.N`` boxes; ``module="layers.3"`` draws one module's ops alone,
with the ops outside it that feed it or use it drawn dashed.
``collapse_depth=0`` never collapses.

``highlight`` colours nodes: a set of canonical names (drawn blue) or a
mapping ``name -> status`` with the statuses of :data:`STATUS_STYLES`
(``added`` green, ``changed`` orange, ``rewired`` yellow, ``removed`` red)
or a ``#rrggbb`` colour. A module box takes the status of the nodes it
holds. :func:`diff_highlight` makes that mapping from a
:class:`~pt2canon.diff.result.DiffResult` and :func:`draw_diff_svg` draws
the changed region of a diff: the changed nodes of side B with their
neighbourhood, and the removed nodes of side A in red where they were
(their edges dashed red).

In the SVG, the group of each drawn node has the id ``node-<name>`` (a
module box ``module-<path>``, a removed node of side A ``node-A:<name>``;
characters other than letters, digits and ``_.:-`` become ``_``) and a
tooltip with the node's listing line, its original name and its module;
every text taken from the program is escaped.

Notebook objects: :class:`GraphView` (made by :func:`draw` and
:func:`draw_diff`) and :class:`Summary` (:func:`explore`) render when left
bare at the end of a cell (``_repr_svg_`` / ``_repr_html_``).

matplotlib and ``subprocess`` are imported only when a drawing is made.

Examples
--------
>>> import pt2canon.draw as draw                               # doctest: +SKIP
>>> draw.draw("model.pt2")                                     # doctest: +SKIP
>>> draw.draw("model.pt2", module="layers.3")                  # doctest: +SKIP
>>> svg = draw.draw_svg("model.pt2", highlight={"n4": "changed"})  # doctest: +SKIP
"""

from __future__ import annotations

import html
import io
import math
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pt2canon.errors import MissingDependencyError, UsageError
from pt2canon.serde.metadata import module_path, module_stack

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

    from pt2canon.canon.program import CanonicalProgram
    from pt2canon.diff.result import DiffResult

__all__ = [
    "DEFAULT_MAX_NODES",
    "KIND_STYLES",
    "STATUS_STYLES",
    "Drawing",
    "GraphView",
    "Item",
    "Summary",
    "diff_highlight",
    "draw",
    "draw_diff",
    "draw_diff_svg",
    "draw_svg",
    "explore",
    "module_path",
    "plan_drawing",
    "to_digraph",
]

#: Graphs with more drawn nodes than this are collapsed by module path by default.
DEFAULT_MAX_NODES = 150

#: Seconds ``dot`` may run before the matplotlib drawing is used instead.
DOT_TIMEOUT = 60.0

#: Fill and stroke colour of a highlighted node, by status.
STATUS_STYLES: dict[str, dict[str, str]] = {
    "added": {"fill": "#b2f2bb", "stroke": "#2f9e44"},
    "changed": {"fill": "#ffd8a8", "stroke": "#f08c00"},
    "rewired": {"fill": "#ffec99", "stroke": "#f08c00"},
    "removed": {"fill": "#ffc9c9", "stroke": "#e03131"},
    "highlight": {"fill": "#a5d8ff", "stroke": "#1971c2"},
}

#: Fill and stroke colour, and Graphviz shape, of a node that is not highlighted, by kind.
KIND_STYLES: dict[str, dict[str, str]] = {
    "op": {"fill": "#f8f9fa", "stroke": "#868e96", "shape": "box", "style": "rounded,filled"},
    "input": {"fill": "#e7f5ff", "stroke": "#4dabf7", "shape": "ellipse", "style": "filled"},
    "weight": {"fill": "#f1f3f5", "stroke": "#adb5bd", "shape": "ellipse", "style": "filled"},
    "output": {"fill": "#e7f5ff", "stroke": "#4dabf7", "shape": "ellipse", "style": "filled"},
    "module": {"fill": "#f3f0ff", "stroke": "#7950f2", "shape": "box3d", "style": "filled"},
    "external": {"fill": "#ffffff", "stroke": "#adb5bd", "shape": "box", "style": "rounded,dashed,filled"},
    "note": {"fill": "#ffffff", "stroke": "#adb5bd", "shape": "note", "style": "filled"},
}

_WEIGHT_ROLES = frozenset({"parameter", "buffer", "tensor_constant", "custom_obj"})
_SPEC_FQN = ("parameter_name", "buffer_name", "tensor_constant_name", "custom_obj_name")
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_LABEL_CHARS = 34
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_.:\-]")
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: object) -> str:
    """Text with the characters XML cannot hold removed."""
    return _BAD_XML.sub("", str(text))


def _esc(text: object) -> str:
    return html.escape(_clean(text), quote=True)


def _short(text: str, limit: int = _LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- module paths


def _inside(path: str | None, module: str) -> bool:
    return path is not None and (path == module or path.startswith(module + "."))


# --------------------------------------------------------------------------- the canonical graph


def _canonical(source: Any, model: str | None = None) -> CanonicalProgram:
    from pt2canon.canon.program import CanonicalProgram

    if isinstance(source, CanonicalProgram):
        return source
    import pt2canon

    return pt2canon.canonicalize(source, model=model)


def _label_of(source: Any) -> str:
    path = getattr(source, "path", None)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
    return os.path.basename(str(path)) if path and not str(path).startswith("<") else ""


def _arg_names(arg: Any) -> list[str]:
    from pt2canon.serde.graph import iter_refs

    if not isinstance(arg, Mapping):
        return []
    if isinstance(arg.get("name"), str):  # a TensorArgument/TokenArgument of a signature spec
        return [arg["name"]]
    try:
        return [name for _, _, name, _ in iter_refs(dict(arg))]
    except (TypeError, KeyError, AttributeError):
        return []


def to_digraph(program: Any, *, model: str | None = None) -> nx.DiGraph:
    """The top-level graph of a program as a ``networkx.DiGraph`` keyed by canonical names.

    Parameters
    ----------
    program : CanonicalProgram, or anything :func:`pt2canon.load` reads
        Canonicalized first unless it already is.
    model : str, optional
        Which model of a multi-model archive.

    Returns
    -------
    networkx.DiGraph
        Nodes ``n0, n1, ...`` (ops, canonical order), ``v<k>`` (graph
        inputs, by their canonical value name) and ``output``; an edge per
        producer/consumer pair. Node attributes: ``kind`` (``input``,
        ``op``, ``output``), ``op`` (``aten.relu.default``), ``target``,
        ``line`` (the canonical listing line), ``meta`` (output metadata,
        ``f32[s0, 32]``), ``module`` (module path or ``None``),
        ``module_stack`` (``[(path, type), ...]``), ``original`` (name in
        the original file), ``role`` and ``fqn`` (inputs: signature kind
        and parameter/buffer name). Edge attribute ``values``: the
        canonical names of the values passed. Graph attribute
        ``canonical``: the :class:`~pt2canon.canon.program.CanonicalProgram`.
    """
    import networkx as nx

    from pt2canon.listing import format_meta, format_node, short_target

    canon = _canonical(program, model)
    cg = canon.graph
    G = cg.model
    doc_graph = canon.doc["graph_module"]["graph"]
    signature = canon.doc["graph_module"].get("signature") or {}
    vn = cg.value_names
    roles: dict[str, tuple[str, str | None]] = {}
    for spec in signature.get("input_specs") or ():
        if not isinstance(spec, Mapping) or len(spec) != 1:
            continue
        ((kind, body),) = spec.items()
        body = body if isinstance(body, Mapping) else {}
        fqn = next((body[k] for k in _SPEC_FQN if k in body), None)
        for name in _arg_names(body.get("arg")):
            roles[name] = (kind, fqn)
    position: dict[str, int] = {}
    for i, arg in enumerate(doc_graph.get("inputs") or ()):
        for name in _arg_names(arg):
            position.setdefault(name, i)
    D = nx.DiGraph(canonical=canon)
    names: dict[int, str] = {}
    inputs = [n for n, a in G._node.items() if a["kind"] == "input"]
    keyed = []
    for nid in inputs:
        vals = [vn.get(v.name, v.name) for v in G._node[nid]["values"]]
        pos = min((position.get(v, 1 << 30) for v in vals), default=1 << 30)
        keyed.append((pos, G._node[nid]["index"], nid, vals))
    keyed.sort()
    for i, (pos, _, nid, vals) in enumerate(keyed):
        name = vals[0] if vals else f"input{i}"
        names[nid] = name
        role, fqn = roles.get(name, ("user_input", None))
        arg = doc_graph["inputs"][pos] if pos < len(doc_graph.get("inputs") or ()) else None
        meta = format_meta(arg, doc_graph) if isinstance(arg, Mapping) else None
        original = ", ".join(v.name for v in G._node[nid]["values"])
        D.add_node(
            name,
            kind="input",
            role=role,
            fqn=fqn,
            meta=meta,
            original=original,
            op=None,
            target=None,
            line=f"%{name}: {role}{' ' + fqn if fqn else ''}{'  ' + meta if meta else ''}",
            module=None,
            module_stack=[],
        )
    for k, (nid, node) in enumerate(zip(cg.order, doc_graph["nodes"])):
        name = f"n{k}"
        names[nid] = name
        a = G._node[nid]
        metas = [m for m in (format_meta(o, doc_graph) for o in node.get("outputs") or ()) if m is not None]
        stack = module_stack(a.get("metadata"))
        D.add_node(
            name,
            kind="op",
            op=short_target(node["target"]),
            target=node["target"],
            line=format_node(node, doc_graph),
            meta=", ".join(metas) if metas else None,
            module=stack[-1][0] if stack else None,
            module_stack=stack,
            original=cg.node_names.get(name, ""),
            role=None,
            fqn=None,
        )
    out = G.graph["output"]
    names[out] = "output"
    outs = doc_graph.get("outputs") or ()
    out_metas = [m for m in (format_meta(o, doc_graph) for o in outs) if m is not None]
    D.add_node(
        "output",
        kind="output",
        op=None,
        target=None,
        role=None,
        fqn=None,
        original="output",
        line=_return_text(outs),
        meta=", ".join(out_metas) or None,
        module=None,
        module_stack=[],
    )
    for u, v, data in G.edges(data=True):
        nu, nv = names[u], names[v]
        value = vn.get(data["value"], data["value"])
        if D.has_edge(nu, nv):
            if value not in D[nu][nv]["values"]:
                D[nu][nv]["values"].append(value)
        else:
            D.add_edge(nu, nv, values=[value])
    return D


def _return_text(outs: Any) -> str:
    texts = [_arg_text(o) for o in outs]
    return f"return ({texts[0]},)" if len(texts) == 1 else f"return ({', '.join(texts)})"


def _arg_text(arg: Any) -> str:
    from pt2canon.listing import format_argument

    return format_argument(arg) if isinstance(arg, Mapping) else "?"


# --------------------------------------------------------------------------- the drawing plan


@dataclass
class Item:
    """One drawn node: an op, a graph input or output, a module box or an op outside the module drawn.

    Attributes
    ----------
    id : str
        Canonical name (``n3``, ``v6``, ``output``), ``module:<path>`` for a
        module box, ``A:<name>`` for a removed node of side A.
    kind : str
        A key of :data:`KIND_STYLES`.
    label : tuple of str
        The lines drawn in the node.
    tooltip : str
    members : tuple of str
        Canonical names of the nodes the item stands for.
    status : str or None
        Highlight status (a key of :data:`STATUS_STYLES`) or a ``#rrggbb`` colour.
    """

    id: str
    kind: str
    label: tuple[str, ...]
    tooltip: str = ""
    members: tuple[str, ...] = ()
    status: str | None = None

    @property
    def svg_id(self) -> str:
        """The id of the node's group in the SVG (characters other than letters, digits, ``_.:-`` made ``_``)."""
        raw = f"module-{self.id[len('module:') :]}" if self.id.startswith("module:") else f"node-{self.id}"
        return _UNSAFE_ID.sub("_", raw)

    def style(self) -> dict[str, str]:
        base = dict(KIND_STYLES[self.kind])
        if self.status in STATUS_STYLES:
            base.update(STATUS_STYLES[self.status])
        elif self.status is not None:
            base.update(fill=self.status, stroke=self.status)
        return base


@dataclass
class Drawing:
    """What is drawn: items, edges (with the number of values they stand for) and a title.

    ``removed_edges`` are edges of side A that a diff drawing shows dashed red.
    """

    items: dict[str, Item]
    edges: dict[tuple[str, str], int]
    title: str = ""
    collapse_depth: int | None = None
    module: str | None = None
    removed_edges: frozenset[tuple[str, str]] = frozenset()

    def __len__(self) -> int:
        return len(self.items)

    def find(self, name: str) -> Item | None:
        """The item that draws canonical name ``name`` (itself, or the module box holding it)."""
        if name in self.items:
            return self.items[name]
        for it in self.items.values():
            if name in it.members:
                return it
        return None


def _statuses(highlight: Any) -> dict[str, str]:
    if highlight is None:
        return {}
    if isinstance(highlight, str):
        raise UsageError("highlight= takes a set of node names or a mapping name -> status, not one string")
    if isinstance(highlight, Mapping):
        out = {}
        for name, status in highlight.items():
            if status not in STATUS_STYLES and not (isinstance(status, str) and _HEX_COLOUR.fullmatch(status)):
                raise UsageError(
                    f"highlight status {status!r} for {name!r} is not one of {', '.join(STATUS_STYLES)} or a #rrggbb colour"
                )
            out[str(name)] = status
        return out
    return {str(name): "highlight" for name in highlight}


def _merge(statuses: Iterable[str]) -> str | None:
    found = set(statuses)
    if not found:
        return None
    if len(found) == 1:
        return found.pop()
    return "changed"


def _op_item(D: nx.DiGraph, name: str, kind: str = "op", item_id: str | None = None) -> Item:
    d = D.nodes[name]
    tip = [d["line"]]
    if d.get("original"):
        tip.append(f"original name: {d['original']}")
    if d.get("module") is not None:
        tip.append(f"module: {d['module'] or '(root)'}")
    if kind == "external":
        tip.append("outside the module drawn")
    second = f"{name}  {d['meta']}" if d.get("meta") else name
    return Item(item_id or name, kind, (_short(d["op"] or name), _short(second)), "\n".join(tip), (name,))


def _input_item(D: nx.DiGraph, name: str) -> Item:
    d = D.nodes[name]
    weight = d["role"] in _WEIGHT_ROLES
    first = d["fqn"] if d.get("fqn") else f"{d['role']} {d['original']}".strip()
    second = f"{name}  {d['meta']}" if d.get("meta") else name
    tip = f"{d['line']}\noriginal name: {d['original']}"
    return Item(name, "weight" if weight else "input", (_short(first), _short(second)), tip, (name,))


def _output_item(D: nx.DiGraph) -> Item:
    d = D.nodes["output"]
    return Item(
        "output",
        "output",
        ("output", _short(d["meta"] or "")) if d.get("meta") else ("output",),
        d["line"],
        ("output",),
    )


def _group_key(path: str | None, depth: int | None) -> str | None:
    if depth is None or not path:
        return None
    comps = path.split(".")
    if len(comps) < depth:
        return None
    return ".".join(comps[:depth])


def _depth_of(path: str | None) -> int:
    return len(path.split(".")) if path else 0


def plan_drawing(
    D: nx.DiGraph,
    *,
    collapse_depth: int | None = None,
    module: str | None = None,
    highlight: Any = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    params: bool | None = None,
    title: str = "",
) -> Drawing:
    """Decide what to draw of a graph made by :func:`to_digraph`; arguments as for :func:`draw_svg`."""
    if collapse_depth is not None and (not isinstance(collapse_depth, int) or collapse_depth < 0):
        raise UsageError(f"collapse_depth={collapse_depth!r}: needs None (automatic), 0 (never) or a depth >= 1")
    if not isinstance(max_nodes, int) or max_nodes < 1:
        raise UsageError(f"max_nodes={max_nodes!r}: needs a number >= 1")
    statuses = _statuses(highlight)
    nodes = D.nodes
    ops = [n for n, k in D.nodes(data="kind") if k == "op"]
    if module is not None:
        module = module.strip(".")
        scope = [n for n in ops if _inside(nodes[n]["module"], module)]
        if not scope:
            known = sorted({p for n in ops for p, _ in nodes[n]["module_stack"] if p})
            hint = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            raise UsageError(f"no op belongs to module {module!r}; module paths: {hint or '(none)'}")
        base = _depth_of(module)
    else:
        scope = ops
        base = 0
    in_scope = set(scope)
    inputs = [n for n, k in D.nodes(data="kind") if k == "input"]
    if module is not None:
        inputs = [n for n in inputs if any(s in in_scope for s in D.successors(n))]
        externals = [
            n
            for n in D.nodes
            if n not in in_scope
            and nodes[n]["kind"] != "input"
            and any(s in in_scope for s in (*D.predecessors(n), *D.successors(n)))
        ]
    else:
        externals = []
    weights = [n for n in inputs if nodes[n]["role"] in _WEIGHT_ROLES]
    fixed = len(inputs) - len(weights) + len(externals) + (0 if module is not None else 1)

    def count(depth: int | None) -> int:
        return len({_group_key(nodes[n]["module"], depth) or n for n in scope})

    if collapse_depth is None:
        depth: int | None = None
        if count(None) + fixed + (len(weights) if params is not False else 0) > max_nodes:
            deepest = max((_depth_of(nodes[n]["module"]) for n in scope), default=0)
            for k in range(base + 1, deepest + 1):
                if depth is None or count(k) + fixed <= max_nodes:
                    depth = k
                if count(k) + fixed > max_nodes:
                    break
    else:
        depth = collapse_depth or None
    show_weights = params if params is not None else depth is None

    items: dict[str, Item] = {}
    owner: dict[str, str] = {}
    for n in inputs:
        if nodes[n]["role"] in _WEIGHT_ROLES and not show_weights:
            continue
        items[n] = _input_item(D, n)
        owner[n] = n
    groups: dict[str, list[str]] = {}
    for n in scope:
        key = _group_key(nodes[n]["module"], depth)
        if key is None:
            items[n] = _op_item(D, n)
            owner[n] = n
        else:
            gid = f"module:{key}"
            if gid not in items:
                items[gid] = Item(gid, "module", ())
                groups[gid] = []
            groups[gid].append(n)
            owner[n] = gid
    for gid, members in groups.items():
        path = gid[len("module:") :]
        types = Counter(t for n in members for p, t in nodes[n]["module_stack"] if p == path)
        mtype = types.most_common(1)[0][0].rsplit(".", 1)[-1] if types else ""
        ops_count = Counter(nodes[n]["op"] for n in members)
        tip = [f"module {path}" + (f" ({types.most_common(1)[0][0]})" if types else ""), f"{len(members)} ops:"]
        tip += [f"  {c} x {op}" for op, c in ops_count.most_common(12)]
        if len(ops_count) > 12:
            tip.append(f"  ... {len(ops_count) - 12} more kinds")
        n_ops = f"{len(members)} op{'s' if len(members) != 1 else ''}"
        items[gid] = Item(
            gid,
            "module",
            (_short(path), _short(f"{mtype} · {n_ops}" if mtype else n_ops)),
            "\n".join(tip),
            tuple(members),
        )
    for n in externals:
        if nodes[n]["kind"] == "output":
            items[n] = _output_item(D)
        else:
            items[n] = _op_item(D, n, kind="external")
        owner[n] = n
    if module is None:
        items["output"] = _output_item(D)
        owner["output"] = "output"
    edges: dict[tuple[str, str], int] = {}
    for u, v, data in D.edges(data=True):
        if module is not None and u not in in_scope and v not in in_scope:
            continue
        iu, iv = owner.get(u), owner.get(v)
        if iu is None or iv is None or iu == iv:
            continue
        edges[(iu, iv)] = edges.get((iu, iv), 0) + len(data.get("values") or (1,))
    for it in items.values():
        it.status = _merge(statuses[m] for m in it.members if m in statuses)
    parts = [title] if title else []
    parts.append(f"module {module}: {len(scope)} ops" if module is not None else f"{len(scope)} ops")
    if depth is not None:
        parts.append(f"modules collapsed at depth {depth}")
    return Drawing(items, edges, " · ".join(parts), depth, module)


# --------------------------------------------------------------------------- rendering


def _dot_string(text: str) -> str:
    """A DOT quoted string (``\\`` and ``"`` escaped, lines joined with ``\\n``)."""
    s = _clean(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + s.replace("\r", "").replace("\n", "\\n") + '"'


def to_dot(drawing: Drawing) -> str:
    """The drawing as a Graphviz DOT program."""
    lines = [
        "digraph pt2canon {",
        f"  graph [rankdir=TB, labelloc=t, fontname=Helvetica, fontsize=12, nodesep=0.25, ranksep=0.35, "
        f"bgcolor=white, label={_dot_string(drawing.title)}];",
        '  node [fontname=Helvetica, fontsize=9, margin="0.10,0.04", height=0.3];',
        '  edge [color="#868e96", arrowsize=0.6];',
    ]
    for it in drawing.items.values():
        st = it.style()
        attrs = {
            "id": it.svg_id,
            "label": "\n".join(it.label),
            "tooltip": it.tooltip or "\n".join(it.label),
            "shape": st["shape"],
            "style": st["style"],
            "fillcolor": st["fill"],
            "color": st["stroke"],
        }
        if it.status is not None:
            attrs["penwidth"] = "2"
        body = ", ".join(f"{k}={_dot_string(v)}" for k, v in attrs.items())
        lines.append(f"  {_dot_string(it.id)} [{body}];")
    red = STATUS_STYLES["removed"]["stroke"]
    for (u, v), n in drawing.edges.items():
        extra = f", penwidth={min(1 + math.log2(n), 4):.2f}" if n > 1 else ""
        if (u, v) in drawing.removed_edges:
            extra += f', style=dashed, color="{red}"'
        lines.append(f"  {_dot_string(u)} -> {_dot_string(v)} [tooltip={_dot_string(f'{n} value(s)')}{extra}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _strip_prolog(svg: str) -> str:
    start = svg.find("<svg")
    return svg[start:].strip() + "\n" if start >= 0 else svg


def _render_dot(drawing: Drawing, dot: str, timeout: float) -> str:
    import subprocess

    proc = subprocess.run(
        [dot, "-Tsvg"],
        input=to_dot(drawing).encode("utf-8"),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dot exited {proc.returncode}: {proc.stderr.decode('utf-8', 'replace').strip()[:500]}")
    return _strip_prolog(proc.stdout.decode("utf-8"))


def _layers(drawing: Drawing) -> dict[int, list[str]]:
    """Layer of each item: topological generation of its strongly connected component, sources pulled down."""
    import networkx as nx

    G = nx.DiGraph()
    G.add_nodes_from(drawing.items)
    G.add_edges_from(drawing.edges)
    C = nx.condensation(G)
    comp = C.graph["mapping"]
    level_of_comp = {}
    for i, gen in enumerate(nx.topological_generations(C)):
        for c in gen:
            level_of_comp[c] = i
    level = {n: level_of_comp[comp[n]] for n in G}
    for n in G:
        if G.in_degree(n) == 0 and G.out_degree(n) > 0:
            level[n] = max(0, min(level[s] for s in G.successors(n)) - 1)
    layers: dict[int, list[str]] = {}
    for n in drawing.items:  # insertion order: inputs, ops in canonical order, output
        layers.setdefault(level[n], []).append(n)
    # Order within a layer by the mean position of the neighbours in the layer above,
    # then below, then above again (barycenters; ties keep canonical order).
    index = {n: i for i, n in enumerate(drawing.items)}
    preds: dict[str, list[str]] = {n: [] for n in G}
    succs: dict[str, list[str]] = {n: [] for n in G}
    for u, v in G.edges:
        succs[u].append(v)
        preds[v].append(u)
    keys = sorted(layers)
    pos = {n: float(i) for k in keys for i, n in enumerate(layers[k])}

    def bary(n: str, nbrs: dict[str, list[str]]) -> tuple[float, int]:
        ps = [pos[p] for p in nbrs[n] if level[p] != level[n]]
        return (sum(ps) / len(ps) if ps else pos[n], index[n])

    def sweep(order: list[int], nbrs: dict[str, list[str]]) -> None:
        for k in order:
            layer = layers[k]
            layer.sort(key=lambda n: bary(n, nbrs))
            width = len(layer)
            for i, n in enumerate(layer):
                pos[n] = i - (width - 1) / 2

    sweep(keys, preds)
    sweep(keys[::-1], succs)
    sweep(keys, preds)
    return {k: layers[k] for k in keys}


def _render_matplotlib(drawing: Drawing, *, png: str | None = None) -> str:
    try:
        import matplotlib
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyArrowPatch
    except ImportError:
        raise MissingDependencyError(
            "drawing needs Graphviz 'dot' on the PATH or matplotlib: pip install 'pt2canon[notebook]'"
        ) from None
    import hashlib

    import networkx as nx

    layers = _layers(drawing)
    G = nx.DiGraph()
    G.add_nodes_from(drawing.items)
    raw = nx.multipartite_layout(G, subset_key=layers, align="horizontal")
    widest = max(len(v) for v in layers.values())
    # multipartite_layout spaces nodes one unit apart within a layer and layers
    # one unit apart, then scales both axes alike: recover the unit.
    xs = [p[0] for p in raw.values()]
    ys = sorted({round(float(p[1]), 9) for p in raw.values()})
    if len(ys) > 1:
        unit = (ys[-1] - ys[0]) / (len(ys) - 1)
    elif widest > 1:
        unit = (max(xs) - min(xs)) / (widest - 1)
    else:
        unit = 1.0
    unit = unit or 1.0
    node_w, layer_h, margin = 2.3, 0.75, 0.45
    title_h = 0.45 if drawing.title else 0.0
    width = max(widest * node_w, 0.075 * len(drawing.title)) + 2 * margin
    height = len(layers) * layer_h + 2 * margin + title_h
    cx = width / 2
    top = height - margin - title_h - layer_h / 2
    y0 = ys[0]
    at: dict[str, tuple[float, float]] = {}
    for n, p in raw.items():
        at[n] = (cx + float(p[0]) / unit * node_w, top - (float(p[1]) - y0) / unit * layer_h)
    salt = hashlib.sha256(to_dot(drawing).encode("utf-8")).hexdigest()[:16]
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt, "font.family": "DejaVu Sans"}):
        fig = Figure(figsize=(width, height))
        FigureCanvasSVG(fig)
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_axis_off()
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)
        if drawing.title:
            ax.text(
                width / 2,
                height - margin / 2 - title_h / 2,
                _clean(drawing.title),
                ha="center",
                va="center",
                fontsize=9,
                gid="title",
            )
        half = 0.17
        segments = []
        dashed = []
        for (u, v), _n in drawing.edges.items():
            dashed.append((u, v) in drawing.removed_edges)
            (x1, y1), (x2, y2) = at[u], at[v]
            if abs(y1 - y2) < 1e-9:  # same layer (a cycle between module boxes): side to side
                segments.append(((x1 + (0.5 if x2 > x1 else -0.5), y1), (x2 - (0.5 if x2 > x1 else -0.5), y2)))
            else:
                down = y2 < y1
                segments.append(((x1, y1 - half if down else y1 + half), (x2, y2 + half if down else y2 - half)))
        if len(segments) <= 600:
            red = STATUS_STYLES["removed"]["stroke"]
            for i, (a, b) in enumerate(segments):
                ax.add_patch(
                    FancyArrowPatch(
                        a,
                        b,
                        arrowstyle="-|>",
                        mutation_scale=7,
                        lw=0.7,
                        ls="--" if dashed[i] else "-",
                        color=red if dashed[i] else "#868e96",
                        shrinkA=0,
                        shrinkB=0,
                        zorder=1,
                        gid=f"edge-{i}",
                    )
                )
        else:
            ax.add_collection(LineCollection(segments, colors="#868e96", linewidths=0.6, zorder=1))
        for it in drawing.items.values():
            st = it.style()
            x, y = at[it.id]
            box = "round,pad=0.35" if st["shape"] in ("box", "box3d", "note") else "round4,pad=0.35"
            ax.text(
                x,
                y,
                "\n".join(_clean(line) for line in it.label),
                ha="center",
                va="center",
                fontsize=7,
                zorder=3,
                gid=it.svg_id,
                bbox={
                    "boxstyle": box,
                    "fc": st["fill"],
                    "ec": st["stroke"],
                    "lw": 1.8 if it.status is not None else 0.9,
                    "ls": "--" if "dashed" in st["style"] else "-",
                },
            )
        if png is not None:  # a raster copy, for looking at a drawing outside a browser
            fig.savefig(png, format="png", dpi=110)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = _strip_prolog(buf.getvalue())
    # Tooltips: a <title> first in each node's group.
    for it in drawing.items.values():
        tip = it.tooltip or "\n".join(it.label)
        opening = f'<g id="{_esc(it.svg_id)}">'
        svg = svg.replace(opening, f"{opening}\n    <title>{_esc(tip)}</title>", 1)
    return svg


def _engine(engine: str) -> str | None:
    """The ``dot`` executable to use, or ``None`` for matplotlib."""
    if engine not in ("auto", "dot", "matplotlib"):
        raise UsageError(f"engine={engine!r} is not one of auto, dot, matplotlib")
    if engine == "matplotlib":
        return None
    dot = shutil.which("dot")
    if dot is None and engine == "dot":
        raise MissingDependencyError("engine='dot' needs Graphviz's 'dot' on the PATH (apt-get install graphviz)")
    return dot


def render(drawing: Drawing, *, engine: str = "auto", timeout: float = DOT_TIMEOUT) -> tuple[str, str]:
    """SVG text of a :class:`Drawing` and the engine that drew it (``"dot"`` or ``"matplotlib"``).

    ``engine="auto"`` uses ``dot`` when ``shutil.which("dot")`` finds it and
    matplotlib otherwise, or when ``dot`` fails or runs over ``timeout`` seconds.
    """
    dot = _engine(engine)
    if dot is not None:
        import subprocess

        try:
            return _render_dot(drawing, dot, timeout), "dot"
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
            if engine == "dot":
                raise MissingDependencyError(f"dot failed: {exc}") from None
    return _render_matplotlib(drawing), "matplotlib"


# --------------------------------------------------------------------------- notebook objects


class GraphView:
    """A drawn graph; renders as SVG when left bare at the end of a notebook cell.

    Attributes
    ----------
    svg : str
        The SVG text (``_repr_svg_`` and ``_repr_html_`` return it).
    engine : str
        ``"dot"`` or ``"matplotlib"``.
    drawing : Drawing
        What was drawn (items by id, edges).
    seconds : float
        Time the drawing took (planning and rendering).
    """

    def __init__(self, drawing: Drawing, svg: str, engine: str, seconds: float = 0.0):
        self.drawing = drawing
        self.svg = svg
        self.engine = engine
        self.seconds = seconds

    @property
    def nodes(self) -> list[str]:
        """Ids of the drawn items."""
        return list(self.drawing.items)

    def status(self, name: str) -> str | None:
        """Highlight status of the item drawing canonical name ``name``."""
        it = self.drawing.find(name)
        return it.status if it is not None else None

    def _repr_svg_(self) -> str:
        return self.svg

    def _repr_html_(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        extra = f", collapse_depth={self.drawing.collapse_depth}" if self.drawing.collapse_depth else ""
        return f"<GraphView {len(self.drawing.items)} nodes, {len(self.drawing.edges)} edges, {self.engine}{extra}>"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the SVG to a file."""
        from pathlib import Path

        Path(path).write_text(self.svg, encoding="utf-8")


def draw(
    program: Any,
    *,
    collapse_depth: int | None = None,
    module: str | None = None,
    highlight: Any = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    params: bool | None = None,
    engine: str = "auto",
    model: str | None = None,
    title: str | None = None,
) -> GraphView:
    """Draw a program's graph; see :func:`draw_svg` for the arguments. Returns a :class:`GraphView`."""
    t0 = time.perf_counter()
    D = to_digraph(program, model=model)
    label = _label_of(program) if title is None else title
    drawing = plan_drawing(
        D,
        collapse_depth=collapse_depth,
        module=module,
        highlight=highlight,
        max_nodes=max_nodes,
        params=params,
        title=label,
    )
    svg, used = render(drawing, engine=engine)
    return GraphView(drawing, svg, used, time.perf_counter() - t0)


def draw_svg(
    program_or_canon: Any,
    *,
    collapse_depth: int | None = None,
    module: str | None = None,
    highlight: Any = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    params: bool | None = None,
    engine: str = "auto",
    model: str | None = None,
    title: str | None = None,
) -> str:
    """The SVG drawing of a program's top-level graph.

    Parameters
    ----------
    program_or_canon : CanonicalProgram, or anything :func:`pt2canon.load` reads
    collapse_depth : int, optional
        ``None``: collapse by module path only when more than ``max_nodes``
        nodes would be drawn, at the deepest depth that fits; ``0``: never;
        ``k``: draw each module with ``k`` path components as one box.
    module : str, optional
        Draw only the ops of this module and its submodules (``"layers.3"``).
    highlight : set of str or Mapping[str, str], optional
        Canonical names to colour, or ``name -> status`` (:data:`STATUS_STYLES`)
        or ``name -> "#rrggbb"``.
    max_nodes : int
        Drawn-node budget for the automatic collapse.
    params : bool, optional
        Draw parameters, buffers and tensor constants as input nodes
        (default: when the graph is not collapsed).
    engine : {"auto", "dot", "matplotlib"}
    model : str, optional
        Which model of a multi-model archive.
    title : str, optional
        Caption (default: the file name).

    Returns
    -------
    str
        SVG text starting with ``<svg``.
    """
    return draw(
        program_or_canon,
        collapse_depth=collapse_depth,
        module=module,
        highlight=highlight,
        max_nodes=max_nodes,
        params=params,
        engine=engine,
        model=model,
        title=title,
    ).svg


# --------------------------------------------------------------------------- diffs


_NODE_STATUS = {"node_added": "added", "node_removed": "removed", "node_changed": "changed", "node_rewired": "rewired"}


def _b_to_a(result: DiffResult, prefix: str) -> dict[str, str]:
    return {
        r.b_name: r.a_name
        for r in result.rows
        if r.graph.model == prefix and not r.graph.is_subgraph and r.a_name and r.b_name
    }


def diff_highlight(result: DiffResult, side: str = "b", *, model: str | None = None) -> dict[str, str]:
    """Canonical node name -> status (``added``, ``changed``, ``rewired``, ``removed``) on one side of a diff.

    Parameters
    ----------
    result : DiffResult
    side : {"b", "a"}
        Side B holds the added, changed and rewired nodes (by B's canonical
        names), side A the removed, changed and rewired ones (by A's).
    model : str, optional
        For a diff of multi-model archives: which model.

    A change inside the subgraph of a higher-order op marks that op changed.
    """
    if side not in ("a", "b"):
        raise UsageError(f"side={side!r}: needs 'a' or 'b'")
    prefix = model or ""
    out: dict[str, str] = {}
    b_to_a: dict[str, str] | None = None
    for c in result.changes:
        status = _NODE_STATUS.get(c.kind)
        if status is None:
            continue
        graph = c.location.graph
        if graph.model != prefix:
            continue
        if not graph.is_subgraph:
            name = c.location.b if side == "b" else c.location.a
            if name:
                out[name] = status
            continue
        parent = graph.steps[0][0]  # the higher-order op of the top-level graph, by B's name
        if side == "a":
            if b_to_a is None:
                b_to_a = _b_to_a(result, prefix)
            parent = b_to_a.get(parent, "")
            if not parent:
                continue
        out.setdefault(parent, "changed")
    return out


def _neighbourhood(D: nx.DiGraph, seeds: Iterable[str], radius: int) -> set[str]:
    seen = {s for s in seeds if s in D}
    frontier = set(seen)
    for _ in range(radius):
        nxt = set()
        for n in frontier:
            for m in (*D.predecessors(n), *D.successors(n)):
                if m not in seen:
                    nxt.add(m)
        seen |= nxt
        frontier = nxt
    return seen


def plan_diff(
    result: DiffResult,
    a: Any,
    b: Any,
    *,
    radius: int = 2,
    max_nodes: int = DEFAULT_MAX_NODES,
    model: str | None = None,
) -> Drawing:
    """What :func:`draw_diff_svg` draws."""
    if not isinstance(radius, int) or radius < 0:
        raise UsageError(f"radius={radius!r}: needs a number of hops >= 0")
    Da = to_digraph(a, model=model)
    Db = to_digraph(b, model=model)
    hb = {n: s for n, s in diff_highlight(result, "b", model=model).items() if n in Db}
    ha = {n: s for n, s in diff_highlight(result, "a", model=model).items() if n in Da}
    removed = [n for n, s in ha.items() if s == "removed"]
    b_to_a = _b_to_a(result, model or "")
    a_to_b = {v: k for k, v in b_to_a.items()}
    anchors = {a_to_b[m] for x in removed for m in (*Da.predecessors(x), *Da.successors(x)) if m in a_to_b}
    label = _label_of(b) or "B"
    counts = Counter(hb.values())
    counts["removed"] = len(removed)
    caption = (
        f"{label}: changed region · {counts['added']} added (green), "
        f"{counts['changed'] + counts['rewired']} changed (orange), {len(removed)} removed (red, from A)"
    )
    if not hb and not removed:
        note = Item("note", "note", ("no op was added, removed or changed",), "the diff has no node changes")
        return Drawing({"note": note}, {}, f"{label}: no node changes")
    r = radius
    while True:
        region = _neighbourhood(Db, [*hb, *anchors], r)
        if len(region) + len(removed) <= max_nodes or r == 0:
            break
        r -= 1
    if len(region) + len(removed) > max_nodes:
        # Too many changes to draw one by one: the whole of B, collapsed by module, coloured.
        return plan_drawing(Db, highlight=hb, max_nodes=max_nodes, title=caption + " · collapsed by module")
    items: dict[str, Item] = {}
    for n in Db.nodes:  # canonical order
        if n not in region:
            continue
        kind = Db.nodes[n]["kind"]
        if kind == "input":
            it = _input_item(Db, n)
        elif kind == "output":
            it = _output_item(Db)
        else:
            it = _op_item(Db, n)
        it.status = hb.get(n)
        items[n] = it
    for x in removed:
        it = _op_item(Da, x, item_id=f"A:{x}")
        it.label = (it.label[0], _short(f"A:{it.label[1]}"))
        it.tooltip = f"removed (side A {x})\n{it.tooltip}"
        it.status = "removed"
        items[it.id] = it
    edges: dict[tuple[str, str], int] = {}
    for u, v, data in Db.edges(data=True):
        if u in items and v in items:
            edges[(u, v)] = len(data.get("values") or (1,))

    def a_item(m: str) -> str | None:
        if f"A:{m}" in items:
            return f"A:{m}"
        mb = a_to_b.get(m)
        return mb if mb in items else None

    for x in removed:
        for p in Da.predecessors(x):
            ip = a_item(p)
            if ip is not None:
                edges[(ip, f"A:{x}")] = len(Da[p][x].get("values") or (1,))
        for s in Da.successors(x):
            is_ = a_item(s)
            if is_ is not None:
                edges[(f"A:{x}", is_)] = len(Da[x][s].get("values") or (1,))
    title = caption + (f" · {r} hop{'s' if r != 1 else ''} around" if r else "")
    return Drawing(
        items, edges, title, removed_edges=frozenset(e for e in edges if e[0].startswith("A:") or e[1].startswith("A:"))
    )


def draw_diff(
    result: DiffResult,
    a: Any,
    b: Any,
    *,
    radius: int = 2,
    max_nodes: int = DEFAULT_MAX_NODES,
    engine: str = "auto",
    model: str | None = None,
) -> GraphView:
    """Draw the changed region of a diff; see :func:`draw_diff_svg`. Returns a :class:`GraphView`."""
    t0 = time.perf_counter()
    drawing = plan_diff(result, a, b, radius=radius, max_nodes=max_nodes, model=model)
    svg, used = render(drawing, engine=engine)
    return GraphView(drawing, svg, used, time.perf_counter() - t0)


def draw_diff_svg(
    result: DiffResult,
    a: Any,
    b: Any,
    *,
    radius: int = 2,
    max_nodes: int = DEFAULT_MAX_NODES,
    engine: str = "auto",
    model: str | None = None,
) -> str:
    """SVG of the changed region of a diff.

    Draws side B's added (green), changed (orange) and rewired (yellow)
    nodes with every node within ``radius`` hops of them, and side A's
    removed nodes (red, ids ``A:<name>``) wired to the B nodes their
    neighbours align with. When that is more than ``max_nodes`` nodes even
    at radius 0, the whole of B is drawn collapsed by module, the boxes
    holding changes coloured.

    Parameters
    ----------
    result : DiffResult
        ``pt2canon.diff(a, b)``.
    a, b : CanonicalProgram, or anything :func:`pt2canon.load` reads
        The two sides the diff was made from (canonical names are
        deterministic, so they are canonicalized again here).
    """
    return draw_diff(result, a, b, radius=radius, max_nodes=max_nodes, engine=engine, model=model).svg


# --------------------------------------------------------------------------- summary

_SUMMARY_STYLE = """
.pt2canon-summary { font-family: inherit; line-height: 1.4; }
.pt2canon-summary table { border-collapse: collapse; margin: 0.3em 0 0.9em 0; }
.pt2canon-summary th, .pt2canon-summary td { border: 1px solid rgba(127, 127, 127, 0.35); padding: 2px 6px;
  text-align: left; vertical-align: top; }
.pt2canon-summary code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
.pt2canon-summary h4, .pt2canon-summary h5 { margin: 0.6em 0 0.2em 0; }
.pt2canon-summary .pt2canon-more { font-style: italic; opacity: 0.7; }
"""


def _table(
    headers: Iterable[str], rows: Iterable[Iterable[object]], *, cls: str, limit: int = 200, code: Iterable[int] = ()
) -> str:
    code_cols = set(code)
    out = [
        f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{_esc(h)}</th>" for h in headers) + "</tr></thead><tbody>"
    ]
    rows = list(rows)
    for row in rows[:limit]:
        cells = []
        for i, v in enumerate(row):
            text = "" if v is None else _esc(v)
            cells.append(f"<td><code>{text}</code></td>" if i in code_cols and text else f"<td>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if len(rows) > limit:
        out.append(f'<p class="pt2canon-more">... {len(rows) - limit} more rows not shown</p>')
    return "".join(out)


class Summary:
    """What is in an exported program: signature, weights, symbolic shapes, hashes, ops.

    Renders as HTML when left bare at the end of a notebook cell.

    Parameters
    ----------
    source : Artifact, or anything :func:`pt2canon.load` reads
    model : str, optional
        Which model of a multi-model archive.
    levels : iterable of str
        Hash levels to compute (``full`` reads every weight).

    Attributes
    ----------
    path, format, model : str
    versions : dict
        ``torch``, ``schema``, ``opset``.
    inputs, outputs : list of dict
        Signature entries: ``kind``, ``target`` (FQN or ``None``),
        ``value``, ``meta`` (``f32[s77, 16]``), ``line``.
    weights, constants : list of dict
        ``fqn``, ``bytes``, ``meta``, ``dtype``, ``shape``, ``is_param``.
    ranges : dict
        Symbol -> ``(min, max)`` (``None`` for unbounded).
    symbols : dict
        Symbol -> canonical symbol.
    symbol_uses : dict
        Symbol -> the signature entries whose shapes use it.
    hashes : dict
        Level -> ``sha256:...``.
    layers : dict
        Layer -> digest (from the deepest level computed).
    op_counts : dict
        Op (``aten.linear.default``) -> count, most frequent first.
    modules : dict
        Module path -> number of ops whose innermost module it is.
    canonical : CanonicalProgram
    """

    def __init__(
        self, source: Any, *, model: str | None = None, levels: Iterable[str] = ("structure", "graph", "full")
    ):
        import pt2canon
        from pt2canon.api import canonicalize_all
        from pt2canon.canon.hashing import hash_layers
        from pt2canon.listing import listing_json

        artifact = pt2canon.load(source)
        self.artifact = artifact
        m = artifact.models.get(model) if model else artifact.model
        if m is None:
            raise UsageError(f"no model named {model!r}; the archive holds {', '.join(sorted(artifact.models))}")
        self.path = artifact.path
        self.format = artifact.format
        self.model = m.name
        info = listing_json(artifact, model=m.name)["models"][0]
        self.versions = info["versions"]
        self.inputs: list[dict[str, Any]] = info["signature"]["inputs"]
        self.outputs: list[dict[str, Any]] = info["signature"]["outputs"]
        self.weights: list[dict[str, Any]] = (info["weights"] or {}).get("entries", [])
        self.constants: list[dict[str, Any]] = (info["constants"] or {}).get("entries", [])
        self.ranges: dict[str, tuple[Any, Any]] = {
            k: (v["min"], v["max"]) for k, v in info["range_constraints"].items()
        }
        canons = canonicalize_all(artifact)
        self.canonical = canons[m.name]
        self.symbols: dict[str, str] = dict(self.canonical.symbols)
        self.symbol_uses: dict[str, list[str]] = {}
        for sym in self.ranges:
            pat = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(sym)}(?![A-Za-z0-9_])")
            self.symbol_uses[sym] = [
                e["line"] for e in (*self.inputs, *self.outputs) if e.get("meta") and pat.search(e["meta"])
            ]
        self.hashes: dict[str, str] = {}
        self.layers: dict[str, str] = {}
        for level in levels:
            res = hash_layers(canons, level=level, artifact=artifact)
            self.hashes[level] = res.hash
            self.layers = dict(res.layers)
        nodes = info["nodes"]
        self.n_ops = len(nodes)
        self.op_counts: dict[str, int] = dict(Counter(n["op"] or "?" for n in nodes).most_common())
        G = self.canonical.graph.model
        self.modules: dict[str, int] = dict(
            Counter(module_path(a.get("metadata")) or "" for a in G._node.values() if a["kind"] == "op").most_common()
        )

    def listing(self, *, canonical: bool = True) -> str:
        """The program's listing (``pt2canon show``), canonical by default."""
        from pt2canon.listing import generate_listing

        m = self.artifact.models[self.model]
        program = self.canonical.doc if canonical else m.program
        return "\n".join(
            generate_listing(
                program, weights=m.weights, constants=m.constants, info=self.artifact.info, name=self.model
            )
        )

    def _repr_html_(self) -> str:
        from pt2canon.listing import format_size

        v = self.versions
        n_w = sum(e["bytes"] for e in self.weights)
        parts = [
            '<div class="pt2canon-summary">',
            f"<style>{_SUMMARY_STYLE}</style>",
            f"<h4>{_esc(os.path.basename(self.path) or self.path)} · model <code>{_esc(self.model)}</code></h4>",
            f"<p>{_esc(self.format)} archive · torch {_esc(v.get('torch'))} · schema {_esc(v.get('schema'))} · "
            f"{self.n_ops} ops · {len(self.weights)} weights ({_esc(format_size(n_w))})"
            + (f" · {len(self.constants)} constants" if self.constants else "")
            + "</p>",
            "<h5>Inputs</h5>",
            _table(
                ("kind", "name", "target", "shape"),
                ((e["kind"], e.get("value") or e.get("name"), e.get("target"), e.get("meta")) for e in self.inputs),
                cls="pt2canon-inputs",
                code=(1, 2, 3),
            ),
            "<h5>Outputs</h5>",
            _table(
                ("kind", "name", "target", "shape"),
                ((e["kind"], e.get("value"), e.get("target"), e.get("meta")) for e in self.outputs),
                cls="pt2canon-outputs",
                code=(1, 2, 3),
            ),
            "<h5>Symbolic shapes</h5>",
        ]
        if self.ranges:
            parts.append(
                _table(
                    ("symbol", "canonical", "min", "max", "used by"),
                    (
                        (
                            s,
                            self.symbols.get(s, ""),
                            lo,
                            "int_oo" if hi is None else hi,
                            "; ".join(self.symbol_uses.get(s, ())),
                        )
                        for s, (lo, hi) in self.ranges.items()
                    ),
                    cls="pt2canon-ranges",
                    code=(0, 1, 4),
                )
            )
        else:
            parts.append("<p>none: every size is static</p>")
        parts.append("<h5>Weights</h5>")
        if self.weights:
            parts.append(
                _table(
                    ("FQN", "kind", "shape", "size"),
                    (
                        (e["fqn"], "parameter" if e["is_param"] else "buffer", e["meta"], format_size(e["bytes"]))
                        for e in self.weights
                    ),
                    cls="pt2canon-weights",
                    code=(0, 2),
                )
            )
        else:
            parts.append("<p>none</p>")
        if self.constants:
            parts.append("<h5>Constants</h5>")
            parts.append(
                _table(
                    ("FQN", "shape", "size"),
                    ((e["fqn"], e["meta"], format_size(e["bytes"])) for e in self.constants),
                    cls="pt2canon-constants",
                    code=(0, 1),
                )
            )
        parts.append("<h5>Hashes</h5>")
        from pt2canon.canon.hashing import HASH_SPEC, LEVELS

        parts.append(f"<p>spec <code>{_esc(HASH_SPEC)}</code>; each level combines the digests of its layers</p>")
        parts.append(
            _table(
                ("level", "hash", "layers"),
                ((lv, h, " + ".join(LEVELS.get(lv, ()))) for lv, h in self.hashes.items()),
                cls="pt2canon-hashes",
                code=(1,),
            )
        )
        parts.append(
            _table(
                ("layer", "digest", "in levels"),
                (
                    (k, d, ", ".join(lv for lv in self.hashes if k in LEVELS.get(lv, ())) or "-")
                    for k, d in self.layers.items()
                ),
                cls="pt2canon-layers",
                code=(1,),
            )
        )
        parts.append("<h5>Ops</h5>")
        parts.append(_table(("op", "count"), self.op_counts.items(), cls="pt2canon-ops", code=(0,), limit=40))
        if any(self.modules):
            parts.append("<h5>Modules</h5>")
            parts.append(
                _table(
                    ("module path", "ops"),
                    ((k or "(root)", c) for k, c in self.modules.items()),
                    cls="pt2canon-modules",
                    code=(0,),
                    limit=40,
                )
            )
        parts.append("</div>")
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"<Summary {self.path} model={self.model!r}: {self.n_ops} ops, {len(self.weights)} weights, {self.hashes.get('graph', '')}>"


def explore(source: Any, **options: Any) -> Summary:
    """A :class:`Summary` of a program, for a notebook cell."""
    return Summary(source, **options)
