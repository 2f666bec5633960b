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

Every expression is bounded before sympy sees it (:func:`inspect_expr`, the
same check ``pt2canon audit`` runs): its length (:data:`MAX_EXPR_CHARS`), its
syntax-tree nodes and nesting (:data:`MAX_EXPR_NODES`, :data:`MAX_EXPR_DEPTH`),
its distinct symbols (:data:`MAX_EXPR_SYMBOLS`; sympy orders a sum in time
terms x symbols), the bits of every number in it, literal, float precision
or power (:data:`MAX_NUMBER_BITS`), and the arguments of the functions sympy
evaluates pairwise (Max/Min, And/Or/Xor, Piecewise). Relations are built
unevaluated: sympy never tries to decide ``Eq(a, b)``. Last, a document's
expressions share a budget of CPU time (:data:`EXPRESSION_SECONDS`, checked
between sympy calls) in :class:`ExpressionBudget`.
"""

from __future__ import annotations

import ast
import builtins
import contextvars
import re
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pt2canon.errors import SchemaError

__all__ = [
    "EXPRESSION_SECONDS",
    "MAX_EXPR_CHARS",
    "MAX_EXPR_DEPTH",
    "MAX_EXPR_NODES",
    "MAX_EXPR_SYMBOLS",
    "MAX_NUMBER_BITS",
    "ExpressionBudget",
    "expression_error",
    "inspect_expr",
    "parse_expr",
    "parse_expr_facts",
    "parse_tree",
    "sympy_module",
]

#: Longest expression text read.
MAX_EXPR_CHARS = 100_000
#: Most syntax-tree nodes in one expression (torch's are tens).
MAX_EXPR_NODES = 10_000
#: Deepest nesting of the syntax tree.
MAX_EXPR_DEPTH = 64
#: Most distinct symbols in one expression.
MAX_EXPR_SYMBOLS = 256
#: Most bits of all the numbers one expression holds or computes: integer literals, float
#: precisions, and the results of powers of numbers (so any number in it prints within
#: Python's 4,300-digit limit).
MAX_NUMBER_BITS = 1 << 13
#: CPU seconds all the expressions of one document may take to read and print.
EXPRESSION_SECONDS = 2.0
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
_MAX_POWER_BITS = MAX_NUMBER_BITS
# sympy's Max and Min compare every pair of arguments (~1 ms a pair; Max of 400 symbols takes
# minutes, and nested Max calls flatten into one): bound their arguments in one expression.
# And, Or, Xor and Piecewise simplify their arguments against each other likewise.
_MAX_MINMAX_ARGS = 8
_MAX_BOOL_ARGS = 64
_MAX_PIECEWISE_PAIRS = 16
_RELATIONS = frozenset(
    {
        "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "Equality", "Unequality", "StrictLessThan", "LessThan",
        "StrictGreaterThan", "GreaterThan",
    }
)  # fmt: skip
_BOOLEAN = frozenset({"And", "Or", "Xor", "Not", "ITE"})
_NUMBERS = frozenset({"Integer", "Rational", "Float"})
_S_ATTRS = frozenset({"true", "false", "Zero", "One", "Half", "NegativeOne", "Infinity", "NegativeInfinity"})
# Names torch's reader (sympy.sympify, which adds Python's builtin functions) would call as Python.
_PYTHON_CALLS = frozenset(n for n, v in vars(builtins).items() if callable(v)) - {"abs", "max", "min"}
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


_DEADLINE: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar(
    "pt2canon_expr_deadline", default=None
)


class ExpressionBudget:
    """CPU time the expressions of one document may take, shared by every read (a last resort).

    Examples
    --------
    >>> budget = ExpressionBudget(seconds=5.0)
    >>> with budget:
    ...     e = parse_expr("Add(Symbol('s0'), Integer(1))")
    >>> budget.spent < 5.0
    True
    """

    def __init__(self, seconds: float = EXPRESSION_SECONDS) -> None:
        self.seconds = seconds
        self.spent = 0.0
        self._start = 0.0
        self._token: contextvars.Token[tuple[float, float] | None] | None = None

    def __enter__(self) -> ExpressionBudget:
        self._start = time.thread_time()
        self._token = _DEADLINE.set((self._start + self.seconds - self.spent, self.seconds))
        return self

    def __exit__(self, *exc: object) -> None:
        self.spent += time.thread_time() - self._start
        if self._token is not None:
            _DEADLINE.reset(self._token)
            self._token = None

    def check(self, text: str) -> None:
        """Refuse ``text`` if the budget is spent (called between reads)."""
        if self.spent > self.seconds:
            raise expression_error(text, _over_budget(self.seconds))


def _over_budget(seconds: float) -> str:
    return (
        f"the program's symbolic expressions take more than {seconds:g} s of CPU to read "
        "(EXPRESSION_SECONDS, a last-resort budget)"
    )


def _tick(text: str) -> None:
    deadline = _DEADLINE.get()
    if deadline is not None and time.thread_time() > deadline[0]:
        raise expression_error(text, _over_budget(deadline[1]))


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


class _State:
    """One read: the symbol names to build with, the bits of the powers of numbers so far, the symbols' facts."""

    __slots__ = ("bits", "facts", "rename")

    def __init__(self, rename: dict[str, str]) -> None:
        self.bits = 0
        self.rename = rename
        #: Built name -> the assumptions the text gives it, sorted (the first spelling, if several).
        self.facts: dict[str, tuple[tuple[str, bool], ...]] = {}

    def symbol(self, name: str, **facts: Any) -> Any:
        built = self.rename.get(name, name)
        self.facts.setdefault(built, tuple(sorted(facts.items())))
        return sympy_module().Symbol(built, **facts)


def _numbers(name: str, args: list[Any], text: str) -> None:
    """Refuse a truth value or a relation as an argument of ``Add``, ``Mul`` or ``Pow``.

    sympy builds ``Add(s0, true)`` (a deprecated non-number argument) but
    cannot print it, nor can torch's loader read it: an error here, not a
    crash in the printer.
    """
    sympy = sympy_module()
    for a in args:
        if isinstance(a, bool) or (isinstance(a, sympy.Basic) and not isinstance(a, sympy.Expr)):
            raise expression_error(text, f"{name}() of {type(a).__name__} {a}: its arguments are numbers")


def _pow(a: Any, b: Any, text: str, st: _State) -> Any:
    """``Pow(a, b)``, refused when sympy would compute an enormous number."""
    sympy = sympy_module()
    a, b = _operand(a, text), _operand(b, text)
    _numbers("Pow", [a, b], text)
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
        if isinstance(coeff, sympy.Rational):
            st.bits += e * max(int(coeff.p).bit_length(), int(coeff.q).bit_length())
            if st.bits > MAX_NUMBER_BITS:
                raise expression_error(
                    text, f"powers of numbers with more than {MAX_NUMBER_BITS} bits (MAX_NUMBER_BITS)"
                )
    return sympy.Pow(a, b)


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


def _build(node: ast.AST, text: str, st: _State) -> Any:
    _tick(text)
    sympy = sympy_module()
    if isinstance(node, ast.Expression):
        return _build(node.body, text, st)
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
        return st.symbol(node.id, integer=True)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        v = _operand(_build(node.operand, text, st), text)
        return -v if isinstance(node.op, ast.USub) else (sympy.Not(v) if isinstance(node.op, ast.Not) else v)
    if isinstance(node, ast.BinOp):
        # Operands are sympy objects: '9' * Integer(10**9) would repeat a string.
        a, b = _operand(_build(node.left, text, st), text), _operand(_build(node.right, text, st), text)
        op = type(node.op)
        if op is ast.Add:
            return a + b
        if op is ast.Sub:
            return a - b
        if op is ast.Mult:
            return a * b
        if op is ast.Pow:
            return _pow(a, b, text, st)
        if op is ast.Div:
            return a / b
        if op is ast.FloorDiv:
            return _function("FloorDiv")(a, b)
        if op is ast.Mod:
            return _function("PythonMod")(a, b)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        a, b = _operand(_build(node.left, text, st), text), _operand(_build(node.comparators[0], text, st), text)
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
        vals = [_operand(_build(v, text, st), text) for v in node.values]
        return sympy.And(*vals) if isinstance(node.op, ast.And) else sympy.Or(*vals)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and _IDENT.match(node.func.id):
        name = node.func.id
        args = [_build(a, text, st) for a in node.args]
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                break
            v = _build(kw.value, text, st)
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
                return st.symbol(args[0], **kwargs)
            if name in ("Integer", "Rational", "Float"):
                return _number(name, args, kwargs, text)
            args = [_operand(a, text) for a in args]
            if name in _RELATIONS:
                # Never decided: Eq((s0 + 1)**1000, 5) makes sympy expand and solve for minutes.
                return getattr(sympy, name)(*args, evaluate=False)
            if name in ("Piecewise", "ExprCondPair"):
                from sympy.functions.elementary.piecewise import ExprCondPair, Piecewise

                return Piecewise(*args, evaluate=False) if name == "Piecewise" else ExprCondPair(*args)
            if name in _CORE:
                # Always evaluated, whatever ``evaluate=`` says: Add(Integer(1), Integer(2),
                # evaluate=False) would print as text that reads back as Integer(3), so the
                # canonical form would not be a fixpoint (torch writes srepr, which never says it).
                if name == "Pow":
                    if len(args) != 2:  # a third would be sympy's positional ``evaluate``
                        raise expression_error(text, f"Pow() takes a base and an exponent, not {len(args)} arguments")
                    return _pow(args[0], args[1], text, st)
                if name in ("Add", "Mul"):
                    _numbers(name, args, text)
                return getattr(sympy, name)(*args)
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


class _Refused(Exception):
    """An expression the reader refuses before sympy sees it: ``kind`` is ``code`` or ``cost``."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind = kind
        self.why = why


_BIN_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Pow, ast.Div, ast.FloorDiv, ast.Mod)
_CMP_OPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_STRING_PLACES = frozenset({"Symbol", "Dummy", *_NUMBERS})


def _scan(tree: ast.Expression) -> None:
    """Check an expression's syntax tree against the allowlist and the bounds, without sympy.

    Raises :class:`_Refused` of kind ``code`` for what torch's reader would run as Python
    (attributes, subscripts, lambdas, calls of Python builtins, strings it would parse),
    ``cost`` for what is over a bound.
    """
    nodes = bits = minmax = boolean = pairs = 0
    symbols: set[str] = set()
    stack: list[tuple[ast.AST, int, str | None]] = [(tree.body, 1, None)]
    while stack:
        node, depth, where = stack.pop()
        nodes += 1
        if nodes > MAX_EXPR_NODES:
            raise _Refused("cost", f"more than {MAX_EXPR_NODES} syntax nodes (MAX_EXPR_NODES)")
        if depth > MAX_EXPR_DEPTH:
            raise _Refused("cost", f"nested more than {MAX_EXPR_DEPTH} levels (MAX_EXPR_DEPTH)")
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, str):
                if where not in _STRING_PLACES:
                    raise _Refused(
                        "code", f"a string where a number or expression belongs ({v[:40]!r}); sympify would run it"
                    )
                if where in ("Symbol", "Dummy"):
                    symbols.add(v)
                elif where != "Float":
                    bits += len(v) * 10 // 3 + 1
            elif isinstance(v, bool) or v is None:
                pass
            elif isinstance(v, int):
                bits += v.bit_length()
            elif isinstance(v, float):
                bits += 64
            else:
                raise _Refused("code", f"a {type(v).__name__} constant")
        elif isinstance(node, ast.Name):
            if node.id.startswith("__"):
                raise _Refused("code", f"the Python name {node.id}")
            if node.id not in _CONSTANTS and node.id != "S":
                symbols.add(node.id)
        elif isinstance(node, ast.Call):
            func = node.func
            if not (isinstance(func, ast.Name) and _IDENT.match(func.id)):
                raise _Refused("code", "a call of something that is not a plain function name")
            name = func.id
            if name in _PYTHON_CALLS or name.startswith("_"):
                raise _Refused("code", f"a call of Python's {name}(); sympify would run it")
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise _Refused("code", "a *argument")
            if name == "Float":
                prec = next((k.value for k in node.keywords if k.arg == "precision"), None)
                bits += (
                    prec.value
                    if isinstance(prec, ast.Constant) and isinstance(prec.value, int) and prec.value > 0
                    else 53
                )
            if name in ("Max", "Min"):
                minmax += len(node.args)
            elif name in _BOOLEAN:
                boolean += len(node.args)
            elif name == "Piecewise":
                pairs += len(node.args)
            for kw in node.keywords:
                if kw.arg is None:
                    raise _Refused("code", "a **argument")
                stack.append((kw.value, depth + 1, None))
            stack.extend((a, depth + 1, name) for a in node.args)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            boolean += isinstance(node.op, ast.Not)
            stack.append((node.operand, depth + 1, None))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, _BIN_OPS):
            stack += [(node.left, depth + 1, None), (node.right, depth + 1, None)]
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], _CMP_OPS):
            stack += [(node.left, depth + 1, None), (node.comparators[0], depth + 1, None)]
        elif isinstance(node, ast.BoolOp):
            boolean += len(node.values)
            stack.extend((v, depth + 1, None) for v in node.values)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "S":
            if node.attr not in _S_ATTRS:
                raise _Refused("code", f"the attribute S.{node.attr}")
        else:
            raise _Refused("code", f"unsupported syntax {type(node).__name__}")
    for count, limit, what in (
        (len(symbols), MAX_EXPR_SYMBOLS, "distinct symbols (MAX_EXPR_SYMBOLS)"),
        (bits, MAX_NUMBER_BITS, "bits of numbers (MAX_NUMBER_BITS)"),
        (minmax, _MAX_MINMAX_ARGS, "arguments to Max/Min"),
        (boolean, _MAX_BOOL_ARGS, "arguments to And/Or/Xor/Not"),
        (pairs, _MAX_PIECEWISE_PAIRS, "Piecewise pairs"),
    ):
        if count > limit:
            raise _Refused("cost", f"{count} {what}, over the limit of {limit}")


def inspect_expr(text: str) -> tuple[str, str] | None:
    """Why the safe reader refuses ``text`` before any sympy call, or ``None`` if it reads it.

    Returns ``(kind, why)``: ``kind`` is ``"code"`` when torch's own reader
    (``sympy.sympify``) would run Python from the text, ``"cost"`` when the
    expression is over a bound (torch's reader may take minutes or memory),
    ``"syntax"`` when it is not an expression. sympy is not imported: this is
    what ``pt2canon audit`` checks for every expression in an archive.

    Examples
    --------
    >>> inspect_expr("Add(Symbol('s0', integer=True), Integer(1))") is None
    True
    >>> inspect_expr("__import__('os').system('true')")
    ('code', 'a call of something that is not a plain function name')
    >>> inspect_expr("Max(" + ", ".join(f"Symbol('s{i}')" for i in range(9)) + ")")
    ('cost', '9 arguments to Max/Min, over the limit of 8')
    """
    try:
        _parse(text)
    except SchemaError as exc:
        return "syntax", exc.message.rpartition(": ")[2]
    except _Refused as r:
        return r.kind, r.why
    return None


# A Float prints as a numeral the reader reads back only with a decimal exponent of at most
# 4 digits (_FLOAT_TEXT): 2**Float('1e300') evaluates to one with 30 billion.
_MAX_FLOAT_BINARY_EXPONENT = int(9999 / 0.30103)


def _printable_floats(e: Any, text: str) -> Any:
    """``e``, refused if it holds a float too large or too small to be printed and read back."""
    sympy = sympy_module()
    if isinstance(e, sympy.Basic):
        for f in e.atoms(sympy.Float):
            mpf = f._mpf_
            if mpf[1] and abs(mpf[2] + mpf[3]) > _MAX_FLOAT_BINARY_EXPONENT:  # a finite, nonzero float
                raise expression_error(text, "it computes a float past 1e+9999 or below 1e-9999")
    return e


def expression_error(text: str, why: str) -> SchemaError:
    """The error for an expression that cannot be read: the text (cut at 80 characters) and why.

    The error is returned, not raised, so the caller raises it where the
    problem is found.

    Examples
    --------
    >>> str(expression_error("s0 +", "not an expression"))
    "cannot read symbolic expression 's0 +': not an expression"
    >>> len(expression_error("s0 + " * 40, "too long").message.split("'")[1])
    80
    >>> raise expression_error("Mul(s0", "not an expression")
    Traceback (most recent call last):
    ...
    pt2canon.errors.SchemaError: cannot read symbolic expression 'Mul(s0': not an expression
    """
    shown = text if len(text) <= 80 else text[:77] + "..."
    return SchemaError(f"cannot read symbolic expression {shown!r}: {why}")


def _parse(text: str) -> ast.Expression:
    if len(text) > MAX_EXPR_CHARS:
        raise _Refused("cost", f"longer than {MAX_EXPR_CHARS} characters (MAX_EXPR_CHARS)")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise expression_error(text, "not an expression") from None
    _scan(tree)
    return tree


def parse_tree(text: str) -> ast.Expression:
    """The Python syntax tree of an expression's text, checked against the allowlist and the bounds.

    Nothing is evaluated and sympy is not imported; the listing's printer
    walks this tree, :func:`parse_expr` builds sympy objects from it.

    Raises
    ------
    SchemaError
        If the text is not an expression, holds what torch's reader would run
        as code, or is over a bound (:func:`inspect_expr` says which).

    Examples
    --------
    >>> type(parse_tree("Add(Symbol('s0'), Integer(1))").body).__name__
    'Call'
    """
    try:
        return _parse(text)
    except _Refused as r:
        raise expression_error(text, r.why) from None


def parse_expr(text: str, *, rename: Mapping[str, str] | None = None) -> Any:
    """Parse a serialized symbolic expression into sympy without evaluating code.

    ``rename`` maps symbol names to the names to build them with (all at
    once, so ``{"s0": "s1", "s1": "s0"}`` swaps them). Renaming while
    building, rather than substituting afterwards, keeps relations
    unevaluated: ``xreplace`` would rebuild ``Ne(a, b)`` and let sympy try to
    decide it.

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
    pt2canon.errors.SchemaError: cannot read symbolic expression "__import__('os').system('true')": a call of something that is not a plain function name
    >>> str(parse_expr("Add(s0, Mul(Integer(2), s1))", rename={"s0": "s1", "s1": "s0"}))
    '2*s0 + s1'
    """
    return parse_expr_facts(text, rename=rename)[0]


def parse_expr_facts(
    text: str, *, rename: Mapping[str, str] | None = None
) -> tuple[Any, tuple[tuple[str, tuple[tuple[str, bool], ...]], ...]]:
    """:func:`parse_expr`, and each symbol's assumptions as ``text`` writes them: ``(name, sorted facts)``.

    sympy's cache hands back an *equal* expression built earlier in the
    process, and equal symbols may carry other (equivalent) assumptions:
    ``Symbol('s0', integer=True, positive=True)`` equals ``Symbol('s0',
    integer=True, nonnegative=True, positive=True, real=True)``, so
    ``Add(s0, 1)`` can come back holding the second if it was built first.
    What a canonical text prints must come from the text itself, not from
    what ran before: these facts. Names are the built (renamed) ones.

    Examples
    --------
    >>> e, facts = parse_expr_facts("Add(Symbol('s7', positive=True, integer=True), s1)", rename={"s7": "s0"})
    >>> facts
    (('s0', (('integer', True), ('positive', True))), ('s1', (('integer', True),)))
    """
    return _parse_expr(text, tuple(sorted(rename.items())) if rename else ())


@lru_cache(maxsize=65536)
def _parse_expr(text: str, rename: tuple[tuple[str, str], ...]) -> tuple[Any, tuple[tuple[str, Any], ...]]:
    tree = parse_tree(text)
    try:
        st = _State(dict(rename))
        expr = _printable_floats(_build(tree, text, st), text)
        return expr, tuple(st.facts.items())
    except SchemaError:
        raise
    except RecursionError:
        raise expression_error(text, "nested too deeply") from None
    except Exception as exc:  # sympy refuses the arguments (TypeError, ValueError, ...)
        raise expression_error(text, f"{type(exc).__name__}: {exc}") from None
