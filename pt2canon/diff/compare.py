"""Turn an alignment into change records, and compare the non-graph parts.

Graph nodes (:func:`compare_graph`), for each aligned pair:

* ``node_changed`` when the target, a constant argument, the output
  template or (at the ``graph`` and ``full`` levels, unless
  ``ignore_shapes``) an output's metadata differs; ``details["changes"]``
  is the field-level diff of the two node views made by deepdiff
  (``threshold_to_diff_deeper=0``), ``details["inputs"]`` any rewiring too;
* ``node_rewired`` when nothing of that differs but an argument slot reads
  a value whose producer is not the counterpart of the other side's
  producer (or another output of it); the output node counts as a node;
* unaligned op nodes are ``node_added`` / ``node_removed``.

Program parts (:func:`compare_program`): the signature (inputs by
alignment key: kind, FQN, persistence, constant value, metadata; outputs
by key; the module call graph with A's value names translated to B's
through the alignment; named-tuple fields; verifiers) as
``signature_changed``; range constraints as ``constraint_changed``;
weights and constants (content digests of
:func:`pt2canon.canon.hashing.payload_digests`, ``full`` level unless
``ignore_weights``) as ``weight_changed``; torch, schema and opset
versions as ``version_changed``.

Metadata and range constraints are compared through the correspondence of
canonical symbols read off aligned values (:func:`learn_symbols`): an op
added before a symbol's first use renames the symbol, which is no change.

deepdiff runs only on pairs already known to differ, never on a whole
document, never with ``max_diffs``, and nothing is pickled.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pt2canon._json import canonical_bytes
from pt2canon.canon.program import CanonicalProgram
from pt2canon.diff.align import Alignment, GraphSide
from pt2canon.diff.result import AlignedLine, Change, Location
from pt2canon.listing import (
    expr_to_str,
    format_argument,
    format_node,
    format_return,
    format_spec_line,
    format_tensor_meta,
    generate_graph_body,
    generate_subgraph_header,
    short_target,
    spec_fields,
)

__all__ = [
    "Options",
    "compare_constraints",
    "compare_extra_files",
    "compare_graph",
    "compare_payloads",
    "compare_program",
    "compare_versions",
    "field_changes",
    "graph_rows",
    "learn_symbols",
    "program_rows",
]

_INDENT = "    "


@dataclass(frozen=True)
class Options:
    """What a comparison looks at (see :func:`pt2canon.diff.diff_programs`)."""

    level: str = "graph"
    ignore_shapes: bool = False
    ignore_weights: bool = False
    include_versions: bool = False

    @property
    def meta(self) -> bool:
        """Compare tensor metadata (dtype, sizes, ...) and symbolic values."""
        return self.level != "structure" and not self.ignore_shapes

    @property
    def names(self) -> bool:
        """Compare signature FQNs and the module call graph."""
        return self.level != "structure"

    @property
    def weights(self) -> bool:
        return self.level == "full" and not self.ignore_weights

    def layers(self) -> tuple[str, ...]:
        """The hash layers whose equality means "no change" under these options."""
        out = ["structure"]
        if self.names:
            out.append("signature")
        if self.meta:
            out += ["tensors", "constraints"]
        if self.weights:
            out += ["weights", "constants", "extra_files"]
        return tuple(out)


# --------------------------------------------------------------------------- helpers


def _jsonable(x: Any) -> Any:
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return repr(x)


def _path_text(path: list[Any]) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out


def field_changes(old: Any, new: Any) -> list[dict[str, Any]]:
    """Field-level differences of two JSON-like values, with deepdiff.

    Returns ``[{"path": "args.p.as_float", "type": "values_changed",
    "old": 0.1, "new": 0.2}]`` sorted by path; ``old`` is absent for added
    items, ``new`` for removed ones. ``threshold_to_diff_deeper=0`` keeps
    deepdiff from reporting a whole dict as replaced.
    """
    from deepdiff import DeepDiff
    from deepdiff.helper import notpresent

    dd = DeepDiff(old, new, threshold_to_diff_deeper=0, view="tree")
    out: list[dict[str, Any]] = []
    for kind, items in dd.items():
        for item in items:
            entry: dict[str, Any] = {"path": _path_text(item.path(output_format="list")), "type": kind}
            if item.t1 is not notpresent:
                entry["old"] = _jsonable(item.t1)
            if item.t2 is not notpresent:
                entry["new"] = _jsonable(item.t2)
            out.append(entry)
    out.sort(key=lambda e: (e["path"], e["type"]))
    return out


def _location(al: Alignment, x: int | None, y: int | None, item: str | None = None) -> Location:
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


def _line(side: GraphSide, v: int) -> str:
    if v == side.out:
        return format_return(side.cg.doc)
    return format_node(side.doc_node(v), side.cg.doc)


def _canon_meta(side: GraphSide, v: int, symbols: Mapping[str, str] | None = None) -> list[Any]:
    """Canonical metadata of each value ``v`` defines; with ``symbols``, A's symbols in B's names."""
    metas = side.metas(v)
    return _rename_symbols(metas, symbols) if symbols else metas


_SYMBOL = re.compile(r"Symbol\('([^']+)'")
_LONE_SYMBOL = re.compile(r"^Symbol\('([^']+)'[^()]*\)$")


def _rename_symbols(obj: Any, symbols: Mapping[str, str]) -> Any:
    if isinstance(obj, dict):
        return {
            k: (_rename_expr(v, symbols) if k == "expr_str" and isinstance(v, str) else _rename_symbols(v, symbols))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_rename_symbols(v, symbols) for v in obj]
    return obj


def _rename_expr(text: str, symbols: Mapping[str, str]) -> str:
    """``text`` with A's symbols in B's names, re-printed canonically (argument order follows the names)."""
    if not any(m.group(1) in symbols for m in _SYMBOL.finditer(text)):
        return text
    from pt2canon.canon.symbols import substitute
    from pt2canon.errors import SchemaError

    try:
        return substitute(text, symbols)
    except SchemaError:  # not readable as an expression: rename the words
        return _SYMBOL.sub(lambda m: f"Symbol('{symbols.get(m.group(1), m.group(1))}'", text)


#: Aligned compound expressions kept to score symbol pairings, and the most expression
#: substitutions a pairing search may do (each is a sympy parse and print).
_MAX_COMPOUND = 200
_MAX_SUBSTITUTIONS = 2_000


def _best_pairing(
    names_a: list[str], names_b: list[str], known: Mapping[str, str], pairs: list[tuple[str, str]]
) -> dict[str, str]:
    """Pair A's symbols with B's (equal ranges) so that the most aligned expressions agree.

    Tries every pairing of the shorter list into the longer one while that
    takes at most :data:`_MAX_SUBSTITUTIONS` substitutions; the first
    pairing with the best score wins, name order first. Otherwise, or with
    nothing to score by, pairs in name order.
    """
    in_order = dict(zip(names_a, names_b))
    relevant = [(ea, eb) for ea, eb in pairs if any(f"'{k}'" in ea for k in names_a)]
    n = min(len(names_a), len(names_b))
    if not relevant or n == 0 or (len(names_a) == 1 and len(names_b) == 1):
        return in_order
    shorter, longer = (names_a, names_b) if len(names_a) <= len(names_b) else (names_b, names_a)
    if math.perm(len(longer), n) * len(relevant) > _MAX_SUBSTITUTIONS:
        return in_order

    def score(mapping: dict[str, str]) -> int:
        full = {**known, **mapping}
        return sum(_rename_expr(ea, full) == eb for ea, eb in relevant)

    best, best_score = in_order, score(in_order)
    for chosen in itertools.permutations(longer, n):
        mapping = dict(zip(shorter, chosen)) if shorter is names_a else dict(zip(chosen, shorter))
        sc = score(mapping)
        if sc > best_score:
            best, best_score = mapping, sc
    return best


def _exprs(meta: Any) -> list[Any]:
    """The symbolic-size slots of one value's metadata, in a fixed order (``None`` for plain ints)."""
    if not isinstance(meta, Mapping):
        return []
    if "as_expr" in meta:
        return [meta["as_expr"].get("expr_str")]
    out: list[Any] = []
    for key in ("sizes", "strides"):
        for s in meta.get(key) or ():
            out.append(s["as_expr"].get("expr_str") if isinstance(s, Mapping) and "as_expr" in s else None)
    so = meta.get("storage_offset")
    out.append(so["as_expr"].get("expr_str") if isinstance(so, Mapping) and "as_expr" in so else None)
    return out


def _symbols_in(al: Alignment) -> list[str]:
    """A's symbols in the value tables of ``al``'s graphs."""
    out: dict[str, None] = {}
    for table in ("tensor_values", "sym_int_values", "sym_float_values", "sym_bool_values"):
        for meta in (al.a.cg.doc.get(table) or {}).values():
            for e in _exprs(meta):
                if isinstance(e, str):
                    out.update(dict.fromkeys(_SYMBOL.findall(e)))
    for _x, _y, _i, sub in al.subgraphs:
        out.update(dict.fromkeys(_symbols_in(sub)))
    return list(out)


def learn_symbols(
    al: Alignment, ranges_a: Mapping[str, Any] | None = None, ranges_b: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Which canonical symbol of A is which of B, read off aligned values.

    Canonical symbols are named in order of first appearance, so an op
    added before a symbol's first use renames it (``s1`` becomes ``s0``).
    Walking aligned inputs, then aligned ops in B's order (subgraphs
    after their op), each position where both sides hold a lone symbol
    pairs the two, first pairing wins. Symbols left over are paired among
    those with equal range constraints (``ranges_a``/``ranges_b``), by the
    pairing under which the most aligned expressions agree
    (:func:`_best_pairing`), and those still left whose name B uses for
    another symbol get a primed name (``s0'``). Only pairs that differ are kept; the map is set on ``al``
    and its subgraph alignments.
    """
    ranges_a = ranges_a or {}
    ranges_b = ranges_b or {}
    seen_a: dict[str, str] = {}
    taken_b: set[str] = set()
    compound: dict[tuple[str, str], None] = {}  # aligned expression pairs that are not lone symbols

    def visit(al: Alignment) -> None:
        a, b = al.a, al.b
        pairs = [(a.n_ops + ja, b.n_ops + jb) for ja, jb in al.input_pairs() if ja is not None and jb is not None]
        pairs += list(al.op_pairs())
        for x, y in pairs:
            for ma, mb in zip(a.metas(x), b.metas(y)):
                for ea, eb in zip(_exprs(ma), _exprs(mb)):
                    if not (isinstance(ea, str) and isinstance(eb, str)):
                        continue
                    la, lb = _LONE_SYMBOL.match(ea), _LONE_SYMBOL.match(eb)
                    if la and lb:
                        if la.group(1) not in seen_a and lb.group(1) not in taken_b:
                            seen_a[la.group(1)] = lb.group(1)
                            taken_b.add(lb.group(1))
                    elif len(compound) < _MAX_COMPOUND:
                        compound[(ea, eb)] = None
        for _x, _y, _i, sub in al.subgraphs:
            visit(sub)

    visit(al)
    # Symbols no lone aligned value shows: pair leftovers with equal ranges, choosing among the
    # few possible pairings the one under which the most aligned expressions agree (the first
    # such in name order); rename the rest apart from B's names.
    left_b = [k for k in ranges_b if k not in taken_b]
    groups: dict[bytes, tuple[list[str], list[str]]] = {}
    for k in ranges_a:
        if k not in seen_a:
            groups.setdefault(canonical_bytes(ranges_a[k]), ([], []))[0].append(k)
    for kb in left_b:
        key = canonical_bytes(ranges_b[kb])  # equal ranges, whatever their key order
        if key in groups:
            groups[key][1].append(kb)
    for names_a, names_b in groups.values():
        best = _best_pairing(names_a, names_b, seen_a, list(compound))
        for k, kb in best.items():
            seen_a[k] = kb
            taken_b.add(kb)
    for k in [*ranges_a, *_symbols_in(al)]:
        if k not in seen_a and k in taken_b:
            seen_a[k] = f"{k}'"
    symbols = {k: v for k, v in seen_a.items() if k != v}

    def store(al: Alignment) -> None:
        al.symbols = symbols
        for _x, _y, _i, sub in al.subgraphs:
            store(sub)

    store(al)
    return symbols


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
    else:
        key = side.input_keys[p - side.n_ops]
        d["op"] = "input " + " ".join(str(k) for k in key)
    return d


def _producer_text(d: dict[str, Any]) -> str:
    return f"{d['value']} ({d['node']} {d['op']})" if d["node"] != d["value"][1:] else f"{d['value']} ({d['op']})"


# --------------------------------------------------------------------------- nodes


def _node_view(side: GraphSide, v: int, meta: bool, symbols: Mapping[str, str] | None = None) -> dict[str, Any]:
    attrs = side.cg.model._node[side.nid[v]]
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
    if meta:
        view["meta"] = {str(i): m for i, m in enumerate(_canon_meta(side, v, symbols))}
    return view


def _rewiring(al: Alignment, x: int, y: int, *, one_sided: bool) -> list[dict[str, Any]]:
    a, b = al.a, al.b
    oa, ob = a.operands[x], b.operands[y]
    ma = al.a_to_b
    out = []
    for s in [*oa, *(s for s in ob if s not in oa)]:
        ea, eb = oa.get(s), ob.get(s)
        if ea is not None and eb is not None:
            if ea[0] == eb[0] and ma[ea[1]] == eb[1]:
                continue
        elif not one_sided:
            continue
        entry: dict[str, Any] = {"slot": _slot_text(s)}
        if ea is not None:
            entry["old"] = _producer(a, ea[1], ea[0])
        if eb is not None:
            entry["new"] = _producer(b, eb[1], eb[0])
        out.append(entry)
    return out


def _rewire_summary(entries: list[dict[str, Any]]) -> str:
    parts = []
    for e in entries:
        old = _producer_text(e["old"]) if "old" in e else "nothing"
        new = _producer_text(e["new"]) if "new" in e else "nothing"
        parts.append(f"{e['slot']}: {old} -> {new}")
    return "; ".join(parts)


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
        old = format_argument(doc_a["inputs"][ia]["arg"]) if ia is not None else "(absent)"
        new = format_argument(doc_b["inputs"][ib]["arg"]) if ib is not None else "(absent)"
        parts.append(f"{k}: {old} -> {new}" if old != new else f"{k}: passed differently")
    if view_a["outputs"] != view_b["outputs"]:
        parts.append(f"outputs: {len(view_a['outputs'])} -> {len(view_b['outputs'])}")
    ma, mb = view_a.get("meta", {}), view_b.get("meta", {})
    for k in [*ma, *(k for k in mb if k not in ma)]:
        if ma.get(k) != mb.get(k):
            parts.append(f"output {k}: {_meta_text(ma.get(k))} -> {_meta_text(mb.get(k))}")
    return "; ".join(parts) or "changed"


def compare_graph(al: Alignment, opts: Options) -> tuple[list[Change], dict[str, Any]]:
    """Node records of an aligned graph and its aligned subgraphs.

    Returns ``(changes, status)`` where ``status`` maps ``("a", view id)`` /
    ``("b", view id)`` to ``"-"``, ``"+"`` or ``"~"`` and ``("note", x, y)``
    to the summary shown under a ``~`` row (subgraph alignments by their
    :attr:`Alignment.graph` key under ``"subgraphs"``).
    """
    a, b = al.a, al.b
    changes: list[Change] = []
    status: dict[Any, Any] = {}
    subs: dict[tuple[int, int], list[Alignment]] = {}
    for sx, sy, _i, sal in al.subgraphs:
        subs.setdefault((sx, sy), []).append(sal)
    removed = al.removed()
    rpos = 0
    for y in range(b.n_ops):
        x = al.b_to_a[y]
        if x is None:
            changes.append(_added(al, y))
            status[("b", y)] = "+"
            continue
        while rpos < len(removed) and removed[rpos] < x:
            changes.append(_removed(al, removed[rpos]))
            status[("a", removed[rpos])] = "-"
            rpos += 1
        rec = _pair(al, x, y, opts)
        if rec is not None:
            changes.append(rec)
            status[("b", y)] = "~"
            status[("note", x, y)] = rec.summary
        for sal in subs.get((x, y), ()):
            sub_changes, sub_status = compare_graph(sal, opts)
            changes.extend(sub_changes)
            status.setdefault("subgraphs", {})[sal.graph] = sub_status
    for x in removed[rpos:]:
        changes.append(_removed(al, x))
        status[("a", x)] = "-"
    # The output node: rewired values (and, in subgraphs, outputs added or removed).
    rew = _rewiring(al, a.out, b.out, one_sided=a.input_specs is None)
    if rew:
        changes.append(
            Change(
                "node_rewired",
                _location(al, a.out, b.out),
                _rewire_summary(rew),
                {"inputs": rew},
                a_line=_line(a, a.out),
                b_line=_line(b, b.out),
            )
        )
        status[("b", b.out)] = "~"
        status[("note", a.out, b.out)] = changes[-1].summary
    return changes, status


def _added(al: Alignment, y: int) -> Change:
    t = al.b.target[y] or "?"
    return Change(
        "node_added", _location(al, None, y), f"{short_target(t)} added", {"target": t}, b_line=_line(al.b, y)
    )


def _removed(al: Alignment, x: int) -> Change:
    t = al.a.target[x] or "?"
    return Change(
        "node_removed", _location(al, x, None), f"{short_target(t)} removed", {"target": t}, a_line=_line(al.a, x)
    )


def _pair(al: Alignment, x: int, y: int, opts: Options) -> Change | None:
    a, b = al.a, al.b
    same = a.plabel[x] == b.plabel[y]
    if same and opts.meta:
        same = _canon_meta(a, x, al.symbols) == _canon_meta(b, y)
    rew = _rewiring(al, x, y, one_sided=True)
    if same and not rew:
        return None
    if same:
        return Change(
            "node_rewired",
            _location(al, x, y),
            _rewire_summary(rew),
            {"inputs": rew},
            a_line=_line(a, x),
            b_line=_line(b, y),
        )
    va, vb = _node_view(a, x, opts.meta, al.symbols), _node_view(b, y, opts.meta)
    details: dict[str, Any] = {"changes": field_changes(va, vb)}
    if rew:
        details["inputs"] = rew
    summary = _change_summary(al, x, y, va, vb)
    if rew:
        summary += "; " + _rewire_summary(rew)
    return Change("node_changed", _location(al, x, y), summary, details, a_line=_line(a, x), b_line=_line(b, y))


# --------------------------------------------------------------------------- signature


def _spec_parts(spec: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    ((tag, body),) = spec.items()
    return tag, dict(body)


def _spec_view(spec: Mapping[str, Any], meta: Any, opts: Options) -> dict[str, Any]:
    tag, body = _spec_parts(spec)
    view: dict[str, Any] = {"kind": tag}
    for k, v in sorted(body.items()):
        if k in ("arg", "name"):
            continue  # value names: canonical positions, compared through the alignment
        if k.endswith("_name") and not opts.names:
            continue
        view[k] = v
    if tag == "buffer":
        view["persistent"] = body.get("persistent", True)
    if opts.meta and meta is not None:
        view["meta"] = meta
    return view


def _input_meta(side: GraphSide, j: int, symbols: Mapping[str, str] | None = None) -> Any:
    metas = _canon_meta(side, side.n_ops + j, symbols)
    return metas[0] if metas else None


def _input_item(side: GraphSide, j: int) -> str:
    spec = side.input_specs[j] if side.input_specs is not None else None
    if spec is None:
        return f"input {j}"
    tag, body = _spec_parts(spec)
    fqn = next((v for k, v in body.items() if k.endswith("_name") and isinstance(v, str)), None)
    if fqn is not None and tag != "user_input_mutation":
        return f"input {tag} {fqn}"
    key = side.input_keys[j]
    return f"input {tag} #{key[1]}" if isinstance(key[1], int) else f"input {tag}"


def compare_inputs(al: Alignment, opts: Options) -> list[Change]:
    """``signature_changed`` records of the top-level inputs (kind, FQN, flags, metadata)."""
    a, b = al.a, al.b
    out: list[Change] = []
    if a.input_specs is None or b.input_specs is None:
        return out
    for ja, jb in al.input_pairs():
        sa = a.input_specs[ja] if ja is not None else None
        sb = b.input_specs[jb] if jb is not None else None
        if sa is not None and sb is not None:
            va = _spec_view(sa, _input_meta(a, ja, al.symbols), opts)  # type: ignore[arg-type]
            vb = _spec_view(sb, _input_meta(b, jb), opts)  # type: ignore[arg-type]
            if va == vb:
                continue
        la = format_spec_line(spec_fields(sa), a.cg.doc) if sa is not None else None
        lb = format_spec_line(spec_fields(sb), b.cg.doc) if sb is not None else None
        xa = a.n_ops + ja if ja is not None else None
        xb = b.n_ops + jb if jb is not None else None
        item = _input_item(b, jb) if jb is not None else _input_item(a, ja)  # type: ignore[arg-type]
        loc = Location(
            graph=al.graph,
            a=a.name(xa) if xa is not None else None,
            b=b.name(xb) if xb is not None else None,
            a_original=a.original_name(xa) if xa is not None else None,
            b_original=b.original_name(xb) if xb is not None else None,
            item=item,
        )
        if sa is None:
            out.append(Change("signature_changed", loc, f"{item} added", {"section": "inputs", "new": sb}, b_line=lb))
            continue
        if sb is None:
            out.append(Change("signature_changed", loc, f"{item} removed", {"section": "inputs", "old": sa}, a_line=la))
            continue
        fields = field_changes(va, vb)
        summary = "; ".join(_field_summary(f) for f in fields)
        out.append(
            Change(
                "signature_changed",
                loc,
                f"{item}: {summary}",
                {"section": "inputs", "changes": fields},
                a_line=la,
                b_line=lb,
            )
        )
    return out


def _field_summary(f: Mapping[str, Any]) -> str:
    def text(v: Any) -> str:
        if isinstance(v, Mapping) and "sizes" in v:
            return format_tensor_meta(v)
        if isinstance(v, Mapping) and len(v) == 1:
            return format_argument(v)
        return repr(v) if isinstance(v, str) else str(v)

    if "old" in f and "new" in f:
        return f"{f['path']}: {text(f['old'])} -> {text(f['new'])}"
    if "new" in f:
        return f"{f['path']}: added {text(f['new'])}"
    return f"{f['path']}: removed {text(f.get('old'))}"


def compare_outputs(al: Alignment, opts: Options) -> list[Change]:
    """``signature_changed`` records of top-level outputs added, removed or of another kind."""
    a, b = al.a, al.b
    out: list[Change] = []
    spa = _keyed_outputs(a)
    spb = _keyed_outputs(b)
    for key in [*spb, *(k for k in spa if k not in spb)]:
        ea, eb = spa.get(key), spb.get(key)
        la = format_spec_line(spec_fields(ea), a.cg.doc) if ea is not None else None
        lb = format_spec_line(spec_fields(eb), b.cg.doc) if eb is not None else None
        item = "output " + " ".join(str(k) for k in key)
        loc = Location(graph=al.graph, item=item)
        if ea is None:
            out.append(Change("signature_changed", loc, f"{item} added", {"section": "outputs", "new": eb}, b_line=lb))
        elif eb is None:
            out.append(
                Change("signature_changed", loc, f"{item} removed", {"section": "outputs", "old": ea}, a_line=la)
            )
        else:
            va, vb = _spec_view(ea, None, opts), _spec_view(eb, None, opts)
            if va != vb:
                fields = field_changes(va, vb)
                out.append(
                    Change(
                        "signature_changed",
                        loc,
                        f"{item}: " + "; ".join(_field_summary(f) for f in fields),
                        {"section": "outputs", "changes": fields},
                        a_line=la,
                        b_line=lb,
                    )
                )
    return out


def _keyed_outputs(side: GraphSide) -> dict[Any, dict[str, Any]]:
    """Alignment key -> canonical output spec, in canonical order."""
    return dict(zip(side.output_spec_keys or (), side.output_specs or ()))


def _value_map(al: Alignment) -> dict[str, str]:
    """A's canonical value names -> B's, through aligned producers."""
    a, b = al.a, al.b
    out: dict[str, str] = {}
    nodes_a, nodes_b = a.cg.model._node, b.cg.model._node
    for x, y in enumerate(al.a_to_b):
        if y is None or x == a.out:
            continue
        va, vb = nodes_a[a.nid[x]]["values"], nodes_b[b.nid[y]]["values"]
        for i in range(min(len(va), len(vb))):
            out[a.cg.value_names.get(va[i].name, va[i].name)] = b.cg.value_names.get(vb[i].name, vb[i].name)
    return out


def _rename_refs(obj: Any, names: Mapping[str, str]) -> Any:
    if isinstance(obj, dict):
        return {
            k: (names.get(v, f"?{v}") if k in ("name", "as_name") and isinstance(v, str) else _rename_refs(v, names))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_rename_refs(v, names) for v in obj]
    return obj


def compare_module_call_graph(al: Alignment, ca: CanonicalProgram, cb: CanonicalProgram) -> list[Change]:
    """``signature_changed`` per module call graph entry (by FQN; ``forward_arg_names`` ignored, as by the hash)."""

    def entries(c: CanonicalProgram) -> dict[str, Any]:
        out = {}
        for e in c.doc["graph_module"].get("module_call_graph", []):
            s = e.get("signature")
            if s is not None:
                s = {k: v for k, v in s.items() if k != "forward_arg_names"}
            out[e["fqn"]] = s
        return out

    ea, eb = entries(ca), entries(cb)
    if ea == eb and all(s is None or not (s.get("inputs") or s.get("outputs")) for s in ea.values()):
        return []
    names: dict[str, str] | None = None
    out: list[Change] = []
    # Modules without a preserved signature, added or removed: one record for all.
    added = [f for f in eb if f not in ea and eb[f] is None]
    removed = [f for f in ea if f not in eb and ea[f] is None]
    if added or removed:
        parts = []
        if added:
            parts.append(
                f"{len(added)} module{'s' if len(added) != 1 else ''} added ({', '.join(added[:5])}{', ...' if len(added) > 5 else ''})"
            )
        if removed:
            parts.append(
                f"{len(removed)} module{'s' if len(removed) != 1 else ''} removed ({', '.join(removed[:5])}{', ...' if len(removed) > 5 else ''})"
            )
        out.append(
            Change(
                "signature_changed",
                Location(graph=al.graph, item="module_call_graph"),
                "module_call_graph: " + "; ".join(parts),
                {"section": "module_call_graph", "added": added, "removed": removed},
            )
        )
    for fqn in [*eb, *(f for f in ea if f not in eb)]:
        item = f"module_call_graph[{fqn!r}]"
        loc = Location(graph=al.graph, item=item, module=fqn)
        if fqn not in ea:
            if eb[fqn] is not None:
                out.append(
                    Change("signature_changed", loc, f"{item} added", {"section": "module_call_graph", "new": eb[fqn]})
                )
            continue
        if fqn not in eb:
            if ea[fqn] is not None:
                out.append(
                    Change(
                        "signature_changed", loc, f"{item} removed", {"section": "module_call_graph", "old": ea[fqn]}
                    )
                )
            continue
        sa, sb = ea[fqn], eb[fqn]
        if sa is not None and (sa.get("inputs") or sa.get("outputs")):
            if names is None:
                names = _value_map(al)
            sa = _rename_refs(sa, names)
        if sa == sb:
            continue
        fields = field_changes(sa, sb)
        parts = []
        for f in fields:
            head = f["path"].split(".")[0].split("[")[0]
            if head not in parts:
                parts.append(head)
        out.append(
            Change(
                "signature_changed",
                loc,
                f"{item}: {', '.join(parts) or 'signature'} changed",
                {"section": "module_call_graph", "changes": fields},
            )
        )
    return out


def _plain(section: str, kind: str, item: str, old: Any, new: Any, graph: str) -> list[Change]:
    if old == new:
        return []
    loc = Location(graph=graph, item=item)
    fields = field_changes(old, new)
    summary = "; ".join(_field_summary(f) for f in fields) if fields else "changed"
    return [Change(kind, loc, f"{item}: {summary}", {"section": section, "changes": fields})]  # type: ignore[arg-type]


def compare_constraints(
    ca: CanonicalProgram, cb: CanonicalProgram, graph: str = "", symbols: Mapping[str, str] | None = None
) -> list[Change]:
    """``constraint_changed`` per canonical symbol whose range was added, removed or changed.

    ``symbols`` renames A's symbols to B's (:func:`learn_symbols`); records name B's symbols.
    """
    ra = {(symbols or {}).get(k, k): v for k, v in (ca.doc.get("range_constraints") or {}).items()}
    rb = cb.doc.get("range_constraints") or {}
    out: list[Change] = []

    def rng(r: Mapping[str, Any]) -> str:
        lo, hi = r.get("min_val"), r.get("max_val")
        return f"[{'-int_oo' if lo is None else lo}, {'int_oo' if hi is None else hi}]"

    for sym in [*rb, *(s for s in ra if s not in rb)]:
        a, b = ra.get(sym), rb.get(sym)
        if a == b:
            continue
        loc = Location(graph=graph, item=f"range {sym}")
        if a is None:
            summary = f"{sym} {rng(b or {})} added"
        elif b is None:
            summary = f"{sym} {rng(a)} removed"
        else:
            summary = f"{sym}: {rng(a)} -> {rng(b)}"
        details: dict[str, Any] = {"symbol": sym}
        if a is not None:
            details["old"] = a
        if b is not None:
            details["new"] = b
        out.append(Change("constraint_changed", loc, summary, details))
    return out


def compare_versions(ca: Mapping[str, Any], cb: Mapping[str, Any], graph: str = "") -> list[Change]:
    """``version_changed`` for the torch version, the schema version and each opset version."""
    out: list[Change] = []

    def schema(doc: Mapping[str, Any]) -> str | None:
        sv = doc.get("schema_version")
        return f"{sv.get('major')}.{sv.get('minor')}" if isinstance(sv, Mapping) else None

    items = [
        ("torch_version", ca.get("torch_version"), cb.get("torch_version")),
        ("schema_version", schema(ca), schema(cb)),
    ]
    oa, ob = ca.get("opset_version") or {}, cb.get("opset_version") or {}
    for ns in sorted(set(oa) | set(ob)):
        items.append((f"opset_version.{ns}", oa.get(ns), ob.get(ns)))
    for item, a, b in items:
        if a != b:
            out.append(
                Change(
                    "version_changed",
                    Location(graph=graph, item=item),
                    f"{item}: {a if a is not None else '(none)'} -> {b if b is not None else '(none)'}",
                    {"old": a, "new": b},
                )
            )
    return out


def compare_payloads(section: str, da: Mapping[str, Any], db: Mapping[str, Any], graph: str = "") -> list[Change]:
    """``weight_changed`` per FQN of ``weights``/``constants`` digests (:func:`payload_digests`)."""
    out: list[Change] = []
    word = "weight" if section == "weights" else "constant"
    for fqn in sorted(set(da) | set(db)):
        a, b = da.get(fqn), db.get(fqn)
        if a == b:
            continue
        loc = Location(graph=graph, item=f"{word} {fqn}", module=fqn.rpartition(".")[0] if "." in fqn else None)
        details: dict[str, Any] = {"section": section, "fqn": fqn}
        if a is not None:
            details["old"] = _jsonable(a)
        if b is not None:
            details["new"] = _jsonable(b)
        if a is None:
            summary = f"{word} {fqn} added ({_payload_text(b)})"
        elif b is None:
            summary = f"{word} {fqn} removed ({_payload_text(a)})"
        else:
            parts = []
            if a["tensor_meta"] != b["tensor_meta"]:
                parts.append(f"{_payload_text(a)} -> {_payload_text(b)}")
            if a["sha256"] != b["sha256"]:
                parts.append(f"content {a['sha256'][7:19]}… -> {b['sha256'][7:19]}…")
            for k in ("is_param", "use_pickle", "shares"):
                if a.get(k) != b.get(k):
                    parts.append(f"{k}: {a.get(k)} -> {b.get(k)}")
            summary = f"{word} {fqn}: " + "; ".join(parts or ["changed"])
        out.append(Change("weight_changed", loc, summary, details))
    return out


def compare_extra_files(da: Mapping[str, Any], db: Mapping[str, Any], graph: str = "") -> list[Change]:
    """``weight_changed`` per extra file (``extra/<name>``) of :func:`extra_file_digests` that differs."""
    out: list[Change] = []
    for name in sorted(set(da) | set(db)):
        a, b = da.get(name), db.get(name)
        if a == b:
            continue
        if a is None or b is None:
            how = "added" if a is None else "removed"
            summary = f"extra file {name} {how} ({(a or b)['size']} B)"  # type: ignore[index]
        else:
            summary = f"extra file {name}: content {a['sha256'][7:19]}… -> {b['sha256'][7:19]}…"
        details = {"section": "extra_files", "name": name, **({"old": a} if a else {}), **({"new": b} if b else {})}
        out.append(Change("weight_changed", Location(graph=graph, item=f"extra file {name}"), summary, details))
    return out


def _payload_text(p: Mapping[str, Any] | None) -> str:
    if p is None:
        return "-"
    meta = p.get("tensor_meta")
    return (
        format_tensor_meta(meta)
        if isinstance(meta, Mapping)
        else ("pickle" if p.get("use_pickle") else f"{p.get('size')} B")
    )


# --------------------------------------------------------------------------- program


def compare_program(
    al: Alignment,
    ca: CanonicalProgram,
    cb: CanonicalProgram,
    opts: Options,
) -> tuple[list[Change], dict[Any, Any]]:
    """Every record of one aligned program except weights, constants and versions, and the row status.

    Order: input signature, graph nodes in B's canonical order (removed
    nodes where A had them, subgraph records after their node, the output
    node last), output signature, module call graph, other signature
    parts, range constraints.
    """
    if opts.meta and (ca.symbols or cb.symbols):
        learn_symbols(al, ca.doc.get("range_constraints") or {}, cb.doc.get("range_constraints") or {})
    changes = compare_inputs(al, opts)
    node_changes, status = compare_graph(al, opts)
    changes += node_changes
    changes += compare_outputs(al, opts)
    ga, gb = ca.doc["graph_module"], cb.doc["graph_module"]
    if opts.names:
        changes += compare_module_call_graph(al, ca, cb)
        changes += _plain(
            "treespec_namedtuple_fields",
            "signature_changed",
            "treespec_namedtuple_fields",
            ga.get("treespec_namedtuple_fields", {}),
            gb.get("treespec_namedtuple_fields", {}),
            al.graph,
        )
    changes += _plain(
        "verifiers",
        "signature_changed",
        "verifiers",
        sorted(ca.doc.get("verifiers", [])),
        sorted(cb.doc.get("verifiers", [])),
        al.graph,
    )
    if opts.meta:
        changes += compare_constraints(ca, cb, al.graph, al.symbols)
    return changes, status


# --------------------------------------------------------------------------- rows


def graph_rows(al: Alignment, status: Mapping[Any, Any], depth: int, rows: list[AlignedLine]) -> None:
    """Append the aligned listing of one graph (and its subgraphs) to ``rows``."""
    a, b = al.a, al.b
    pad = _INDENT * depth
    subs: dict[tuple[int, int], list[tuple[int, Alignment]]] = {}
    for sx, sy, si, sal in al.subgraphs:
        subs.setdefault((sx, sy), []).append((si, sal))
    sub_status = status.get("subgraphs", {})

    def one_sided(side: GraphSide, v: int, mark: Literal["-", "+"]) -> None:
        line = pad + _line(side, v)
        name = side.name(v)
        module = side.module(v)
        if mark == "-":
            rows.append(AlignedLine("-", line, None, al.graph, a_name=name, module=module))
        else:
            rows.append(AlignedLine("+", None, line, al.graph, b_name=name, module=module))
        node = side.doc_node(v)
        for na in node["inputs"]:
            arg = na["arg"]
            if "as_graph" in arg:
                ga = arg["as_graph"]
                lines = [
                    *generate_subgraph_header(ga["name"], ga["graph"], depth + 1),
                    *generate_graph_body(ga["graph"], depth + 2),
                ]
                graph = f"{al.graph}/{name}/{ga['name']}" if al.graph else f"{name}/{ga['name']}"
                for text in lines:
                    rows.append(
                        AlignedLine(
                            mark, text if mark == "-" else None, text if mark == "+" else None, graph, module=module
                        )
                    )

    removed = al.removed()
    rpos = 0
    for y in range(b.n_ops):
        x = al.b_to_a[y]
        if x is None:
            one_sided(b, y, "+")
            continue
        while rpos < len(removed) and removed[rpos] < x:
            one_sided(a, removed[rpos], "-")
            rpos += 1
        mark = status.get(("b", y), " ")
        rows.append(
            AlignedLine(
                mark,
                pad + _line(a, x),
                pad + _line(b, y),
                al.graph,
                a_name=a.name(x),
                b_name=b.name(y),
                module=b.module(y) or a.module(x),
                note=status.get(("note", x, y)),
            )
        )
        for i, sal in subs.get((x, y), ()):
            name_a = a.subgraph_names(x)[i]
            name_b = b.subgraph_names(y)[i]
            ga, gb = sal.a.cg.doc, sal.b.cg.doc
            head_a = list(generate_subgraph_header(name_a, ga, depth + 1))
            head_b = list(generate_subgraph_header(name_b, gb, depth + 1))
            ss = sub_status.get(sal.graph, {})
            for k in range(max(len(head_a), len(head_b))):
                ta = head_a[k] if k < len(head_a) else None
                tb = head_b[k] if k < len(head_b) else None
                st = " " if k == 0 or (ta is not None and tb is not None) else ("-" if tb is None else "+")
                rows.append(AlignedLine(st, ta, tb, sal.graph))  # type: ignore[arg-type]
            graph_rows(sal, ss, depth + 2, rows)
    for x in removed[rpos:]:
        one_sided(a, x, "-")
    mark = status.get(("b", b.out), " ")
    rows.append(
        AlignedLine(
            mark,
            pad + _line(a, a.out),
            pad + _line(b, b.out),
            al.graph,
            a_name="output",
            b_name="output",
            note=status.get(("note", a.out, b.out)),
        )
    )


def program_rows(al: Alignment, changes: list[Change], status: Mapping[Any, Any]) -> list[AlignedLine]:
    """The aligned listing of a program: inputs, outputs, then the graph (``status`` from :func:`compare_program`)."""
    rows: list[AlignedLine] = []
    g = al.graph
    sig_notes: dict[tuple[str, str | None, str | None], str] = {}
    for c in changes:
        if c.kind == "signature_changed" and c.details.get("section") in ("inputs", "outputs"):
            sig_notes[(c.details["section"], c.a_line, c.b_line)] = c.summary
    rows.append(AlignedLine(" ", "inputs:", "inputs:", g))
    a, b = al.a, al.b
    for ja, jb in al.input_pairs():
        la = (
            _INDENT + format_spec_line(spec_fields(a.input_specs[ja]), a.cg.doc)
            if ja is not None and a.input_specs
            else None
        )
        lb = (
            _INDENT + format_spec_line(spec_fields(b.input_specs[jb]), b.cg.doc)
            if jb is not None and b.input_specs
            else None
        )
        key = ("inputs", la[len(_INDENT) :] if la else None, lb[len(_INDENT) :] if lb else None)
        note = sig_notes.get(key)
        mark = "-" if lb is None else "+" if la is None else ("~" if note else " ")
        rows.append(
            AlignedLine(
                mark,  # type: ignore[arg-type]
                la,
                lb,
                g,
                a_name=a.name(a.n_ops + ja) if ja is not None else None,
                b_name=b.name(b.n_ops + jb) if jb is not None else None,
                note=note if mark == "~" else None,
            )
        )
    rows.append(AlignedLine(" ", "outputs:", "outputs:", g))
    spa, spb = _keyed_outputs(a), _keyed_outputs(b)
    for key in [*spb, *(k for k in spa if k not in spb)]:
        ea, eb = spa.get(key), spb.get(key)
        la = _INDENT + format_spec_line(spec_fields(ea), a.cg.doc) if ea is not None else None
        lb = _INDENT + format_spec_line(spec_fields(eb), b.cg.doc) if eb is not None else None
        note = sig_notes.get(("outputs", la[len(_INDENT) :] if la else None, lb[len(_INDENT) :] if lb else None))
        mark = "-" if lb is None else "+" if la is None else ("~" if note else " ")
        rows.append(AlignedLine(mark, la, lb, g, note=note if mark == "~" else None))  # type: ignore[arg-type]
    rows.append(AlignedLine(" ", "graph:", "graph:", g))
    graph_rows(al, status, 1, rows)
    return rows


def lazy_rows(build: Callable[[], list[AlignedLine]]) -> list[AlignedLine]:
    """A list whose items are computed on first use (formatting every line costs ~30 µs a node)."""
    return _LazyRows(build)


class _LazyRows(list):  # type: ignore[type-arg]
    """A ``list`` filled by ``build()`` the first time anything reads or changes it."""

    __slots__ = ("_build",)

    def __init__(self, build: Callable[[], list[AlignedLine]] | Iterable[AlignedLine] | None = None) -> None:
        if build is None or callable(build):
            super().__init__()
            self._build = build
        else:  # an iterable, as ``type(rows)(...)`` in dataclasses.asdict or copy helpers passes one
            super().__init__(build)
            self._build = None

    def _fill(self) -> None:
        build = self._build
        if build is not None:
            self._build = None
            list.extend(self, build())

    def __bool__(self) -> bool:
        self._fill()
        return list.__len__(self) > 0

    def __repr__(self) -> str:
        self._fill()
        return list.__repr__(self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        self._fill()
        return (list, (list(list.__iter__(self)),))

    __hash__ = None  # type: ignore[assignment]


def _filling(name: str) -> Callable[..., Any]:
    base = getattr(list, name)

    def method(self: _LazyRows, *args: Any, **kwargs: Any) -> Any:
        self._fill()
        return base(self, *args, **kwargs)

    method.__name__ = name
    return method


for _name in (
    "__len__", "__iter__", "__getitem__", "__contains__", "__reversed__", "__eq__", "__ne__", "__lt__", "__le__",
    "__gt__", "__ge__", "__add__", "__mul__", "__rmul__", "__iadd__", "__imul__", "__setitem__", "__delitem__",
    "append", "extend", "insert", "pop", "remove", "clear", "index", "count", "sort", "reverse", "copy",
):  # fmt: skip
    setattr(_LazyRows, _name, _filling(_name))
del _name
