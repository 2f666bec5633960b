"""The compiled fast path answers as the Python predicates do, on every part of real, edited and generated documents.

``pt2canon.serde.plain.compiled`` (``_plain.c``) is the differential pair of the Python
``plain_node``, ``plain_argument`` and ``plain_tensor_meta``, which stay the reference: each
part is given to both and the answers, or the exceptions raised, must be the same. The parts
come from every document of the test corpus (nodes of subgraphs too), from generated programs
(``pt2canon.strategies.programs``), from those parts edited (values replaced by JSON values and
by what JSON never holds: subclasses, tuples, large ints; keys deleted or added) and from values
drawn from scratch. Around the predicates: canonical documents are byte-identical whichever path
the checks take, and ``PT2CANON_COMPILED=0`` turns the compiled path off.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from corpus import Corpus, member_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_paths import at, leaves

import pt2canon
import pt2canon.serde.schema as schema
from pt2canon._json import canonical_bytes
from pt2canon.serde import plain
from pt2canon.strategies import programs

needs_compiled = pytest.mark.skipif(not plain.AVAILABLE, reason="pt2canon.serde._plain is not built here")

_NAMES = ("plain_node", "plain_argument", "plain_tensor_meta")


def _pairs() -> list[tuple[Callable[[Any], bool], Callable[[Any], bool]]]:
    assert plain.compiled is not None
    return [(getattr(plain, n), getattr(plain.compiled, n)) for n in _NAMES]


def _answer(predicate: Callable[[Any], bool], obj: Any) -> tuple[str, Any]:
    try:
        return ("returned", predicate(obj))
    except Exception as exc:  # the same exception, of the same type, from both
        return (type(exc).__name__, str(exc))


def _assert_same(obj: Any) -> list[bool]:
    """Both implementations of each predicate give ``obj`` the same answer; the Python answers."""
    answers = []
    for reference, compiled in _pairs():
        expected = _answer(reference, obj)
        assert _answer(compiled, obj) == expected, (reference.__name__, obj)
        answers.append(expected[1] is True)
    return answers


def _parts(graph: dict[str, Any]) -> Iterator[Any]:
    """Every node, tensor metadata and argument of ``graph`` and its subgraphs."""
    yield from graph.get("inputs", ())
    yield from graph.get("outputs", ())
    yield from graph.get("tensor_values", {}).values()
    for node in graph.get("nodes", ()):
        yield node
        for inp in node.get("inputs", ()):
            yield inp["arg"]
            sub = inp["arg"].get("as_graph") if isinstance(inp["arg"], dict) else None
            if isinstance(sub, dict) and isinstance(sub.get("graph"), dict):
                yield from _parts(sub["graph"])
        yield from node.get("outputs", ())


def _graph(doc: dict[str, Any]) -> dict[str, Any]:
    graph: dict[str, Any] = doc["graph_module"]["graph"]
    return graph


@needs_compiled
def test_every_part_of_every_corpus_document_gets_the_same_answer_from_both(corpus: Corpus) -> None:
    accepted = total = 0
    for entry in corpus.values():
        for part in _parts(_graph(json.loads(member_bytes(entry.path, "models/model.json")))):
            answers = _assert_same(part)
            accepted += any(answers)
            total += 1
    # Without this the comparison could hold trivially (both refusing everything).
    assert total > 1000 and accepted > 0.9 * total


class _Str(str):
    pass


class _Int(int):
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


# What JSON holds, and what only a Python caller can hand over: subclasses of the exact types the
# predicates test, tuples for lists, ints past 64 bits, bool where an int is wanted.
_ODD = st.sampled_from([True, False, 2**70, -1, 1.5, (), ("x",), _Str("x"), _Int(1), _Dict(name="x"), b"x"])
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.floats() | st.sampled_from(["", "x", "s0"]) | _ODD,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "arg", "kind", "as_tensor", "as_int", "as_expr", "expr_str", "as_ints", "x"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=6,
)


@st.composite
def _edited(draw: st.DrawFn, part: Any) -> Any:
    """``part`` with one to three values replaced, keys or elements deleted, or keys added."""
    part = copy.deepcopy(part)
    for _ in range(draw(st.integers(1, 3))):
        paths = leaves(part)
        what = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if what == "add" or not paths:
            objects = [x for x in [part, *(at(part, p) for p in paths)] if isinstance(x, dict)]
            if objects:
                key = draw(st.sampled_from(["name", "kind", "arg", "metadata", "as_int", "layout", "x"]))
                draw(st.sampled_from(objects))[key] = copy.deepcopy(draw(_VALUES))  # sampled values are shared
            continue
        path = draw(st.sampled_from(paths))
        holder = at(part, path[:-1])
        if what == "delete":
            del holder[path[-1]]
        else:
            holder[path[-1]] = copy.deepcopy(draw(_VALUES))
    return part


@pytest.fixture(scope="module")
def corpus_parts(corpus: Corpus) -> list[Any]:
    """One of each (node, tensor metadata, argument) shape in the corpus, by its JSON's skeleton."""
    seen: dict[str, Any] = {}
    for entry in corpus.values():
        for part in _parts(_graph(json.loads(member_bytes(entry.path, "models/model.json")))):
            seen.setdefault(json.dumps(_skeleton(part), sort_keys=True), part)
    return list(seen.values())


def _skeleton(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _skeleton(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_skeleton(v) for v in obj[:2]]
    return type(obj).__name__


@needs_compiled
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_parts_of_real_documents_edited_get_the_same_answer_from_both(corpus_parts: list[Any], data: Any) -> None:
    _assert_same(data.draw(_edited(data.draw(st.sampled_from(corpus_parts)))))


@needs_compiled
@settings(max_examples=1000, deadline=None)
@given(_VALUES)
def test_any_value_gets_the_same_answer_from_both(value: Any) -> None:
    _assert_same(value)


@needs_compiled
@settings(max_examples=150, deadline=None)
@given(programs())
def test_every_part_of_a_generated_program_gets_the_same_answer_from_both(program: dict[str, Any]) -> None:
    for part in _parts(_graph(program)):
        _assert_same(part)


class _Raising(str):
    """A key equal to a field's name whose comparison raises: a dict lookup of that name calls it."""

    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        raise ValueError("compared")


@needs_compiled
@pytest.mark.parametrize("field", ["target", "inputs", "name", "metadata", "dtype", "as_tensor", "as_int"])
def test_an_exception_raised_inside_a_lookup_comes_out_of_both(field: str) -> None:
    node = {"target": "t", "inputs": [{"name": "a", "arg": {"as_tensor": {"name": "x"}}}], "outputs": []}
    dims = [{"as_int": 1}]
    meta = {"dtype": 7, "sizes": dims, "strides": dims, "storage_offset": {"as_int": 0}, "layout": 0,
            "device": {"type": "cpu", "index": None}, "requires_grad": False}  # fmt: skip
    for part in (node, meta, {"as_tensor": {"name": "x"}}, {"as_sym_int": {"as_int": 1}}):
        # The raising key replaces the field wherever it appears at the top of the part.
        odd = {(_Raising(k) if k == field else k): v for k, v in part.items()}
        answers = [(_answer(reference, odd), _answer(compiled, odd)) for reference, compiled in _pairs()]
        assert all(a == b for a, b in answers), answers
        if field in part:  # the lookup is reached and its exception is not swallowed
            assert ("ValueError", "compared") in {a for a, _ in answers}


def _canonical(doc: dict[str, Any]) -> bytes:
    return canonical_bytes(pt2canon.canonicalize(json.dumps(doc).encode()).doc)


@needs_compiled
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=programs(max_nodes=10))
def test_a_generated_program_has_the_same_canonical_bytes_whichever_path_checks_it(
    monkeypatch: pytest.MonkeyPatch, program: dict[str, Any]
) -> None:
    fast = _canonical(program)
    with monkeypatch.context() as m:
        for name in _NAMES:
            m.setattr(schema, name, getattr(plain, name))
        assert _canonical(program) == fast


_DIGESTS = """
import hashlib, sys
from pt2canon._json import canonical_bytes
from pt2canon.api import canonicalize_all
from pt2canon.serde import plain, schema
print(plain.ENABLED, schema.plain_node is plain.plain_node)
for path in sys.argv[1:]:
    for c in canonicalize_all(path).values():
        print(hashlib.sha256(canonical_bytes(c.doc)).hexdigest())
"""


@needs_compiled
def test_the_corpus_has_the_same_canonical_bytes_with_pt2canon_compiled_0(corpus: Corpus) -> None:
    paths = [str(e.path) for e in corpus.values()]

    def run(**env: str) -> list[str]:
        cmd = [sys.executable, "-W", "ignore", "-c", _DIGESTS, *paths]
        base = {k: v for k, v in os.environ.items() if k != "PT2CANON_COMPILED"}
        done = subprocess.run(cmd, env={**base, **env}, capture_output=True, text=True, check=True)
        return done.stdout.split("\n")

    on, off = run(), run(PT2CANON_COMPILED="0")
    assert on[0] == "True False" and off[0] == "False True"  # each run took the path it was meant to
    assert on[1:] == off[1:] and len(on) > len(paths)


def test_the_fast_path_is_built_where_the_package_was_installed_with_a_c_compiler() -> None:
    # CI installs with gcc on PATH: a build that failed (optional=True goes on without it) fails here.
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if not sys.platform.startswith("linux") or shutil.which(cc) is None:
        pytest.skip(f"no C compiler {cc!r} here")
    assert plain.AVAILABLE
    assert plain.ENABLED is (os.environ.get("PT2CANON_COMPILED", "1") != "0")


@needs_compiled
@pytest.mark.parametrize("n", [0, 63, 64, 65])
def test_both_draw_the_length_bounds_at_the_same_place(n: int) -> None:
    # Generated values stay short; the bounds (PLAIN_RANK, the lists' and a node's value count) are here.
    ref, dim = {"as_tensor": {"name": "x"}}, {"as_int": 1}
    meta = {"dtype": 7, "sizes": [dim] * n, "strides": [dim] * n, "storage_offset": dim, "layout": 0,
            "device": {"type": "cpu", "index": None}, "requires_grad": False}  # fmt: skip
    ins = [{"name": f"a{i}", "arg": ref} for i in range(n)]
    parts = [
        meta,
        {**meta, "strides": [dim] * (n + 1)},
        {"as_ints": list(range(n))},
        {"as_sym_ints": [{"as_name": "s0"}] * n},
        {"target": "t", "inputs": ins, "outputs": []},
        {"target": "t", "inputs": ins, "outputs": [ref]},
    ]
    answers = [_assert_same(part) for part in parts]
    assert answers[0] == [False, False, n <= plain.PLAIN_RANK]  # (node, argument, tensor metadata)


_REF = {"as_tensor": {"name": "x"}}
# Parts on the edge of a rule that random edits seldom reach, with what the reference answers
# (node, argument, tensor metadata), each read off plain.py's rules.
_EDGES = [
    ({"target": "t", "inputs": [{"name": "a", "arg": _REF, "x": 0}], "outputs": []}, [False, False, False]),
    ({"target": "t", "inputs": [{"name": "a", "arg": _REF}], "outputs": []}, [True, False, False]),
    ({"target": "t", "inputs": [{"name": "a", "arg": _REF, "kind": [1]}], "outputs": []}, [False, False, False]),
    ({"target": "t", "inputs": [{"name": "a", "arg": None, "kind": 1}], "outputs": []}, [False, False, False]),
    ({"target": "t", "inputs": [], "outputs": [], "metadata": {"k": 1}}, [False, False, False]),
    (
        {"target": "t", "inputs": [], "outputs": [], "name": None, "is_hop_single_tensor_return": None},
        [True, False, False],
    ),
    ({"target": "t", "inputs": [], "outputs": [], "is_hop_single_tensor_return": {}}, [False, False, False]),
    ({"target": "t", "inputs": [], "outputs": [{"as_tensor": None}]}, [False, False, False]),
    ({"as_tensor": None}, [False, False, False]),
    ({"as_int_lists": [[1, True], [None]]}, [False, True, False]),
    ({"as_int_lists": [[1, [2]]]}, [False, False, False]),
    ({"as_int": {"a": {"b": 1}}}, [False, True, False]),  # an opaque constant: scalars two levels down
    ({"as_int": {"a": {"b": [1]}}}, [False, False, False]),
    ({"as_sym_int": {"as_int": True}}, [False, False, False]),
    ({"as_sym_int": {"as_name": "s0", "as_int": 1}}, [False, False, False]),
    ({"as_string": _Str("x")}, [False, False, False]),
]


@needs_compiled
@pytest.mark.parametrize(("part", "expected"), _EDGES)
def test_both_agree_on_parts_at_the_edge_of_a_rule(part: Any, expected: list[bool]) -> None:
    assert _assert_same(part) == expected


# Keys whose hash equals a field's and whose comparison runs code: the order and number of the
# lookups, a dict changed by a lookup, and the retry ``in`` makes for a set-subclass key all show
# in the answer or the exception, so both must do the same lookups in the same order.
class _SetKey(set):  # type: ignore[type-arg]
    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field

    def __hash__(self) -> int:
        return hash(self.field)

    def __eq__(self, other: object) -> bool:
        if other == self.field:  # in a set lookup that meets the field: `in` retries it as a frozenset
            raise TypeError("a set subclass")
        return False


class _Key:
    """Equal to ``field`` as its ``calls``-th comparison says; runs ``then`` on each comparison."""

    def __init__(self, field: str, answers: list[Any], then: Callable[[], None] = lambda: None) -> None:
        self.field, self.answers, self.then, self.calls = field, answers, then, 0

    def __hash__(self) -> int:
        return hash(self.field)

    def __eq__(self, other: object) -> bool:
        self.then()
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return bool(answer) and other == self.field


def _popping_node() -> dict[Any, Any]:
    node: dict[Any, Any] = {"target": "t", "inputs": [], "outputs": []}
    node[_Key("name", [True], lambda: node.pop("metadata", None))] = None
    node["metadata"] = {}
    return node


def _growing_argument() -> dict[Any, Any]:
    arg: dict[Any, Any] = {}
    arg[_Key("as_tensor", [False], lambda: arg.update({"as_int": 1, "as_float": 2.0}) if len(arg) < 3 else None)] = 1
    return arg


_META = {"dtype": 1, "sizes": [], "strides": [], "device": {}, "requires_grad": False, "layout": 0}
_STRANGE: dict[str, Callable[[], Any]] = {
    "a set-subclass key in a node": lambda: {"target": "t", _SetKey("name"): 0},
    "a set-subclass key in tensor metadata": lambda: {
        **dict.fromkeys(sorted(plain.TENSOR_META_KEYS)[:6], 0),
        _SetKey("x"): 0,
    },
    "a set-subclass tag": lambda: {_SetKey("as_int"): 1},
    "a key check that empties the metadata": _popping_node,
    "a name looked up though the metadata is no object": lambda: {
        "target": "t",
        "inputs": [],
        "outputs": [],
        "metadata": 1,
        _Key("name", [True, ValueError("second")]): None,
    },
    "a storage offset looked up only after the dtype": lambda: {
        **_META,
        "dtype": "x",
        _Key("storage_offset", [True, ValueError("second")]): {"as_int": 0},
    },
    "a size's as_int looked up twice": lambda: {
        **_META,
        "sizes": [{_Key("as_int", [False, True]): 2}],
        "storage_offset": {"as_int": 0},
    },
    "a storage offset's as_int looked up twice": lambda: {
        **_META,
        "storage_offset": {_Key("as_int", [False, True]): 0},
    },
    "an argument that grows while looked up": _growing_argument,
}


@needs_compiled
@pytest.mark.parametrize("make", _STRANGE.values(), ids=list(_STRANGE))
def test_objects_whose_keys_run_code_get_the_same_answer_or_exception_from_both(make: Callable[[], Any]) -> None:
    for reference, compiled in _pairs():
        assert _answer(compiled, make()) == _answer(reference, make()), reference.__name__


class _EqualsInt(type):
    def __hash__(cls) -> int:
        return hash(int)

    def __eq__(cls, other: object) -> bool:
        return other is int or cls is other


class _IntLike(metaclass=_EqualsInt):
    pass


@needs_compiled
def test_a_class_equal_to_int_by_its_metaclass_is_no_scalar_to_the_compiled_path() -> None:
    # The one known difference (_plain.c's header), on the safe side: False, so the full check runs.
    for part in (
        {"as_int": _IntLike()},
        {"target": "t", "inputs": [{"name": "a", "arg": {"as_none": None}, "kind": _IntLike()}], "outputs": []},
    ):
        assert any(reference(part) for reference, _ in _pairs())
        assert not any(compiled(part) for _, compiled in _pairs())
