"""Node records of an aligned graph (:func:`compare_graph`).

For each aligned pair:

* ``node_changed`` when the target, a constant argument, the output
  template or (at the ``graph`` and ``full`` levels, unless
  ``ignore_shapes``) an output's metadata differs; ``details["changes"]``
  is the field-level diff of the two node views made by deepdiff
  (``threshold_to_diff_deeper=0``), ``details["inputs"]`` any rewiring too;
* ``node_rewired`` when nothing of that differs but an argument slot reads
  a value whose producer is not the counterpart of the other side's
  producer (or another output of it); the output node counts as a node;
* unaligned op nodes are ``node_added`` / ``node_removed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from pt2canon.diff.align import Alignment, SubgraphPair
from pt2canon.diff.fields import field_changes
from pt2canon.diff.options import Options
from pt2canon.diff.records import Change, Location
from pt2canon.diff.sides import GraphSide
from pt2canon.diff.symbols import renamed_metas
from pt2canon.listing import (
    expr_to_str,
    format_argument,
    format_node,
    format_return,
    format_tensor_meta,
    generate_subgraph_header,
    short_target,
)

__all__ = ["GraphStatus", "compare_graph", "node_line", "node_location"]


@dataclass
class GraphStatus:
    """Which rows of an aligned graph's listing are changed (``~``), what they say, and the subgraphs' own.

    Attributes
    ----------
    notes : dict
        B's view id of a changed or rewired op (or of the output node) ->
        the change's summary, shown under its ``~`` row.
    kinds : dict
        The same view ids -> the kind of that change.
    inputs : dict
        A subgraph's input position (B's) -> the summary of its changed metadata.
    subgraphs : dict
        ``(A op, B op, argument index)`` of an aligned subgraph -> its status.

    Examples
    --------
    :func:`compare_graph` fills one; :meth:`forget` unmarks the rows of
    record kinds left out of a result:

    >>> from pt2canon.diff.records import Change, Location
    >>> status = GraphStatus()
    >>> status.mark(4, Change("node_rewired", Location(b="n4"), "input: %v9 -> %v10"))
    >>> status.notes, status.kinds
    ({4: 'input: %v9 -> %v10'}, {4: 'node_rewired'})
    >>> status.forget(["node_rewired"])
    >>> status.notes, status.kinds
    ({}, {})
    """

    notes: dict[int, str] = field(default_factory=dict)
    kinds: dict[int, str] = field(default_factory=dict)
    inputs: dict[int, str] = field(default_factory=dict)
    subgraphs: dict[tuple[int, int, int], GraphStatus] = field(default_factory=dict)

    def mark(self, v: int, change: Change) -> None:
        self.notes[v] = change.summary
        self.kinds[v] = change.kind

    def forget(self, kinds: Iterable[str]) -> None:
        """Unmark the rows of changes of these kinds (left out of the result), subgraphs too."""
        kinds = frozenset(kinds)
        for v in [v for v, k in self.kinds.items() if k in kinds]:
            del self.notes[v], self.kinds[v]
        if "node_changed" in kinds:
            self.inputs.clear()
        for sub in self.subgraphs.values():
            sub.forget(kinds)


def node_location(al: Alignment, x: int | None, y: int | None, item: str | None = None) -> Location:
    """The :class:`Location` of A's view id ``x`` and B's ``y`` (``None`` for the side without it).

    Examples
    --------
    ``mlp_v2``'s added GELU (B's ``n3``, ``gelu`` in the file) and
    ``head``'s linear, A's ``n3`` and B's ``n4``:

    >>> import pt2canon
    >>> from pt2canon.diff.align import align_programs
    >>> a, b = pt2canon.canonicalize("examples/mlp_v1.pt2"), pt2canon.canonicalize("examples/mlp_v2.pt2")
    >>> al = align_programs(a, b)
    >>> str(node_location(al, None, 3)), str(node_location(al, 3, 4))
    ('n3 (gelu)', 'n3 -> n4 (linear_2) in head')
    """
    a, b = al.a, al.b
    module = (b.module(y) if y is not None else None) or (a.module(x) if x is not None else None)
    return Location(
        graph=al.graph,
        a=a.name(x) if x is not None else None,
        b=b.name(y) if y is not None else None,
        a_original=a.original_name(x) if x is not None else None,
        b_original=b.original_name(y) if y is not None else None,
        module=module,
        item=item,
    )


def node_line(side: GraphSide, v: int) -> str:
    """The listing line of view id ``v`` (:func:`pt2canon.listing.format_node`; ``return ...`` for the output).

    Examples
    --------
    >>> import pt2canon
    >>> from pt2canon.diff.align import align_programs
    >>> a, b = pt2canon.canonicalize("examples/mlp_v1.pt2"), pt2canon.canonicalize("examples/mlp_v2.pt2")
    >>> al = align_programs(a, b)
    >>> node_line(al.b, 3)
    '%v10 = aten.gelu.default(%v9)  # f32[s0, 32]'
    >>> node_line(al.a, al.a.out), node_line(al.b, al.b.out)
    ('return (%v11,)', 'return (%v12,)')
    """
    if v == side.out:
        return format_return(side.cg.doc)
    return format_node(side.doc_node(v), side.cg.doc)


def _meta_text(meta: Any) -> str:
    if isinstance(meta, Mapping) and "sizes" in meta:
        return format_tensor_meta(meta)
    if isinstance(meta, Mapping) and "as_expr" in meta:
        return f"Sym({expr_to_str(meta['as_expr'].get('expr_str', '?'))})"
    if isinstance(meta, Mapping) and len(meta) == 1:
        return str(next(iter(meta.values())))
    return "-" if meta is None else str(meta)


def _slot_text(slot: Any) -> str:
    name, path = slot
    head = f"{name[0]} {name[1]}" if isinstance(name, tuple) else str(name)  # an output key, or an argument
    idx = [p for p in path[1:] if isinstance(p, int)]
    return head + "".join(f"[{i}]" for i in idx)


def _producer(side: GraphSide, p: int, out: int) -> dict[str, Any]:
    d: dict[str, Any] = {"node": side.name(p), "value": "%" + side.value_name(p, out)}
    if side.is_op(p):
        d["op"] = short_target(side.target[p] or "?")
    elif side.input_specs is None:  # a subgraph's input: by position
        d["op"] = f"input {p - side.n_ops}"
    else:
        key = side.input_keys[p - side.n_ops]
        d["op"] = "input " + " ".join(str(k) for k in key)
    return d


def _producer_text(d: dict[str, Any]) -> str:
    return f"{d['value']} ({d['node']} {d['op']})" if d["node"] != d["value"][1:] else f"{d['value']} ({d['op']})"


def _node_view(side: GraphSide, v: int, opts: Options, symbols: Mapping[str, str] | None = None) -> dict[str, Any]:
    attrs = side.attrs(v)
    subs = side.subgraph_names(v)
    args: dict[str, Any] = {}
    kinds: dict[str, Any] = {}
    for i, na in enumerate(attrs["args"]):
        key = na.get("name") or str(i)
        if key in args:
            key = f"{key}#{i}"
        args[key] = {"as_graph": "<subgraph>"} if i in subs else na["arg"]
        kinds[key] = na.get("kind")
    view: dict[str, Any] = {"target": attrs["target"], "args": args, "arg_kinds": kinds, "outputs": attrs["outputs"]}
    if opts.meta:
        view["meta"] = {str(i): m for i, m in enumerate(opts.view_metas(renamed_metas(side, v, symbols)))}
    if opts.keep_metadata:
        view["metadata"] = side.doc_node(v).get("metadata") or {}
    return view


_LIST_TAGS = frozenset(
    {"as_tensors", "as_optional_tensors", "as_nested_tensors", "as_sym_ints", "as_sym_floats", "as_sym_bools"}
)


def _rewiring(al: Alignment, x: int, y: int, *, one_sided: bool) -> list[dict[str, Any]]:
    """The argument slots of aligned ``x``/``y`` that read values that do not correspond.

    A single-value slot reads the counterpart or not; the elements of a
    list argument (``cat``'s tensors, ``cond``'s operands) are matched as
    sequences (:class:`difflib.SequenceMatcher` over the counterparts), so
    one value inserted into a list is one entry, not a shift of every
    later position; lists of one length are compared by position when
    that gives no more entries (one operand replaced by a value the list
    already holds is one entry, not a deletion and an insertion).
    """
    a, b = al.a, al.b
    oa, ob = a.operands[x], b.operands[y]
    ma = al.a_to_b
    lists_a: dict[Any, list[Any]] = {}
    lists_b: dict[Any, list[Any]] = {}
    if x != a.out:
        for ops, lists in ((oa, lists_a), (ob, lists_b)):
            for s in ops:
                if len(s[1]) > 1 and s[1][0] in _LIST_TAGS:
                    lists.setdefault((s[0], s[1][0]), []).append(s)
    listed = {s for group in (*lists_a.values(), *lists_b.values()) for s in group}
    out = []

    def entry(sa: Any, sb: Any) -> None:
        ea, eb = oa.get(sa) if sa is not None else None, ob.get(sb) if sb is not None else None
        e: dict[str, Any] = {"slot": _slot_text(sb if sb is not None else sa)}
        if ea is not None:
            e["old"] = _producer(a, ea[1], ea[0])
        if eb is not None:
            e["new"] = _producer(b, eb[1], eb[0])
        out.append(e)

    for s in [*oa, *(s for s in ob if s not in oa)]:
        if s in listed:
            continue
        ea, eb = oa.get(s), ob.get(s)
        if ea is not None and eb is not None:
            if ea[0] == eb[0] and ma[ea[1]] == eb[1]:
                continue
        elif not one_sided:
            continue
        entry(s if ea is not None else None, s if eb is not None else None)
    for key in [*lists_a, *(k for k in lists_b if k not in lists_a)]:
        sa_, sb_ = sorted(lists_a.get(key, []), key=_path_order), sorted(lists_b.get(key, []), key=_path_order)
        seq_a = [(oa[s][0], ma[oa[s][1]]) for s in sa_]
        seq_b = [(ob[s][0], ob[s][1]) for s in sb_]
        pairs: list[tuple[Any, Any]] = []
        for op, i1, i2, j1, j2 in SequenceMatcher(None, seq_a, seq_b, autojunk=False).get_opcodes():
            if op == "equal":
                continue
            for k in range(max(i2 - i1, j2 - j1)):
                pairs.append((sa_[i1 + k] if i1 + k < i2 else None, sb_[j1 + k] if j1 + k < j2 else None))
        if len(seq_a) == len(seq_b):  # by position when that says it in fewer entries (a list holding a value twice)
            by_position = [(sa, sb) for sa, sb, va, vb in zip(sa_, sb_, seq_a, seq_b) if va != vb]
            if len(by_position) <= len(pairs):
                pairs = by_position
        for sa, sb in pairs:
            entry(sa, sb)
    return out


def _path_order(slot: Any) -> tuple[Any, ...]:
    return tuple(p if isinstance(p, int) else -1 for p in slot[1][1:])


def _rewire_summary(entries: list[dict[str, Any]]) -> str:
    parts = []
    for e in entries:
        old = _producer_text(e["old"]) if "old" in e else "nothing"
        new = _producer_text(e["new"]) if "new" in e else "nothing"
        parts.append(f"{e['slot']}: {old} -> {new}")
    return "; ".join(parts)


def _references_only(template: Any) -> bool:
    """True for an argument template that holds value references (blanked) and nothing else."""
    if isinstance(template, Mapping):
        return bool(template) and all(_references_only(v) for v in template.values())
    if isinstance(template, list):
        return all(_references_only(v) for v in template)
    return template is None


def _count_references(template: Any) -> int:
    if isinstance(template, Mapping):
        return sum(_count_references(v) for v in template.values()) if template else 0
    if isinstance(template, list):
        return sum(_count_references(v) for v in template)
    return 1 if template is None else 0


def _change_summary(al: Alignment, x: int, y: int, view_a: dict[str, Any], view_b: dict[str, Any]) -> str:
    parts = []
    if view_a["target"] != view_b["target"]:
        parts.append(f"{short_target(view_a['target'])} -> {short_target(view_b['target'])}")
    doc_a, doc_b = al.a.doc_node(x), al.b.doc_node(y)
    arg_a = {k: i for i, k in enumerate(view_a["args"])}
    arg_b = {k: i for i, k in enumerate(view_b["args"])}
    for k in [*arg_a, *(k for k in arg_b if k not in arg_a)]:
        ia, ib = arg_a.get(k), arg_b.get(k)
        va = view_a["args"].get(k)
        vb = view_b["args"].get(k)
        if va == vb and view_a["arg_kinds"].get(k) == view_b["arg_kinds"].get(k):
            continue
        if _references_only(va) and _references_only(vb) and view_a["arg_kinds"].get(k) == view_b["arg_kinds"].get(k):
            # Only how many values a list reads: which ones, the rewiring entries say.
            parts.append(f"{k}: {_count_references(va)} -> {_count_references(vb)} values")
            continue
        old = format_argument(doc_a["inputs"][ia]["arg"]) if ia is not None else "(absent)"
        new = format_argument(doc_b["inputs"][ib]["arg"]) if ib is not None else "(absent)"
        parts.append(f"{k}: {old} -> {new}" if old != new else f"{k}: passed differently")
    if view_a["outputs"] != view_b["outputs"]:
        parts.append(f"outputs: {len(view_a['outputs'])} -> {len(view_b['outputs'])}")
    ma, mb = view_a.get("meta", {}), view_b.get("meta", {})
    for k in [*ma, *(k for k in mb if k not in ma)]:
        if ma.get(k) != mb.get(k):
            parts.append(f"output {k}: {_meta_text(ma.get(k))} -> {_meta_text(mb.get(k))}")
    da, db = view_a.get("metadata", {}), view_b.get("metadata", {})
    for k in [*da, *(k for k in db if k not in da)]:
        if da.get(k) != db.get(k):
            parts.append(f"metadata {k}: {_short(da.get(k))} -> {_short(db.get(k))}")
    return "; ".join(parts) or "changed"


def _short(value: Any, limit: int = 80) -> str:
    """A metadata value on one line, cut at ``limit`` characters."""
    text = "(absent)" if value is None else " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compare_graph(al: Alignment, opts: Options) -> tuple[list[Change], GraphStatus]:
    """Node records of an aligned graph and its aligned subgraphs, and the status of its rows.

    Examples
    --------
    ``mlp_v2`` adds a GELU between ``fc2`` and ``head``: one node added,
    and ``head``'s linear reads the GELU's output instead of ``fc2``'s:

    >>> import pt2canon
    >>> from pt2canon.diff.align import align_programs
    >>> a, b = pt2canon.canonicalize("examples/mlp_v1.pt2"), pt2canon.canonicalize("examples/mlp_v2.pt2")
    >>> al = align_programs(a, b)
    >>> from pt2canon.diff.options import Options
    >>> changes, status = compare_graph(al, Options())
    >>> for c in changes:
    ...     print(c.kind, "|", c.location, "|", c.summary)
    node_added | n3 (gelu) | aten.gelu.default added
    node_rewired | n3 -> n4 (linear_2) in head | input: %v9 (n2 aten.linear.default) -> %v10 (n3 aten.gelu.default)
    >>> status.kinds
    {4: 'node_rewired'}
    """
    a, b = al.a, al.b
    changes: list[Change] = []
    status = GraphStatus()
    subs: dict[tuple[int, int], list[SubgraphPair]] = {}
    for pair in al.subgraphs:
        subs.setdefault((pair.a_op, pair.b_op), []).append(pair)
    if a.input_specs is None and opts.meta:  # a subgraph's inputs: their metadata (the program's: signature)
        for ja, jb in al.input_pairs():
            if ja is not None and jb is not None:
                rec = _subgraph_input(al, ja, jb, opts)
                if rec is not None:
                    changes.append(rec)
                    status.inputs[jb] = rec.summary
    removed = al.removed()
    rpos = 0
    for y in range(b.n_ops):
        x = al.b_to_a[y]
        if x is None:
            changes.append(_added(al, y))
            continue
        while rpos < len(removed) and removed[rpos] < x:
            changes.append(_removed(al, removed[rpos]))
            rpos += 1
        rec = _pair(al, x, y, opts)
        if rec is not None:
            changes.append(rec)
            status.mark(y, rec)
        for pair in subs.get((x, y), ()):
            sub_changes, sub_status = compare_graph(pair.alignment, opts)
            changes.extend(sub_changes)
            status.subgraphs[(pair.a_op, pair.b_op, pair.arg)] = sub_status
    for x in removed[rpos:]:
        changes.append(_removed(al, x))
    # The output node: rewired values (and, in subgraphs, outputs added or removed).
    rew = _rewiring(al, a.out, b.out, one_sided=a.input_specs is None)
    if rew:
        changes.append(
            Change(
                "node_rewired",
                node_location(al, a.out, b.out),
                _rewire_summary(rew),
                {"inputs": rew},
                a_line=node_line(a, a.out),
                b_line=node_line(b, b.out),
            )
        )
        status.mark(b.out, changes[-1])
    return changes, status


def subgraph_input_line(side: GraphSide, j: int) -> str:
    """The listing line of a subgraph's ``j``-th input (``%v2: input  f32[4]``)."""
    lines = list(generate_subgraph_header("", side.cg.doc, 0))
    return lines[1 + j].strip() if 1 + j < len(lines) else f"input {j}"


def _subgraph_input(al: Alignment, ja: int, jb: int, opts: Options) -> Change | None:
    """``node_changed`` for a subgraph input whose metadata changed (``cond``'s operands are its inputs)."""
    a, b = al.a, al.b
    xa, xb = a.n_ops + ja, b.n_ops + jb
    ma = opts.view_metas(renamed_metas(a, xa, al.symbols))
    mb = opts.view_metas(renamed_metas(b, xb))
    if ma == mb:
        return None
    parts = [f"{_meta_text(p)} -> {_meta_text(q)}" for p, q in zip(ma, mb) if p != q]
    return Change(
        "node_changed",
        node_location(al, xa, xb),
        f"input {jb}: " + "; ".join(parts or ["metadata changed"]),
        {"changes": field_changes({"meta": ma}, {"meta": mb})},
        a_line=subgraph_input_line(a, ja),
        b_line=subgraph_input_line(b, jb),
    )


def _added(al: Alignment, y: int) -> Change:
    t = al.b.target[y] or "?"
    return Change(
        "node_added", node_location(al, None, y), f"{short_target(t)} added", {"target": t}, b_line=node_line(al.b, y)
    )


def _removed(al: Alignment, x: int) -> Change:
    t = al.a.target[x] or "?"
    return Change(
        "node_removed",
        node_location(al, x, None),
        f"{short_target(t)} removed",
        {"target": t},
        a_line=node_line(al.a, x),
    )


def _pair(al: Alignment, x: int, y: int, opts: Options) -> Change | None:
    a, b = al.a, al.b
    same = a.plabel[x] == b.plabel[y]
    if same and opts.meta:
        same = opts.view_metas(renamed_metas(a, x, al.symbols)) == opts.view_metas(renamed_metas(b, y))
    if same and opts.keep_metadata:
        same = (a.doc_node(x).get("metadata") or {}) == (b.doc_node(y).get("metadata") or {})
    rew = _rewiring(al, x, y, one_sided=True)
    if same and not rew:
        return None
    if same:
        return Change(
            "node_rewired",
            node_location(al, x, y),
            _rewire_summary(rew),
            {"inputs": rew},
            a_line=node_line(a, x),
            b_line=node_line(b, y),
        )
    va, vb = _node_view(a, x, opts, al.symbols), _node_view(b, y, opts)
    details: dict[str, Any] = {"changes": field_changes(va, vb)}
    if rew:
        details["inputs"] = rew
    summary = _change_summary(al, x, y, va, vb)
    if rew:
        summary += "; " + _rewire_summary(rew)
    return Change(
        "node_changed", node_location(al, x, y), summary, details, a_line=node_line(a, x), b_line=node_line(b, y)
    )
