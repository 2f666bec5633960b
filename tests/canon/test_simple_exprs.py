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
from hypothesis import given, settings
from hypothesis import strategies as st

import pt2canon
from pt2canon.canon import symbols
from pt2canon.canon.simple_exprs import simple_expr
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
