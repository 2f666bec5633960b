"""FX values as schema JSON: tensor metadata, symbolic values and constant arguments.

:class:`ValueWriter` turns what an FX graph holds into the ``Argument``,
``TensorMeta`` and ``SymInt`` JSON of torch's export schema, spelled as
``torch.export.save`` spells them (dtype, layout and memory-format enums
from ``torch/_export/serde/serialize.py``, symbolic expressions as sympy's
``srepr``), so that canonicalization treats both alike.

Python constants the schema has no union tag for get a documented, stable
stand-in: an ``as_string_to_argument`` object whose ``"$fx"`` entry names
the kind:

==================  =====================================================
value               stand-in entries besides ``"$fx"``
==================  =====================================================
``slice``           ``start``, ``stop``, ``step``
``...``             none (``"$fx": "Ellipsis"``)
an ``enum.Enum``    ``value``: ``"module.Class.MEMBER"``
mixed sequence      ``"0"``, ``"1"``, ... (tuples and lists alike)
other ``dict``      ``items``: a sequence of ``[key, value]`` sequences
==================  =====================================================

Anything else (an object of a user class, a real tensor held in an
argument) raises :class:`~pt2canon.errors.InputError` naming the node: its
``repr`` would carry an address or hide state.
"""

from __future__ import annotations

import contextlib
import enum
import math
from collections.abc import Callable, Iterable
from typing import Any

from pt2canon.errors import InputError
from pt2canon.fx.names import callable_name

__all__ = ["STANDIN_KEY", "ValueWriter"]

#: The key naming the kind of a stand-in for a Python constant (see the module docstring).
STANDIN_KEY = "$fx"

Ref = Callable[[Any], dict[str, Any]]

# list element tag -> (list tag, how an element is stored in the list)
_LIST_OF = {
    "as_int": ("as_ints", lambda a: a["as_int"]),
    "as_float": ("as_floats", lambda a: a["as_float"]),
    "as_bool": ("as_bools", lambda a: a["as_bool"]),
    "as_string": ("as_strings", lambda a: a["as_string"]),
    "as_tensor": ("as_tensors", lambda a: a["as_tensor"]),
    "as_ints": ("as_int_lists", lambda a: a["as_ints"]),
    "as_floats": ("as_float_lists", lambda a: a["as_floats"]),
    "as_tensors": ("as_nested_tensors", lambda a: a["as_tensors"]),
}
# mixes of literals and symbolic values
_SYM_LIST = {
    frozenset({"as_int", "as_sym_int"}): ("as_sym_ints", "as_int", "as_sym_int"),
    frozenset({"as_float", "as_sym_float"}): ("as_sym_floats", "as_float", "as_sym_float"),
    frozenset({"as_bool", "as_sym_bool"}): ("as_sym_bools", "as_bool", "as_sym_bool"),
}


def _float(v: float) -> float | str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def _standin(kind: str, entries: Iterable[tuple[str, dict[str, Any]]] = ()) -> dict[str, Any]:
    return {"as_string_to_argument": {STANDIN_KEY: {"as_string": kind}, **dict(entries)}}


class ValueWriter:
    """Schema JSON for the values of one FX graph (and its subgraphs).

    Attributes
    ----------
    symbols : set
        Free sympy symbols of every symbolic expression written so far.
    shape_env : ShapeEnv or None
        The shape environment of the first symbolic value seen (for ranges).
    """

    def __init__(self) -> None:
        import torch
        from torch._export.serde import serialize

        self.torch = torch
        self._serialize = serialize
        self._dtypes = {k: v.value for k, v in serialize._TORCH_TO_SERIALIZE_DTYPE.items()}
        self._layouts = {k: v.value for k, v in serialize._TORCH_TO_SERIALIZE_LAYOUT.items()}
        self._formats = {k: v.value for k, v in serialize._TORCH_TO_SERIALIZE_MEMORY_FORMAT.items()}
        self._exprs: dict[Any, dict[str, Any]] = {}
        self._metas: dict[Any, dict[str, Any]] = {}
        self.symbols: set[Any] = set()
        self.shape_env: Any = None

    # -- symbolic values --------------------------------------------------------------
    def _expr(self, expr: Any) -> dict[str, Any]:
        out = self._exprs.get(expr)
        if out is None:
            out = self._exprs[expr] = {"as_expr": {"expr_str": self._serialize._print_sympy(expr)}}
            self.symbols.update(expr.free_symbols)
        return out

    def sym(self, s: Any, literal: str = "as_int") -> dict[str, Any]:
        """A ``SymInt``/``SymFloat``/``SymBool`` JSON value: ``{"as_int": 3}`` or ``{"as_expr": ...}``."""
        node = getattr(s, "node", None)
        if node is not None:
            expr = node.expr
            if expr.is_number and not expr.free_symbols:
                return {literal: _literal(literal, expr)}
            if self.shape_env is None:
                self.shape_env = node.shape_env
            return self._expr(expr)
        if literal == "as_float":
            return {literal: _float(float(s))}
        return {literal: bool(s) if literal == "as_bool" else int(s)}

    def tensor_meta(self, t: Any) -> dict[str, Any]:
        """The ``TensorMeta`` JSON of a tensor or FakeTensor (sizes may be symbolic)."""
        sizes, strides, offset = t.shape, t.stride(), t.storage_offset()
        key = (t.dtype, tuple(sizes), tuple(strides), offset, t.device, t.layout, t.requires_grad)
        try:
            cached = self._metas.get(key)
        except TypeError:  # a SymInt that cannot hash
            cached = None
        if cached is not None:
            return cached
        meta = {
            "dtype": self._dtypes[t.dtype],
            "sizes": [self.sym(s) for s in sizes],
            "requires_grad": bool(t.requires_grad),
            "device": {"type": t.device.type, "index": t.device.index},
            "strides": [self.sym(s) for s in strides],
            "storage_offset": self.sym(offset),
            "layout": self._layouts[t.layout],
        }
        with contextlib.suppress(TypeError):
            self._metas[key] = meta
        return meta

    def range_constraints(self) -> dict[str, dict[str, Any]]:
        """``range_constraints`` for the symbols seen, as ``torch.export`` writes them."""
        env = self.shape_env
        if env is None:
            return {}
        out = {}
        for sym in sorted(self.symbols, key=str):
            vr = env.var_to_range.get(sym)
            if vr is None:
                continue
            lo = self._serialize._sympy_int_to_int(vr.lower, "ceil")
            hi = self._serialize._sympy_int_to_int(vr.upper, "floor")
            out[str(sym)] = {"min_val": lo, "max_val": hi}
        return out

    # -- constants and references -----------------------------------------------------
    def argument(self, obj: Any, ref: Ref, where: str) -> dict[str, Any]:
        """The ``Argument`` JSON of one FX argument; ``ref`` gives the one of an ``fx.Node``."""
        torch = self.torch
        t = type(obj)
        if t is bool:
            return {"as_bool": obj}
        if t is int:
            return {"as_int": obj}
        if t is float:
            return {"as_float": _float(obj)}
        if t is str:
            return {"as_string": obj}
        if obj is None:
            return {"as_none": True}
        if isinstance(obj, torch.fx.Node):
            return ref(obj)
        if isinstance(obj, (list, tuple)):  # torch.Size and named tuples too
            return self._sequence(obj, ref, where)
        if isinstance(obj, torch.dtype):
            return {"as_scalar_type": self._dtypes[obj]}
        if isinstance(obj, torch.device):
            return {"as_device": {"type": obj.type, "index": obj.index}}
        if isinstance(obj, torch.layout):
            return {"as_layout": self._layouts[obj]}
        if isinstance(obj, torch.memory_format):
            return {"as_memory_format": self._formats[obj]}
        if isinstance(obj, enum.Enum):  # before int and str: an IntEnum is an int too
            return self._enum(obj)
        for base in (bool, int, float, str):  # subclasses of the literals
            if isinstance(obj, base):
                return self.argument(base(obj), ref, where)
        if isinstance(obj, complex):
            return {"as_complex": {"real": _float(obj.real), "imag": _float(obj.imag)}}
        if isinstance(obj, dict):
            return self._dict(obj, ref, where)
        if isinstance(obj, slice):
            return _standin(
                "slice",
                ((k, self.argument(getattr(obj, k), ref, f"{where}.{k}")) for k in ("start", "stop", "step")),
            )
        if obj is Ellipsis:
            return _standin("Ellipsis")
        if isinstance(obj, (torch.SymInt, torch.SymFloat, torch.SymBool)):
            literal = {torch.SymInt: "as_int", torch.SymFloat: "as_float", torch.SymBool: "as_bool"}[type(obj)]
            value = self.sym(obj, literal)
            if literal in value:
                return value
        elif callable(obj) and not isinstance(obj, torch.Tensor):
            return {"as_operator": callable_name(obj, where=where)}
        what = (
            "a tensor held in the argument itself"
            if isinstance(obj, torch.Tensor)
            else (f"a {t.__module__}.{t.__qualname__} object")
        )
        raise InputError(
            f"argument is {what}, which has no stable representation in a graph document; "
            "pt2canon refuses it rather than hash its address (make it a graph input, a module attribute or a constant)",
            where=where,
        )

    def _enum(self, obj: enum.Enum) -> dict[str, Any]:
        cls = type(obj)
        return _standin("enum", [("value", {"as_string": f"{cls.__module__}.{cls.__qualname__}.{obj.name}"})])

    def _dict(self, obj: dict[Any, Any], ref: Ref, where: str) -> dict[str, Any]:
        if all(type(k) is str for k in obj) and STANDIN_KEY not in obj:
            return {"as_string_to_argument": {k: self.argument(v, ref, f"{where}[{k!r}]") for k, v in obj.items()}}
        items = [
            self._sequence((k, v), ref, f"{where}[{i}]")  # keys and values alike
            for i, (k, v) in enumerate(obj.items())
        ]
        return _standin("dict", [("items", _standin("sequence", ((str(i), a) for i, a in enumerate(items))))])

    def _sequence(self, obj: Any, ref: Ref, where: str) -> dict[str, Any]:
        return self.sequence([self.argument(x, ref, f"{where}[{i}]") for i, x in enumerate(obj)])

    def sequence(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """The one ``Argument`` of a list of arguments: a typed list where the schema has one, else a stand-in."""
        if not items:
            return {"as_ints": []}
        tags = {next(iter(a)) for a in items}
        if len(tags) == 1:
            (tag,) = tags
            if tag in _LIST_OF and all(len(a) == 1 for a in items):
                list_tag, get = _LIST_OF[tag]
                return {list_tag: [get(a) for a in items]}
        if tags == {"as_tensor", "as_none"}:
            return {"as_optional_tensors": items}
        sym = _SYM_LIST.get(frozenset(tags)) or _SYM_LIST.get(frozenset(tags | {_sym_literal(tags)}))
        if sym is not None:
            list_tag, literal, ref_tag = sym
            return {list_tag: [a[ref_tag] if ref_tag in a else {literal: a[literal]} for a in items]}
        if tags == {"as_int", "as_float"}:
            return {"as_floats": [float(next(iter(a.values()))) for a in items]}
        return _standin("sequence", ((str(i), a) for i, a in enumerate(items)))


def _sym_literal(tags: set[str]) -> str:
    for literal in ("as_int", "as_float", "as_bool"):
        if f"as_sym_{literal[3:]}" in tags:
            return literal
    return ""


def _literal(literal: str, expr: Any) -> Any:
    if literal == "as_bool":
        return bool(expr)
    if literal == "as_float":
        return _float(float(expr))
    return int(expr)
