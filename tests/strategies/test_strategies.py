"""The public hypothesis strategies: options, validation, and rewrites of real exports."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import hypothesis.errors
import pytest
import torch
from corpus import CORE_NAMES, Corpus
from hypothesis import HealthCheck, Phase, find, given, settings

import pt2canon
from pt2canon._json import canonical_bytes
from pt2canon.canon.hashing import hash_layers
from pt2canon.canon.program import canonicalize_program
from pt2canon.errors import MissingDependencyError, UsageError
from pt2canon.serde.schema import check_program
from pt2canon.strategies import (
    MUTATION_LEVELS,
    InvalidArgument,
    fqn_renames,
    mutations,
    programs,
    rewrites,
    tensor_meta,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _layers(doc: dict) -> dict[str, str]:
    return hash_layers({"model": canonicalize_program(doc)}, level="graph").layers


def _walk(obj: object):  # type: ignore[no-untyped-def]
    yield obj
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)


def _node_names(graph: dict) -> list[str]:
    return [n["name"] for n in graph["nodes"]]


# -- programs ------------------------------------------------------------------------------


@FAST
@given(programs(min_nodes=3, max_nodes=5, effects=False, cond=False, symbolic=False, max_parameters=0))
def test_programs_honour_their_options(doc: dict) -> None:
    check_program(doc)
    graph = doc["graph_module"]["graph"]
    # Each draw adds one node, two for a sym_size + view pair.
    assert 3 <= len(graph["nodes"]) <= 10
    targets = {n["target"] for n in graph["nodes"]}
    assert not any(t.endswith(("add_.Tensor", "rand.default")) or "higher_order" in t for t in targets)
    assert not any(isinstance(o, dict) and "as_expr" in o for o in _walk(doc))
    assert doc["range_constraints"] == {}
    specs = doc["graph_module"]["signature"]["input_specs"]
    assert not any("parameter" in s for s in specs)


@pytest.mark.parametrize(
    ("feature", "present"),
    [
        ("a cond with two subgraphs", lambda d: "torch.ops.higher_order.cond" in json.dumps(d)),
        ("an in-place update of the buffer", lambda d: "buffer_mutation" in json.dumps(d)),
        ("a random draw", lambda d: "rand.default" in json.dumps(d)),
        ("a symbolic size", lambda d: bool(d["range_constraints"]) and "as_expr" in json.dumps(d)),
        ("a multi-output op", lambda d: "split_with_sizes" in json.dumps(d) or "max.dim" in json.dumps(d)),
    ],
)
def test_programs_can_draw_each_feature_that_is_allowed(feature: str, present) -> None:  # type: ignore[no-untyped-def]
    found = find(programs(), present, settings=settings(max_examples=500, phases=[Phase.generate], database=None))
    check_program(found)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_nodes": 0}, "min_nodes=0 must be at least 1; pass min_nodes>=1"),
        ({"max_nodes": 2, "min_nodes": 3}, "max_nodes=2 must be at least min_nodes=3; pass max_nodes>=min_nodes"),
        ({"max_nodes": 2.5}, "expected int but got max_nodes=2.5 (type float)"),
        ({"max_nodes": True}, "expected int but got max_nodes=True (type bool)"),
        ({"max_parameters": -1}, "max_parameters=-1 must be at least 0"),
        ({"cond": "yes"}, "expected bool but got cond='yes' (type str)"),
    ],
)
def test_bad_program_options_are_refused_naming_the_option_the_rule_and_the_fix(options: dict, message: str) -> None:
    with pytest.raises(InvalidArgument, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        programs(**options)


def test_invalid_argument_is_both_the_projects_usage_error_and_hypothesis_own() -> None:
    with pytest.raises(UsageError) as info:
        programs(min_nodes=-3)
    assert isinstance(info.value, hypothesis.errors.InvalidArgument)
    assert isinstance(info.value, pt2canon.Pt2CanonError)


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        programs(5)  # type: ignore[misc]
    with pytest.raises(TypeError):
        rewrites(_tiny(), False)  # type: ignore[misc]


def test_tensor_meta_has_contiguous_strides_for_ints_and_serialized_sizes() -> None:
    meta = tensor_meta([2, {"as_int": 3}, 4], dtype=6)
    assert meta["sizes"] == [{"as_int": 2}, {"as_int": 3}, {"as_int": 4}]
    assert meta["strides"] == [{"as_int": 12}, {"as_int": 4}, {"as_int": 1}]
    assert meta["dtype"] == 6


# -- rewrites ------------------------------------------------------------------------------


def _tiny() -> dict:
    meta = tensor_meta([3])
    node = {
        "target": "torch.ops.aten.relu.default",
        "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}, "kind": 1}],
        "outputs": [{"as_tensor": {"name": "y"}}],
        "metadata": {},
        "name": "y",
    }
    return {
        "graph_module": {
            "graph": {
                "inputs": [{"as_tensor": {"name": "x"}}],
                "outputs": [{"as_tensor": {"name": "y"}}],
                "nodes": [node],
                "tensor_values": {"x": meta, "y": meta},
                "sym_int_values": {},
                "sym_bool_values": {},
            },
            "signature": {
                "input_specs": [{"user_input": {"arg": {"as_tensor": {"name": "x"}}}}],
                "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": "y"}}}}],
            },
            "module_call_graph": [],
        },
        "schema_version": {"major": 8, "minor": 20},
    }


@FAST
@given(programs().flatmap(lambda d: rewrites(d).map(lambda r: (copy.deepcopy(d), d, r))))
def test_rewrites_leave_their_input_as_it_was(case: tuple[dict, dict, dict]) -> None:
    snapshot, original, _ = case
    assert original == snapshot


@FAST
@given(
    programs().flatmap(
        lambda d: rewrites(d, rename=False, move_inputs=False, noise=False, shuffle_keys=False).map(lambda r: (d, r))
    )
)
def test_reordering_alone_keeps_every_node_and_the_order_of_side_effects(pair: tuple[dict, dict]) -> None:
    doc, rewritten = pair
    a, b = doc["graph_module"]["graph"], rewritten["graph_module"]["graph"]
    assert sorted(_node_names(a)) == sorted(_node_names(b))
    effects = [n for n in _node_names(a) if n.startswith(("add_", "rand"))]
    assert [n for n in _node_names(b) if n in effects] == effects
    # Every direct read of the buffer stays on its side of every in-place update.
    buf = next(s["buffer"]["arg"]["name"] for s in doc["graph_module"]["signature"]["input_specs"] if "buffer" in s)
    readers = [n["name"] for n in a["nodes"] if buf in json.dumps(n["inputs"])]
    pos_a = {n: i for i, n in enumerate(_node_names(a))}
    pos_b = {n: i for i, n in enumerate(_node_names(b))}
    for m in (n for n in readers if n.startswith("add_")):
        for r in readers:
            assert (pos_a[r] < pos_a[m]) == (pos_b[r] < pos_b[m]), (r, m)


@FAST
@given(programs().flatmap(lambda d: rewrites(d, reorder=False, move_inputs=False, noise=False).map(lambda r: (d, r))))
def test_renaming_renames_every_value_node_and_symbol(pair: tuple[dict, dict]) -> None:
    doc, rewritten = pair
    a, b = doc["graph_module"]["graph"], rewritten["graph_module"]["graph"]
    assert not set(a["tensor_values"]) & set(b["tensor_values"])
    assert not set(_node_names(a)) & set(_node_names(b))
    old_symbols, new_symbols = set(doc["range_constraints"]), set(rewritten["range_constraints"])
    assert len(old_symbols) == len(new_symbols) and not old_symbols & new_symbols
    text = json.dumps(rewritten)
    assert not any(f"'{s}'" in text for s in old_symbols)


@FAST
@given(programs().flatmap(lambda d: rewrites(d, reorder=False, rename=False, move_inputs=False).map(lambda r: (d, r))))
def test_noise_and_key_shuffling_change_only_metadata_hints_and_key_order(pair: tuple[dict, dict]) -> None:
    doc, rewritten = pair

    def strip(d: dict) -> dict:
        d = copy.deepcopy(d)
        for o in _walk(d):
            if isinstance(o, dict) and "target" in o:  # a node, in any graph
                o["metadata"] = {}
            if isinstance(o, dict) and "hint" in o:
                o["hint"] = None
        return d

    assert canonical_bytes(strip(doc)) == canonical_bytes(strip(rewritten))


@pytest.mark.parametrize("name", CORE_NAMES)
def test_rewrites_of_real_exports_keep_every_hash_layer(corpus: Corpus, name: str) -> None:
    program = pt2canon.load(corpus[name].path).model.program
    expected = _layers(program)

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rewrites(program))
    def check(rewritten: dict) -> None:
        assert canonical_bytes(rewritten) != canonical_bytes(program)
        assert _layers(rewritten) == expected

    check()


@pytest.mark.parametrize("name", CORE_NAMES)
def test_mutations_of_real_exports_change_the_levels_that_cover_them(corpus: Corpus, name: str) -> None:
    program = pt2canon.load(corpus[name].path).model.program
    before = {lv: hash_layers({"m": canonicalize_program(program)}, level=lv).hash for lv in ("structure", "graph")}

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutations(program, kinds=["shape", "dtype", "target", "constant"]))
    def check(mutation: tuple[str, dict]) -> None:
        kind, mutated = mutation
        for lv, h in before.items():
            after = hash_layers({"m": canonicalize_program(mutated)}, level=lv).hash
            assert (after != h) == (lv in MUTATION_LEVELS[kind]), (kind, lv)

    check()


# -- mutations and FQN renamings ----------------------------------------------------------


@FAST
@given(programs().flatmap(lambda d: mutations(d, kinds={"dtype"}).map(lambda m: (d, m))))
def test_mutations_restricted_to_one_kind_draw_only_that_kind(pair: tuple[dict, tuple[str, dict]]) -> None:
    doc, (kind, mutated) = pair
    assert kind == "dtype"
    a, b = doc["graph_module"]["graph"]["tensor_values"], mutated["graph_module"]["graph"]["tensor_values"]
    changed = [v for v in a if a[v] != b[v]]
    assert len(changed) == 1 and a[changed[0]]["dtype"] != b[changed[0]]["dtype"]


def test_mutations_refuse_unknown_kinds_and_programs_with_nothing_to_change() -> None:
    with pytest.raises(InvalidArgument, match=r"kinds=\['colour'\] names unknown kinds \['colour'\]; pick from target"):
        mutations(_tiny(), kinds=["colour"])
    with pytest.raises(InvalidArgument, match="kinds='shape' must be a collection"):
        mutations(_tiny(), kinds="shape")
    with pytest.raises(InvalidArgument, match="program has nothing to mutate for kinds=\\['wiring'\\]"):
        mutations(_tiny(), kinds=["wiring"])


def test_strategies_refuse_what_is_not_a_program() -> None:
    with pytest.raises(InvalidArgument, match="program must be a serialized ExportedProgram document"):
        rewrites([1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"program is not a valid serialized ExportedProgram: .*graph_module"):
        fqn_renames({"schema_version": {"major": 8, "minor": 20}})


@FAST
@given(programs().flatmap(lambda d: fqn_renames(d).map(lambda r: (d, *r))))
def test_fqn_renames_rename_every_parameter_and_buffer_one_to_one(case: tuple[dict, dict, dict[str, str]]) -> None:
    doc, renamed, mapping = case

    def fqns(d: dict) -> list[str]:
        specs = d["graph_module"]["signature"]["input_specs"]
        return [b.get("parameter_name") or b["buffer_name"] for s in specs if "user_input" not in s for b in s.values()]

    assert fqns(renamed) == [mapping[f] for f in fqns(doc)]
    assert len(set(mapping.values())) == len(mapping)


# -- packaging -----------------------------------------------------------------------------


def test_the_module_imports_without_torch() -> None:
    code = "import sys, pt2canon.strategies; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_missing_hypothesis_is_a_clear_error_naming_the_extra() -> None:
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "from pt2canon.errors import MissingDependencyError\n"
        "try:\n    import pt2canon.strategies\n"
        "except MissingDependencyError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pt2canon.strategies needs hypothesis" in out.stdout
    assert "pip install 'pt2canon[strategies]'" in out.stdout
    assert issubclass(MissingDependencyError, pt2canon.Pt2CanonError)


class _MutatesItsInput(torch.nn.Module):
    def forward(self, x: torch.Tensor, unused: object, y: torch.Tensor) -> torch.Tensor:
        x.add_(1)
        return x * y


def test_rewrites_keep_a_mutated_user_input_and_a_none_argument_equivalent() -> None:
    # The user-input mutation names its input (user_input_name) and the None argument is part of
    # the calling convention: a rewrite renames the one and leaves the other where it is.
    ep = torch.export.export(_MutatesItsInput(), (torch.randn(3), None, torch.randn(3))).run_decompositions()
    program = pt2canon.load(ep).model.program
    specs = program["graph_module"]["signature"]
    assert any("user_input_mutation" in s for s in specs["output_specs"])
    assert any("constant_input" in s for s in specs["input_specs"])
    expected = _layers(program)

    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rewrites(program))
    def check(rewritten: dict) -> None:
        assert _layers(rewritten) == expected

    check()
