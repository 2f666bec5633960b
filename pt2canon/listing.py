"""The FX-like listing of a serialized exported program: one line per node.

Everything here works on the parsed JSON of a serialized ``ExportedProgram``
(``Model.program``) and its ``Graph`` dicts; neither torch, sympy nor
networkx is imported. :func:`format_node` gives a node's line from the node
and the value metadata alone, so the diff renderer can reuse it line for
line. :func:`generate_listing` yields a whole program, :func:`listing_json`
the machine-readable form of an artifact (``pt2canon show --json``).

Grammar
-------
A listing is a sequence of lines (``⏎`` ends each; ``INDENT`` is four spaces
per level; ``[x]`` is optional, ``x*`` repeated, ``|`` alternatives)::

    listing     := header inputs outputs graph [ranges] [payloads("weights")]
                   [payloads("constants")]
    header      := "model: " NAME ⏎
                   "torch: " TORCH_VERSION ⏎
                   "schema: " MAJOR "." MINOR ⏎
                   "opset: " (NAMESPACE "=" INT) joined by ", " | "-" ⏎
                   ["verifiers: " NAME joined by ", " ⏎]
                   ["archive: " (KEY "=" VALUE) joined by " " ⏎]
    inputs      := "inputs:" ⏎ (INDENT spec ⏎)*
    outputs     := "outputs:" ⏎ (INDENT spec ⏎)*
    spec        := argument ": " KIND [" " FQN] [" [non-persistent]"] ["  " meta]
                 | NAME ": constant_input = " argument
    graph       := "graph:" ⏎ body(1)
    body(d)     := (INDENT*d node_line ⏎ subgraph(d+1)*)* INDENT*d return ⏎
    subgraph(d) := INDENT*d "@" NAME ":" ⏎ (INDENT*(d+1) input ⏎)* body(d+1)
    input       := argument ": input" ["  " meta]
    return      := "return (" argument joined by ", " [","] ")"   # Python tuple
                 | "return " argument            # is_single_tensor_return
    node_line   := [results " = "] TARGET "(" call_args ")" ["  # " metas]
    results     := argument joined by ", "       # one per node output
    call_args   := (argument | ARG_NAME "=" argument) joined by ", "
    metas       := meta-of-output joined by ", " # same shape as results; "-"
                                                 # for an output naming no value
    ranges      := "range_constraints:" ⏎ (INDENT SYMBOL ": [" LO ", " HI "]" ⏎)*
    payloads(w) := w ": " COUNT (" entry" | " entries") ", " SIZE ⏎
                   (INDENT FQN ": " (meta | "pickle" | "?") "  " SIZE ⏎)*
                   [INDENT "... " N " more (" SIZE ")" HINT ⏎]   # past the largest

The ``weights`` section is there when weights are passed (``show`` passes
them unless ``--no-weights``), even if empty; ``constants`` only when there
are any. ``TARGET`` is the node target without its ``torch.ops.`` prefix
(``aten.add.Tensor``, ``higher_order.cond``). An argument is keyword-only
(``name=value``) when its ``NamedArgument.kind`` is 2 (``KEYWORD``). Unbounded
range ends print as ``-int_oo`` / ``int_oo``. ``SIZE`` is ``N B`` below 1 KiB,
else one decimal and a binary unit (``1.5 KiB``, ``12.0 MiB``). Subgraphs of
higher-order ops (``as_graph`` arguments, written ``@name`` in the call) are
listed right below the node that uses them, one level deeper, recursively.
Node names and node metadata (stack traces) are not shown.

Arguments (:func:`format_argument`), by union tag of ``Argument``:

=================================  =========================================
value references (tensor, sym,     ``%name``; ``None`` for an absent optional
custom object, token)              tensor; ``3`` for a literal sym int
ints, bools, ``None``              ``3``, ``True``, ``None``
floats                             ``2.0``, ``1e-05``, ``inf``, ``-inf``, ``nan``
strings                            Python literal: ``'constant'``
lists, nested lists                ``[1, 2]``, ``[[%a, %b], [%c]]``
dtype / layout / memory format     ``torch.float32`` / ``torch.strided`` /
                                   ``torch.contiguous_format``
device                             ``cpu``, ``cuda:0``
subgraph                           ``@true_graph_0``
operator                           ``aten.add.Tensor`` (no ``torch.ops.``)
complex                            ``complex(1.0, -2.0)``
string-to-argument dict            ``{'key': %x, 'other': 1}`` (document order)
anything else                      ``<as_tag: {compact JSON}>``
=================================  =========================================

Metadata (``meta``): a tensor is ``DTYPE[SIZES]`` (:func:`format_tensor_meta`,
``f32[s77, 3]``, ``i64[]``), followed by ``{...}`` listing only what differs
from the default — ``stride=[...]`` (when not the contiguous strides of the
sizes), ``offset=N``, ``device=cuda:0``, ``layout=torch.sparse_coo``,
``requires_grad`` — as in ``f32[1, 4]{offset=4}``. A sym int, float or bool
is ``Sym(EXPR)``, a custom object ``CustomObj(CLASS_FQN)``, a token
``token``, a tensor list ``[meta, ...]`` and unknown metadata ``?``.
Symbolic expressions are printed like sympy's ``str`` (``2*s77 + 1``,
``(s77//2)``, ``s77 >= 2``) by a small converter of sympy's ``srepr`` text
that parses with :mod:`ast` and never evaluates anything; text it does not
understand is printed as it stands.

Examples
--------
>>> graph = {
...     "inputs": [{"as_tensor": {"name": "x"}}],
...     "outputs": [{"as_tensor": {"name": "add"}}],
...     "nodes": [{"target": "torch.ops.aten.add.Tensor", "name": "add", "metadata": {},
...                "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}, "kind": 1},
...                           {"name": "other", "arg": {"as_tensor": {"name": "x"}}, "kind": 1},
...                           {"name": "alpha", "arg": {"as_int": 2}, "kind": 2}],
...                "outputs": [{"as_tensor": {"name": "add"}}]}],
...     "tensor_values": {n: {"dtype": 7, "sizes": [{"as_int": 3}], "strides": [{"as_int": 1}],
...                           "requires_grad": False, "device": {"type": "cpu", "index": None},
...                           "storage_offset": {"as_int": 0}, "layout": 7} for n in ("x", "add")},
... }
>>> program = {
...     "graph_module": {"graph": graph, "module_call_graph": [], "signature": {
...         "input_specs": [{"user_input": {"arg": {"as_tensor": {"name": "x"}}}}],
...         "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": "add"}}}}]}},
...     "opset_version": {"aten": 10}, "range_constraints": {},
...     "schema_version": {"major": 8, "minor": 20}, "torch_version": "2.13.0",
... }
>>> print("\\n".join(generate_listing(program)))
model: model
torch: 2.13.0
schema: 8.20
opset: aten=10
inputs:
    %x: user_input  f32[3]
outputs:
    %add: user_output  f32[3]
graph:
    %add = aten.add.Tensor(%x, %x, alpha=2)  # f32[3]
    return (%add,)
"""

from __future__ import annotations

import ast
import functools
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any, TextIO

from pt2canon.errors import SchemaError, printable
from pt2canon.serde.expr import parse_tree
from pt2canon.serde.tags import REF_KINDS, VALUE_TABLES, iter_refs

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.serde.archive import Artifact, Payload

__all__ = [
    "DTYPE_ABBRS",
    "DTYPE_NAMES",
    "LAYOUT_NAMES",
    "LISTING_JSON_VERSION",
    "MEMORY_FORMAT_NAMES",
    "expr_to_str",
    "format_argument",
    "format_meta",
    "format_node",
    "format_return",
    "format_size",
    "format_tensor_meta",
    "generate_graph_body",
    "generate_listing",
    "generate_subgraph_header",
    "listing_json",
    "short_target",
    "write_listing",
]

#: Version of the :func:`listing_json` structure; bumped on incompatible changes.
LISTING_JSON_VERSION = 1

#: ``ScalarType`` enum value (torch/_export/serde/schema.py) -> torch dtype name.
DTYPE_NAMES: dict[int, str] = {
    1: "torch.uint8",
    2: "torch.int8",
    3: "torch.int16",
    4: "torch.int32",
    5: "torch.int64",
    6: "torch.float16",
    7: "torch.float32",
    8: "torch.float64",
    9: "torch.complex32",
    10: "torch.complex64",
    11: "torch.complex128",
    12: "torch.bool",
    13: "torch.bfloat16",
    28: "torch.uint16",
    29: "torch.float8_e4m3fn",
    30: "torch.float8_e5m2",
    31: "torch.float8_e4m3fnuz",
    32: "torch.float8_e5m2fnuz",
    33: "torch.float8_e8m0fnu",
    34: "torch.uint32",
    35: "torch.uint64",
}

#: ``ScalarType`` enum value -> the short name torch prints in graphs (``dtype.abbr``).
DTYPE_ABBRS: dict[int, str] = {
    1: "u8",
    2: "i8",
    3: "i16",
    4: "i32",
    5: "i64",
    6: "f16",
    7: "f32",
    8: "f64",
    9: "c32",
    10: "c64",
    11: "c128",
    12: "b8",
    13: "bf16",
    28: "u16",
    29: "f8e4m3fn",
    30: "f8e5m2",
    31: "f8e4m3fnuz",
    32: "f8e5m2fnuz",
    33: "f8e8m0fnu",
    34: "u32",
    35: "u64",
}

#: ``Layout`` enum value -> torch layout name.
LAYOUT_NAMES: dict[int, str] = {
    1: "torch.sparse_coo",
    2: "torch.sparse_csr",
    3: "torch.sparse_csc",
    4: "torch.sparse_bsr",
    5: "torch.sparse_bsc",
    6: "torch._mkldnn",
    7: "torch.strided",
}

#: ``MemoryFormat`` enum value -> torch memory format name.
MEMORY_FORMAT_NAMES: dict[int, str] = {
    1: "torch.contiguous_format",
    2: "torch.channels_last",
    3: "torch.channels_last_3d",
    4: "torch.preserve_format",
}

_STRIDED = 7
_KEYWORD = 2
_INDENT = "    "
_NONFINITE = {"Infinity": "inf", "-Infinity": "-inf", "NaN": "nan"}
#: Union tag -> the graph table holding the metadata of the value it names.
_VALUE_TABLE = {tag: VALUE_TABLES[kind] for tag, kind in REF_KINDS.items() if kind in VALUE_TABLES}


# --------------------------------------------------------------------------
# Symbolic expressions: sympy srepr text -> sympy-like str, without sympy.
# --------------------------------------------------------------------------

# sympy's printing precedences (sympy/printing/precedence.py).
_P_OR, _P_AND, _P_REL, _P_ADD, _P_MUL, _P_POW, _P_FUNC, _P_NOT, _P_ATOM = 20, 30, 35, 40, 50, 60, 70, 100, 1000
_RELATIONS = {
    "StrictLessThan": "<",
    "LessThan": "<=",
    "StrictGreaterThan": ">",
    "GreaterThan": ">=",
}
_EQUALITIES = {"Equality": "Eq", "Unequality": "Ne"}
_NAMED_NUMBERS = {
    "One": "1",
    "Zero": "0",
    "NegativeOne": "-1",
    "Half": "1/2",
    "Infinity": "oo",
    "NegativeInfinity": "-oo",
    "IntInfinity": "int_oo",
    "NegativeIntInfinity": "-int_oo",
    "BooleanTrue": "True",
    "BooleanFalse": "False",
    "NaN": "nan",
}
_BARE_NAMES = {"true": "True", "false": "False", "oo": "oo", "zoo": "zoo", "nan": "nan", "int_oo": "int_oo"}


class _Unparsable(Exception):
    """The expression uses a form the converter does not know."""


def _lit(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, str)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _lit(node.operand)
        if isinstance(inner, int):
            return -inner
    raise _Unparsable


def _number(node: ast.AST) -> Fraction | str | None:
    """A numeric literal node as a Fraction (exact) or a float's text; else ``None``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name, args = node.func.id, node.args
        if name == "Integer" and len(args) == 1:
            return Fraction(_lit(args[0]))
        if name == "Rational" and len(args) == 2:
            den = _lit(args[1])
            if not isinstance(den, int) or den == 0:
                raise _Unparsable
            return Fraction(_lit(args[0]), den)
        if name == "Float" and args:
            text = _lit(args[0])
            if isinstance(text, str):
                try:
                    float(text)
                except ValueError:
                    raise _Unparsable from None
                return text
            return str(text)
        if name in ("One", "Zero", "NegativeOne", "Half") and not args:
            return Fraction(_NAMED_NUMBERS[name])
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return Fraction(node.value)
    return None


def _frac_text(q: Fraction) -> tuple[str, int]:
    if q.denominator == 1:
        return str(q.numerator), (_P_ADD if q < 0 else _P_ATOM)
    return f"{q.numerator}/{q.denominator}", (_P_ADD if q < 0 else _P_MUL)


def _paren(item: tuple[str, int], level: int, *, strict: bool = False) -> str:
    text, prec = item
    if prec < level or (strict and prec <= level):
        return f"({text})"
    return text


def _render(node: ast.AST) -> tuple[str, int]:
    """Render one srepr node as ``(text, precedence)``."""
    num = _number(node)
    if isinstance(num, Fraction):
        return _frac_text(num)
    if isinstance(num, str):
        return num, (_P_ADD if num.startswith("-") else _P_ATOM)
    if isinstance(node, ast.Name):
        return _BARE_NAMES.get(node.id, node.id), _P_ATOM
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        text = _paren(_render(node.operand), _P_MUL)
        return f"-{text}", _P_ADD
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise _Unparsable
    name, args = node.func.id, node.args
    if name in ("Symbol", "Dummy"):
        if len(args) != 1 or not isinstance(_lit(args[0]), str):
            raise _Unparsable
        return _lit(args[0]), _P_ATOM
    if name in _NAMED_NUMBERS and not args:
        text = _NAMED_NUMBERS[name]
        return text, (_P_ADD if text.startswith("-") else _P_ATOM)
    if not args:
        raise _Unparsable
    if name == "Add":
        return _render_add(args)
    if name == "Mul":
        return _render_mul(args)
    if name == "Pow" and len(args) == 2:
        return _render_pow(args[0], args[1])
    if name in _RELATIONS and len(args) == 2:
        lhs, rhs = (_paren(_render(a), _P_REL, strict=True) for a in args)
        return f"{lhs} {_RELATIONS[name]} {rhs}", _P_REL
    if name in ("And", "Or"):
        level, op = (_P_AND, " & ") if name == "And" else (_P_OR, " | ")
        return op.join(_paren(_render(a), _P_FUNC) for a in args), level
    if name == "Not" and len(args) == 1:
        return f"~{_paren(_render(args[0]), _P_NOT)}", _P_NOT
    if name == "FloorDiv" and len(args) == 2:
        base, div = (_paren(_render(a), _P_ATOM) for a in args)
        return f"({base}//{div})", _P_ATOM
    fname = _EQUALITIES.get(name, name)
    return f"{fname}({', '.join(_render(a)[0] for a in args)})", _P_FUNC


def _render_add(args: list[ast.expr]) -> tuple[str, int]:
    parts: list[str] = []
    for i, a in enumerate(args):
        text = _paren(_render(a), _P_ADD)
        if i == 0:
            parts.append(text)
        elif text.startswith("-"):
            parts.append(f" - {text[1:]}")
        else:
            parts.append(f" + {text}")
    return "".join(parts), _P_ADD


def _render_mul(args: list[ast.expr]) -> tuple[str, int]:
    coef = Fraction(1)
    floats: list[str] = []
    num: list[str] = []
    den: list[tuple[str, int]] = []
    for a in args:
        n = _number(a)
        if isinstance(n, Fraction):
            coef *= n
            continue
        if isinstance(n, str):
            if n.startswith("-"):
                coef, n = -coef, n[1:]
            floats.append(n)
            continue
        if isinstance(a, ast.Call) and isinstance(a.func, ast.Name) and a.func.id == "Pow" and len(a.args) == 2:
            e = _number(a.args[1])
            if isinstance(e, Fraction) and e < 0 and e.denominator == 1:
                base = _render(a.args[0])
                den.append(base if e == -1 else (f"{_paren(base, _P_POW, strict=True)}**{-e}", _P_POW))
                continue
        num.append(_paren(_render(a), _P_MUL))
    sign = "-" if coef < 0 else ""
    coef = abs(coef)
    head = floats + ([str(coef.numerator)] if coef.numerator != 1 or not (num or floats) else [])
    numerator = "*".join(head + num)
    if coef.denominator != 1:
        den.insert(0, (str(coef.denominator), _P_ATOM))
    if not den:
        return f"{sign}{numerator}", (_P_ADD if sign else _P_MUL)
    several = "(" + "*".join(_paren(d, _P_MUL) for d in den) + ")"
    denominator = _paren(den[0], _P_POW) if len(den) == 1 else several
    return f"{sign}{numerator}/{denominator}", (_P_ADD if sign else _P_MUL)


def _render_pow(base: ast.expr, exp: ast.expr) -> tuple[str, int]:
    e = _number(exp)
    if e == Fraction(1, 2):
        return f"sqrt({_render(base)[0]})", _P_FUNC
    if e == Fraction(-1):
        return f"1/{_paren(_render(base), _P_POW, strict=True)}", _P_MUL
    b = _paren(_render(base), _P_POW, strict=True)
    x = _paren(_render(exp), _P_ATOM)
    return f"{b}**{x}", _P_POW


@functools.lru_cache(maxsize=4096)
def expr_to_str(expr: str) -> str:
    """Print a symbolic expression as sympy's ``str`` would, without sympy.

    torch 2.13 writes ``SymExpr.expr_str`` as sympy ``srepr`` text. The text
    is parsed with :func:`ast.parse` and walked; nothing is evaluated, so
    untrusted input is safe. Text the converter does not understand (plain
    ``str`` output of older torch, unknown forms) is returned unchanged.

    Parameters
    ----------
    expr : str
        The ``expr_str`` of a ``SymExpr``, or a range-constraint symbol.

    Returns
    -------
    str

    Examples
    --------
    >>> expr_to_str("Symbol('s77', positive=True, integer=True)")
    's77'
    >>> expr_to_str("Add(Mul(Integer(2), Symbol('s77', positive=True, integer=True)), Integer(1))")
    '2*s77 + 1'
    >>> expr_to_str("Add(Integer(3), Mul(Integer(-1), Symbol('s0')))")
    '3 - s0'
    >>> expr_to_str("Mul(Rational(1, 2), Symbol('s0'), Symbol('s1'))")
    's0*s1/2'
    >>> expr_to_str("FloorDiv(Add(Symbol('s0'), Integer(1)), Integer(2))")
    '((s0 + 1)//2)'
    >>> expr_to_str("GreaterThan(Symbol('s0'), Integer(2))")
    's0 >= 2'
    >>> expr_to_str("2*s0 + 1")  # not srepr: kept as it stands
    '2*s0 + 1'
    >>> expr_to_str("__import__('os').system('x')")  # never evaluated
    "__import__('os').system('x')"
    """
    try:
        return _render(parse_tree(expr).body)[0]
    except (_Unparsable, SchemaError, ValueError, TypeError, RecursionError, MemoryError, ZeroDivisionError):
        return expr


@functools.lru_cache(maxsize=4096)
def _monomial(expr: str) -> tuple[Fraction, tuple[tuple[str, int], ...]] | None:
    """``coef * prod(sym**k)`` of an srepr product of symbols, or ``None``."""
    try:
        return _mono(parse_tree(expr).body)
    except (_Unparsable, SchemaError, ValueError, TypeError, RecursionError, MemoryError, ZeroDivisionError):
        return None


def _mono(node: ast.AST) -> tuple[Fraction, tuple[tuple[str, int], ...]] | None:
    n = _number(node)
    if isinstance(n, Fraction):
        return n, ()
    if isinstance(node, ast.Name):
        return Fraction(1), ((node.id, 1),)
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return None
    name, args = node.func.id, node.args
    if name == "Symbol" and len(args) == 1 and isinstance(_lit(args[0]), str):
        return Fraction(1), ((_lit(args[0]), 1),)
    if name == "Pow" and len(args) == 2:
        base, e = _mono(args[0]), _number(args[1])
        if base is None or not isinstance(e, Fraction) or e.denominator != 1 or e < 0 or base[0] != 1:
            return None
        return Fraction(1), tuple((s, k * int(e)) for s, k in base[1])
    if name == "Mul":
        return _mono_product([_mono(a) for a in args])
    return None


def _mono_product(
    parts: Iterable[tuple[Fraction, tuple[tuple[str, int], ...]] | None],
) -> tuple[Fraction, tuple[tuple[str, int], ...]] | None:
    coef = Fraction(1)
    powers: dict[str, int] = {}
    for p in parts:
        if p is None:
            return None
        coef *= p[0]
        for s, k in p[1]:
            powers[s] = powers.get(s, 0) + k
    return coef, tuple(sorted((s, k) for s, k in powers.items() if k))


def _sym_mono(symint: Any) -> tuple[Fraction, tuple[tuple[str, int], ...]] | None:
    if not isinstance(symint, dict):
        return None
    if "as_int" in symint and isinstance(symint["as_int"], int):
        return Fraction(symint["as_int"]), ()
    expr = symint.get("as_expr")
    if isinstance(expr, dict) and isinstance(expr.get("expr_str"), str):
        return _monomial(expr["expr_str"])
    return None


# --------------------------------------------------------------------------
# Arguments and metadata
# --------------------------------------------------------------------------


def _float(v: Any) -> str:
    if isinstance(v, str):
        return _NONFINITE.get(v, repr(v))
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


def _int(v: Any) -> str:
    return str(v) if isinstance(v, (int, float)) else repr(v)


def _enum(table: Mapping[int, str], v: Any, kind: str) -> str:
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
    "as_int": _int,
    "as_ints": lambda v: _list(v, _int),
    "as_float": _float,
    "as_floats": lambda v: _list(v, _float),
    "as_string": repr,
    "as_strings": lambda v: _list(v, repr),
    "as_sym_int": lambda v: _sym_arg(v, "as_int", _int),
    "as_sym_ints": lambda v: _list(v, lambda x: _sym_arg(x, "as_int", _int)),
    "as_sym_float": lambda v: _sym_arg(v, "as_float", _float),
    "as_sym_floats": lambda v: _list(v, lambda x: _sym_arg(x, "as_float", _float)),
    "as_sym_bool": lambda v: _sym_arg(v, "as_bool", repr),
    "as_sym_bools": lambda v: _list(v, lambda x: _sym_arg(x, "as_bool", repr)),
    "as_scalar_type": lambda v: _enum(DTYPE_NAMES, v, "ScalarType"),
    "as_memory_format": lambda v: _enum(MEMORY_FORMAT_NAMES, v, "MemoryFormat"),
    "as_layout": lambda v: _enum(LAYOUT_NAMES, v, "Layout"),
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
    "as_int_lists": lambda v: _list(v, lambda row: _list(row, _int)),
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


def _sym_text(symint: Any) -> str:
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
        acc = None if acc is None else _mono_product([acc, _sym_mono(s)])
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
    head = abbr if abbr is not None else _enum(DTYPE_NAMES, dtype, "ScalarType")
    sizes = meta.get("sizes")
    sizes = sizes if isinstance(sizes, list) else []
    text = f"{head}[{', '.join(_sym_text(s) for s in sizes)}]"
    extras = []
    strides = meta.get("strides")
    if isinstance(strides, list):
        expected = _contiguous(sizes)
        actual = [_sym_mono(s) for s in strides]
        if len(strides) != len(sizes) or any(a is None or a != e for a, e in zip(actual, expected, strict=False)):
            extras.append(f"stride=[{', '.join(_sym_text(s) for s in strides)}]")
    offset = meta.get("storage_offset")
    if offset is not None and _sym_mono(offset) != (Fraction(0), ()):
        extras.append(f"offset={_sym_text(offset)}")
    device = meta.get("device")
    if device is not None and _device(device) != "cpu":
        extras.append(f"device={_device(device)}")
    layout = meta.get("layout", _STRIDED)
    if layout != _STRIDED:
        extras.append(f"layout={_enum(LAYOUT_NAMES, layout, 'Layout')}")
    if meta.get("requires_grad"):
        extras.append("requires_grad")
    return f"{text}{{{', '.join(extras)}}}" if extras else text


def _table(values: Mapping[str, Any] | None, tag: str) -> Mapping[str, Any]:
    if not isinstance(values, Mapping):
        return {}
    table = values.get(_VALUE_TABLE.get(tag, ""))
    return table if isinstance(table, Mapping) else {}


def _value_meta(kind_table: str, meta: Any) -> str:
    if meta is None:
        return "?"
    if kind_table == "tensor_values":
        return format_tensor_meta(meta)
    if kind_table == "custom_obj_values":
        return f"CustomObj({meta.get('class_fqn', '?')})" if isinstance(meta, Mapping) else "?"
    return f"Sym({_sym_text(meta)})"


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
    name = _VALUE_TABLE.get(tag, "")

    def one(ref: Any) -> str:
        return _value_meta(name, table.get(str(ref.get("name")))) if isinstance(ref, Mapping) else "?"

    def sym(ref: Any) -> str:
        if isinstance(ref, Mapping) and "as_name" in ref:
            return _value_meta(name, table.get(ref["as_name"]))
        return _sym_text(ref)

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
        if na.get("kind") == _KEYWORD and na.get("name"):
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


# --------------------------------------------------------------------------
# Whole programs
# --------------------------------------------------------------------------


def format_size(n: int) -> str:
    """A byte count for people: ``N B`` below 1 KiB, else one decimal and a binary unit.

    Examples
    --------
    >>> format_size(48), format_size(1536), format_size(3 << 20)
    ('48 B', '1.5 KiB', '3.0 MiB')
    """
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1024 or unit == "TiB":
            break
    return f"{size:.1f} {unit}"


def _spec(spec: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    if isinstance(spec, Mapping) and spec:
        kind, body = next(iter(spec.items()))
        return str(kind), body if isinstance(body, Mapping) else {}
    return "?", {}


_SPEC_TARGET = (
    "parameter_name",
    "buffer_name",
    "tensor_constant_name",
    "custom_obj_name",
    "user_input_name",
)


def _spec_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Kind, argument, target FQN and flags of an input or output spec."""
    kind, body = _spec(spec)
    arg = body.get("arg")
    if kind in ("parameter", "buffer", "tensor_constant", "custom_obj", "token", "loss_output") or (
        kind.endswith("_mutation") or kind.startswith("gradient_to_")
    ):
        # These hold a TensorArgument/TokenArgument/CustomObjArgument, not an Argument union.
        tag = {"custom_obj": "as_custom_obj", "token": "as_token"}.get(kind, "as_tensor")
        arg = {tag: arg} if isinstance(arg, Mapping) and "name" in arg else arg
    target = next((body[k] for k in _SPEC_TARGET if k in body), None)
    out: dict[str, Any] = {"kind": kind, "arg": arg if isinstance(arg, Mapping) else None, "target": target}
    if kind == "buffer":
        out["persistent"] = bool(body.get("persistent", True))
    if kind == "constant_input":
        out["name"] = body.get("name")
        value = body.get("value")
        out["value"] = format_argument(value) if isinstance(value, Mapping) else "?"
    return out


def _spec_line(fields: Mapping[str, Any], values: Mapping[str, Any]) -> str:
    kind = fields["kind"]
    if kind == "constant_input":
        return f"{fields['name']}: constant_input = {fields['value']}"
    arg = fields["arg"]
    text = f"{format_argument(arg) if arg is not None else '?'}: {kind}"
    if fields["target"] is not None:
        text += f" {fields['target']}"
    if fields.get("persistent") is False:
        text += " [non-persistent]"
    meta = format_meta(arg, values) if arg is not None else None
    if meta is not None and kind != "token":
        text += f"  {meta}"
    return text


def format_return(graph: Mapping[str, Any]) -> str:
    """The ``return ...`` line of a serialized graph (a tuple unless the graph returns one tensor)."""
    outs = [format_argument(o) for o in graph.get("outputs") or ()]
    if graph.get("is_single_tensor_return") and len(outs) == 1:
        return printable(f"return {outs[0]}")
    if len(outs) == 1:
        return printable(f"return ({outs[0]},)")
    return printable(f"return ({', '.join(outs)})")


def _subgraphs(node: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for na in node.get("inputs") or ():
        arg = na.get("arg") if isinstance(na, Mapping) else None
        if isinstance(arg, Mapping) and "as_graph" in arg and isinstance(arg["as_graph"], Mapping):
            ga = arg["as_graph"]
            if isinstance(ga.get("graph"), Mapping):
                yield str(ga.get("name")), ga["graph"]


def generate_subgraph_header(name: str, graph: Mapping[str, Any], depth: int) -> Iterator[str]:
    """Yield the ``@name:`` line of a subgraph and one line per input, indented ``depth`` levels."""
    yield printable(f"{_INDENT * depth}@{name}:")
    for arg in graph.get("inputs") or ():
        meta = format_meta(arg, graph)
        yield printable(
            f"{_INDENT * (depth + 1)}{format_argument(arg)}: input" + (f"  {meta}" if meta is not None else "")
        )


def generate_graph_body(graph: Mapping[str, Any], depth: int) -> Iterator[str]:
    """Yield a graph's node lines, subgraphs nested under their node, and its return line."""
    pad = _INDENT * depth
    for node in graph.get("nodes") or ():
        yield pad + format_node(node, graph)
        for name, sub in _subgraphs(node):
            yield from generate_subgraph_header(name, sub, depth + 1)
            yield from generate_graph_body(sub, depth + 2)
    yield pad + format_return(graph)


def _range(v: Any, default: str) -> str:
    return default if v is None else _int(v)


def _payload_meta(p: Payload) -> str:
    if p.tensor_meta is not None:
        return format_tensor_meta(p.tensor_meta)
    return "pickle" if p.use_pickle else "?"


def _payload_lines(title: str, payloads: Mapping[str, Payload], largest: int | None, hint: str) -> Iterator[str]:
    total = sum(p.size for p in payloads.values())
    yield f"{title}: {len(payloads)} {'entry' if len(payloads) == 1 else 'entries'}, {format_size(total)}"
    ranked = sorted(payloads.items(), key=lambda kv: (-kv[1].size, kv[0]))
    shown = ranked if largest is None else ranked[:largest]
    for fqn, p in shown:
        yield f"{_INDENT}{fqn}: {_payload_meta(p)}  {format_size(p.size)}"
    if len(ranked) > len(shown):
        rest = format_size(sum(p.size for _, p in ranked[len(shown) :]))
        yield f"{_INDENT}... {len(ranked) - len(shown)} more ({rest}){hint}"


def _version(program: Mapping[str, Any]) -> tuple[str, str, str]:
    sv = program.get("schema_version")
    schema = f"{sv.get('major', '?')}.{sv.get('minor', '?')}" if isinstance(sv, Mapping) else "?"
    opset = program.get("opset_version")
    ops = ", ".join(f"{k}={v}" for k, v in sorted(opset.items())) if isinstance(opset, Mapping) and opset else "-"
    return str(program.get("torch_version", "?")), schema, ops


def _graph_module(program: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    gm = program.get("graph_module") or {}
    return gm.get("graph") or {}, gm.get("signature") or {}


def generate_listing(
    program: Mapping[str, Any],
    *,
    weights: Mapping[str, Payload] | None = None,
    constants: Mapping[str, Payload] | None = None,
    info: Mapping[str, str] | None = None,
    name: str = "model",
    largest: int | None = 5,
    more_hint: str = "",
) -> Iterator[str]:
    """Yield the lines of a whole program's listing (grammar in the module docstring).

    Control characters in archive text (names, targets, versions) are
    escaped (:func:`pt2canon.errors.printable`): every line is one line.

    Parameters
    ----------
    program : dict
        A serialized ``ExportedProgram`` (``Model.program``).
    weights, constants : Mapping[str, Payload], optional
        ``Model.weights`` / ``Model.constants``; a summary section (count,
        total size, the ``largest`` biggest) follows for weights when they
        are given, for constants when there are any.
    info : Mapping[str, str], optional
        ``Artifact.info`` (archive format, version, byte order).
    name : str
        The model name shown in the header.
    largest : int or None
        How many of the biggest payloads the summaries list (``None``: all);
        a line ``... N more (SIZE)`` counts the others.
    more_hint : str
        Text ending that line (``show`` says how to list them all).

    Yields
    ------
    str
        One line at a time, without line ends.
    Examples
    --------
    >>> from pt2canon.serde.archive import Payload
    >>> meta = {"dtype": 7, "sizes": [{"as_int": 3}], "strides": [{"as_int": 1}],
    ...         "device": {"type": "cpu"}, "storage_offset": {"as_int": 0}, "layout": 7}
    >>> graph = {"inputs": [{"as_tensor": {"name": "p_w"}}], "nodes": [],
    ...          "outputs": [{"as_tensor": {"name": "p_w"}}], "tensor_values": {"p_w": meta}}
    >>> program = {"graph_module": {"graph": graph, "signature": {
    ...     "input_specs": [{"parameter": {"arg": {"name": "p_w"}, "parameter_name": "w"}}],
    ...     "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": "p_w"}}}}]}},
    ...     "range_constraints": {"s0": {"min_val": 2, "max_val": None}},
    ...     "schema_version": {"major": 8, "minor": 20}, "torch_version": "2.13.0", "opset_version": {}}
    >>> w = {"w": Payload("w", "weight", "weight_0", "m/data/weights/weight_0", 12, True, False, meta)}
    >>> for line in generate_listing(program, weights=w, info={"archive_version": "0"}, name="m"):
    ...     print(line)
    model: m
    torch: 2.13.0
    schema: 8.20
    opset: -
    archive: archive_version=0
    inputs:
        %p_w: parameter w  f32[3]
    outputs:
        %p_w: user_output  f32[3]
    graph:
        return (%p_w,)
    range_constraints:
        s0: [2, int_oo]
    weights: 1 entry, 12 B
        w: f32[3]  12 B
    """

    def lines() -> Iterator[str]:
        graph, signature = _graph_module(program)
        torch_version, schema, opset = _version(program)
        yield f"model: {name}"
        yield f"torch: {torch_version}"
        yield f"schema: {schema}"
        yield f"opset: {opset}"
        verifiers = program.get("verifiers")
        if verifiers:
            yield f"verifiers: {', '.join(str(v) for v in verifiers)}"
        if info:
            yield "archive: " + " ".join(f"{k}={v}" for k, v in info.items())
        yield "inputs:"
        for spec in signature.get("input_specs") or ():
            yield _INDENT + _spec_line(_spec_fields(spec), graph)
        yield "outputs:"
        for spec in signature.get("output_specs") or ():
            yield _INDENT + _spec_line(_spec_fields(spec), graph)
        yield "graph:"
        yield from generate_graph_body(graph, 1)
        ranges = program.get("range_constraints")
        if isinstance(ranges, Mapping) and ranges:
            yield "range_constraints:"
            for sym, rc in ranges.items():
                rc = rc if isinstance(rc, Mapping) else {}
                yield f"{_INDENT}{expr_to_str(sym)}: [{_range(rc.get('min_val'), '-int_oo')}, {_range(rc.get('max_val'), 'int_oo')}]"
        if weights is not None:
            yield from _payload_lines("weights", weights, largest, more_hint)
        if constants:
            yield from _payload_lines("constants", constants, largest, more_hint)

    for line in lines():
        yield printable(line)


def write_listing(program: Mapping[str, Any], file: TextIO, **kwargs: Any) -> None:
    """Write :func:`generate_listing` to a text file, one line each.

    Parameters
    ----------
    program : dict
        A serialized ``ExportedProgram``.
    file : TextIO
        Where to write.
    **kwargs
        Passed on to :func:`generate_listing`.

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> write_listing({"graph_module": {"graph": {"nodes": [], "outputs": []}}}, buf)
    >>> buf.getvalue().splitlines()[-1]
    '    return ()'
    """
    for line in generate_listing(program, **kwargs):
        file.write(line)
        file.write("\n")


# --------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------


def _shape(meta: Any) -> list[int | str] | None:
    if not isinstance(meta, Mapping) or not isinstance(meta.get("sizes"), list):
        return None
    out: list[int | str] = []
    for s in meta["sizes"]:
        if isinstance(s, Mapping) and isinstance(s.get("as_int"), int):
            out.append(s["as_int"])
        else:
            out.append(_sym_text(s))
    return out


def _values_json(arg: Mapping[str, Any], values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The values an argument names, each with its kind and metadata."""
    out: list[dict[str, Any]] = []
    for _, _, name, kind in iter_refs(dict(arg)):
        table_name = VALUE_TABLES.get(kind, "")
        table = values.get(table_name) if table_name else None
        meta = table.get(name) if isinstance(table, Mapping) else None
        entry: dict[str, Any] = {"name": name, "kind": kind}
        entry["meta"] = "token" if kind == "token" else _value_meta(table_name, meta)
        if kind == "tensor" and isinstance(meta, Mapping):
            entry["dtype"] = _enum(DTYPE_NAMES, meta.get("dtype"), "ScalarType")
            entry["shape"] = _shape(meta)
        out.append(entry)
    return out


def _graph_json(graph: Mapping[str, Any]) -> dict[str, Any]:
    nodes = []
    for node in graph.get("nodes") or ():
        args = []
        for na in node.get("inputs") or ():
            arg = na.get("arg") if isinstance(na, Mapping) else None
            args.append(
                {
                    "name": na.get("name", "") if isinstance(na, Mapping) else "",
                    "keyword": isinstance(na, Mapping) and na.get("kind") == _KEYWORD,
                    "value": format_argument(arg) if isinstance(arg, Mapping) else "?",
                }
            )
        outputs = []
        for o in node.get("outputs") or ():
            if isinstance(o, Mapping):
                outputs.extend(_values_json(o, graph))
        nodes.append(
            {
                "name": node.get("name"),
                "target": node.get("target"),
                "op": short_target(node["target"]) if isinstance(node.get("target"), str) else None,
                "args": args,
                "outputs": outputs,
                "line": format_node(node, graph),
                "subgraphs": [{"name": n, **_graph_json(sub)} for n, sub in _subgraphs(node)],
            }
        )
    inputs = []
    for arg in graph.get("inputs") or ():
        inputs.append({"value": format_argument(arg), "meta": format_meta(arg, graph)})
    return {
        "inputs": inputs,
        "nodes": nodes,
        "outputs": [format_argument(o) for o in graph.get("outputs") or ()],
    }


def _payloads_json(payloads: Mapping[str, Payload]) -> dict[str, Any]:
    entries = []
    for fqn in sorted(payloads):
        p = payloads[fqn]
        meta = p.tensor_meta
        entries.append(
            {
                "fqn": fqn,
                "bytes": p.size,
                "meta": _payload_meta(p),
                "dtype": _enum(DTYPE_NAMES, meta.get("dtype"), "ScalarType") if isinstance(meta, Mapping) else None,
                "shape": _shape(meta),
                "is_param": p.is_param,
                "use_pickle": p.use_pickle,
            }
        )
    return {"count": len(entries), "bytes": sum(e["bytes"] for e in entries), "entries": entries}


def _model_json(program: Mapping[str, Any], name: str, weights: Mapping[str, Payload] | None,
                constants: Mapping[str, Payload] | None) -> dict[str, Any]:  # fmt: skip
    graph, signature = _graph_module(program)
    torch_version, schema, _ = _version(program)
    opset = program.get("opset_version")

    def specs(key: str) -> list[dict[str, Any]]:
        out = []
        for spec in signature.get(key) or ():
            f = _spec_fields(spec)
            entry: dict[str, Any] = {"kind": f["kind"], "target": f["target"]}
            if f["kind"] == "constant_input":
                entry.update(name=f["name"], value=f["value"], meta=None)
            else:
                arg = f["arg"]
                entry["value"] = format_argument(arg) if arg is not None else "?"
                entry["meta"] = format_meta(arg, graph) if arg is not None and f["kind"] != "token" else None
            if "persistent" in f:
                entry["persistent"] = f["persistent"]
            entry["line"] = _spec_line(f, graph)
            out.append(entry)
        return out

    ranges = program.get("range_constraints")
    g = _graph_json(graph)
    out: dict[str, Any] = {
        "name": name,
        "versions": {
            "torch": torch_version,
            "schema": schema,
            "opset": dict(opset) if isinstance(opset, Mapping) else {},
        },
        "verifiers": list(program.get("verifiers") or ()),
        "signature": {"inputs": specs("input_specs"), "outputs": specs("output_specs")},
        "nodes": g["nodes"],
        "graph_outputs": g["outputs"],
        "range_constraints": {
            expr_to_str(k): {"min": (v or {}).get("min_val"), "max": (v or {}).get("max_val")}
            for k, v in (ranges.items() if isinstance(ranges, Mapping) else ())
        },
        "weights": _payloads_json(weights) if weights is not None else None,
        "constants": _payloads_json(constants) if constants is not None else None,
    }
    return out


def listing_json(artifact: Artifact, *, model: str | None = None, weights: bool = True) -> dict[str, Any]:
    """The listing of an artifact as a stable, JSON-ready structure (``show --json``).

    Parameters
    ----------
    artifact : Artifact
        From :func:`pt2canon.load`.
    model : str, optional
        Only this model (default: every model, by name).
    weights : bool
        Include the weights and constants summaries.

    Returns
    -------
    dict
        Version :data:`LISTING_JSON_VERSION` of this structure::

            {"listing_version": 1, "path": str, "format": "pt2"|"legacy"|"json",
             "archive": {key: str},            # Artifact.info
             "models": [{
               "name": str,
               "versions": {"torch": str, "schema": "8.20", "opset": {ns: int}},
               "verifiers": [str],
               "signature": {"inputs": [spec], "outputs": [spec]},
               "nodes": [node],                # document order
               "graph_outputs": [str],         # formatted arguments
               "range_constraints": {symbol: {"min": int|null, "max": int|null}},
               "weights": payloads|null, "constants": payloads|null}]}
            spec     = {"kind", "target": fqn|null, "value": "%x", "meta": str|null,
                        "line": str, ["persistent": bool], ["name": str]}
            node     = {"name", "target", "op", "line",
                        "args": [{"name", "keyword": bool, "value": str}],
                        "outputs": [{"name", "kind", "meta", ["dtype", "shape"]}],
                        "subgraphs": [{"name", "inputs": [{"value", "meta"}],
                                       "nodes": [node], "outputs": [str]}]}
            payloads = {"count", "bytes", "entries": [{"fqn", "bytes", "meta", "dtype",
                        "shape", "is_param", "use_pickle"}]}  # entries sorted by fqn

        ``shape`` entries are ints, or strings for symbolic sizes (``"s77"``).

    Raises
    ------
    InputError
        If ``model`` names no model of the artifact.
    """
    from pt2canon.serde.archive import select_model

    names = [select_model(artifact, model).name] if model is not None else sorted(artifact.models)
    models = []
    for n in names:
        m = artifact.models[n]
        models.append(_model_json(m.program, n, m.weights if weights else None, m.constants if weights else None))
    return {
        "listing_version": LISTING_JSON_VERSION,
        "path": artifact.path,
        "format": artifact.format,
        "archive": dict(artifact.info),
        "models": models,
    }
