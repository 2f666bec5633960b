"""Mutation fuzzing of real archives: every case ends in pt2canon's own error or a correct result.

hypothesis mutates small real exports (mlp, cond, dynamic_batch, effects)
at four levels: the zip's bytes (bit flips, truncation, overwritten runs),
the zip's members (dropped, renamed, duplicated, recompressed, added), the
program JSON (keys deleted, values replaced by random JSON, types swapped,
nodes duplicated, removed or swapped, value names swapped or redirected;
also the JSON text itself) and the payload configs. Each case is written to
a file and run through ``load``, ``hash`` (graph, then full with sample
inputs) and ``canonicalize``. It must end in one of two ways:

* a :class:`~pt2canon.errors.Pt2CanonError` whose one-line message starts
  with the file's name; or
* a correct result: a ``sha256:<64 hex>`` hash, the same on a second run,
  equal to the hash of the canonical document (canonicalizing is a
  fixpoint), and a canonical program.

Any other exception fails the test. No case may hang (a per-example
deadline, and an alarm that raises past any ``except Exception``), and no
case may write a file anywhere: the working directory, the temporary folder
and the input's folder are checked after every case.

Two more mutate what torch's loader evaluates and what recursion meets:
symbolic expressions built at random from torch's forms, costly ones
(wide sums, huge numbers, float powers, relations) and code (any code that
ran would create a file beside the input), and any value of the program
nested to any depth up to 1,500 (past ``Limits.max_depth`` it must be an
error).

Cases: 500 + 300 + 250 + 600 + 200 + 250 + 200 + 200 = 2,500.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import signal
import sys
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bad_inputs import CONSTANTS_CONFIG, MODEL, WEIGHTS_CONFIG, Sandbox
from corpus import Corpus, member_bytes, rewrite_zip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pt2canon
from pt2canon import _json
from pt2canon.errors import Pt2CanonError
from pt2canon.serde.schema import UnknownFieldsWarning

FUZZ_NAMES = ("mlp", "cond", "dynamic_batch", "effects")
HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
#: Past this an example is a hang, whatever it is doing (the deadline reports slow ones).
HANG_SECONDS = 60


def fuzz_settings(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=timedelta(seconds=10),
        database=None,  # no .hypothesis folder: nothing may be written to the working directory
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` in pt2canon swallows it."""


@contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def ring(signum: int, frame: Any) -> None:
        raise Hang(f"a case ran for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Source:
    """One corpus archive: its bytes, its program and the strings that name things in it."""

    def __init__(self, path: Path) -> None:
        self.data = path.read_bytes()
        self.program = json.loads(member_bytes(self.data, MODEL))
        with zipfile.ZipFile(io.BytesIO(self.data)) as zf:
            self.members = zf.namelist()
        self.root = self.members[0].split("/")[0]
        self.strings = sorted({s for s in _strings(self.program) if len(s) < 80})


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)
    elif isinstance(obj, str):
        yield obj


@pytest.fixture(scope="module")
def sources(corpus: Corpus) -> dict[str, Source]:
    return {name: Source(corpus[name].path) for name in FUZZ_NAMES}


@pytest.fixture
def case_dir(tmp_path: Path, sandbox: Sandbox) -> Path:
    folder = tmp_path / "cases"
    folder.mkdir()
    return folder


def check_case(data: bytes, folder: Path, sandbox: Sandbox) -> str:
    """Run one case; return ``"error"`` or ``"ok"``. Anything else than those two fails."""
    path = folder / "case.pt2"
    path.write_bytes(data)
    outcome = "ok"
    try:
        with _alarm(HANG_SECONDS), warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownFieldsWarning)
            h = pt2canon.hash(path)
            assert HASH.match(h), h
            assert pt2canon.hash(path) == h, "the hash of one file changed between two runs"
            canonical = pt2canon.canonicalize(path)
            # The canonical document is a fixpoint: it hashes like the program it came from.
            assert pt2canon.hash(_json.canonical_bytes(canonical.doc)) == h, "canonical form is not a fixpoint"
            assert HASH.match(pt2canon.hash(path, level="full", include_sample_inputs=True))
    except Pt2CanonError as exc:
        message = str(exc)
        assert message.startswith(f"{path}:"), f"the message does not name the file: {message}"
        assert "\n" not in message, message
        outcome = "error"
    assert os.listdir(folder) == ["case.pt2"], "a file was written beside the input"
    sandbox.assert_untouched()
    return outcome


# -- the zip's bytes ---------------------------------------------------------------------------------------


@fuzz_settings(500)
@given(
    name=st.sampled_from(FUZZ_NAMES),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), min_size=1, max_size=24),
    tail=st.booleans(),
)
def test_bit_flips_anywhere_in_an_archive(
    sources: dict[str, Source], case_dir: Path, sandbox: Sandbox, name: str, flips: list[tuple[int, int]], tail: bool
) -> None:
    data = bytearray(sources[name].data)
    # Half the cases aim at the last 2 KB: the central directory and the end record.
    span = min(2048, len(data)) if tail else len(data)
    for pos, bit in flips:
        data[len(data) - span + pos % span] ^= 1 << bit
    check_case(bytes(data), case_dir, sandbox)


@fuzz_settings(300)
@given(
    name=st.sampled_from(FUZZ_NAMES),
    op=st.sampled_from(["truncate", "overwrite", "zero_run", "insert", "delete"]),
    at=st.floats(0, 1),
    run=st.binary(min_size=1, max_size=64),
)
def test_truncated_and_overwritten_archives(
    sources: dict[str, Source], case_dir: Path, sandbox: Sandbox, name: str, op: str, at: float, run: bytes
) -> None:
    data = sources[name].data
    i = int(at * (len(data) - 1))
    if op == "truncate":
        out = data[:i]
    elif op == "overwrite":
        out = data[:i] + run + data[i + len(run) :]
    elif op == "zero_run":
        out = data[:i] + bytes(len(run) * 16) + data[i + len(run) * 16 :]
    elif op == "insert":
        out = data[:i] + run + data[i:]
    else:
        out = data[:i] + data[i + len(run) :]
    check_case(out, case_dir, sandbox)


# -- the zip's members ---------------------------------------------------------------------------------------

_MEMBER_NAMES = st.one_of(
    st.sampled_from(
        [
            "../escape", "/abs/path", "models/model.json", "other/models/model.json", "x/models/m.json",
            "serialized_exported_program.json", "archive_format", "C:/evil", "a\\b",
        ]
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, blacklist_characters="\x7f"), min_size=1, max_size=20),
)  # fmt: skip


@fuzz_settings(250)
@given(
    name=st.sampled_from(FUZZ_NAMES),
    ops=st.lists(
        st.tuples(
            st.sampled_from(["drop", "rename", "duplicate", "deflate", "add", "replace"]),
            st.integers(min_value=0),
            _MEMBER_NAMES,
            st.binary(max_size=200),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_members_dropped_renamed_duplicated_recompressed_or_added(
    sources: dict[str, Source],
    case_dir: Path,
    sandbox: Sandbox,
    name: str,
    ops: list[tuple[str, int, str, bytes]],
) -> None:
    src = sources[name]
    with zipfile.ZipFile(io.BytesIO(src.data)) as zf:
        members = [[info.filename, zf.read(info.filename), zipfile.ZIP_STORED] for info in zf.infolist()]
    for op, k, new_name, body in ops:
        if not members and op != "add":
            continue
        target = members[k % len(members)] if members else None
        if op == "drop":
            members.remove(target)
        elif op == "rename":
            target[0] = f"{src.root}/{new_name}" if k % 2 else new_name
        elif op == "duplicate":
            members.append([f"{target[0]}_{k % 3}" if k % 2 else f"{new_name}", target[1], target[2]])
        elif op == "deflate":
            target[2] = zipfile.ZIP_DEFLATED
        elif op == "add":
            members.append([f"{src.root}/{new_name}", body, zipfile.ZIP_STORED])
        else:
            target[1] = body
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        with zipfile.ZipFile(out, "w") as zf:
            for member, body, compression in members:
                zf.writestr(member, body, compress_type=compression)
    check_case(out.getvalue(), case_dir, sandbox)


# -- the program JSON -------------------------------------------------------------------------------------------


def _json_values(strings: list[str]) -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=8),
        st.sampled_from(strings),
        st.sampled_from(["Infinity", "-Infinity", "NaN", "as_tensor", "s77", "Symbol('s0', integer=True)", ""]),
    )
    keys = st.one_of(
        st.sampled_from(
            ["name", "as_tensor", "as_int", "as_sym_int", "as_name", "arg", "as_expr", "expr_str", "as_graph"]
        ),
        st.sampled_from(strings),
        st.text(max_size=6),
    )
    return st.recursive(
        leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3), max_leaves=8
    )


def _paths(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*path, i))


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        obj = obj[k]
    return obj


_SWAP = {dict: [], list: {}, str: 0, int: "0", float: "0.5", bool: 1, type(None): {}}


def _graphs(doc: Any) -> list[list[Any]]:
    """Every ``nodes`` list in the document (the graph and its subgraphs)."""
    return [_get(doc, p) for p in _paths(doc) if p and p[-1] == "nodes" and isinstance(_get(doc, p), list)]


def _rename_everywhere(obj: Any, a: str, b: str) -> Any:
    if isinstance(obj, dict):
        return {_rename_everywhere(k, a, b): _rename_everywhere(v, a, b) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rename_everywhere(v, a, b) for v in obj]
    if obj == a:
        return b
    if obj == b:
        return a
    return obj


def mutate_program(doc: Any, data: st.DataObject, strings: list[str]) -> Any:
    """Apply 1-4 random mutations to a program document."""
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        op = data.draw(
            st.sampled_from(
                [
                    "delete",
                    "replace",
                    "swap_type",
                    "duplicate_node",
                    "remove_node",
                    "swap_nodes",
                    "swap_names",
                    "redirect",
                ]
            ),
            label="op",
        )
        if op in ("delete", "replace", "swap_type"):
            paths = [p for p in _paths(doc) if p]
            if not paths:
                return doc
            path = data.draw(st.sampled_from(paths), label="path")
            parent = _get(doc, path[:-1])
            if op == "delete":
                del parent[path[-1]]
            elif op == "replace":
                parent[path[-1]] = data.draw(_json_values(strings), label="value")
            else:
                parent[path[-1]] = copy.deepcopy(_SWAP[type(parent[path[-1]])])
        elif op in ("duplicate_node", "remove_node", "swap_nodes"):
            graphs = [g for g in _graphs(doc) if g]
            if not graphs:
                continue
            nodes = data.draw(st.sampled_from(graphs), label="graph")
            i = data.draw(st.integers(0, len(nodes) - 1), label="i")
            j = data.draw(st.integers(0, len(nodes) - 1), label="j")
            if op == "duplicate_node":
                nodes.insert(j, copy.deepcopy(nodes[i]))
            elif op == "remove_node":
                del nodes[i]
            else:
                nodes[i], nodes[j] = nodes[j], nodes[i]
        elif op == "swap_names":
            a = data.draw(st.sampled_from(strings), label="a")
            b = data.draw(st.sampled_from(strings), label="b")
            doc = _rename_everywhere(doc, a, b)
        else:  # one reference now names another existing value (or a new one)
            refs = [p for p in _paths(doc) if p and p[-1] in ("name", "as_name") and isinstance(_get(doc, p), str)]
            if refs:
                path = data.draw(st.sampled_from(refs), label="ref")
                _get(doc, path[:-1])[path[-1]] = data.draw(st.sampled_from([*strings, "nowhere"]), label="to")
    return doc


@fuzz_settings(600)
@given(name=st.sampled_from(FUZZ_NAMES), data=st.data())
def test_program_json_with_deleted_replaced_retyped_or_reshuffled_parts(
    sources: dict[str, Source], case_dir: Path, sandbox: Sandbox, name: str, data: st.DataObject
) -> None:
    src = sources[name]
    doc = mutate_program(copy.deepcopy(src.program), data, src.strings)
    text = json.dumps(doc).encode()  # NaN/Infinity floats from hypothesis become non-standard literals
    check_case(rewrite_zip(src.data, replace={MODEL: text}), case_dir, sandbox)


@fuzz_settings(200)
@given(
    name=st.sampled_from(FUZZ_NAMES),
    edits=st.lists(
        st.tuples(st.floats(0, 1), st.integers(0, 8), st.sampled_from(['"', "{", "}", "[", "]", ",", ":", "\\", "1e999", "\\ud800", "", "null", "-"])),
        min_size=1,
        max_size=5,
    ),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)  # fmt: skip
def test_program_json_text_with_broken_syntax(
    sources: dict[str, Source],
    case_dir: Path,
    sandbox: Sandbox,
    name: str,
    edits: list[tuple[float, int, str]],
    cut: float | None,
) -> None:
    text = member_bytes(sources[name].data, MODEL).decode()
    for at, drop, insert in edits:
        i = int(at * len(text))
        text = text[:i] + insert + text[i + drop :]
    if cut is not None:
        text = text[: int(cut * len(text))]
    data = rewrite_zip(sources[name].data, replace={MODEL: text.encode("utf-8", "surrogatepass")})
    check_case(data, case_dir, sandbox)


# -- payload configs ----------------------------------------------------------------------------------------------


@fuzz_settings(250)
@given(name=st.sampled_from(FUZZ_NAMES), which=st.sampled_from([WEIGHTS_CONFIG, CONSTANTS_CONFIG]), data=st.data())
def test_payload_configs_with_deleted_replaced_or_retyped_parts(
    sources: dict[str, Source], case_dir: Path, sandbox: Sandbox, name: str, which: str, data: st.DataObject
) -> None:
    src = sources[name]
    config = json.loads(member_bytes(src.data, which))
    strings = sorted({*_strings(config), "weight_0", "tensor_0", "../weight_0", "/abs", ""})
    if data.draw(st.booleans(), label="add an entry"):
        config["config"]["fuzz.entry"] = {
            "path_name": data.draw(st.sampled_from(strings), label="path_name"),
            "is_param": data.draw(_json_values(strings), label="is_param"),
            "use_pickle": data.draw(st.booleans(), label="use_pickle"),
            "tensor_meta": data.draw(st.none() | _json_values(strings), label="tensor_meta"),
        }
    config = mutate_program(config, data, strings)
    check_case(rewrite_zip(src.data, replace={which: json.dumps(config).encode()}), case_dir, sandbox)


# -- symbolic expressions and nesting depth -------------------------------------------------------------------


def _expressions(canary: str) -> st.SearchStrategy[str]:
    """Expression texts: torch's own forms, costly ones, and code, combined at random."""
    sym = st.integers(0, 300).map(lambda i: f"Symbol('s{i}', integer=True, positive=True)")
    atoms = st.one_of(
        sym,
        st.integers(0, 300).map(lambda i: f"s{i}"),
        st.integers(-(10**40), 10**40).map(lambda i: f"Integer({i})"),
        st.sampled_from(["1.5", "1e300", "1e-300", "123456.789"]).flatmap(
            lambda f: st.sampled_from([53, 64, 4096]).map(lambda p: f"Float('{f}', precision={p})")
        ),
        st.sampled_from(["true", "false", "oo", "zoo", "nan", "int_oo", "S.Half", "Rational(1, 3)"]),
        st.sampled_from(
            [
                f"__import__('pathlib').Path({canary!r}).touch()",
                f"open({canary!r}, 'w')",
                "Symbol('s0').__class__",
                "(lambda: 1)()",
                "[1][0]",
                repr(f"__import__('pathlib').Path({canary!r}).touch()"),
            ]
        ),
    )
    functions = st.sampled_from(
        [
            "Add", "Mul", "Pow", "Max", "Min", "Eq", "Ne", "StrictLessThan", "GreaterThan", "And", "Or", "Not",
            "Piecewise", "ExprCondPair", "FloorDiv", "Mod", "PythonMod", "CeilToInt", "TruncToInt", "ModularIndexing",
            "Abs", "floor", "Frobnicate", "Tuple", "ITE",
        ]
    )  # fmt: skip

    def combine(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        call = st.tuples(functions, st.lists(inner, min_size=1, max_size=4), st.integers(1, 3)).map(
            lambda t: f"{t[0]}({', '.join(t[1] * t[2])})"
        )
        infix = st.tuples(inner, st.sampled_from([" + ", "*", "**", " == ", " < ", " // ", " % "]), inner).map(
            lambda t: f"({t[0]}{t[1]}{t[2]})"
        )
        return call | infix

    return st.recursive(atoms, combine, max_leaves=12)


@fuzz_settings(200)
@given(data=st.data(), where=st.sampled_from(["size", "stride", "sym_int_value"]), repeat=st.integers(1, 400))
def test_symbolic_expressions_of_every_form_end_in_an_error_or_a_correct_hash(
    sources: dict[str, Source], case_dir: Path, sandbox: Sandbox, data: st.DataObject, where: str, repeat: int
) -> None:
    # Any code in them would create a file beside the input, which check_case refuses.
    text = data.draw(_expressions(str(case_dir / "canary")), label="expression")
    if repeat > 1 and data.draw(st.booleans(), label="wide"):
        text = (
            f"Add({', '.join([text] * repeat)})"
            if repeat % 2
            else "Mul(" + ", ".join(f"Symbol('s{i}')" for i in range(repeat)) + ")"
        )
    doc = copy.deepcopy(sources["dynamic_batch"].program)
    graph = doc["graph_module"]["graph"]
    meta = next(m for m in graph["tensor_values"].values() if any("as_expr" in d for d in m["sizes"]))
    if where == "size":
        next(d for d in meta["sizes"] if "as_expr" in d)["as_expr"]["expr_str"] = text
    elif where == "stride":
        meta["strides"][0] = {"as_expr": {"expr_str": text, "hint": None}}
    else:
        graph["sym_int_values"] = {"fuzz": {"as_expr": {"expr_str": text, "hint": None}}}
    outcome = check_case(
        rewrite_zip(sources["dynamic_batch"].data, replace={MODEL: json.dumps(doc).encode()}), case_dir, sandbox
    )
    assert not (case_dir / "canary").exists(), "code in an expression ran"
    assert outcome in ("ok", "error")


def _nested(depth: int, leaf: Any, kinds: list[bool]) -> Any:
    for i in range(depth):
        leaf = [leaf] if kinds[i % len(kinds)] else {"k": leaf}
    return leaf


@fuzz_settings(200)
@given(
    name=st.sampled_from(FUZZ_NAMES),
    data=st.data(),
    depth=st.integers(1, 1500),
    kinds=st.lists(st.booleans(), min_size=1, max_size=4),
)
def test_values_nested_to_any_depth_anywhere_end_in_an_error_or_a_correct_hash(
    sources: dict[str, Source],
    case_dir: Path,
    sandbox: Sandbox,
    name: str,
    data: st.DataObject,
    depth: int,
    kinds: list[bool],
) -> None:
    src = sources[name]
    doc = copy.deepcopy(src.program)
    paths = [p for p in _paths(doc) if p]
    path = data.draw(st.sampled_from(paths), label="path")
    parent = _get(doc, path[:-1])
    parent[path[-1]] = _nested(depth, parent[path[-1]], kinds)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10_000))  # json.dumps of the case itself
    try:
        text = json.dumps(doc).encode()
    finally:
        sys.setrecursionlimit(old)
    outcome = check_case(rewrite_zip(src.data, replace={MODEL: text}), case_dir, sandbox)
    if depth > 100:  # Limits.max_depth: every such document is refused on reading
        assert outcome == "error"


def test_the_fuzzers_reach_both_outcomes(sources: dict[str, Source], case_dir: Path, sandbox: Sandbox) -> None:
    # A fuzzer that only ever produced errors (or only successes) would prove little:
    # the untouched archives hash, and a broken one is an error.
    assert {check_case(src.data, case_dir, sandbox) for src in sources.values()} == {"ok"}
    data = sources["mlp"].data
    assert check_case(data[: len(data) // 2], case_dir, sandbox) == "error"
