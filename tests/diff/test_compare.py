"""Change records: nothing for equivalent programs, exactly the expected records for each single mutation.

Mutations are applied to generated programs (hypothesis, ``tests/strategies.py``
plus insert/delete/add-input mutations below) and to a real 48-layer
transformer export (about 2,300 FX nodes, 1,680 serialized op nodes),
modified in one layer and exported again.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from corpus import member_bytes, rewrite_zip, save, transformer_stack
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.export.pt2_archive._package import package_pt2

import pt2canon
from pt2canon.canon.program import canonicalize_program
from pt2canon.diff import DiffResult, diff_programs
from pt2canon.diff.align import align_programs
from pt2canon.diff.fields import field_changes
from pt2canon.diff.options import Options
from pt2canon.diff.program import compare_program
from pt2canon.errors import InputError, UsageError
from pt2canon.serde.graph import iter_refs
from pt2canon.strategies import mutations, programs, rewrites

SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
T = "torch.ops.aten."
_ORDERED = ("add_.Tensor", "rand.default")


def load_doc(doc: dict[str, Any]) -> pt2canon.serde.archive.Artifact:
    return pt2canon.load(json.dumps(doc).encode())


def diff_docs(a: dict[str, Any], b: dict[str, Any], **options: Any) -> DiffResult:
    return diff_programs(load_doc(a), load_doc(b), **options)


def kinds(result: DiffResult | list[Any]) -> list[str]:
    changes = result.changes if isinstance(result, DiffResult) else result
    return sorted(c.kind for c in changes)


def direct(a: dict[str, Any], b: dict[str, Any], **options: Any) -> list[Any]:
    """Align and compare without the equal-hash shortcut of ``diff_programs``."""
    ca, cb = canonicalize_program(a), canonicalize_program(b)
    return compare_program(align_programs(ca, cb), ca, cb, Options(**options))[0]


def same_hash(a: dict[str, Any], b: dict[str, Any], level: str = "graph") -> bool:
    return pt2canon.hash(json.dumps(a).encode(), level=level) == pt2canon.hash(json.dumps(b).encode(), level=level)


# --------------------------------------------------------------------------- equal programs


@SETTINGS
@given(programs())
def test_a_program_diffed_with_itself_has_no_changes(doc: dict[str, Any]) -> None:
    r = diff_docs(doc, doc)
    assert r.equal and r.changes == [] and not r
    assert r.hash_a == r.hash_b
    assert direct(doc, doc) == []


@SETTINGS
@given(programs().flatmap(lambda d: rewrites(d).map(lambda r: (d, r))))
def test_an_equivalent_rewrite_has_no_changes_even_without_the_equal_hash_shortcut(pair: tuple[dict, dict]) -> None:
    doc, rewritten = pair
    # The alignment itself finds every node again: no record without the shortcut either.
    assert direct(doc, rewritten) == []
    assert direct(doc, rewritten, level="structure") == []
    r = diff_docs(doc, rewritten)
    if same_hash(doc, rewritten):
        assert r.equal and r.changes == []
    else:
        # The canonicalizer broke a tie by document order (two identical nodes whose users
        # differ only in metadata; reported): ``equal`` follows the hashes, through the one
        # fallback record, and nothing else is reported.
        assert [c.location.item for c in r.changes] == ["tensors layer"]


# --------------------------------------------------------------------------- mutations of generated programs


@SETTINGS
@given(programs().flatmap(lambda d: mutations(d).map(lambda m: (d, *m))))
def test_each_single_mutation_of_a_generated_program_gives_exactly_one_record(triple: tuple[dict, str, dict]) -> None:
    doc, kind, mutated = triple
    r = diff_docs(doc, mutated)
    if same_hash(doc, mutated):  # e.g. swapped operands that are interchangeable values
        assert r.changes == []
        return
    assert len(r.changes) == 1, [(c.kind, c.summary) for c in r.changes]
    (c,) = r.changes
    paths = [f["path"] for f in c.details.get("changes", [])]
    if kind == "target":
        assert c.kind == "node_changed" and "target" in paths
        assert c.location.a and c.location.b and c.a_line and c.b_line
    elif kind == "constant":
        assert c.kind == "node_changed" and paths and all(p.startswith("args.") for p in paths)
    elif kind == "wiring":
        assert c.kind == "node_rewired" and c.details["inputs"]
    else:  # shape, dtype: of an op's output or of a graph input
        assert c.kind in ("node_changed", "signature_changed")
        assert paths and all(p.startswith("meta") for p in paths)
        # Metadata is not part of the structure level; --ignore-shapes and --ignore-dtypes each hide their own.
        assert diff_docs(doc, mutated, level="structure").changes == []
        hides, keeps = ("ignore_dtypes", "ignore_shapes") if kind == "dtype" else ("ignore_shapes", "ignore_dtypes")
        assert diff_docs(doc, mutated, **{hides: True}).changes == []
        assert len(diff_docs(doc, mutated, **{keeps: True}).changes) == 1


def _top_uses(doc: dict[str, Any]) -> list[tuple[int, int]]:
    """(node index, input index) of each as_tensor argument of a top-level, non-ordered, non-HOP node."""
    out = []
    for i, n in enumerate(doc["graph_module"]["graph"]["nodes"]):
        if n["target"].endswith(_ORDERED) or "higher_order" in n["target"]:
            continue
        for j, na in enumerate(n["inputs"]):
            if "as_tensor" in na["arg"]:
                out.append((i, j))
    return out


@SETTINGS
@given(programs(), st.data())
def test_an_inserted_op_is_one_added_node_and_one_rewired_use(doc: dict[str, Any], data: st.DataObject) -> None:
    uses = _top_uses(doc)
    assume(uses)
    i, j = data.draw(st.sampled_from(uses))
    new = copy.deepcopy(doc)
    g = new["graph_module"]["graph"]
    consumer = g["nodes"][i]
    v = consumer["inputs"][j]["arg"]["as_tensor"]["name"]
    g["tensor_values"]["inserted_tanh"] = copy.deepcopy(g["tensor_values"][v])
    tanh = {
        "target": T + "tanh.default",
        "inputs": [{"name": "self", "arg": {"as_tensor": {"name": v}}, "kind": 1}],
        "outputs": [{"as_tensor": {"name": "inserted_tanh"}}],
        "metadata": {},
        "is_hop_single_tensor_return": None,
        "name": "inserted_tanh",
    }
    consumer["inputs"][j]["arg"] = {"as_tensor": {"name": "inserted_tanh"}}
    g["nodes"].insert(i, tanh)
    r = diff_docs(doc, new)
    assert kinds(r) == ["node_added", "node_rewired"], [(c.kind, c.summary) for c in r.changes]
    added = next(c for c in r.changes if c.kind == "node_added")
    rewired = next(c for c in r.changes if c.kind == "node_rewired")
    assert added.details["target"] == T + "tanh.default" and added.location.b_original == "inserted_tanh"
    # B's rewired node is the consumer; A's is the consumer or a node interchangeable with it.
    assert rewired.location.b_original == consumer["name"]
    assert rewired.a_line.split(" = ")[1].split("(")[0] == rewired.b_line.split(" = ")[1].split("(")[0]
    (entry,) = rewired.details["inputs"]
    assert entry["new"]["op"] == "aten.tanh.default" and entry["new"]["node"] == added.location.b


def _deletable(doc: dict[str, Any]) -> list[int]:
    g = doc["graph_module"]["graph"]
    outputs = {r[2] for o in g["outputs"] for r in iter_refs(o)}
    targets = Counter(n["target"] for n in g["nodes"])
    out = []
    for i, n in enumerate(g["nodes"]):
        refs = [r for na in n["inputs"] for r in iter_refs(na["arg"])]
        if (
            len(refs) == 1
            and refs[0][0] == ("as_tensor",)
            and len(n["outputs"]) == 1
            and "as_tensor" in n["outputs"][0]
            and n["outputs"][0]["as_tensor"]["name"] not in outputs
            and targets[n["target"]] == 1
            and not n["target"].endswith(_ORDERED)
        ):
            out.append(i)
    return out


def _replace_refs(obj: Any, old: str, new: str) -> Any:
    if isinstance(obj, dict):
        return {
            k: (new if k in ("name", "as_name") and v == old else _replace_refs(v, old, new)) for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_replace_refs(v, old, new) for v in obj]
    return obj


@SETTINGS
@given(programs(), st.data())
def test_a_deleted_op_is_one_removed_node_and_one_rewired_record_per_user(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    cands = _deletable(doc)
    assume(cands)
    i = data.draw(st.sampled_from(cands))
    new = copy.deepcopy(doc)
    g = new["graph_module"]["graph"]
    node = g["nodes"].pop(i)
    (ref,) = [r for na in node["inputs"] for r in iter_refs(na["arg"])]
    out = node["outputs"][0]["as_tensor"]["name"]
    del g["tensor_values"][out]
    users = {n["name"] for n in g["nodes"] if any(r[2] == out for na in n["inputs"] for r in iter_refs(na["arg"]))}
    g["nodes"] = [{**n, "inputs": _replace_refs(n["inputs"], out, ref[2])} for n in g["nodes"]]
    # A user that becomes a duplicate of another node (add(x, relu(x)) -> add(x, x) beside an
    # add(x, x)) is interchangeable with it: which of the two names the record shows is arbitrary.
    same = Counter(json.dumps([n["target"], n["inputs"]], sort_keys=True) for n in g["nodes"])
    assume(
        all(same[json.dumps([n["target"], n["inputs"]], sort_keys=True)] == 1 for n in g["nodes"] if n["name"] in users)
    )
    r = diff_docs(doc, new)
    # The range of a symbol only the deleted value mentioned goes with it (torch's loader drops
    # the ranges of symbols no value mentions).
    gone = (_mentioned(doc) - _mentioned(new)) & set(doc.get("range_constraints") or {})
    assert kinds(r) == sorted(["node_removed"] + ["node_rewired"] * len(users) + ["constraint_changed"] * len(gone)), [
        (c.kind, c.summary) for c in r.changes
    ]
    removed = next(c for c in r.changes if c.kind == "node_removed")
    assert removed.details["target"] == node["target"] and removed.location.a_original == node["name"]
    assert {c.location.b_original for c in r.changes if c.kind == "node_rewired"} == users


def _mentioned(doc: dict[str, Any]) -> set[str]:
    """Symbols some value of some graph mentions (``Symbol('s0', ...)`` in the value tables)."""
    return set(re.findall(r"Symbol\('(\w+)'", json.dumps(doc["graph_module"]["graph"])))


def _add_user_input(doc: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(doc)
    gm = new["graph_module"]
    g = gm["graph"]
    g["inputs"].append({"as_tensor": {"name": "extra_input"}})
    g["tensor_values"]["extra_input"] = {
        "dtype": 7,
        "sizes": [{"as_int": 3}],
        "requires_grad": False,
        "device": {"type": "cpu", "index": None},
        "strides": [{"as_int": 1}],
        "storage_offset": {"as_int": 0},
        "layout": 7,
    }
    gm["signature"]["input_specs"].append({"user_input": {"arg": {"as_tensor": {"name": "extra_input"}}}})
    sig = gm["module_call_graph"][0]["signature"]
    sig["inputs"].append({"as_tensor": {"name": "extra_input"}})
    sig["forward_arg_names"].append("extra")
    return new


@SETTINGS
@given(programs())
def test_an_added_user_input_is_an_added_input_and_a_changed_module_call_signature(doc: dict[str, Any]) -> None:
    r = diff_docs(doc, _add_user_input(doc))
    assert kinds(r) == ["signature_changed", "signature_changed"], [(c.kind, c.summary) for c in r.changes]
    added, mcg = r.changes
    assert added.details["section"] == "inputs" and added.summary.endswith("added") and added.a_line is None
    assert "%" in added.b_line and "user_input" in added.b_line
    assert mcg.details["section"] == "module_call_graph" and mcg.location.item == "module_call_graph['']"
    n_user = sum("user_input" in spec for spec in doc["graph_module"]["signature"]["input_specs"])
    (change,) = mcg.details["changes"]
    assert change["path"] == f"inputs[{n_user}]" and change["type"] == "iterable_item_added"
    assert change["new"] == {"as_tensor": {"name": added.location.b}}


def test_a_symbolic_range_change_is_one_constraint_record(corpus: Any) -> None:
    doc = pt2canon.load(corpus["dynamic_batch"].path).model.program
    new = copy.deepcopy(doc)
    (sym,) = new["range_constraints"]
    new["range_constraints"][sym]["max_val"] = 512
    r = diff_docs(doc, new)
    assert kinds(r) == ["constraint_changed"]
    (c,) = r.changes
    assert c.details["old"]["max_val"] == 1024 and c.details["new"]["max_val"] == 512
    assert c.summary.endswith("[2, 1024] -> [2, 512]")
    assert diff_docs(doc, new, ignore_shapes=True).equal
    assert diff_docs(doc, new, level="structure").equal


def _sym(name: str) -> dict[str, Any]:
    return {"as_expr": {"expr_str": f"Symbol('{name}', integer=True, positive=True)", "hint": None}}


def test_symbols_renamed_by_a_deleted_op_do_not_show_as_changes() -> None:
    # Symbols are named in order of first appearance: deleting the op that shows s5 first
    # renames s9 from s1 to s0 in B's canonical form. Metadata is compared through the
    # symbol correspondence, so the deletion is the only record.
    nodes = [("a", "relu.default", "s5"), ("b", "sin.default", "s9"), ("c", "neg.default", "s9")]
    graph: dict[str, Any] = {
        "inputs": [{"as_tensor": {"name": "x"}}],
        "outputs": [{"as_tensor": {"name": "c"}}],
        "nodes": [],
    }
    values = {"x": {"dtype": 7, "sizes": [{"as_int": 3}], "requires_grad": False, "device": {"type": "cpu", "index": None},
                    "strides": [{"as_int": 1}], "storage_offset": {"as_int": 0}, "layout": 7}}  # fmt: skip
    prev = {"a": "x", "b": "x", "c": "b"}
    for name, target, symbol in nodes:
        graph["nodes"].append(
            {
                "target": T + target,
                "inputs": [{"name": "self", "arg": {"as_tensor": {"name": prev[name]}}, "kind": 1}],
                "outputs": [{"as_tensor": {"name": name}}],
                "metadata": {},
                "name": name,
            }
        )
        values[name] = {**values["x"], "sizes": [_sym(symbol)]}
    graph.update(tensor_values=values, sym_int_values={}, sym_bool_values={}, sym_float_values={}, custom_obj_values={})
    a = {
        "graph_module": {
            "graph": graph,
            "signature": {
                "input_specs": [{"user_input": {"arg": {"as_tensor": {"name": "x"}}}}],
                "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": "c"}}}}],
            },
            "module_call_graph": [],
        },
        "range_constraints": {"s5": {"min_val": 2, "max_val": 64}, "s9": {"min_val": 2, "max_val": 32}},
        "schema_version": {"major": 8, "minor": 20},
        "torch_version": "2.13.0",
    }
    b = copy.deepcopy(a)
    g = b["graph_module"]["graph"]
    g["nodes"].pop(0)
    del g["tensor_values"]["a"]
    assert canonicalize_program(a).symbols["s9"] == "s1" and canonicalize_program(b).symbols["s9"] == "s0"
    # s5's range goes with the only op whose value mentions it (torch's loader drops the range
    # of a symbol no value mentions, and so does the canonical form); s9 shows no change.
    removed = ("constraint_changed", "s0' [2, 64] removed")
    r = diff_docs(a, b)
    assert [(c.kind, c.summary) for c in r.changes] == [("node_removed", "aten.relu.default removed"), removed]
    b["range_constraints"]["s9"]["max_val"] = 16
    r = diff_docs(a, b)
    assert [(c.kind, c.summary) for c in r.changes] == [
        ("node_removed", "aten.relu.default removed"),
        ("constraint_changed", "s0: [2, 32] -> [2, 16]"),
        removed,
    ]


def test_version_changes_are_reported_but_count_only_when_asked(corpus: Any) -> None:
    doc = pt2canon.load(corpus["mlp"].path).model.program
    new = copy.deepcopy(doc)
    new["torch_version"] = "2.99.0"
    new["opset_version"] = {**new["opset_version"], "aten": 11}
    r = diff_docs(doc, new)
    assert kinds(r) == ["version_changed", "version_changed"]
    assert {c.location.item for c in r.changes} == {"torch_version", "opset_version.aten"}
    assert r.equal and not r and r.hash_a == r.hash_b
    counted = diff_docs(doc, new, include_versions=True)
    assert not counted.equal and counted.hash_a != counted.hash_b


def test_a_part_no_record_itemizes_still_makes_the_diff_unequal(corpus: Any) -> None:
    doc = pt2canon.load(corpus["mlp"].path).model.program
    new = copy.deepcopy(doc)
    g = new["graph_module"]["graph"]
    g["tensor_values"]["orphan"] = next(iter(g["tensor_values"].values()))  # a value no node defines
    r = diff_docs(doc, new)
    assert kinds(r) == ["node_changed"] and r.changes[0].location.item == "tensors layer"
    assert not r.equal and r.hash_a != r.hash_b


def test_renamed_parameters_pair_as_one_changed_input(corpus: Any) -> None:
    doc = pt2canon.load(corpus["mlp"].path).model.program
    new = json.loads(json.dumps(doc).replace('"fc2.bias"', '"fc2.offset"'))
    r = diff_docs(doc, new)
    assert kinds(r) == ["signature_changed"]
    (c,) = r.changes
    assert c.details["changes"] == [
        {"path": "parameter_name", "type": "values_changed", "old": "fc2.bias", "new": "fc2.offset"}
    ]
    assert diff_docs(doc, new, level="structure").equal  # FQNs are not structure


def test_a_changed_op_inside_a_cond_branch_is_located_in_its_subgraph(corpus: Any) -> None:
    doc = pt2canon.load(corpus["cond"].path).model.program
    new = json.loads(json.dumps(doc).replace('"torch.ops.aten.sin.default"', '"torch.ops.aten.tanh.default"'))
    r = diff_docs(doc, new)
    assert kinds(r) == ["node_changed"], [(c.kind, str(c.location), c.summary) for c in r.changes]
    (c,) = r.changes
    ((head, sub),) = c.location.graph.steps
    assert head.startswith("n") and sub.startswith("subgraph_") and c.location.graph.model == ""
    assert c.summary == "aten.sin.default -> aten.tanh.default"
    assert str(c.location).startswith(f"{head}/{sub}/n")


def test_node_changed_details_are_field_level_not_whole_dicts() -> None:
    old = {"args": {"eps": {"as_float": 1e-5}, "dim": {"as_ints": [64]}}, "meta": {"0": {"dtype": 7}}}
    new = {"args": {"eps": {"as_float": 1e-3}, "dim": {"as_ints": [64]}}, "meta": {"0": {"dtype": 6}}}
    assert field_changes(old, new) == [
        {"path": "args.eps.as_float", "type": "values_changed", "old": 1e-5, "new": 1e-3},
        {"path": "meta.0.dtype", "type": "values_changed", "old": 7, "new": 6},
    ]


def test_bad_options_are_usage_errors(corpus: Any) -> None:
    a = pt2canon.load(corpus["mlp"].path)
    with pytest.raises(UsageError, match="level"):
        diff_programs(a, a, level="weights")
    with pytest.raises(UsageError, match="context"):
        diff_programs(a, a, context=-1)
    with pytest.raises(InputError, match="model='nope': no model of that name in either archive"):
        diff_programs(a, a, model="nope")


def test_importing_pt2canon_diff_does_not_import_deepdiff_or_networkx() -> None:
    code = "import sys, pt2canon.diff; print(sorted(m for m in ('deepdiff', 'networkx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- a real 2,000-node export


@dataclass
class Stack:
    module: nn.Module
    args: tuple[torch.Tensor, ...]
    folder: Path
    base: Path
    variants: dict[str, Path] = field(default_factory=dict)

    def variant(self, name: str) -> Path:
        """The 48-layer stack with layer 7 modified by ``MODIFY[name]``, exported and saved (cached)."""
        if name not in self.variants:
            module = copy.deepcopy(self.module)
            args = MODIFY[name](module) or self.args
            self.variants[name] = save(torch.export.export(module, args), self.folder / f"{name}.pt2")
        return self.variants[name]


def _insert(m: nn.Module) -> None:
    layer = m.layers[7]
    sa_block = layer._sa_block
    layer._sa_block = lambda *a, **k: torch.relu(sa_block(*a, **k))


def _delete(m: nn.Module) -> None:
    m.layers[7].dropout1.forward = lambda x: x


def _constant(m: nn.Module) -> None:
    m.layers[7].norm1.eps = 1e-3


def _target(m: nn.Module) -> None:
    m.layers[7].activation = F.gelu


def _rewire(m: nn.Module) -> None:
    layer = m.layers[7]

    def forward(
        src: torch.Tensor, src_mask: Any = None, src_key_padding_mask: Any = None, is_causal: bool = False
    ) -> torch.Tensor:
        x = layer.norm1(src + layer._sa_block(src, src_mask, src_key_padding_mask, is_causal=is_causal))
        return layer.norm2(layer._ff_block(x) + x)  # operands of the second residual add swapped

    layer.forward = forward


def _weight(m: nn.Module) -> None:
    with torch.no_grad():
        m.layers[7].linear1.weight[0, 0] += 1.0


class _TwoInputs(nn.TransformerEncoder):
    def forward(self, src: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return nn.TransformerEncoder.forward(self, src)


def _user_input(m: nn.Module) -> tuple[torch.Tensor, ...]:
    m.__class__ = _TwoInputs
    return (torch.randn(2, 16, 64), torch.randn(3))


MODIFY = {
    "insert": _insert,
    "delete": _delete,
    "constant": _constant,
    "target": _target,
    "rewire": _rewire,
    "weight": _weight,
    "user_input": _user_input,
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    module, ep, args = transformer_stack(48)
    folder = tmp_path_factory.mktemp("stack48")
    return Stack(module, args, folder, save(ep, folder / "base.pt2"))


def records(r: DiffResult) -> list[tuple[str, str | None, str | None]]:
    """``(kind, module, target or item)`` of each record."""
    out = []
    for c in r.changes:
        what = c.details.get("target") or c.location.item
        out.append((c.kind, c.location.module, what))
    return sorted(out, key=str)


@pytest.mark.slow
def test_the_real_export_diffed_with_a_copy_or_a_second_export_is_equal(stack: Stack, tmp_path: Path) -> None:
    other = tmp_path / "renamed.pt2"
    other.write_bytes(stack.base.read_bytes())
    again = save(torch.export.export(copy.deepcopy(stack.module), stack.args), tmp_path / "exported_again.pt2")
    for path in (other, again):
        r = pt2canon.diff(stack.base, path, level="full")
        assert r.equal and r.changes == [], [c.summary for c in r.changes]
    a = pt2canon.load(stack.base)
    ca = canonicalize_program(a.model.program)
    al = align_programs(ca, ca)
    assert al.added() == [] and al.removed() == []
    assert al.stats["identical"] + al.stats["propagated"] == len(ca.graph.order)


@pytest.mark.slow
def test_one_op_inserted_into_the_real_export_is_one_added_node_and_one_rewired_use(stack: Stack) -> None:
    r = pt2canon.diff(stack.base, stack.variant("insert"))
    assert records(r) == [("node_added", "layers.7", T + "relu.default"), ("node_rewired", "layers.7", None)]
    added, rewired = sorted(r.changes, key=lambda c: c.kind)
    assert (
        " = aten.relu.default(" + rewired.details["inputs"][0]["old"]["value"] + ")  # f32[2, 16, 64]" in added.b_line
    )
    assert rewired.details["inputs"][0]["new"]["node"] == added.location.b
    assert rewired.a_line.split(" = ")[1].startswith("aten.add.Tensor(")


@pytest.mark.slow
def test_one_op_deleted_from_the_real_export_is_one_removed_node_and_one_rewired_use(stack: Stack) -> None:
    r = pt2canon.diff(stack.base, stack.variant("delete"))
    assert records(r) == [
        ("node_removed", "layers.7.dropout1", T + "dropout.default"),
        ("node_rewired", "layers.7", None),
    ]


@pytest.mark.slow
def test_a_changed_constant_in_the_real_export_is_one_changed_node(stack: Stack) -> None:
    r = pt2canon.diff(stack.base, stack.variant("constant"))
    assert records(r) == [("node_changed", "layers.7.norm1", None)]
    (c,) = r.changes
    assert c.details["changes"] == [{"path": "args.eps.as_float", "type": "values_changed", "old": 1e-05, "new": 0.001}]
    assert c.summary == "eps: 1e-05 -> 0.001"


@pytest.mark.slow
def test_a_changed_target_in_the_real_export_is_one_changed_node(stack: Stack) -> None:
    r = pt2canon.diff(stack.base, stack.variant("target"))
    assert records(r) == [("node_changed", "layers.7", None)]
    (c,) = r.changes
    assert c.summary.startswith("aten.relu.default -> aten.gelu.default")
    assert "target" in [f["path"] for f in c.details["changes"]]


@pytest.mark.slow
def test_swapped_operands_in_the_real_export_are_one_rewired_node(stack: Stack) -> None:
    r = pt2canon.diff(stack.base, stack.variant("rewire"))
    assert records(r) == [("node_rewired", "layers.7", None)]
    (c,) = r.changes
    assert sorted(e["slot"] for e in c.details["inputs"]) == ["other", "self"]


@pytest.mark.slow
def test_a_changed_weight_in_the_real_export_is_one_weight_record_at_level_full_only(stack: Stack) -> None:
    path = stack.variant("weight")
    r = pt2canon.diff(stack.base, path, level="full")
    assert records(r) == [("weight_changed", "layers.7.linear1", "weight layers.7.linear1.weight")]
    (c,) = r.changes
    assert c.details["old"]["sha256"] != c.details["new"]["sha256"]
    assert c.details["old"]["tensor_meta"] == c.details["new"]["tensor_meta"]
    assert pt2canon.diff(stack.base, path).equal
    assert pt2canon.diff(stack.base, path, level="full", ignore_weights=True).equal
    assert r.hash_a == pt2canon.hash(stack.base, level="full") and r.hash_b == pt2canon.hash(path, level="full")


@pytest.mark.slow
def test_an_added_user_input_in_the_real_export_is_one_input_and_the_root_call_signature(stack: Stack) -> None:
    r = pt2canon.diff(stack.base, stack.variant("user_input"))
    assert records(r) == [
        ("signature_changed", "", "module_call_graph['']"),
        ("signature_changed", None, "input user_input #1"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("what", ["dtype", "shape", "input_shape"])
def test_a_changed_dtype_or_shape_in_the_real_export_is_one_record(stack: Stack, tmp_path: Path, what: str) -> None:
    data = member_bytes(stack.base, "models/model.json")
    doc = json.loads(data)
    g = doc["graph_module"]["graph"]
    node = next(n for n in g["nodes"] if "layers.7.linear1" in n["metadata"].get("nn_module_stack", ""))
    name = node["outputs"][0]["as_tensor"]["name"]
    if what == "dtype":
        g["tensor_values"][name]["dtype"] = 6
    elif what == "shape":
        g["tensor_values"][name]["sizes"][-1] = {"as_int": 129}
    else:
        g["tensor_values"]["src"]["sizes"][0] = {"as_int": 3}
    path = tmp_path / f"{what}.pt2"
    path.write_bytes(rewrite_zip(stack.base, replace={"models/model.json": json.dumps(doc).encode()}))
    r = pt2canon.diff(stack.base, path)
    if what == "input_shape":
        assert records(r) == [("signature_changed", None, "input user_input #0")]
        assert [f["path"] for f in r.changes[0].details["changes"]] == ["meta.sizes[0].as_int"]
    else:
        assert records(r) == [("node_changed", "layers.7.linear1", None)]
        field_path = "meta.0.dtype" if what == "dtype" else "meta.0.sizes[2].as_int"
        assert [f["path"] for f in r.changes[0].details["changes"]] == [field_path]
    hides, keeps = ("ignore_dtypes", "ignore_shapes") if what == "dtype" else ("ignore_shapes", "ignore_dtypes")
    assert pt2canon.diff(stack.base, path, **{hides: True}).equal
    assert not pt2canon.diff(stack.base, path, **{keeps: True}).equal
    assert pt2canon.diff(stack.base, path, ignore_shapes=True, ignore_dtypes=True).equal


# --------------------------------------------------------------------------- hashes and several models


def test_the_result_hashes_are_the_hashes_pt2canon_hash_prints(corpus: Any) -> None:
    a, b = corpus["mlp"].path, corpus["lifted_constant"].path
    for level in ("structure", "graph", "full"):
        for include_versions in (False, True):
            r = pt2canon.diff(a, b, level=level, include_versions=include_versions)
            assert r.hash_a == pt2canon.hash(a, level=level, include_versions=include_versions)
            assert r.hash_b == pt2canon.hash(b, level=level, include_versions=include_versions)


def test_models_of_multi_model_archives_are_diffed_by_name(corpus: Any, tmp_path: Path) -> None:
    eps = {name: torch.export.load(corpus[name].path) for name in ("mlp", "cond")}
    a = tmp_path / "two.pt2"
    package_pt2(a, exported_programs=dict(eps))
    changed = dict(eps)
    changed["cond"] = torch.export.load(corpus["lifted_constant"].path)
    changed["extra"] = eps["mlp"]
    b = tmp_path / "three.pt2"
    package_pt2(b, exported_programs=changed)
    r = pt2canon.diff(a, b, level="full")
    assert r.hash_a == pt2canon.hash(a, level="full") and r.hash_b == pt2canon.hash(b, level="full")
    assert not [c for c in r.changes if c.location.graph.model == "mlp"]
    assert any(c.location.graph.model == "cond" for c in r.changes)
    (extra,) = [c for c in r.changes if c.location.item == "model extra"]
    assert extra.kind == "signature_changed" and extra.summary == "model extra added"
    only = pt2canon.diff(a, b, model="mlp")
    assert only.equal and only.options["model"] == "mlp"
    assert pt2canon.diff(a, a).equal


def test_symbols_seen_only_inside_expressions_are_paired_so_that_the_expressions_agree() -> None:
    from pt2canon.diff.symbols import best_pairing, rename_expression

    def sym(name: str) -> str:
        return f"Symbol('{name}', integer=True, positive=True)"

    # A's 2*s0 + s1 is B's 2*s1 + s0: sympy prints B's sum with its arguments in another order,
    # so only a canonical re-print after renaming makes the two agree.
    a = f"Add(Mul(Integer(2), {sym('s0')}), {sym('s1')})"
    b = f"Add({sym('s0')}, Mul(Integer(2), {sym('s1')}))"
    assert rename_expression(a, {"s0": "s1", "s1": "s0"}) == b
    assert best_pairing(["s0", "s1"], ["s0", "s1"], {}, [(a, b)]) == {"s0": "s1", "s1": "s0"}
    # Nothing to go by: name order.
    assert best_pairing(["s0", "s1"], ["s0", "s1"], {}, []) == {"s0": "s0", "s1": "s1"}
    # More symbols on one side: every one of them is tried.
    one = f"Add(Mul(Integer(2), {sym('s1')}), Integer(1))"
    assert best_pairing(["s0", "s1"], ["s0"], {}, [(one, one.replace("'s1'", "'s0'"))]) == {"s1": "s0"}


class _Unread(nn.Module):
    """Two parameters the forward never reads (they are placed by their metadata, then their FQN)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.layer0 = nn.Parameter(torch.ones(1))
        self.layer1 = nn.Parameter(torch.ones(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1


def test_a_reshaped_unread_parameter_that_moves_in_the_signature_is_hidden_by_ignore_shapes(tmp_path: Path) -> None:
    x = (torch.ones(3),)
    a = save(torch.export.export(_Unread((1,)), x), tmp_path / "a.pt2")
    b = save(torch.export.export(_Unread((1, 5)), x), tmp_path / "b.pt2")
    specs = [canonicalize_program(pt2canon.load(str(p)).model.program).doc["graph_module"]["signature"] for p in (a, b)]
    order = [[s["parameter"]["parameter_name"] for s in sig["input_specs"] if "parameter" in s] for sig in specs]
    assert order[0] != order[1]  # the reshape moved the parameters' canonical order (the signature layer differs)
    r = pt2canon.diff(str(a), str(b))
    assert [(c.kind, c.location.item) for c in r.changes] == [("signature_changed", "input parameter layer1")]
    assert pt2canon.diff(str(a), str(b), ignore_shapes=True).changes == []
    assert len(pt2canon.diff(str(a), str(b), ignore_dtypes=True).changes) == 1


def test_the_users_of_a_deleted_op_pair_with_the_users_whose_constants_are_equal() -> None:
    # Found by the property above: relu(w) read by clamp(max=1.0) and clamp(max=2.5), both dead, among
    # random draws; once relu is deleted nothing but the constants tells the clamps apart, and they
    # were paired crosswise (two node_changed records, max 1.0 -> 2.5 and 2.5 -> 1.0).
    pair = json.loads((Path(__file__).parent / "data" / "deleted_relu_read_by_two_dead_clamps.json").read_text())
    r = diff_docs(pair["a"], pair["b"])
    assert kinds(r) == ["node_removed", "node_rewired", "node_rewired"], [(c.kind, c.summary) for c in r.changes]
    assert {c.location.b_original for c in r.changes if c.kind == "node_rewired"} == {"clamp_15", "clamp_17"}
