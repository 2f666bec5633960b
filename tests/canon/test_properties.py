"""Property tests of the canonical form on generated programs (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pt2canon._json import canonical_bytes
from pt2canon.canon.hashing import hash_layers
from pt2canon.canon.program import canonicalize_program
from pt2canon.serde.graph import from_networkx, iter_refs, to_networkx
from pt2canon.serde.schema import check_program
from pt2canon.strategies import MUTATION_LEVELS, fqn_renames, mutations, programs, rewrites

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def _names(arg: dict) -> list[str]:
    return [name for _, _, name, _ in iter_refs(arg)]


def _canon_bytes(doc: dict) -> bytes:
    return canonical_bytes(canonicalize_program(doc).doc)


def _hash(doc: dict, level: str) -> str:
    return hash_layers({"model": canonicalize_program(doc)}, level=level).hash


@SETTINGS
@given(programs())
def test_generated_programs_are_valid_documents_that_round_trip_through_the_graph_model(doc: dict) -> None:
    check_program(doc)
    graph = doc["graph_module"]["graph"]
    assert from_networkx(to_networkx(graph)) == graph


@SETTINGS
@given(programs().flatmap(lambda d: rewrites(d).map(lambda r: (d, r))))
def test_an_equivalent_rewrite_has_the_same_canonical_bytes_and_hash(pair: tuple[dict, dict]) -> None:
    doc, rewritten = pair
    assert canonical_bytes(doc) != canonical_bytes(rewritten)  # the rewrite really changed the bytes
    assert _canon_bytes(doc) == _canon_bytes(rewritten)
    for level in ("structure", "graph"):
        assert _hash(doc, level) == _hash(rewritten, level)


@SETTINGS
@given(programs().flatmap(lambda d: fqn_renames(d).map(lambda r: (d, *r))))
def test_renaming_parameters_and_buffers_changes_the_signature_layer_only(
    case: tuple[dict, dict, dict[str, str]],
) -> None:
    doc, renamed, mapping = case
    a = hash_layers({"model": canonicalize_program(doc)}, level="graph").layers
    b = hash_layers({"model": canonicalize_program(renamed)}, level="graph").layers
    # FQN-named inputs no op reads come last by FQN (docs/canonical-form.md, Limits): they may move.
    graph = doc["graph_module"]["graph"]
    read = {name for n in graph["nodes"] for na in n["inputs"] for name in _names(na["arg"])}
    specs = doc["graph_module"]["signature"]["input_specs"]
    unread = {b["arg"]["name"] for s in specs if "user_input" not in s for b in s.values()} - read
    if not unread & {name for o in graph["outputs"] for name in _names(o)}:
        assert a["structure"] == b["structure"]  # unread and not an output: invisible to the structure
    if unread:
        return
    assert a["tensors"] == b["tensors"] and a["constraints"] == b["constraints"]

    # Each renamed FQN names a value with the tensor metadata the old FQN's value had.
    def meta_by_fqn(d: dict) -> dict[str, bytes]:
        doc = canonicalize_program(d).doc
        tables = doc["graph_module"]["graph"]["tensor_values"]
        specs = doc["graph_module"]["signature"]["input_specs"]
        fields = ("parameter_name", "buffer_name")
        return {
            body[f]: canonical_bytes(tables[body["arg"]["name"]])
            for spec in specs
            for body in spec.values()
            for f in fields
            if f in body
        }

    before = meta_by_fqn(doc)
    assert meta_by_fqn(renamed) == {mapping[fqn]: m for fqn, m in before.items()}


@SETTINGS
@given(programs())
def test_canonicalize_is_idempotent_and_leaves_its_input_as_it_was(doc: dict) -> None:
    before = canonical_bytes(doc)
    once = canonicalize_program(doc).doc
    assert canonical_bytes(doc) == before
    twice = canonicalize_program(once).doc
    assert canonical_bytes(once) == canonical_bytes(twice)


def _term(doc: dict, value: str) -> str:
    """An independent structural term for a value: what computes it, from what."""
    graph = doc["graph_module"]["graph"]
    specs = doc["graph_module"]["signature"]["input_specs"]
    for i, inp in enumerate(graph["inputs"]):
        if inp.get("as_tensor", {}).get("name") == value:
            kind = sorted(specs[i])[0]
            # Parameters and buffers are anonymous in the structure (FQNs belong to the graph level):
            # reading one or another of the same kind is the same structure.
            return f"input:{kind}" if kind in ("parameter", "buffer", "tensor_constant") else f"input{i}:{kind}"
    for node in graph["nodes"]:
        outs = [o["as_tensor"]["name"] for o in node["outputs"] if "as_tensor" in o]
        outs += [t["name"] for o in node["outputs"] for t in o.get("as_tensors", [])]
        if value in outs:
            args = []
            for na in node["inputs"]:
                a = na["arg"]
                args.append(_term(doc, a["as_tensor"]["name"]) if "as_tensor" in a else repr(a))
            return f"{node['target']}[{outs.index(value)}]({', '.join(args)})"
    return value


@SETTINGS
@given(programs().flatmap(lambda d: mutations(d).map(lambda m: (d, m))))
def test_a_single_semantic_mutation_changes_the_hash_at_the_levels_that_cover_it(
    pair: tuple[dict, tuple[str, dict]],
) -> None:
    doc, (kind, mutated) = pair
    if kind == "wiring":
        # Swapping two structurally identical operands is no change at all.
        before = [
            na["arg"]["as_tensor"]["name"]
            for n in doc["graph_module"]["graph"]["nodes"]
            for na in n["inputs"]
            if "as_tensor" in na["arg"]
        ]
        after = [
            na["arg"]["as_tensor"]["name"]
            for n in mutated["graph_module"]["graph"]["nodes"]
            for na in n["inputs"]
            if "as_tensor" in na["arg"]
        ]
        swapped = [(a, b) for a, b in zip(before, after) if a != b]
        assume(len({_term(doc, v) for pair_ in swapped for v in pair_}) > 1)
    for level in ("structure", "graph"):
        changed = _hash(doc, level) != _hash(mutated, level)
        assert changed == (level in MUTATION_LEVELS[kind]), (kind, level)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(effects=False, cond=False), st.randoms(use_true_random=False))
def test_equal_programs_stay_equal_under_any_topological_order(doc: dict, rnd) -> None:  # type: ignore[no-untyped-def]
    # Shuffling only the order (names kept) isolates the ordering from renaming.
    import copy

    import networkx as nx

    g = doc["graph_module"]["graph"]
    G = to_networkx(g)
    order = list(nx.lexicographical_topological_sort(G, key=lambda n: rnd.random()))
    ops = [n for n in order if G.nodes[n]["kind"] == "op"]
    shuffled = copy.deepcopy(doc)
    shuffled["graph_module"]["graph"] = from_networkx(G, order=ops)
    assert _canon_bytes(doc) == _canon_bytes(shuffled)


@pytest.mark.parametrize("level", ["structure", "graph"])
def test_hash_strings_have_the_documented_form(level: str) -> None:
    doc = programs().example() if False else _tiny()
    h = _hash(doc, level)
    assert h.startswith("sha256:") and len(h) == len("sha256:") + 64
    int(h[7:], 16)


def _tiny() -> dict:
    return {
        "graph_module": {
            "graph": {
                "inputs": [{"as_tensor": {"name": "x"}}],
                "outputs": [{"as_tensor": {"name": "y"}}],
                "nodes": [
                    {
                        "target": "torch.ops.aten.relu.default",
                        "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}, "kind": 1}],
                        "outputs": [{"as_tensor": {"name": "y"}}],
                        "metadata": {},
                        "name": "y",
                    }
                ],
                "tensor_values": {},
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
