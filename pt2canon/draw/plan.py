"""What a drawing shows: :class:`Item`, :class:`Drawing` and :func:`plan_drawing` (collapse by module, drill into one, highlight)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pt2canon.draw.style import HEX_COLOUR, KIND_STYLES, STATUS_STYLES, UNSAFE_ID, shorten
from pt2canon.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

__all__ = ["DEFAULT_MAX_NODES", "Drawing", "Item", "plan_drawing"]

#: Graphs with more drawn nodes than this are collapsed by module path by default.
DEFAULT_MAX_NODES = 150

_WEIGHT_ROLES = frozenset({"parameter", "buffer", "tensor_constant", "custom_obj"})


def _inside(path: str | None, module: str) -> bool:
    return path is not None and (path == module or path.startswith(module + "."))


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
        return UNSAFE_ID.sub("_", raw)

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
            if status not in STATUS_STYLES and not (isinstance(status, str) and HEX_COLOUR.fullmatch(status)):
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


def op_item(D: nx.DiGraph, name: str, kind: str = "op", item_id: str | None = None) -> Item:
    d = D.nodes[name]
    tip = [d["line"]]
    if d.get("original"):
        tip.append(f"original name: {d['original']}")
    if d.get("module") is not None:
        tip.append(f"module: {d['module'] or '(root)'}")
    if kind == "external":
        tip.append("outside the module drawn")
    second = f"{name}  {d['meta']}" if d.get("meta") else name
    return Item(item_id or name, kind, (shorten(d["op"] or name), shorten(second)), "\n".join(tip), (name,))


def input_item(D: nx.DiGraph, name: str) -> Item:
    d = D.nodes[name]
    weight = d["role"] in _WEIGHT_ROLES
    first = d["fqn"] if d.get("fqn") else f"{d['role']} {d['original']}".strip()
    second = f"{name}  {d['meta']}" if d.get("meta") else name
    tip = f"{d['line']}\noriginal name: {d['original']}"
    return Item(name, "weight" if weight else "input", (shorten(first), shorten(second)), tip, (name,))


def output_item(D: nx.DiGraph) -> Item:
    d = D.nodes["output"]
    return Item(
        "output",
        "output",
        ("output", shorten(d["meta"] or "")) if d.get("meta") else ("output",),
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
        items[n] = input_item(D, n)
        owner[n] = n
    groups: dict[str, list[str]] = {}
    for n in scope:
        key = _group_key(nodes[n]["module"], depth)
        if key is None:
            items[n] = op_item(D, n)
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
            (shorten(path), shorten(f"{mtype} · {n_ops}" if mtype else n_ops)),
            "\n".join(tip),
            tuple(members),
        )
    for n in externals:
        if nodes[n]["kind"] == "output":
            items[n] = output_item(D)
        else:
            items[n] = op_item(D, n, kind="external")
        owner[n] = n
    if module is None:
        items["output"] = output_item(D)
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
