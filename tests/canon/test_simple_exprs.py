"""The forms read without sympy give what sympy gives, on generated text and near misses; a real export needs no sympy.

:mod:`pt2canon.canon.simple_exprs` replaces sympy for the expressions torch writes most. Each generated
text is read twice by a fresh :class:`SymbolRenamer`: once as shipped, once with the sympy-free reader
switched off, and the symbols, the re-printed text, the renaming (or the error) must be the same. The
generator writes the forms and what is one step from them: coefficients below 2, negative, zero, with
a leading zero or a sign; a ``Min``/``Max`` sympy decides and one it does not; the arguments the other
way round; assumptions that are not "positive integer", repeated, or false.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from corpus import rewrite_zip
from hypothesis import given, settings
from hypothesis import strategies as st

import pt2canon
from pt2canon.canon import symbols
from pt2canon.canon.simple_exprs import least_facts, simple_expr
from pt2canon.canon.symbols import SymbolRenamer
from pt2canon.errors import SchemaError

FACTS = ["finite", "integer", "nonnegative", "positive", "real"]


def _read(text: str) -> object:
    """What a fresh renamer makes of ``text``: its symbols, its re-printed text and the renaming, or the error."""
    renamer = SymbolRenamer()
    try:
        return renamer.symbol_names(text), renamer.expr(text), renamer.mapping
    except SchemaError as exc:
        return f"SchemaError: {exc}"


def _through_sympy(text: str) -> object:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(symbols, "simple_expr", lambda _text: None)
        return _read(text)


_names = st.sampled_from(["s0", "s28", "s77", "u1", "batch", "zf3"])
_fact_lists = st.one_of(
    st.just(["positive", "integer"]),
    st.just(["integer", "positive"]),
    st.lists(st.sampled_from(FACTS), max_size=5, unique=True),
    st.lists(st.sampled_from([*FACTS, "negative"]), min_size=1, max_size=4),  # repeats and a false fact
)


@st.composite
def _symbol(draw: st.DrawFn) -> str:
    keys = "".join(f", {k}=True" for k in draw(_fact_lists))
    return f"Symbol('{draw(_names)}'{keys})"


_numbers = st.one_of(
    st.integers(-3, 4),
    st.integers(2, 2048),
    st.sampled_from([10**18, 9223372036854775807, 10**19, -(10**18)]),
).map(str) | st.sampled_from(["007", "+2", "-0", "64 "])


@st.composite
def _texts(draw: st.DrawFn) -> str:
    sym = draw(_symbol())
    mul = f"Mul(Integer({draw(_numbers)}), {sym})"
    inner = draw(st.sampled_from([sym, mul, f"Mul({sym}, Integer({draw(_numbers)}))"]))
    c = draw(_numbers)
    if draw(st.booleans()):  # a Min sympy decides: c at most the inner term's least value
        m = re.match(r"Mul\(Integer\((\d+)\)", inner)
        c = str(draw(st.integers(-5, int(m.group(1)) if m else 1)))
    how = draw(st.sampled_from(["Min", "Max"]))
    args = [f"Integer({c})", inner]
    if draw(st.integers(0, 9)) == 0:
        args.reverse()
    return draw(st.sampled_from([sym, mul, f"{how}({', '.join(args)})"]))


@settings(max_examples=600, deadline=None)
@given(_texts())
def test_every_form_read_without_sympy_gives_what_sympy_gives(text: str) -> None:
    assert _read(text) == _through_sympy(text)


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        (
            "Mul(Integer(64), Symbol('s28', positive=True, integer=True))",
            "Mul(Integer(64), Symbol('s0', integer=True, positive=True))",
        ),
        ("Min(Integer(64), Mul(Integer(64), Symbol('s28', positive=True, integer=True)))", "Integer(64)"),
        (
            "Max(Integer(-3), Mul(Integer(8), Symbol('s1', integer=True, positive=True)))",
            "Mul(Integer(8), Symbol('s0', integer=True, positive=True))",
        ),
        ("Min(Integer(1), Symbol('s5', integer=True, positive=True))", "Integer(1)"),
        ("Max(Integer(0), Symbol('s5', integer=True, positive=True))", "Symbol('s0', integer=True, positive=True)"),
    ],
)
def test_the_forms_torch_writes_are_read_without_sympy_as_sympy_reads_them(text: str, printed: str) -> None:
    assert simple_expr(text) is not None
    assert _read(text) == _through_sympy(text)
    assert SymbolRenamer().expr(text) == printed


@pytest.mark.parametrize(
    "text",
    [
        "Mul(Integer(-3), Symbol('s0', integer=True, positive=True))",  # sympy prints Mul(Integer(-1), Integer(3), ...)
        "Mul(Integer(1), Symbol('s0', integer=True, positive=True))",  # sympy makes it the symbol
        "Min(Integer(65), Mul(Integer(64), Symbol('s0', integer=True, positive=True)))",  # undecided
        "Min(Integer(4), Mul(Integer(4), Symbol('s0', integer=True)))",  # s may be negative: undecided
        "Min(Mul(Integer(4), Symbol('s0', integer=True, positive=True)), Integer(4))",  # another order
        "Min(Integer(2), Symbol('s0', integer=True, positive=True))",  # s may be 1: undecided
    ],
)
def test_near_misses_go_through_sympy(text: str) -> None:
    assert simple_expr(text) is None


def test_a_dynamic_batch_transformer_export_hashes_without_sympy_as_through_sympy(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from corpus import transformer_stack

    _, ep, _ = transformer_stack(2, dynamic=True)
    path = tmp_path / "dynamic.pt2"
    torch.export.save(ep, path)
    with zipfile.ZipFile(path) as z:
        model = next(n for n in z.namelist() if n.endswith("/models/model.json"))
        texts = set(re.findall(r'"expr_str": ?"([^"]*)"', z.read(model).decode()))
    assert any(t.startswith("Mul(") for t in texts) and any(t.startswith("Min(") for t in texts), texts
    code = (
        "import sys, pt2canon; print(pt2canon.hash(sys.argv[1])); assert 'sympy' not in sys.modules, 'sympy imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with pytest.MonkeyPatch.context() as m:
        m.setattr(symbols, "simple_expr", lambda _text: None)
        assert proc.stdout.strip() == pt2canon.hash(path)


_FAMILY = ("finite", "integer", "nonnegative", "positive", "real")


@pytest.mark.parametrize("mask", range(2 ** len(_FAMILY)))
def test_the_least_spelling_of_a_symbols_assumptions_means_what_sympy_reads_from_the_written_one(mask: int) -> None:
    import sympy

    written = tuple((k, True) for i, k in enumerate(_FAMILY) if mask >> i & 1)
    least = least_facts(written)
    assert set(least) <= set(written)
    assert sympy.Dummy(**dict(least)).assumptions0 == sympy.Dummy(**dict(written)).assumptions0
    assert least_facts(least) == least


def test_an_export_that_spells_one_symbol_two_equivalent_ways_hashes_as_the_one_spelled_one_way(
    corpus: dict, tmp_path: Path
) -> None:
    # torch writes srepr, and sympy's cache can hand it an equal symbol first made with a longer set
    # (the fresh-clone CI exported such a program): one symbol, two spellings, one program.
    path = corpus["dynamic_batch"].path
    with zipfile.ZipFile(path) as z:
        member = next(n for n in z.namelist() if n.endswith("/models/model.json"))
        text = z.read(member).decode()
    short = re.compile(r"(Symbol\('s\d+'), (?:integer=True, positive=True|positive=True, integer=True)\)")
    assert len(short.findall(text)) >= 2
    longer = r"\1, finite=True, integer=True, nonnegative=True, positive=True, real=True)"
    every_other = iter(range(10**9))
    variants = {
        "all": short.sub(longer, text),
        "every other": short.sub(lambda m: m.expand(longer) if next(every_other) % 2 else m.group(0), text),
    }
    expected = pt2canon.hash(path)
    for name, variant in variants.items():
        out = tmp_path / f"{name.replace(' ', '_')}.pt2"
        out.write_bytes(rewrite_zip(path, replace={"models/model.json": variant.encode()}))
        assert pt2canon.hash(out) == expected, name
