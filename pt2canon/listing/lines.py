"""One line per argument, tensor metadata and node, in the listing's grammar."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from pt2canon.errors import printable
from pt2canon.listing.expressions import expr_to_str, mono_product, symint_monomial
from pt2canon.listing.names import (
    DTYPE_ABBRS,
    DTYPE_NAMES,
    KEYWORD,
    LAYOUT_NAMES,
    MEMORY_FORMAT_NAMES,
    NONFINITE,
    STRIDED,
    VALUE_TABLE,
)

__all__ = ["format_argument", "format_meta", "format_node", "format_tensor_meta", "short_target"]

# --------------------------------------------------------------------------
# Arguments and metadata
# --------------------------------------------------------------------------


def _float(v: Any) -> str:
    if isinstance(v, str):
        return NONFINITE.get(v, repr(v))
    if isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        try:
            return repr(float(v))
        except OverflowError:
            return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    return repr(v)


def number_text(v: Any) -> str:
    return str(v) if isinstance(v, (int, float)) else repr(v)


def enum_name(table: Mapping[int, str], v: Any, kind: str) -> str:
    name = table.get(v) if isinstance(v, int) and not isinstance(v, bool) else None
    return name if name is not None else f"{kind}({v!r})"


def _device(d: Any) -> str:
    if not isinstance(d, dict):
        return repr(d)
    kind = d.get("type", "?")
    idx = d.get("index")
    return f"{kind}:{idx}" if idx is not None else str(kind)


def short_target(target: str) -> str:
    """A node target without the ``torch.ops.`` prefix.

    Examples
    --------
    >>> short_target("torch.ops.aten.add.Tensor")
    'aten.add.Tensor'
    >>> short_target("torch.ops.higher_order.cond")
    'higher_order.cond'
    >>> short_target("_operator.getitem")
    '_operator.getitem'
    """
    return target[len("torch.ops.") :] if target.startswith("torch.ops.") else target


def _ref(obj: Any) -> str:
    return f"%{obj.get('name')}" if isinstance(obj, dict) else "%?"


def _sym_arg(v: Any, literal: str, fmt: Any) -> str:
    if isinstance(v, dict):
        if "as_name" in v:
            return f"%{v['as_name']}"
        if literal in v:
            return fmt(v[literal])
    return _unknown("sym", v)


def _opt_tensor(v: Any) -> str:
    if isinstance(v, dict) and "as_tensor" in v:
        return _ref(v["as_tensor"])
    return "None"


def _unknown(tag: str, v: Any) -> str:
    return f"<{tag}: {json.dumps(v, sort_keys=True, separators=(',', ':'), default=str)}>"


def _list(items: Any, fmt: Any) -> str:
    if not isinstance(items, list):
        return _unknown("list", items)
    return "[" + ", ".join(fmt(x) for x in items) + "]"


_ARG_FORMATS: dict[str, Any] = {
    "as_none": lambda v: "None",
    "as_tensor": _ref,
    "as_tensors": lambda v: _list(v, _ref),
    "as_int": number_text,
    "as_ints": lambda v: _list(v, number_text),
    "as_float": _float,
    "as_floats": lambda v: _list(v, _float),
    "as_string": repr,
    "as_strings": lambda v: _list(v, repr),
    "as_sym_int": lambda v: _sym_arg(v, "as_int", number_text),
    "as_sym_ints": lambda v: _list(v, lambda x: _sym_arg(x, "as_int", number_text)),
    "as_sym_float": lambda v: _sym_arg(v, "as_float", _float),
    "as_sym_floats": lambda v: _list(v, lambda x: _sym_arg(x, "as_float", _float)),
    "as_sym_bool": lambda v: _sym_arg(v, "as_bool", repr),
    "as_sym_bools": lambda v: _list(v, lambda x: _sym_arg(x, "as_bool", repr)),
    "as_scalar_type": lambda v: enum_name(DTYPE_NAMES, v, "ScalarType"),
    "as_memory_format": lambda v: enum_name(MEMORY_FORMAT_NAMES, v, "MemoryFormat"),
    "as_layout": lambda v: enum_name(LAYOUT_NAMES, v, "Layout"),
    "as_device": _device,
    "as_bool": repr,
    "as_bools": lambda v: _list(v, repr),
    "as_graph": lambda v: f"@{v.get('name')}" if isinstance(v, dict) else "@?",
    "as_optional_tensors": lambda v: _list(v, _opt_tensor),
    "as_optional_tensor": _opt_tensor,
    "as_custom_obj": _ref,
    "as_token": _ref,
    "as_operator": lambda v: short_target(v) if isinstance(v, str) else _unknown("as_operator", v),
    "as_complex": lambda v: (
        f"complex({_float(v.get('real'))}, {_float(v.get('imag'))})"
        if isinstance(v, dict)
        else _unknown("as_complex", v)
    ),
    "as_nested_tensors": lambda v: _list(v, lambda row: _list(row, _ref)),
    "as_int_lists": lambda v: _list(v, lambda row: _list(row, number_text)),
    "as_float_lists": lambda v: _list(v, lambda row: _list(row, _float)),
    "as_string_to_argument": lambda v: (
        "{" + ", ".join(f"{k!r}: {format_argument(a)}" for k, a in v.items()) + "}"
        if isinstance(v, dict)
        else _unknown("as_string_to_argument", v)
    ),
}


def format_argument(arg: Mapping[str, Any]) -> str:
    """Format one serialized ``Argument`` (a one-key union dict).

    Parameters
    ----------
    arg : dict
        ``{"as_tensor": {"name": "x"}}``, ``{"as_int": 3}``, ...

    Returns
    -------
    str
        Value references as ``%name``, constants as Python-like literals;
        see the table in the module docstring.

    Examples
    --------
    >>> format_argument({"as_tensor": {"name": "x"}})
    '%x'
    >>> format_argument({"as_tensors": [{"name": "a"}, {"name": "b"}]})
    '[%a, %b]'
    >>> format_argument({"as_optional_tensors": [{"as_tensor": {"name": "a"}}, {"as_none": True}]})
    '[%a, None]'
    >>> format_argument({"as_floats": [1.0, "Infinity", "-Infinity", "NaN", 1e-05]})
    '[1.0, inf, -inf, nan, 1e-05]'
    >>> format_argument({"as_string": "constant"})
    "'constant'"
    >>> format_argument({"as_sym_ints": [{"as_name": "sym_size_int"}, {"as_int": 2}]})
    '[%sym_size_int, 2]'
    >>> format_argument({"as_scalar_type": 7}), format_argument({"as_layout": 7})
    ('torch.float32', 'torch.strided')
    >>> format_argument({"as_memory_format": 1})
    'torch.contiguous_format'
    >>> format_argument({"as_device": {"type": "cuda", "index": 0}})
    'cuda:0'
    >>> format_argument({"as_graph": {"name": "true_graph_0", "graph": {}}})
    '@true_graph_0'
    >>> format_argument({"as_complex": {"real": 1.0, "imag": -2.0}})
    'complex(1.0, -2.0)'
    >>> format_argument({"as_string_to_argument": {"k": {"as_bool": True}}})
    "{'k': True}"
    >>> format_argument({"as_future_tag": 1})
    '<as_future_tag: 1>'
    """
    if not isinstance(arg, Mapping) or not arg:
        return _unknown("argument", arg)
    tag, value = next(iter(arg.items()))
    fmt = _ARG_FORMATS.get(tag)
    if fmt is None:
        return _unknown(tag, value)
    try:
        return str(fmt(value))
    except (AttributeError, TypeError, KeyError, IndexError):
        return _unknown(tag, value)


def symint_text(symint: Any) -> str:
    if isinstance(symint, dict):
        for literal in ("as_int", "as_float", "as_bool"):
            if literal in symint:
                v = symint[literal]
                return _float(v) if literal == "as_float" else repr(v)
        expr = symint.get("as_expr")
        if isinstance(expr, dict) and isinstance(expr.get("expr_str"), str):
            return expr_to_str(expr["expr_str"])
    return "?"


def _contiguous(sizes: list[Any]) -> list[tuple[Fraction, tuple[tuple[str, int], ...]] | None]:
    out: list[tuple[Fraction, tuple[tuple[str, int], ...]] | None] = []
    acc: tuple[Fraction, tuple[tuple[str, int], ...]] | None = (Fraction(1), ())
    for s in reversed(sizes):
        out.append(acc)
        acc = None if acc is None else mono_product([acc, symint_monomial(s)])
        if acc is not None and abs(acc[0].numerator) >> 64:
            acc = None  # no real stride is past 2**64: stop multiplying (linear in the rank)
    return out[::-1]


def format_tensor_meta(meta: Mapping[str, Any] | None) -> str:
    """Format a serialized ``TensorMeta`` as ``DTYPE[SIZES]`` plus non-defaults.

    Parameters
    ----------
    meta : dict or None
        A ``tensor_values`` entry (or a payload's ``tensor_meta``).

    Returns
    -------
    str
        ``f32[3, 4]``; symbolic sizes printed readably (``f32[s77, 3]``);
        then ``{...}`` with whatever is not the default: strides other than
        the contiguous ones, a storage offset, a device other than ``cpu``,
        a layout other than strided, ``requires_grad``. ``?`` for ``None``.

    Examples
    --------
    >>> def meta(sizes, strides, **kw):
    ...     sym = lambda v: {"as_int": v} if isinstance(v, int) else {"as_expr": {"expr_str": v}}
    ...     return {"dtype": 7, "sizes": [sym(v) for v in sizes], "strides": [sym(v) for v in strides],
    ...             "requires_grad": False, "device": {"type": "cpu", "index": None},
    ...             "storage_offset": {"as_int": 0}, "layout": 7, **kw}
    >>> format_tensor_meta(meta([3, 4], [4, 1]))
    'f32[3, 4]'
    >>> format_tensor_meta(meta([], []))
    'f32[]'
    >>> s = "Symbol('s77', positive=True, integer=True)"
    >>> format_tensor_meta(meta([s, 3], [3, 1]))
    'f32[s77, 3]'
    >>> format_tensor_meta(meta([3, s], [s, 1]))
    'f32[3, s77]'
    >>> format_tensor_meta(meta([3, 4], [1, 3], storage_offset={"as_int": 4}))
    'f32[3, 4]{stride=[1, 3], offset=4}'
    >>> format_tensor_meta(meta([2], [1], dtype=5, device={"type": "cuda", "index": 0}, requires_grad=True))
    'i64[2]{device=cuda:0, requires_grad}'
    """
    if not isinstance(meta, Mapping):
        return "?"
    dtype = meta.get("dtype")
    abbr = DTYPE_ABBRS.get(dtype) if isinstance(dtype, int) else None
    head = abbr if abbr is not None else enum_name(DTYPE_NAMES, dtype, "ScalarType")
    sizes = meta.get("sizes")
    sizes = sizes if isinstance(sizes, list) else []
    text = f"{head}[{', '.join(symint_text(s) for s in sizes)}]"
    extras = []
    strides = meta.get("strides")
    if isinstance(strides, list):
        expected = _contiguous(sizes)
        actual = [symint_monomial(s) for s in strides]
        if len(strides) != len(sizes) or any(a is None or a != e for a, e in zip(actual, expected, strict=False)):
            extras.append(f"stride=[{', '.join(symint_text(s) for s in strides)}]")
    offset = meta.get("storage_offset")
    if offset is not None and symint_monomial(offset) != (Fraction(0), ()):
        extras.append(f"offset={symint_text(offset)}")
    device = meta.get("device")
    if device is not None and _device(device) != "cpu":
        extras.append(f"device={_device(device)}")
    layout = meta.get("layout", STRIDED)
    if layout != STRIDED:
        extras.append(f"layout={enum_name(LAYOUT_NAMES, layout, 'Layout')}")
    if meta.get("requires_grad"):
        extras.append("requires_grad")
    return f"{text}{{{', '.join(extras)}}}" if extras else text


def _table(values: Mapping[str, Any] | None, tag: str) -> Mapping[str, Any]:
    if not isinstance(values, Mapping):
        return {}
    table = values.get(VALUE_TABLE.get(tag, ""))
    return table if isinstance(table, Mapping) else {}


def format_value_meta(kind_table: str, meta: Any) -> str:
    if meta is None:
        return "?"
    if kind_table == "tensor_values":
        return format_tensor_meta(meta)
    if kind_table == "custom_obj_values":
        return f"CustomObj({meta.get('class_fqn', '?')})" if isinstance(meta, Mapping) else "?"
    return f"Sym({symint_text(meta)})"


def format_meta(arg: Mapping[str, Any], values: Mapping[str, Any] | None) -> str | None:
    """The metadata of the value(s) an ``Argument`` names, in the argument's shape.

    Parameters
    ----------
    arg : dict
        A serialized ``Argument`` (a node output or a graph input/output).
    values : Mapping
        The graph's value tables (``tensor_values``, ``sym_int_values``,
        ``sym_float_values``, ``sym_bool_values``, ``custom_obj_values``);
        the serialized ``Graph`` dict itself will do.

    Returns
    -------
    str or None
        ``f32[3]``, ``[f32[1], f32[1]]``, ``Sym(s77)``, ``token``; ``None``
        when the argument is a constant that names no value.

    Examples
    --------
    >>> format_meta({"as_sym_int": {"as_name": "n"}},
    ...             {"sym_int_values": {"n": {"as_expr": {"expr_str": "Symbol('s0')"}}}})
    'Sym(s0)'
    >>> format_meta({"as_int": 3}, {}) is None
    True
    """
    if not isinstance(arg, Mapping) or not arg:
        return None
    tag, v = next(iter(arg.items()))
    table = _table(values, tag)
    name = VALUE_TABLE.get(tag, "")

    def one(ref: Any) -> str:
        return format_value_meta(name, table.get(str(ref.get("name")))) if isinstance(ref, Mapping) else "?"

    def sym(ref: Any) -> str:
        if isinstance(ref, Mapping) and "as_name" in ref:
            return format_value_meta(name, table.get(ref["as_name"]))
        return symint_text(ref)

    def opt(ref: Any) -> str:
        return one(ref["as_tensor"]) if isinstance(ref, Mapping) and "as_tensor" in ref else "None"

    try:
        if tag in ("as_tensor", "as_custom_obj"):
            return one(v)
        if tag == "as_token":
            return "token"
        if tag == "as_tensors":
            return "[" + ", ".join(one(r) for r in v) + "]"
        if tag == "as_optional_tensor":
            return opt(v)
        if tag == "as_optional_tensors":
            return "[" + ", ".join(opt(r) for r in v) + "]"
        if tag == "as_nested_tensors":
            return "[" + ", ".join("[" + ", ".join(one(r) for r in row) + "]" for row in v) + "]"
        if tag in ("as_sym_int", "as_sym_float", "as_sym_bool"):
            return sym(v) if isinstance(v, Mapping) and "as_name" in v else None
        if tag in ("as_sym_ints", "as_sym_floats", "as_sym_bools"):
            return "[" + ", ".join(sym(r) for r in v) + "]"
        if tag == "as_none":
            return "None"
    except (TypeError, AttributeError, KeyError):
        return "?"
    return None


def format_node(node: Mapping[str, Any], values: Mapping[str, Any] | None) -> str:
    """The one-line listing of a serialized ``Node``.

    The line depends only on the node (target, inputs, outputs) and the
    metadata of the values it defines, never on its position, its ``name``
    or its ``metadata`` (stack traces), so it can be diffed line for line.

    Parameters
    ----------
    node : dict
        A ``graph["nodes"]`` entry.
    values : Mapping
        The graph's value tables; the serialized ``Graph`` dict will do.

    Returns
    -------
    str
        ``%add = aten.add.Tensor(%x, %y)  # f32[3, 4]``; keyword-only
        arguments as ``name=value``; several outputs as ``%a, %b = ...``; a
        node without outputs as the bare call.

    Examples
    --------
    >>> meta = lambda n: {"dtype": 7, "sizes": [{"as_int": n}], "strides": [{"as_int": 1}],
    ...                   "device": {"type": "cpu"}, "storage_offset": {"as_int": 0}, "layout": 7}
    >>> values = {"tensor_values": {"v": meta(2), "i": dict(meta(2), dtype=5)}}
    >>> node = {"target": "torch.ops.aten.max.dim", "outputs": [{"as_tensor": {"name": "v"}},
    ...         {"as_tensor": {"name": "i"}}], "inputs": [
    ...         {"name": "self", "arg": {"as_tensor": {"name": "x"}}, "kind": 1},
    ...         {"name": "dim", "arg": {"as_int": 1}, "kind": 1},
    ...         {"name": "keepdim", "arg": {"as_bool": False}, "kind": 2}]}
    >>> format_node(node, values)
    '%v, %i = aten.max.dim(%x, 1, keepdim=False)  # f32[2], i64[2]'
    """
    target = node.get("target")
    call_args = []
    for na in node.get("inputs") or ():
        if not isinstance(na, Mapping):
            call_args.append(_unknown("input", na))
            continue
        text = format_argument(na.get("arg"))  # type: ignore[arg-type]
        if na.get("kind") == KEYWORD and na.get("name"):
            text = f"{na['name']}={text}"
        call_args.append(text)
    call = f"{short_target(target) if isinstance(target, str) else _unknown('target', target)}({', '.join(call_args)})"
    outputs = [o for o in node.get("outputs") or () if isinstance(o, Mapping)]
    if not outputs:
        return printable(call)
    results = ", ".join(format_argument(o) for o in outputs)
    metas = [format_meta(o, values) for o in outputs]
    line = f"{results} = {call}"
    if any(m is not None for m in metas):
        line += "  # " + ", ".join(m if m is not None else "-" for m in metas)
    return printable(line)
