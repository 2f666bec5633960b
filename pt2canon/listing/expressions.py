"""Symbolic expressions: sympy ``srepr`` text -> sympy-like ``str``, without sympy."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from pt2canon.errors import SchemaError
from pt2canon.serde.expr import parse_tree

__all__ = ["expr_to_str"]

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
        return mono_product([_mono(a) for a in args])
    return None


def mono_product(
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


def symint_monomial(symint: Any) -> tuple[Fraction, tuple[tuple[str, int], ...]] | None:
    if not isinstance(symint, dict):
        return None
    if "as_int" in symint and isinstance(symint["as_int"], int):
        return Fraction(symint["as_int"]), ()
    expr = symint.get("as_expr")
    if isinstance(expr, dict) and isinstance(expr.get("expr_str"), str):
        return _monomial(expr["expr_str"])
    return None
