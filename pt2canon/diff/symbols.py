"""Which canonical shape symbol of A is which of B (:func:`learn_symbols`), and A's metadata in B's symbols.

Metadata and range constraints are compared through the correspondence of
canonical symbols read off aligned values: an op added before a symbol's
first use renames the symbol, which is no change.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from typing import Any

from pt2canon._json import canonical_bytes
from pt2canon.diff.align import Alignment
from pt2canon.diff.sides import GraphSide

__all__ = ["best_pairing", "learn_symbols", "rename_expression", "rename_symbols", "renamed_metas"]


def renamed_metas(side: GraphSide, v: int, symbols: Mapping[str, str] | None = None) -> list[Any]:
    """Canonical metadata of each value ``v`` defines; with ``symbols``, A's symbols in B's names.

    Examples
    --------
    Op 3 of ``mlp_v1`` is ``head``'s linear, of shape ``[batch, 4]``:

    >>> import pt2canon
    >>> from pt2canon.diff.align import align_programs
    >>> from pt2canon.listing import format_tensor_meta
    >>> al = align_programs(pt2canon.canonicalize("examples/mlp_v1.pt2"), pt2canon.canonicalize("examples/mlp_v2.pt2"))
    >>> [format_tensor_meta(m) for m in renamed_metas(al.a, 3)]
    ['f32[s0, 4]']
    >>> [format_tensor_meta(m) for m in renamed_metas(al.a, 3, {"s0": "s9"})]
    ['f32[s9, 4]']
    """
    metas = side.metas(v)
    return rename_symbols(metas, symbols) if symbols else metas


_SYMBOL = re.compile(r"Symbol\('([^']+)'")


_LONE_SYMBOL = re.compile(r"^Symbol\('([^']+)'[^()]*\)$")


def rename_symbols(obj: Any, symbols: Mapping[str, str]) -> Any:
    """A copy of JSON data ``obj`` with every ``expr_str`` renamed by :func:`rename_expression`.

    Examples
    --------
    >>> meta = {"sizes": [{"as_expr": {"expr_str": "Symbol('s1', integer=True, positive=True)"}}, {"as_int": 4}]}
    >>> rename_symbols(meta, {"s1": "s0"})["sizes"]
    [{'as_expr': {'expr_str': "Symbol('s0', integer=True, positive=True)"}}, {'as_int': 4}]
    >>> rename_symbols(meta, {"s7": "s0"}) == meta
    True
    """
    if isinstance(obj, dict):
        return {
            k: (rename_expression(v, symbols) if k == "expr_str" and isinstance(v, str) else rename_symbols(v, symbols))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [rename_symbols(v, symbols) for v in obj]
    return obj


def rename_expression(text: str, symbols: Mapping[str, str]) -> str:
    """``text`` with A's symbols in B's names, re-printed canonically (argument order follows the names).

    Examples
    --------
    >>> def sym(name):
    ...     return f"Symbol('{name}', integer=True, positive=True)"
    >>> e = f"Add({sym('s1')}, Mul(Integer(2), {sym('s0')}))"  # s1 + 2*s0
    >>> rename_expression(e, {"s0": "s1", "s1": "s0"}) == f"Add({sym('s0')}, Mul(Integer(2), {sym('s1')}))"
    True
    >>> rename_expression(sym("s1"), {"s1": "s0"})
    "Symbol('s0', integer=True, positive=True)"

    Text that does not name a renamed symbol is returned as it is; text
    that does not parse has its symbol names replaced:

    >>> rename_expression(e, {"s5": "s6"}) is e
    True
    >>> rename_expression("not an expression: Symbol('s1'", {"s1": "s0"})
    "not an expression: Symbol('s0'"
    """
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


def best_pairing(
    names_a: list[str], names_b: list[str], known: Mapping[str, str], pairs: list[tuple[str, str]]
) -> dict[str, str]:
    """Pair A's symbols with B's (equal ranges) so that the most aligned expressions agree.

    Tries every pairing of the shorter list into the longer one while that
    takes at most :data:`_MAX_SUBSTITUTIONS` substitutions; the first
    pairing with the best score wins, name order first. Otherwise, or with
    nothing to score by, pairs in name order.

    Examples
    --------
    Two symbols of equal ranges on each side; an aligned value is ``2*s1``
    in A and ``2*s0`` in B, so A's ``s1`` is B's ``s0``:

    >>> def sym(name):
    ...     return f"Symbol('{name}', integer=True, positive=True)"
    >>> pairs = [(f"Mul(Integer(2), {sym('s1')})", f"Mul(Integer(2), {sym('s0')})")]
    >>> best_pairing(["s0", "s1"], ["s0", "s1"], {}, pairs)
    {'s0': 's1', 's1': 's0'}
    >>> best_pairing(["s0", "s1"], ["s0", "s1"], {}, [])  # nothing to score by: name order
    {'s0': 's0', 's1': 's1'}
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
        return sum(rename_expression(ea, full) == eb for ea, eb in relevant)

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
    (:func:`best_pairing`), and those still left whose name B uses for
    another symbol get a primed name (``s0'``). Only pairs that differ are kept; the map is set on ``al``
    and its subgraph alignments.

    Examples
    --------
    The batch dimension of the bundled MLPs is first used by the input
    ``x`` on both sides, so it is ``s0`` in both: nothing to rename.

    >>> import pt2canon
    >>> from pt2canon.diff.align import align_programs
    >>> a, b = pt2canon.canonicalize("examples/mlp_v1.pt2"), pt2canon.canonicalize("examples/mlp_v2.pt2")
    >>> al = align_programs(a, b)
    >>> learn_symbols(al, a.doc["range_constraints"], b.doc["range_constraints"]), al.symbols
    ({}, {})
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
        best = best_pairing(names_a, names_b, seen_a, list(compound))
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
