"""Symbolic shapes: parse expressions safely, rename symbols, re-print canonically.

torch 2.13 writes each symbolic size as sympy's ``srepr``
(``"Add(Mul(Integer(2), Symbol('s77', integer=True, positive=True)), Integer(1))"``);
older torch wrote infix strings (``"2*s0 + 1"``). torch reads them back with
``sympy.sympify``, which evaluates Python code: on an untrusted archive that
is code execution. :func:`parse_expr` instead walks the string's Python AST
and builds sympy objects from an allowlist of constructors; anything else is
a :class:`~pt2canon.errors.SchemaError`.

Symbols are renamed in order of first appearance, keeping torch's prefix
(``s`` backed sizes, ``u`` unbacked ints, ``zf`` floats, ...: torch reads a
symbol's kind from its prefix), and every expression is re-printed with
``sympy.srepr``, so that ``s54 + s3`` and ``s3 + s54`` renamed alike print
alike. Function names torch defines (``FloorDiv``, ``ModularIndexing``,
``PythonMod``, ...) become opaque sympy functions of the same name, so they
print back unchanged and are never simplified. sympy is imported only when
a program has symbolic expressions.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pt2canon.errors import SchemaError

__all__ = ["SymbolRenamer", "parse_expr", "substitute", "symbol_prefix"]

_MAX_EXPR_CHARS = 100_000
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A name less its trailing digits, so that renaming is idempotent: "fc1x" -> "fc1x0" -> "fc1x0".
_PREFIX = re.compile(r"^(.*?)(\d+)\Z", re.DOTALL)

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


def symbol_prefix(name: str) -> str:
    """The kind prefix of a torch symbol name (``"s77"`` -> ``"s"``, ``"zuf3"`` -> ``"zuf"``).

    Examples
    --------
    >>> symbol_prefix("s77"), symbol_prefix("u0"), symbol_prefix("zuf12"), symbol_prefix("batch")
    ('s', 'u', 'zuf', 'batch')
    """
    m = _PREFIX.match(name)
    return m.group(1) if m else name


@lru_cache(maxsize=1)
def _sympy() -> Any:
    import sympy

    return sympy


@lru_cache(maxsize=1)
def _repr() -> Any:
    from sympy.printing.repr import ReprPrinter

    class SortedRepr(ReprPrinter):  # type: ignore[misc]
        """``srepr`` with a symbol's assumptions in sorted order.

        sympy's cache hands back an *equal* expression built earlier in the
        process (by torch, say, with ``positive=True, integer=True``), and
        ``srepr`` prints assumptions in the order they were first given: the
        canonical text would depend on what ran before.
        """

        def _print_Symbol(self, expr: Any) -> str:
            attrs = ", ".join(f"{k}={v}" for k, v in sorted(expr._assumptions_orig.items()))
            name = f"{type(expr).__name__}({self._print(expr.name)}"
            return f"{name}, {attrs})" if attrs else f"{name})"

    return SortedRepr()


@lru_cache(maxsize=256)
def _function(name: str) -> Any:
    sympy = _sympy()
    # A Function subclass named like torch's: srepr prints ``FloorDiv(a, b)``.
    return type(name, (sympy.Function,), {"__module__": "pt2canon.canon.symbols"})


def _operand(v: Any, text: str) -> Any:
    """``v`` as sympy may be handed it: a sympy object or a bool; a numeral string becomes a number.

    Never a string sympy would parse (``sympify`` evaluates it) nor ``None``.
    """
    sympy = _sympy()
    if isinstance(v, (bool, sympy.Basic)):
        return v
    if isinstance(v, str):
        if _INT_TEXT.match(v):
            return sympy.Integer(v)
        if _FLOAT_TEXT.match(v):
            return sympy.Float(v)
    raise _bad(text, f"{'a string' if isinstance(v, str) else type(v).__name__} where a number or expression belongs")


def _pow(a: Any, b: Any, text: str, **kwargs: Any) -> Any:
    """``Pow(a, b)``, refused when sympy would compute an enormous number."""
    sympy = _sympy()
    a, b = _operand(a, text), _operand(b, text)
    if isinstance(b, sympy.Rational) and abs(b.p) > 1:
        e = abs(int(b.p))
        if e > _MAX_EXPONENT and not isinstance(a, sympy.Symbol):
            raise _bad(text, f"exponent {b} is over the limit of {_MAX_EXPONENT}")
        coeff = a.as_coeff_Mul()[0] if isinstance(a, sympy.Mul) else a
        if (
            isinstance(coeff, sympy.Rational)
            and e * max(int(coeff.p).bit_length(), int(coeff.q).bit_length()) > _MAX_POWER_BITS
        ):
            raise _bad(text, f"a power with more than {_MAX_POWER_BITS} bits")
    return sympy.Pow(a, b, **kwargs)


def _number(name: str, args: list[Any], kwargs: dict[str, Any], text: str) -> Any:
    """``Integer(...)``, ``Rational(...)`` or ``Float(...)`` from numerals and numbers only."""
    sympy = _sympy()
    pattern = {"Integer": _INT_TEXT, "Rational": _RATIONAL_TEXT, "Float": _FLOAT_TEXT}[name]
    for a in args:
        if isinstance(a, str):
            if not pattern.match(a):
                raise _bad(text, f"{name}() of {a[:40]!r}, which is not a plain numeral")
        else:
            _operand(a, text)
    if name == "Float":
        if len(args) != 1 or set(kwargs) - {"precision"}:
            raise _bad(text, "Float() takes a numeral and precision=")
        prec = kwargs.get("precision")
        if prec is not None and not (isinstance(prec, sympy.Integer) and 0 < int(prec) <= _MAX_PRECISION):
            raise _bad(text, f"Float() precision must be a whole number of bits up to {_MAX_PRECISION}")
        return sympy.Float(args[0], precision=int(prec)) if prec is not None else sympy.Float(args[0])
    if kwargs:
        raise _bad(text, f"keyword arguments to {name}()")
    return getattr(sympy, name)(*args)


def _build(node: ast.AST, text: str) -> Any:
    sympy = _sympy()
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
                    raise _bad(text, "Symbol() takes a name and boolean assumptions")
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
                raise _bad(text, f"keyword arguments to {name}()")
            return _function(name)(*args)
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "S"
        and node.attr in ("true", "false", "Zero", "One", "Half", "NegativeOne", "Infinity", "NegativeInfinity")
    ):
        return getattr(sympy.S, node.attr)
    raise _bad(text, f"unsupported syntax {type(node).__name__}")


def _bad(text: str, why: str) -> SchemaError:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return SchemaError(f"cannot read symbolic expression {shown!r}: {why}")


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
    if len(text) > _MAX_EXPR_CHARS:
        raise _bad(text, f"longer than {_MAX_EXPR_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise _bad(text, "not an expression") from None
    minmax = sum(
        len(n.args)
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("Max", "Min")
    )
    if minmax > _MAX_MINMAX_ARGS:
        raise _bad(text, f"{minmax} arguments to Max/Min, over the limit of {_MAX_MINMAX_ARGS}")
    try:
        return _build(tree, text)
    except SchemaError:
        raise
    except RecursionError:
        raise _bad(text, "nested too deeply") from None
    except Exception as exc:  # sympy refuses the arguments (TypeError, ValueError, ...)
        raise _bad(text, f"{type(exc).__name__}: {exc}") from None


class SymbolRenamer:
    """Rename shape symbols in order of first appearance and re-print expressions.

    Examples
    --------
    >>> r = SymbolRenamer()
    >>> r.expr("Add(Symbol('s54', integer=True, positive=True), Symbol('s3', integer=True, positive=True))")
    "Add(Symbol('s0', integer=True, positive=True), Symbol('s1', integer=True, positive=True))"
    >>> r.mapping
    {'s54': 's0', 's3': 's1'}
    """

    def __init__(self) -> None:
        self.mapping: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self._cache: dict[str, str] = {}
        #: When set, unknown symbols print as ``<prefix>_`` instead of getting a name.
        self.frozen = False

    def name(self, old: str) -> str:
        """The canonical name of symbol ``old``, assigning the next free one on first sight."""
        new = self.mapping.get(old)
        if new is None:
            if self.frozen:
                return f"{symbol_prefix(old)}_"
            prefix = symbol_prefix(old)
            n = self._counts.get(prefix, 0)
            self._counts[prefix] = n + 1
            new = self.mapping[old] = f"{prefix}{n}"
        return new

    def expr(self, text: str) -> str:
        """Rename the symbols of a serialized expression and re-print it with ``srepr``."""
        out = self._cache.get(text)
        if out is not None:
            return out
        sympy = _sympy()
        e = parse_expr(text)
        if not isinstance(e, sympy.Basic):
            raise _bad(text, "not a symbolic expression")
        # Free symbols in order of appearance in the text, for a stable first-seen order.
        syms = {s.name: s for s in e.atoms(sympy.Symbol)}
        ordered = sorted(syms, key=lambda n: _first_index(text, n))
        sub = {syms[n]: sympy.Symbol(self.name(n), **dict(sorted(syms[n]._assumptions_orig.items()))) for n in ordered}
        renamed = e.xreplace(sub) if sub else e
        try:
            out = self._cache[text] = _repr().doprint(renamed)
        except ValueError as exc:  # an integer past Python's 4,300-digit printing limit
            raise _bad(text, str(exc)) from None
        return out

    def text(self, s: str) -> str:
        """Rename known symbols appearing as words in free text (assert messages)."""
        if not self.mapping:
            return s
        return _WORD.sub(lambda m: self.mapping.get(m.group(0), m.group(0)), s)

    def infix(self, text: str) -> str:
        """Rename the symbols of an expression printed by sympy's ``str`` and print it the same way.

        For the expressions torch quotes in assert messages. Symbols not
        seen yet get the next free names, in order of appearance in
        ``text``; text that does not parse as an expression only has its
        known symbols renamed, as words.

        Examples
        --------
        >>> r = SymbolRenamer()
        >>> r.name("s77")
        's0'
        >>> r.infix("Eq(Mod(u9, 2), 0)"), r.infix("u9 + s77 >= 4"), r.mapping["u9"]
        ('Eq(Mod(u0, 2), 0)', 's0 + u0 >= 4', 'u0')
        """
        sympy = _sympy()
        try:
            e = parse_expr(text)
        except SchemaError:
            return self.text(text)
        if not isinstance(e, sympy.Basic):
            return self.text(text)
        syms = {s.name: s for s in e.atoms(sympy.Symbol)}
        sub = {
            syms[n]: sympy.Symbol(self.name(n), **dict(sorted(syms[n]._assumptions_orig.items())))
            for n in sorted(syms, key=lambda n: _first_index(text, n))
        }
        return str(e.xreplace(sub) if sub else e)


def substitute(text: str, mapping: Mapping[str, str]) -> str:
    """Rename the symbols of a serialized expression by ``mapping`` and re-print it with ``srepr``.

    Unlike a textual replacement, the result is printed canonically, so
    that it equals an expression written with the new names from the start.

    Examples
    --------
    >>> substitute("Add(Mul(Integer(2), Symbol('s0', integer=True)), Symbol('s1', integer=True))", {"s0": "s1", "s1": "s0"})
    "Add(Symbol('s0', integer=True), Mul(Integer(2), Symbol('s1', integer=True)))"
    """
    sympy = _sympy()
    e = parse_expr(text)
    if not isinstance(e, sympy.Basic):
        raise _bad(text, "not a symbolic expression")
    sub = {
        s: sympy.Symbol(mapping[s.name], **dict(sorted(s._assumptions_orig.items())))
        for s in e.atoms(sympy.Symbol)
        if s.name in mapping
    }
    return _repr().doprint(e.xreplace(sub) if sub else e)  # type: ignore[no-any-return]


_WORD = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")


def _first_index(text: str, name: str) -> int:
    m = re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text)
    return m.start() if m else len(text)
