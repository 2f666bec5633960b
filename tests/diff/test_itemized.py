"""The diff itemizes every difference the hash sees: no "a part no record itemizes", in any renderer.

One leaf of a program is changed (a constant argument, an argument's
kind, an assert message, a tensor's dtype, size or device, a signature
entry's FQN or flag, a constant input's value, a range bound, the module
call graph, the verifiers, ...), in generated programs and in programs
torch exported. Whenever the hash at a level changes, the diff at that
level counts at least one record, none of them the fallback sentence,
one of them is where the change is (the changed node, the value's
producer, the signature entry, the constraint), and the text, JSON,
Markdown and HTML renderings all show it.
"""

from __future__ import annotations

import copy
import html
import json
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import pt2canon
from pt2canon.diff import DiffResult
from pt2canon.diff.render.common import clean_text
from pt2canon.errors import Pt2CanonError
from pt2canon.strategies import programs

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)

#: Keys whose values are not semantic leaves: value and node names (renaming them is no change, or
#: breaks the graph), metadata and example hints (not hashed), the schema version (refused).
_SKIP = frozenset({"name", "as_name", "metadata", "hint", "forward_arg_names", "schema_version", "guards_code"})
#: Keys that are structural in the JSON form, changing them breaks the document rather than the program.
_STRUCTURAL = frozenset({"as_graph"})
Path = tuple[Any, ...]


def _leaves(obj: Any, path: Path = ()) -> Iterator[Path]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in _SKIP or (k in _STRUCTURAL and path[-1:] != ("arg",)):
                continue
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, (*path, i))
    elif isinstance(obj, (bool, int, float, str)) and path:
        yield path


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.5
    if value in ("Infinity", "-Infinity", "NaN"):
        return 2.5
    if "Symbol(" in value:  # a symbolic expression: another one
        return value.replace("Symbol(", "Add(Integer(1), Symbol(", 1) + ")"
    return value + "_changed"


def _get(doc: dict[str, Any], path: Path) -> Any:
    holder: Any = doc
    for key in path:
        holder = holder[key]
    return holder


def _mutate(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    holder: Any = out
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = _changed(holder[path[-1]])
    return out


def _node_names(doc: dict[str, Any], path: Path) -> set[str]:
    """The names of the nodes (and inputs) a record about ``path`` may be located at."""
    names: set[str] = set()
    graph: Any = doc
    node: Any = None
    for i, key in enumerate(path):
        graph_here = graph
        graph = graph[key]
        if key == "nodes" and isinstance(path[i + 1 : i + 2][0], int):
            node = graph[path[i + 1]]
        if key in ("tensor_values", "sym_int_values", "sym_bool_values", "sym_float_values") and i + 1 < len(path):
            value = path[i + 1]
            names.add(value)  # an input's original name, or a single-output node's
            for n in graph_here.get("nodes", ()):
                if value in json.dumps(n["outputs"]):
                    names.add(n["name"])
    if node is not None:
        names.add(node["name"])
    return names


def _names_it(r: DiffResult, doc: dict[str, Any], path: Path) -> bool:
    section = path[1] if path[:1] == ("graph_module",) and len(path) > 1 else path[0]
    items = [c.location.item or "" for c in r.changes]
    if section == "graph":
        names = _node_names(doc["graph_module"], path[1:])
        located = {c.location.a_original for c in r.changes} | {c.location.b_original for c in r.changes}
        return bool(names & located) or any("layer" not in i and i for i in items)
    if section == "signature":
        which = "input" if path[2] == "input_specs" else "output"
        if any(i.startswith(which) for i in items):
            return True
        # A renamed buffer or parameter whose mutation output keeps the old FQN: the structure
        # level sees the broken binding (no FQN is compared there), on the mutation's output.
        fqn = _get(doc, path)
        return which == "input" and any(i.startswith("output") and i.endswith(f" {fqn}") for i in items)
    if section == "module_call_graph":
        return any(i.startswith("module_call_graph") for i in items)
    if section == "range_constraints":
        return any(i.startswith("range ") for i in items)
    return bool(r.changes)


def _shown_everywhere(r: DiffResult) -> None:
    text, data = r.render("text"), json.loads(r.render("json"))
    markdown, page = r.render("markdown"), r.render("html")
    assert [c["summary"] for c in data["changes"]] == [c.summary for c in r.changes]
    for c in r.changes:
        head = clean_text(c.summary)[:40]
        # the text shows a record as its summary, or as the row of its node or signature entry
        shown = [c.summary, *(line.strip() for line in (c.a_line, c.b_line) if line)]
        assert any(s in text for s in shown), (c.summary, text)
        assert head.replace("|", "\\|") in markdown or head in markdown, (head, markdown)
        assert html.escape(head, quote=True) in page, head


def _check(doc: dict[str, Any], path: Path) -> None:
    note(f"path={path!r}")
    mutated = _mutate(doc, path)
    try:
        digests = {
            level: (
                pt2canon.hash(json.dumps(doc).encode(), level=level),
                pt2canon.hash(json.dumps(mutated).encode(), level=level),
            )
            for level in ("structure", "graph")
        }
    except Pt2CanonError:
        assume(False)  # the change made the document invalid: nothing to itemize
        return
    for level, (ha, hb) in digests.items():
        r = pt2canon.diff(json.dumps(doc).encode(), json.dumps(mutated).encode(), level=level)
        if ha == hb:
            assert r.equal, (path, [c.summary for c in r.changes])
            continue
        assert not r.equal and r.changes, (path, level)
        fallback = [c.summary for c in r.changes if "no record itemizes" in c.summary]
        assert not fallback, (path, level, fallback)
        assert _names_it(r, doc, path), (path, level, [(c.kind, str(c.location), c.summary) for c in r.changes])
        _shown_everywhere(r)


@SETTINGS
@given(programs(), st.data())
def test_every_change_of_one_leaf_of_a_generated_program_is_itemized_in_every_renderer(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    leaves = list(_leaves(doc))
    _check(doc, data.draw(st.sampled_from(leaves), label="path"))


_REAL = [
    "effects",  # in-place ops, random ops, asserts
    "exportdb_constrain_as_size_example",  # _assert_scalar messages, unbacked symbols
    "exportdb_assume_constant_result",
    "exportdb_cond_operands",  # cond
    "exportdb_tensor_setattr",  # a constant input
    "exportdb_scalar_output",
    "exportdb_user_input_mutation",
    "dynamic_batch",
    "lifted_constant",
    "conv_bn_train",
    "transformer_layer",
]


@SETTINGS
@given(st.sampled_from(_REAL), st.data())
def test_every_change_of_one_leaf_of_a_torch_export_is_itemized_in_every_renderer(
    corpus: Any, name: str, data: st.DataObject
) -> None:
    assume(name in corpus)
    doc = pt2canon.load(corpus[name].path).model.program
    leaves = list(_leaves(doc))
    _check(doc, data.draw(st.sampled_from(leaves), label="path"))
