"""Safe parsing, renaming and re-printing of symbolic shape expressions."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from pt2canon.canon.symbols import SymbolRenamer, parse_expr, symbol_prefix
from pt2canon.errors import SchemaError


def _s(name: str) -> str:
    return f"Symbol('{name}', integer=True, positive=True)"


def test_srepr_and_infix_spellings_parse_to_the_same_expression() -> None:
    assert parse_expr(f"Add(Mul(Integer(2), {_s('s77')}), Integer(1))") == parse_expr("2*s77 + 1").subs(
        sympy.Symbol("s77", integer=True), sympy.Symbol("s77", integer=True, positive=True)
    )


def test_torch_functions_survive_as_opaque_functions_that_print_back_unchanged() -> None:
    text = f"FloorDiv({_s('s0')}, Integer(2))"
    assert type(parse_expr(text)).__name__ == "FloorDiv"
    # The canonical print (sympy's srepr, assumptions sorted: sympy's cache may hand back an
    # equal symbol built earlier with its assumptions in another order).
    assert SymbolRenamer().expr(text) == text
    assert str(parse_expr(f"ModularIndexing({_s('s0')}, Integer(1), Integer(4))")) == "ModularIndexing(s0, 1, 4)"


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch /tmp/pwned')",
        "Symbol('x').__class__",
        "(lambda: 1)()",
        "[x for x in ()]",
        "Symbol(*['x'])",
        "Integer(1) if True else Integer(2)",
        "eval('1')" + "",
    ],
)
def test_code_in_an_expression_is_refused_not_run(text: str) -> None:
    # ``eval('1')`` would never be called by pt2canon, but torch's reader (sympify, which adds
    # Python's builtins) would call it: refused like the rest, so that audit and the reader agree.
    with pytest.raises(SchemaError, match="cannot read symbolic expression"):
        parse_expr(text)


def test_parsing_never_evaluates_python_even_where_sympify_would(tmp_path) -> None:  # type: ignore[no-untyped-def]
    canary = tmp_path / "ran"
    payload = f"__import__('pathlib').Path({str(canary)!r}).touch()"
    code = (
        "from pt2canon.canon.symbols import parse_expr\n"
        "from pt2canon.errors import SchemaError\n"
        f"try:\n    parse_expr({payload!r})\nexcept SchemaError:\n    pass\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert not canary.exists()
    sympy.sympify(payload)  # what torch's reader does with the same string ...
    assert canary.exists()  # ... runs it


def test_symbols_are_renamed_in_order_of_first_appearance_keeping_their_kind_prefix() -> None:
    r = SymbolRenamer()
    r.expr(_s("s77"))
    r.expr(f"Add({_s('s54')}, Symbol('u3', integer=True))")
    assert r.mapping == {"s77": "s0", "s54": "s1", "u3": "u0"}
    assert symbol_prefix("zuf12") == "zuf"


def test_re_printing_puts_the_arguments_of_a_sum_in_one_order_whatever_the_original_names() -> None:
    a, b = SymbolRenamer(), SymbolRenamer()
    # The same expression (first dimension + second dimension) under other names,
    # whose alphabetical order is reversed.
    a.name("s10"), a.name("s90")
    b.name("s90"), b.name("s10")
    ea = a.expr(f"Add({_s('s10')}, {_s('s90')})")
    eb = b.expr(f"Add({_s('s10')}, {_s('s90')})")
    assert ea == eb == f"Add({_s('s0')}, {_s('s1')})"


def test_a_symbol_prints_alike_whichever_order_its_assumptions_were_written_in() -> None:
    # torch writes the order in which sympy's cache first saw the symbol: after another
    # export in the same process, a re-save may spell the same symbol the other way.
    first = "Mul(Symbol('s7', positive=True, integer=True), Symbol('s9', integer=True, positive=True))"
    other = "Mul(Symbol('s7', integer=True, positive=True), Symbol('s9', positive=True, integer=True))"
    sympy.Symbol("s0", positive=True, integer=True)  # a cached symbol in the unsorted order
    assert SymbolRenamer().expr(first) == SymbolRenamer().expr(other) == f"Mul({_s('s0')}, {_s('s1')})"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=4), st.integers(1, 5), st.permutations(list(range(10))))
def test_renaming_commutes_with_renaming_the_input(indices: list[int], k: int, perm: list[int]) -> None:
    names = [f"s{i}" for i in indices]
    renamed = [f"s{100 + perm[i]}" for i in indices]

    def expr(ns: list[str]) -> str:
        terms = ", ".join(_s(n) for n in ns)
        return f"Add(Mul(Integer({k}), {_s(ns[0])}), {terms})" if len(ns) > 1 else f"Mul(Integer({k}), {_s(ns[0])})"

    ra, rb = SymbolRenamer(), SymbolRenamer()
    for n in dict.fromkeys(names):
        ra.name(n)
    for n in dict.fromkeys(renamed):
        rb.name(n)
    assert ra.expr(expr(names)) == rb.expr(expr(renamed))


def test_free_text_follows_the_symbol_renaming_on_word_boundaries() -> None:
    r = SymbolRenamer()
    r.name("s77")
    assert r.text("Runtime assertion failed for expression Eq(s77, 8) on node 's770'") == (
        "Runtime assertion failed for expression Eq(s0, 8) on node 's770'"
    )


@pytest.mark.parametrize("text", ["True", "False", "None"])
def test_text_that_is_not_a_symbolic_expression_is_a_schema_error_when_its_symbols_are_asked(text: str) -> None:
    with pytest.raises(SchemaError, match="not a symbolic expression"):
        SymbolRenamer().symbol_names(text)


def test_an_assert_message_is_renamed_within_the_budget_and_a_spent_budget_is_an_error_not_kept_text() -> None:
    r = SymbolRenamer()
    assert r.infix("u9 + s77 >= 4") == "s0 + u0 >= 4"  # symbols named in order of appearance, by prefix
    assert r.infix("not an expression: s77") == "not an expression: s0"  # free text: known words renamed
    r.budget.spent = r.budget.seconds + 1
    with pytest.raises(SchemaError, match="EXPRESSION_SECONDS"):
        r.infix("s77 + 1")


def test_canonicalizing_a_canonical_expression_changes_nothing_even_when_sympy_reorders_its_terms() -> None:
    text = f"(FloorDiv({_s('s1')}, Integer(2)) + {_s('s0')})"
    once = SymbolRenamer().expr(text)
    assert SymbolRenamer().expr(once) == once


def _term(draw: st.DrawFn, names: list[str], depth: int) -> str:
    choice = draw(st.integers(0, 4 if depth < 3 else 0))
    if choice == 0:
        return _s(draw(st.sampled_from(names)))
    a, b = _term(draw, names, depth + 1), _term(draw, names, depth + 1)
    k = draw(st.integers(2, 5))
    return [
        "",
        f"FloorDiv({a}, Integer({k}))",
        f"Add({a}, {b})",
        f"Mul({a}, {b})",
        f"Mod({a}, Integer({k}))",
    ][choice]


@st.composite
def _expressions(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    names = [f"s{i}" for i in draw(st.lists(st.integers(10, 60), min_size=2, max_size=4, unique=True))]
    text = _term(draw, names, 0)
    other = draw(st.permutations([f"s{i}" for i in range(70, 70 + len(names))]))
    return text, dict(zip(names, other, strict=True))


@settings(max_examples=300, deadline=None)
@given(_expressions())
def test_new_symbols_of_one_expression_get_names_that_neither_the_old_names_nor_a_second_pass_change(
    case: tuple[str, dict[str, str]],
) -> None:
    text, renaming = case
    renamed_text = re.sub(r"Symbol\('(s\d+)'", lambda m: f"Symbol('{renaming[m[1]]}'", text)
    once = SymbolRenamer().expr(text)
    assert SymbolRenamer().expr(renamed_text) == once
    assert SymbolRenamer().expr(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "Symbol('s77', positive=True, integer=True)",
        "Symbol('s3', integer=True, positive=True)",
        "Symbol('u0', integer=True)",
        "Symbol('zf0', real=True)",
        "Symbol('s1', nonnegative=True, finite=True, real=True, integer=True, positive=True)",
        "Symbol('batch')",
        "Symbol('_x9')",
        "Symbol('oo', integer=True)",  # a name sympy's constants have: still a plain symbol
        "Symbol('True')",
        "Symbol('s' + '0')",  # not a lone symbol's spelling: goes through sympy, which refuses it
        "Symbol('s0', positive=False)",
        "Symbol('s0', integer=True, integer=True)",
        "Symbol('s0', integer=1)",
        "Symbol('s0', negative=True, positive=True)",
        "Symbol('s0',integer=True)",
        " Symbol('s0', integer=True)",
        "Symbol('s-0', integer=True)",
        'Symbol("s0", integer=True)',
    ],
)
def test_a_lone_symbol_read_without_sympy_gives_what_sympy_gives(text: str) -> None:
    from pt2canon.canon import symbols

    def through_sympy(renamer: SymbolRenamer) -> object:
        try:
            return renamer.symbol_names(text), renamer.expr(text), renamer.mapping
        except SchemaError as exc:
            return str(exc)

    fast = through_sympy(SymbolRenamer())
    with pytest.MonkeyPatch.context() as m:
        m.setattr(symbols, "simple_expr", lambda _text: None)
        slow = through_sympy(SymbolRenamer())
    assert fast == slow
    lone = symbols.lone_symbol(text)
    if lone is not None:
        assert symbols._symbols(text) == (lone,)


def test_hashing_a_program_whose_only_expressions_are_lone_symbols_does_not_import_sympy(corpus) -> None:  # type: ignore[no-untyped-def]
    path = str(corpus["dynamic_batch"].path)
    code = (
        "import sys, pt2canon; print(pt2canon.hash(sys.argv[1])); assert 'sympy' not in sys.modules, 'sympy imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == __import__("pt2canon").hash(path)


def test_an_expressions_text_does_not_depend_on_an_equal_one_read_before_with_other_assumptions() -> None:
    # sympy's cache hands back the Add built first, whose symbol was built with the longer (equivalent) set.
    longer = "Add(Symbol('s9', integer=True, nonnegative=True, positive=True, real=True), Integer(1))"
    text = "Add(Symbol('s7', integer=True, positive=True), Integer(1))"
    # The longer set is printed in its least spelling (simple_exprs.least_facts): one spelling per symbol.
    assert SymbolRenamer().expr(longer) == "Add(Symbol('s0', integer=True, positive=True), Integer(1))"
    assert SymbolRenamer().expr(text) == "Add(Symbol('s0', integer=True, positive=True), Integer(1))"
    assert SymbolRenamer().symbol_names(text) == ("s7",)
    renamer = SymbolRenamer()
    renamer.expr("Symbol('s7', integer=True, positive=True)")
    assert renamer.expr(text) == "Add(Symbol('s0', integer=True, positive=True), Integer(1))"  # one set: no conflict
