"""Shape symbols of a whole document renamed in canonical order of appearance; ranges and hints kept as torch needs them."""

from __future__ import annotations

import re
from typing import Any

from pt2canon._json import canonical_bytes
from pt2canon.canon.messages import rename_message_symbols
from pt2canon.canon.symbols import SymbolRenamer
from pt2canon.serde.graph import (
    VALUE_TABLES,
    iter_refs,
)

__all__ = ["rename_document_symbols"]


def rename_document_symbols(doc: dict[str, Any], renamer: SymbolRenamer, *, messages: bool) -> bool:
    """Rename symbols in every value table and range constraint, in canonical order of appearance.

    Example hints are dropped, except on expressions with a symbol that has
    no range constraint: torch's loader needs a range or a hint for every
    symbol (``vr must not be None``). Range constraints of symbols that no
    value of any graph mentions are dropped, as torch's loader drops them.
    With ``messages``, then the symbols of assert messages. Returns whether
    any hint was kept.

    Examples
    --------
    An input whose first size is the symbol ``s77``; ``s99`` is in no value:

    >>> from pt2canon.canon.symbols import SymbolRenamer
    >>> s77 = {"as_expr": {"expr_str": "Symbol('s77', integer=True, positive=True)", "hint": 4}}
    >>> x = {"dtype": 7, "sizes": [s77, {"as_int": 3}], "strides": [{"as_int": 3}, {"as_int": 1}],
    ...      "storage_offset": {"as_int": 0}, "layout": 3, "device": {"type": "cpu"}, "requires_grad": False}
    >>> doc = {"graph_module": {"graph": {"inputs": [{"as_tensor": {"name": "x"}}], "nodes": [], "outputs": [],
    ...                                   "tensor_values": {"x": x}}},
    ...        "range_constraints": {"s77": {"min_val": 2, "max_val": 64}, "s99": {"min_val": 2, "max_val": 8}}}
    >>> renamer = SymbolRenamer()
    >>> rename_document_symbols(doc, renamer, messages=False)  # no hint kept: s77 has a range
    False
    >>> doc["graph_module"]["graph"]["tensor_values"]["x"]["sizes"][0]
    {'as_expr': {'expr_str': "Symbol('s0', integer=True, positive=True)", 'hint': None}}
    >>> doc["range_constraints"], renamer.mapping
    ({'s0': {'min_val': 2, 'max_val': 64}}, {'s77': 's0'})
    """
    rc = doc.get("range_constraints") or {}
    # One renamed SymInt object per distinct expression, shared by every place it appears.
    renamed: dict[str, dict[str, Any]] = {}
    hinted: dict[tuple[str, bytes], dict[str, Any]] = {}
    unconstrained: set[str] = set()  # expressions with a symbol that has no range

    def renamed_expr(e: dict[str, Any]) -> dict[str, Any]:
        text = e["expr_str"]
        out = renamed.get(text)
        if out is not None:  # the common case: every symbol has a range, and the hint goes
            return out
        if text not in unconstrained:
            if all(name in rc for name in renamer.symbol_names(text)):
                out = renamed[text] = {"as_expr": {"expr_str": renamer.expr(text), "hint": None}}
                return out
            unconstrained.add(text)
        hint = e.get("hint")
        key = (text, canonical_bytes(hint))
        out = hinted.get(key)
        if out is None:
            out = hinted[key] = {"as_expr": {"expr_str": renamer.expr(text), "hint": hint}}
        return out

    def sym(s: Any) -> Any:
        if "as_expr" in s:
            return renamed_expr(s["as_expr"])
        return s

    def syms(seq: list[Any]) -> list[Any]:
        for s in seq:
            if "as_expr" in s:
                return [x if (e := x.get("as_expr")) is None else renamed_expr(e) for x in seq]
        return seq

    def meta(m: dict[str, Any]) -> dict[str, Any]:
        sizes, strides = m["sizes"], m["strides"]  # required (schema checks)
        new_sizes, new_strides = syms(sizes), syms(strides)
        so = m.get("storage_offset")
        new_so = renamed_expr(so["as_expr"]) if so is not None and "as_expr" in so else so
        if new_sizes is sizes and new_strides is strides and new_so is so:
            return m  # static: nothing to rename
        out = dict(m)
        out["sizes"], out["strides"] = new_sizes, new_strides
        if so is not None:
            out["storage_offset"] = new_so
        return out

    def visit(graph: dict[str, Any]) -> None:
        tables = {k: graph.get(t, {}) for k, t in VALUE_TABLES.items() if k != "custom_obj"}
        done: dict[str, set[str]] = {k: set() for k in tables}
        tensors, done_tensors = tables["tensor"], done["tensor"]

        def touch(arg: dict[str, Any]) -> None:
            t = arg.get("as_tensor")
            if t is not None and len(arg) == 1 and len(t) == 1:  # the common case, inlined
                name = t["name"]
                if name in tensors and name not in done_tensors:
                    done_tensors.add(name)
                    tensors[name] = meta(tensors[name])
                return
            for _, _, name, kind in iter_refs(arg):
                table = tables.get(kind)
                if table is None or name not in table or name in done[kind]:
                    continue
                done[kind].add(name)
                val = table[name]
                table[name] = meta(val) if kind == "tensor" else sym(val)

        for a in graph["inputs"]:
            touch(a)
        for node in graph["nodes"]:
            for na in node["inputs"]:
                if "as_graph" in na["arg"]:
                    visit(na["arg"]["as_graph"]["graph"])
            for o in node["outputs"]:
                touch(o)
        # Values no node defines (kept for exactness) come last.
        for kind, table in tables.items():
            for name, val in list(table.items()):
                if name not in done[kind]:
                    table[name] = meta(val) if kind == "tensor" else sym(val)

    graph = doc["graph_module"]["graph"]
    visit(graph)
    in_graph = set(renamer.mapping)
    # Then the symbols assert messages quote, in canonical order (the ones no value mentions,
    # only a range constraint or a stale message, are named there).
    if messages:
        rename_message_symbols(graph, renamer)
    doc["range_constraints"] = dict(
        sorted(((renamer.mapping[k], v) for k, v in rc.items() if k in in_graph), key=lambda kv: _natural(kv[0]))
    )
    return any(o["as_expr"]["hint"] is not None for o in hinted.values())


def _natural(name: str) -> tuple[str, int]:
    m = re.match(r"^(\D*)(\d+)$", name)
    return (m.group(1), int(m.group(2))) if m else (name, -1)
