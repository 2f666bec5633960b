"""Which ops have side effects: the naming rules agree with torch's schemas."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import CorpusEntry

import pt2canon
from pt2canon.canon.effects import effects_from_name, effects_from_schema, effects_of_node, split_target
from pt2canon.serde.archive import read_artifact


def _targets(graph: dict) -> set[str]:
    out = set()
    for node in graph["nodes"]:
        out.add(node["target"])
        for na in node["inputs"]:
            if "as_graph" in na["arg"]:
                out |= _targets(na["arg"]["as_graph"]["graph"])
    return out


@pytest.fixture(scope="module")
def corpus_ops(corpus: dict) -> set[str]:
    ops: set[str] = set()
    for entry in corpus.values():
        ops |= _targets(read_artifact(entry.path).model.program["graph_module"]["graph"])
    return ops


def test_the_corpus_exercises_mutation_randomness_asserts_and_views(corpus_ops: set[str]) -> None:
    effects = [effects_from_name(t) for t in corpus_ops]
    assert any(e.mutates for e in effects)
    assert any(e.random for e in effects)
    assert any(e.effectful for e in effects)
    assert any(e.view for e in effects)


def test_naming_rules_and_schemas_agree_on_every_op_of_the_corpus(corpus_ops: set[str]) -> None:
    disagreements = []
    for target in sorted(corpus_ops):
        ns, _, _ = split_target(target)
        if ns in ("higher_order", "_operator", "builtins", "math"):
            continue
        by_schema = effects_from_schema(target)
        assert by_schema is not None, f"torch has no schema for {target}"
        by_name = effects_from_name(target)
        if (
            by_name.ordered != by_schema.ordered
            or by_name.mutates != by_schema.mutates
            or by_name.random != by_schema.random
        ):
            disagreements.append((target, by_name, by_schema))
    assert not disagreements, "\n".join(f"{t}: name={a} schema={b}" for t, a, b in disagreements)


def test_views_named_by_rule_are_views_by_schema(corpus_ops: set[str]) -> None:
    for target in sorted(corpus_ops):
        by_name = effects_from_name(target)
        if by_name.view and split_target(target)[0] == "aten" and not by_name.mutates:
            schema = effects_from_schema(target)
            assert schema is not None and schema.view, target


def test_batch_norm_in_training_is_known_to_update_its_running_statistics(corpus: dict[str, CorpusEntry]) -> None:
    targets = _targets(read_artifact(corpus["conv_bn_train"].path).model.program["graph_module"]["graph"])
    bn = [t for t in targets if "batch_norm" in t]
    assert bn
    for t in bn:
        assert {"running_mean", "running_var"} <= effects_from_name(t).mutates


def test_a_batch_norm_updates_its_running_statistics_only_when_called_in_training() -> None:
    import torch

    from pt2canon.serde.graph import op_nodes, to_networkx

    def graph_of(module: torch.nn.Module) -> dict:
        ep = torch.export.export(module, (torch.randn(4, 3, 5, 5),))
        return pt2canon.load(ep).model.program["graph_module"]["graph"]

    torch.manual_seed(0)
    block = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3))
    for training in (False, True):
        graph = graph_of(block.train(training))
        G = to_networkx(graph)
        bn = [n for n in op_nodes(G) if "batch_norm" in G.nodes[n]["target"]]
        assert len(bn) == 2
        for n in bn:
            args = {na["name"]: na["arg"] for na in G.nodes[n]["args"]}
            assert args["training"] == {"as_bool": training}
            assert bool(effects_of_node(G.nodes[n]["target"], args).mutates) is training
            assert effects_from_name(G.nodes[n]["target"]).mutates  # the name alone cannot tell


def test_ops_inside_a_vmap_level_stay_between_its_increment_and_decrement(tmp_path: Path) -> None:
    from serializer_programs import build

    programs, _ = build(["predispatch_vmap"])
    path = programs["predispatch_vmap"].save(tmp_path / "vmap.pt2")
    doc = pt2canon.canonicalize(str(path)).doc
    targets = [n["target"] for n in doc["graph_module"]["graph"]["nodes"]]
    inc, dec = (
        next(i for i, t in enumerate(targets) if t.endswith(f"_vmap_{w}_nesting")) for w in ("increment", "decrement")
    )
    batched = [i for i, t in enumerate(targets) if t.endswith(("_add_batch_dim", "mul.Tensor", "_remove_batch_dim"))]
    assert len(batched) == 4 and all(inc < i < dec for i in batched)
    assert effects_from_name("torch._functorch.predispatch._vmap_increment_nesting").ordered
    assert not effects_from_name("torch.sym_float").ordered  # a top-level torch function is pure
