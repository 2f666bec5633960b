"""The safe reader of symbolic shape expressions: :func:`parse_expr`.

torch 2.13 writes each symbolic size as sympy's ``srepr``
(``"Add(Mul(Integer(2), Symbol('s77', integer=True, positive=True)), Integer(1))"``);
older torch wrote infix strings (``"2*s0 + 1"``). torch reads them back with
``sympy.sympify``, which evaluates Python code: on an untrusted archive that
is code execution. :func:`parse_expr` instead walks the string's Python AST
and builds sympy objects from an allowlist of constructors; anything else is
a :class:`~pt2canon.errors.SchemaError`. Function names torch defines
(``FloorDiv``, ``ModularIndexing``, ``PythonMod``, ...) become opaque sympy
functions of the same name, so they print back unchanged and are never
simplified. sympy is imported only when an expression is read.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from typing import Any

from pt2canon.errors import SchemaError

__all__ = ["expression_error", "parse_expr", "parse_tree", "sympy_module"]

_MAX_EXPR_CHARS = 100_000
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# sympy constructors that are safe to call with literal arguments.
_CORE = (
    "Add", "Mul", "Pow", "Integer", "Rational", "Float", "Symbol", "Dummy", "Eq", "Ne", "Lt", "Le",
    "Gt", "Ge", "Equality", "Unequality", "StrictLessThan", "LessThan", "StrictGreaterThan",
    "GreaterThan", "And", "Or", "Not", "Xor", "ITE", "Abs", "floor", "ceiling", "Max", "Min",
    "Piecewise", "ExprCondPair", "Tuple", "Half", "One", "Zero", "NegativeOne", "Infinity",
    "NegativeInfinity",
)  # fmt: skip
# Strings sympy may see: only numerals, as Integer/Rational/Float arguments. Any other string
# would reach sympy.sympify (Max, Min, Not, Tuple, Xor and every Function sympify their
# arguments), which evaluates it as Python code. Exponents are bounded: Float('1e999999999')
# and Rational('1e999999999') take minutes.
_INT_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")
_RATIONAL_TEXT = re.compile(r"^\s*[+-]?\d+\s*(/\s*[+-]?\d+\s*)?$")
_FLOAT_TEXT = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d{1,4})?\s*$", re.IGNORECASE)
_MAX_PRECISION = 4096  # bits of a Float (torch writes 53)
# A power of a number is computed at once: 10**(10**10) never ends. Bound the exponent of
# anything but a bare symbol, and the size of a number raised to a power.
_MAX_EXPONENT = 1024
_MAX_POWER_BITS = 1 << 14
# sympy's Max and Min compare every pair of arguments (~1 ms a pair; Max of 400 symbols takes
# minutes, and nested Max calls flatten into one): bound their arguments in one expression.
_MAX_MINMAX_ARGS = 8
_CONSTANTS = {
    "true": "true",
    "false": "false",
    "oo": "oo",
    "zoo": "zoo",
    "nan": "nan",
    "True": True,
    "False": False,
    "None": None,
}


@lru_cache(maxsize=1)
def sympy_module() -> Any:
    """The :mod:`sympy` module, imported on first use."""
    import sympy

    return sympy


@lru_cache(maxsize=256)
def _function(name: str) -> Any:
    sympy = sympy_module()
    # A Function subclass named like torch's: srepr prints ``FloorDiv(a, b)``.
    return type(name, (sympy.Function,), {"__module__": "pt2canon.serde.expr"})


def _operand(v: Any, text: str) -> Any:
    """``v`` as sympy may be handed it: a sympy object or a bool; a numeral string becomes a number.

    Never a string sympy would parse (``sympify`` evaluates it) nor ``None``.
    """
    sympy = sympy_module()
    if isinstance(v, (bool, sympy.Basic)):
        return v
    if isinstance(v, str):
        if _INT_TEXT.match(v):
            return sympy.Integer(v)
        if _FLOAT_TEXT.match(v):
            return sympy.Float(v)
    raise expression_error(
        text, f"{'a string' if isinstance(v, str) else type(v).__name__} where a number or expression belongs"
    )


def _pow(a: Any, b: Any, text: str, **kwargs: Any) -> Any:
    """``Pow(a, b)``, refused when sympy would compute an enormous number."""
    sympy = sympy_module()
    a, b = _operand(a, text), _operand(b, text)
    if isinstance(b, sympy.Rational) and abs(b.p) > 1:
        e = abs(int(b.p))
        if e > _MAX_EXPONENT and not isinstance(a, sympy.Symbol):
            raise expression_error(text, f"exponent {b} is over the limit of {_MAX_EXPONENT}")
        coeff = a.as_coeff_Mul()[0] if isinstance(a, sympy.Mul) else a
        if (
            isinstance(coeff, sympy.Rational)
            and e * max(int(coeff.p).bit_length(), int(coeff.q).bit_length()) > _MAX_POWER_BITS
        ):
            raise expression_error(text, f"a power with more than {_MAX_POWER_BITS} bits")
    return sympy.Pow(a, b, **kwargs)


def _number(name: str, args: list[Any], kwargs: dict[str, Any], text: str) -> Any:
    """``Integer(...)``, ``Rational(...)`` or ``Float(...)`` from numerals and numbers only."""
    sympy = sympy_module()
    pattern = {"Integer": _INT_TEXT, "Rational": _RATIONAL_TEXT, "Float": _FLOAT_TEXT}[name]
    for a in args:
        if isinstance(a, str):
            if not pattern.match(a):
                raise expression_error(text, f"{name}() of {a[:40]!r}, which is not a plain numeral")
        else:
            _operand(a, text)
    if name == "Float":
        if len(args) != 1 or set(kwargs) - {"precision"}:
            raise expression_error(text, "Float() takes a numeral and precision=")
        prec = kwargs.get("precision")
        if prec is not None and not (isinstance(prec, sympy.Integer) and 0 < int(prec) <= _MAX_PRECISION):
            raise expression_error(text, f"Float() precision must be a whole number of bits up to {_MAX_PRECISION}")
        return sympy.Float(args[0], precision=int(prec)) if prec is not None else sympy.Float(args[0])
    if kwargs:
        raise expression_error(text, f"keyword arguments to {name}()")
    return getattr(sympy, name)(*args)


def _build(node: ast.AST, text: str) -> Any:
    sympy = sympy_module()
    if isinstance(node, ast.Expression):
        return _build(node.body, text)
    if isinstance(node, ast.Constant):
        v = node.value
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return sympy.Integer(v)
        if isinstance(v, float):
            return sympy.Float(v)
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            c = _CONSTANTS[node.id]
            return getattr(sympy, c) if isinstance(c, str) else c
        if node.id in ("S",):
            return sympy.S
        return sympy.Symbol(node.id, integer=True)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        v = _operand(_build(node.operand, text), text)
        return -v if isinstance(node.op, ast.USub) else (sympy.Not(v) if isinstance(node.op, ast.Not) else v)
    if isinstance(node, ast.BinOp):
        # Operands are sympy objects: '9' * Integer(10**9) would repeat a string.
        a, b = _operand(_build(node.left, text), text), _operand(_build(node.right, text), text)
        op = type(node.op)
        if op is ast.Add:
            return a + b
        if op is ast.Sub:
            return a - b
        if op is ast.Mult:
            return a * b
        if op is ast.Pow:
            return _pow(a, b, text)
        if op is ast.Div:
            return a / b
        if op is ast.FloorDiv:
            return _function("FloorDiv")(a, b)
        if op is ast.Mod:
            return _function("PythonMod")(a, b)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        a, b = _operand(_build(node.left, text), text), _operand(_build(node.comparators[0], text), text)
        rel = {
            ast.Eq: sympy.Eq,
            ast.NotEq: sympy.Ne,
            ast.Lt: sympy.Lt,
            ast.LtE: sympy.Le,
            ast.Gt: sympy.Gt,
            ast.GtE: sympy.Ge,
        }
        fn = rel.get(type(node.ops[0]))
        if fn is not None:
            return fn(a, b, evaluate=False)
    if isinstance(node, ast.BoolOp):
        vals = [_operand(_build(v, text), text) for v in node.values]
        return sympy.And(*vals) if isinstance(node.op, ast.And) else sympy.Or(*vals)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and _IDENT.match(node.func.id):
        name = node.func.id
        args = [_build(a, text) for a in node.args]
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                break
            v = _build(kw.value, text)
            if not isinstance(v, (bool, int, str)) and v is not None:
                v = bool(v) if v in (sympy.true, sympy.false) else v
            kwargs[kw.arg] = v
        else:
            if name in ("Symbol", "Dummy"):
                if (
                    len(args) != 1
                    or not isinstance(args[0], str)
                    or not all(isinstance(v, bool) for v in kwargs.values())
                ):
                    raise expression_error(text, "Symbol() takes a name and boolean assumptions")
                return sympy.Symbol(args[0], **kwargs)
            if name in ("Integer", "Rational", "Float"):
                return _number(name, args, kwargs, text)
            args = [_operand(a, text) for a in args]
            if name in _CORE:
                kwargs = {k: bool(v) for k, v in kwargs.items() if k == "evaluate"}
                if name == "Pow" and len(args) == 2:
                    return _pow(args[0], args[1], text, **kwargs)
                return getattr(sympy, name)(*args, **kwargs)
            if kwargs:
                raise expression_error(text, f"keyword arguments to {name}()")
            return _function(name)(*args)
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "S"
        and node.attr in ("true", "false", "Zero", "One", "Half", "NegativeOne", "Infinity", "NegativeInfinity")
    ):
        return getattr(sympy.S, node.attr)
    raise expression_error(text, f"unsupported syntax {type(node).__name__}")


def expression_error(text: str, why: str) -> SchemaError:
    """The error for an expression that cannot be read: the text (cut at 80 characters) and why."""
    shown = text if len(text) <= 80 else text[:77] + "..."
    return SchemaError(f"cannot read symbolic expression {shown!r}: {why}")


def parse_tree(text: str, *, max_chars: int = _MAX_EXPR_CHARS) -> ast.Expression:
    """The Python syntax tree of an expression's text, parsed without evaluating anything.

    Raises
    ------
    SchemaError
        If the text is longer than ``max_chars`` or is not a Python expression.

    Examples
    --------
    >>> type(parse_tree("Add(Symbol('s0'), Integer(1))").body).__name__
    'Call'
    """
    if len(text) > max_chars:
        raise expression_error(text, f"longer than {max_chars} characters")
    try:
        return ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise expression_error(text, "not an expression") from None


@lru_cache(maxsize=65536)
def parse_expr(text: str) -> Any:
    """Parse a serialized symbolic expression into sympy without evaluating code.

    Examples
    --------
    >>> e = parse_expr("Add(Mul(Integer(2), Symbol('s77', integer=True, positive=True)), Integer(1))")
    >>> str(e)
    '2*s77 + 1'
    >>> str(parse_expr("FloorDiv(s0, 2)"))
    'FloorDiv(s0, 2)'
    >>> parse_expr("__import__('os').system('true')")
    Traceback (most recent call last):
    ...
    pt2canon.errors.SchemaError: cannot read symbolic expression "__import__('os').system('true')": unsupported syntax Call
    """
    tree = parse_tree(text)
    minmax = sum(
        len(n.args)
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("Max", "Min")
    )
    if minmax > _MAX_MINMAX_ARGS:
        raise expression_error(text, f"{minmax} arguments to Max/Min, over the limit of {_MAX_MINMAX_ARGS}")
    try:
        return _build(tree, text)
    except SchemaError:
        raise
    except RecursionError:
        raise expression_error(text, "nested too deeply") from None
    except Exception as exc:  # sympy refuses the arguments (TypeError, ValueError, ...)
        raise expression_error(text, f"{type(exc).__name__}: {exc}") from None
