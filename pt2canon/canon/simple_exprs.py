"""The symbolic sizes torch writes most, read and re-printed without sympy, exactly as sympy would.

A dynamic-shape export mostly holds a lone size symbol, a multiple of one
(``Mul(Integer(64), Symbol('s28', ...))``: a flattened or reshaped size) and a
``Min`` or ``Max`` of a number and one of those that sympy decides at once
from the symbol's assumptions (``Min(Integer(64), Mul(Integer(64), s))`` is
64 for a positive integer ``s``: a slice's length). Importing sympy costs
about 0.3 s of a cold ``pt2canon hash``; where every expression of a
program has one of these forms, it is not imported at all.

Each form is matched in full by a regular expression and gives what the
sympy path (:func:`pt2canon.canon.symbols.parse_expr`, then ``srepr`` with
sorted assumptions) gives: the free symbols left after sympy's evaluation,
in order, and the re-printed text. Anything else -- another spelling or
order of the arguments, a coefficient below 2, a ``Min`` sympy leaves
unevaluated, assumptions that do not say "positive integer" -- is ``None``
here and goes through sympy, errors included.
``tests/canon/test_simple_exprs.py`` checks every form against sympy on
generated text, near misses included.
"""

from __future__ import annotations

import re

from pt2canon.serde.expr import MAX_EXPR_CHARS

__all__ = ["SimpleExpr", "least_facts", "lone_symbol", "print_lone_symbol", "simple_expr"]

Facts = tuple[tuple[str, bool], ...]
#: ``(symbols, template)``: the free symbols, ``(name, sorted assumptions)`` in order, and the printed
#: text with ``{0}`` where the (renamed) symbol's own text goes.
SimpleExpr = tuple[tuple[tuple[str, Facts], ...], str]

#: The assumptions read without sympy: true ones that positive integers have (see :func:`least_facts`).
_FAMILY = ("finite", "integer", "nonnegative", "positive", "real")
_SYMBOL = rf"Symbol\('([A-Za-z_][A-Za-z0-9_]*)'((?:, (?:{'|'.join(_FAMILY)})=True)*)\)"
#: A lone symbol with a plain name and only true assumptions from a set that are consistent
#: together (positive integers are real, finite, nonnegative), each at most once.
_LONE = re.compile(_SYMBOL)
#: A whole number as sympy prints one (no sign on 0, no leading zeros), of at most 19 digits.
_INT = r"0|-?[1-9][0-9]{0,18}"
_MUL = re.compile(rf"Mul\(Integer\(({_INT})\), {_SYMBOL}\)")
_MIN_MAX_MUL = re.compile(rf"(Min|Max)\(Integer\(({_INT})\), Mul\(Integer\(({_INT})\), {_SYMBOL}\)\)")
_MIN_MAX = re.compile(rf"(Min|Max)\(Integer\(({_INT})\), {_SYMBOL}\)")


#: For each assumption, those that imply it (sympy's rules, checked against sympy in the tests).
_IMPLIED_BY = {
    "finite": frozenset({"integer", "nonnegative", "positive", "real"}),
    "real": frozenset({"integer", "nonnegative", "positive"}),
    "nonnegative": frozenset({"positive"}),
}


def least_facts(facts: Facts) -> Facts:
    """The least spelling of a symbol's assumptions, when they are true ones of ``finite``, ``integer``, ``nonnegative``, ``positive``, ``real``.

    torch writes a shape symbol as ``srepr`` prints it, and sympy's cache
    may hand torch an equal symbol that was first made with a longer,
    equivalent set: one export can spell ``s28`` as ``integer=True,
    positive=True`` in one expression and add ``finite``, ``nonnegative``
    and ``real`` in another. These are one symbol to sympy and to torch's
    loader, so the canonical form prints one spelling: the assumptions that
    no other given one implies. Other sets (a false assumption, another
    key) are kept as written.

    Examples
    --------
    >>> least_facts((("finite", True), ("integer", True), ("nonnegative", True), ("positive", True), ("real", True)))
    (('integer', True), ('positive', True))
    >>> least_facts((("integer", True), ("nonnegative", True))), least_facts((("even", True),))
    ((('integer', True), ('nonnegative', True)), (('even', True),))
    """
    names = {k for k, v in facts if v is True}
    if len(names) != len(facts) or not names.issubset(_FAMILY):
        return facts
    return tuple((k, True) for k in sorted(names) if not (_IMPLIED_BY.get(k, frozenset()) & names))


def _facts(keys: str) -> Facts | None:
    """The sorted assumptions of a symbol's keyword text (``", integer=True, positive=True"``), None if one repeats."""
    names = [k[: -len("=True")] for k in keys.split(", ")[1:]]
    if len(set(names)) != len(names):  # a keyword given twice: the reader refuses it, as Python does
        return None
    return tuple((k, True) for k in sorted(names))


def lone_symbol(text: str) -> tuple[str, Facts] | None:
    """``(name, sorted assumptions)`` when ``text`` is a lone symbol read without sympy, else ``None``.

    Only text that sympy's reader accepts and reads as exactly that symbol
    matches; anything else (another spelling, an assumption given twice, a
    false or unknown assumption) is ``None`` and goes through sympy, errors
    included. :func:`print_lone_symbol` prints it as the sympy path does.

    Examples
    --------
    >>> lone_symbol("Symbol('s77', positive=True, integer=True)")
    ('s77', (('integer', True), ('positive', True)))
    >>> lone_symbol("Symbol('u0')"), lone_symbol("Symbol('s0', integer=True, integer=True)"), lone_symbol("s0")
    (('u0', ()), None, None)
    """
    m = _LONE.fullmatch(text)
    if m is None or len(text) > MAX_EXPR_CHARS:
        return None
    facts = _facts(m.group(2))
    return None if facts is None else (m.group(1), facts)


def print_lone_symbol(name: str, facts: Facts) -> str:
    """The canonical ``srepr`` of a lone symbol (:func:`lone_symbol`), as the sympy path prints it.

    Examples
    --------
    >>> print_lone_symbol("s0", (("integer", True), ("positive", True))), print_lone_symbol("u0", ())
    ("Symbol('s0', integer=True, positive=True)", "Symbol('u0')")
    """
    attrs = ", ".join(f"{k}={v}" for k, v in facts)
    return f"Symbol('{name}', {attrs})" if attrs else f"Symbol('{name}')"


def simple_expr(text: str) -> SimpleExpr | None:
    """``(symbols, template)`` of an expression of the forms above read without sympy, else ``None``.

    The forms, ``S`` a lone symbol (:func:`lone_symbol`):

    * ``S``;
    * ``Mul(Integer(k), S)`` with ``k >= 2`` (sympy keeps it as it is);
    * ``Min(Integer(c), X)`` and ``Max(Integer(c), X)`` with ``X`` ``S`` or
      ``Mul(Integer(k), S)``, ``k >= 2``, where ``S`` is a positive integer
      and ``c`` is at most ``X``'s least value (1 or ``k``): sympy decides
      them, ``Min`` is ``Integer(c)`` (no symbol left) and ``Max`` is ``X``.

    Examples
    --------
    >>> s = "Symbol('s28', positive=True, integer=True)"
    >>> simple_expr(f"Mul(Integer(64), {s})")
    ((('s28', (('integer', True), ('positive', True))),), 'Mul(Integer(64), {0})')
    >>> simple_expr(f"Min(Integer(64), Mul(Integer(64), {s}))"), simple_expr(f"Max(Integer(1), {s})")[1]
    (((), 'Integer(64)'), '{0}')
    >>> simple_expr(f"Min(Integer(65), Mul(Integer(64), {s}))") is None  # sympy leaves it unevaluated
    True
    """
    if len(text) > MAX_EXPR_CHARS:
        return None
    if text.startswith("Symbol("):
        lone = lone_symbol(text)
        return None if lone is None else ((lone,), "{0}")
    if text.startswith("Mul("):
        m = _MUL.fullmatch(text)
        if m is None or int(m.group(1)) < 2 or (facts := _facts(m.group(3))) is None:
            return None
        return ((m.group(2), facts),), f"Mul(Integer({m.group(1)}), {{0}})"
    m = _MIN_MAX_MUL.fullmatch(text)
    if m is not None:
        how, c, k, name, keys = m.groups()
    elif (m := _MIN_MAX.fullmatch(text)) is not None:
        how, c, name, keys = m.groups()
        k = None
    else:
        return None
    facts = _facts(keys)
    if facts is None or not {("integer", True), ("positive", True)} <= set(facts):
        return None
    if k is not None and int(k) < 2:
        return None
    least = 1 if k is None else int(k)  # S >= 1, so k * S >= k
    if int(c) > least:  # undecided from the assumptions: sympy keeps the Min or Max
        return None
    if how == "Min":
        return (), f"Integer({c})"
    return ((name, facts),), "{0}" if k is None else f"Mul(Integer({k}), {{0}})"
