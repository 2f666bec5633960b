"""Symbolic shapes: rename symbols, re-print expressions canonically.

Expressions are read by :func:`pt2canon.serde.expr.parse_expr`, the safe
reader (an AST walk over an allowlist of sympy constructors, never
``sympify``); it is re-exported here.

Symbols are renamed in order of first appearance, keeping torch's prefix
(``s`` backed sizes, ``u`` unbacked ints, ``zf`` floats, ...: torch reads a
symbol's kind from its prefix), and every expression is re-printed with
``sympy.srepr``, so that ``s54 + s3`` and ``s3 + s54`` renamed alike print
alike. Where one expression introduces several new symbols (up to
:data:`MAX_ORDERED_FRESH`), they are named in the order that makes its
re-printed text least, not in the order the original text had them: the
original order depends on the original names (sympy sorts terms by them),
the least text does not, and canonicalizing twice changes nothing. sympy is
imported only when a program has expressions other than the simple forms
:mod:`pt2canon.canon.simple_exprs` reads without it.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, TypeVar

from pt2canon.canon.simple_exprs import least_facts, lone_symbol, print_lone_symbol, simple_expr
from pt2canon.errors import SchemaError
from pt2canon.serde.expr import ExpressionBudget, expression_error, parse_expr, parse_expr_facts, sympy_module

__all__ = ["MAX_ORDERED_FRESH", "SymbolRenamer", "lone_symbol", "parse_expr", "substitute", "symbol_prefix"]

#: New symbols of one expression that are named in printed order (all their orders are tried:
#: 5! = 120 prints); with more, they are named in order of first appearance in the text.
MAX_ORDERED_FRESH = 5

_T = TypeVar("_T")

# A name less its trailing digits, so that renaming is idempotent: "fc1x" -> "fc1x0" -> "fc1x0".
_PREFIX = re.compile(r"^(.*?)(\d+)\Z", re.DOTALL)


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
def _repr_class() -> Any:
    from sympy.printing.repr import ReprPrinter

    class SortedRepr(ReprPrinter):  # type: ignore[misc]
        """``srepr`` with each symbol's assumptions as the text gave them, in sorted order.

        sympy's cache hands back an *equal* expression built earlier in the
        process (by torch, say, with ``positive=True, integer=True``, or by
        another document with an equivalent but longer set), and ``srepr``
        prints the assumptions that object was first built with, in that
        order: the canonical text would depend on what ran before. The facts
        come from the text being printed (:func:`parse_expr_facts`).
        """

        def __init__(self, facts: Mapping[str, tuple[tuple[str, bool], ...]]) -> None:
            super().__init__()
            self._facts = facts

        def _print_Symbol(self, expr: Any) -> str:
            facts = self._facts.get(expr.name)
            if facts is None:  # pragma: no cover - every symbol printed was read from the text
                facts = tuple(sorted(expr._assumptions_orig.items()))
            attrs = ", ".join(f"{k}={v}" for k, v in facts)
            name = f"{type(expr).__name__}({self._print(expr.name)}"
            return f"{name}, {attrs})" if attrs else f"{name})"

    return SortedRepr


def _srepr(expr: Any, facts: tuple[tuple[str, tuple[tuple[str, bool], ...]], ...]) -> str:
    """The canonical ``srepr`` of ``expr``, its symbols printed with ``facts`` (:func:`parse_expr_facts`), least spelling."""
    return _repr_class()({name: least_facts(f) for name, f in facts}).doprint(expr)  # type: ignore[no-any-return]


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
        #: CPU time all the expressions of this document may take (serde.expr.EXPRESSION_SECONDS).
        self.budget = ExpressionBudget()
        self._facts: dict[str, tuple[tuple[str, bool], ...]] = {}

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
        simple = simple_expr(text)
        if simple is not None:
            self.budget.check(text)  # read without sympy, but a spent budget refuses it as any other
        symbols = simple[0] if simple is not None else self._within_budget(text, _symbols)
        symbols = tuple((name, least_facts(facts)) for name, facts in symbols)  # one spelling per symbol
        for name, facts in symbols:
            if self._facts.setdefault(name, facts) != facts:
                raise expression_error(
                    text,
                    f"symbol {name!r} appears with two sets of assumptions; torch's loader would merge "
                    "them into one symbol",
                )
        fresh = [name for name, _ in symbols if name not in self.mapping]
        if len(fresh) > 1 and not self.frozen and len(fresh) <= MAX_ORDERED_FRESH:
            self._name_in_printed_order(text, [name for name, _ in symbols], fresh)
        mapping = tuple((name, self.name(name)) for name, _ in symbols)
        if simple is not None:
            printed = print_lone_symbol(mapping[0][1], symbols[0][1]) if symbols else ""
            out = self._cache[text] = simple[1].replace("{0}", printed)
            return out
        out = self._cache[text] = self._within_budget(text, lambda t: _renamed(t, mapping))
        return out

    def _name_in_printed_order(self, text: str, names: list[str], fresh: list[str]) -> None:
        """Name the ``fresh`` symbols of one expression so that its re-printed text is the least one.

        sympy prints terms in an order of its own (a symbol before a function
        of another), so naming by first appearance in the *original* text
        would give names that a second canonicalization changes again. Of
        all orders of the fresh symbols, the one whose printed text is least
        is the same whatever the original names; orders that print alike
        keep the order of first appearance.
        """
        best: tuple[str, tuple[str, ...]] | None = None
        for order in itertools.permutations(fresh):
            trial = dict(self.mapping)
            counts = dict(self._counts)
            for old in order:
                prefix = symbol_prefix(old)
                n = counts.get(prefix, 0)
                counts[prefix] = n + 1
                trial[old] = f"{prefix}{n}"
            mapping = tuple((n, trial[n]) for n in names)
            printed = self._within_budget(text, functools.partial(_rename_text, mapping=mapping))
            if best is None or printed < best[0]:
                best = (printed, order)
        assert best is not None
        for old in best[1]:
            self.name(old)

    def symbol_names(self, text: str) -> tuple[str, ...]:
        """The names of a serialized expression's free symbols, in order of first appearance.

        Examples
        --------
        >>> SymbolRenamer().symbol_names("Add(Symbol('s9'), Symbol('s1'))")
        ('s9', 's1')
        """
        simple = simple_expr(text)
        if simple is not None:
            self.budget.check(text)
            return tuple(name for name, _ in simple[0])
        return tuple(name for name, _ in self._within_budget(text, _symbols))

    def _within_budget(self, text: str, read: Callable[[str], _T]) -> _T:
        """``read(text)``, timed against the document's budget (sympy is imported outside it)."""
        self.budget.check(text)
        sympy_module()
        with self.budget:
            out = read(text)
        self.budget.check(text)
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
        try:
            symbols = self._within_budget(text, _symbols)
        except SchemaError:
            self.budget.check(text)  # a spent budget is an error, not text to keep
            return self.text(text)
        mapping = {name: self.name(name) for name, _ in symbols}
        # Renamed while building (never xreplace): relations stay unevaluated.
        return self._within_budget(text, lambda t: str(parse_expr(t, rename=mapping)))


@lru_cache(maxsize=65536)
def _symbols(text: str) -> tuple[tuple[str, tuple[tuple[str, bool], ...]], ...]:
    """``(name, assumptions)`` of an expression's free symbols, in the order of first appearance in the text."""
    sympy = sympy_module()
    e, written = parse_expr_facts(text)
    if not isinstance(e, sympy.Basic):
        raise expression_error(text, "not a symbolic expression")
    facts = dict(written)
    syms: dict[str, tuple[tuple[str, bool], ...]] = {}
    for sym in e.atoms(sympy.Symbol):
        if sym.name in syms:
            raise expression_error(
                text,
                f"symbol {sym.name!r} appears with two sets of assumptions; torch's loader would merge them "
                "into one symbol",
            )
        syms[sym.name] = facts[sym.name] if sym.name in facts else tuple(sorted(sym._assumptions_orig.items()))
    first = _first_indices(text)
    ordered = sorted(syms, key=lambda n: first[n] if n in first else _first_index(text, n))
    return tuple((n, syms[n]) for n in ordered)


def _rename_text(text: str, *, mapping: tuple[tuple[str, str], ...]) -> str:
    return _renamed(text, mapping)


@lru_cache(maxsize=65536)
def _renamed(text: str, mapping: tuple[tuple[str, str], ...]) -> str:
    """The canonical ``srepr`` of ``text`` with its symbols renamed by ``mapping``."""
    e, facts = parse_expr_facts(text, rename=dict(mapping) if any(a != b for a, b in mapping) else None)
    try:
        return _srepr(e, facts)
    except ValueError as exc:  # an integer past Python's 4,300-digit printing limit
        raise expression_error(text, str(exc)) from None


def substitute(text: str, mapping: Mapping[str, str]) -> str:
    """Rename the symbols of a serialized expression by ``mapping`` and re-print it with ``srepr``.

    Unlike a textual replacement, the result is printed canonically, so
    that it equals an expression written with the new names from the start.

    Examples
    --------
    >>> substitute("Add(Mul(Integer(2), Symbol('s0', integer=True)), Symbol('s1', integer=True))", {"s0": "s1", "s1": "s0"})
    "Add(Symbol('s0', integer=True), Mul(Integer(2), Symbol('s1', integer=True)))"
    """
    sympy = sympy_module()
    e, facts = parse_expr_facts(text)
    if not isinstance(e, sympy.Basic):
        raise expression_error(text, "not a symbolic expression")
    used = {s.name for s in e.atoms(sympy.Symbol)} & set(mapping)
    if used:
        e, facts = parse_expr_facts(text, rename={n: mapping[n] for n in used})
    return _srepr(e, facts)


_WORD = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")


_RUN = re.compile(r"[A-Za-z0-9_]+")


def _first_indices(text: str) -> dict[str, int]:
    """Where each run of name characters first stands alone in ``text`` (one pass, for every symbol at once)."""
    first: dict[str, int] = {}
    for m in _RUN.finditer(text):
        first.setdefault(m.group(0), m.start())
    return first


def _first_index(text: str, name: str) -> int:
    m = re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text)
    return m.start() if m else len(text)
