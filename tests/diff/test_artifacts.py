"""Two real exports compared model by model: what pairs with what, through the alignment.

Parameters, buffers and constants are paired through the ops that read
them, not by FQN or position: a block inserted into an ``nn.Sequential``
shifts the FQNs after it, and must read as the block's ops and tensors
added plus the shifted FQNs renamed, nothing else.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import pt2canon  # noqa: E402
from pt2canon.diff import DiffResult  # noqa: E402
from pt2canon.diff.artifacts import compare_artifacts  # noqa: E402
from pt2canon.diff.options import Options  # noqa: E402
from pt2canon.errors import UsageError  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _block(cin: int, cout: int) -> Any:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


def _net(insert: bool) -> Any:
    """Five conv blocks of growing width; with ``insert``, one more (6 -> 6) at index 2."""
    torch.manual_seed(0)
    widths = [3, 4, 6, 8, 10, 12]
    blocks = [_block(widths[i], widths[i + 1]) for i in range(5)]
    if insert:
        torch.manual_seed(5)
        blocks.insert(2, _block(6, 6))
    return nn.Sequential(*blocks)


def _kinds(r: DiffResult) -> Counter[str]:
    return Counter(c.kind for c in r.changes)


def _renames(r: DiffResult, section: str) -> dict[str, str]:
    return {
        c.details["renamed"]["old"]: c.details["renamed"]["new"]
        for c in r.changes
        if c.details.get("section") == section and "renamed" in c.details
    }


def _added_inputs(r: DiffResult) -> set[str]:
    return {c.summary for c in r.changes if c.details.get("section") == "inputs" and c.summary.endswith(" added")}


@pytest.fixture(scope="module")
def sequential(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sequential")
    x = torch.randn(2, 3, 8, 8)
    out = {}
    for name, insert in (("a", False), ("b", True)):
        out[name] = folder / f"eval_{name}.pt2"
        torch.export.save(torch.export.export(_net(insert).eval(), (x,)), out[name])
        # functional training graph: batch norm statistics are buffer mutation outputs
        out[f"train_{name}"] = folder / f"train_{name}.pt2"
        ep = torch.export.export(_net(insert).train(), (x,)).run_decompositions()
        torch.export.save(ep, out[f"train_{name}"])
    return out


def _shifted(fqn: str) -> str:
    """The FQN of a block at index >= 2 after the insertion at 2."""
    head, _, rest = fqn.partition(".")
    return f"{int(head) + 1}.{rest}"


def test_an_inserted_block_is_its_ops_and_tensors_added_and_the_shifted_fqns_renamed(sequential: Any) -> None:
    r = pt2canon.diff(sequential["a"], sequential["b"])
    assert _kinds(r) == {"node_added": 3, "node_rewired": 1, "signature_changed": 1 + 7 + 21}
    added = [c for c in r.changes if c.kind == "node_added"]
    assert [c.summary for c in added] == [
        "aten.conv2d.default added",
        "aten.batch_norm.default added",
        "aten.relu.default added",
    ]
    assert {c.location.module for c in added} == {"2.0", "2.1", "2.2"}
    # the new block's tensors, by B's names; eval mode does not read num_batches_tracked, it is added too
    leaves = ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"]
    assert _added_inputs(r) == {
        f"input {'parameter' if leaf[2:] in ('weight', 'bias') else 'buffer'} 2.{leaf} added" for leaf in leaves
    }
    # every tensor of the blocks after it: the same tensor, renamed (num_batches_tracked too, though unread)
    renamed = _renames(r, "inputs")
    assert renamed == {f"{i}.{leaf}": _shifted(f"{i}.{leaf}") for i in (2, 3, 4) for leaf in leaves}
    (mcg,) = [c for c in r.changes if c.location.item == "module_call_graph"]
    assert mcg.details["added"] == ["2", "2.0", "2.1", "2.2"] and mcg.details["removed"] == []
    # nothing is paired with a tensor of another shape or dtype
    assert not [c for c in r.changes if "dtype" in c.summary or "sizes" in c.summary]


def test_at_level_full_only_the_new_blocks_weights_are_records(sequential: Any) -> None:
    r = pt2canon.diff(sequential["a"], sequential["b"], level="full")
    weights = [c for c in r.changes if c.kind == "weight_changed"]
    assert sorted(c.summary.split(" (")[0] for c in weights) == sorted(
        f"weight 2.{leaf} added"
        for leaf in (
            "0.weight",
            "0.bias",
            "1.weight",
            "1.bias",
            "1.running_mean",
            "1.running_var",
            "1.num_batches_tracked",
        )
    )


def test_the_mutations_of_shifted_buffers_are_renamed_with_them(sequential: Any) -> None:
    r = pt2canon.diff(sequential["train_a"], sequential["train_b"])
    kinds = _kinds(r)
    assert kinds["node_changed"] == 0 and kinds["node_removed"] == 0 and kinds["node_rewired"] == 1
    stats = ("1.running_mean", "1.running_var", "1.num_batches_tracked")
    assert _renames(r, "outputs") == {f"{i}.{leaf}": _shifted(f"{i}.{leaf}") for i in (2, 3, 4) for leaf in stats}
    added = {c.summary for c in r.changes if c.details.get("section") == "outputs" and c.summary.endswith(" added")}
    assert added == {f"output buffer_mutation 2.{leaf} added" for leaf in stats}


class _TiedLM(nn.Module):
    def __init__(self, head_first: bool) -> None:
        super().__init__()
        if head_first:  # registration order decides which FQN the tied parameter is read under
            self.head = nn.Linear(8, 20, bias=False)
            self.emb = nn.Embedding(20, 8)
        else:
            self.emb = nn.Embedding(20, 8)
            self.head = nn.Linear(8, 20, bias=False)
        torch.manual_seed(1)
        tied = nn.Parameter(torch.randn(20, 8))
        self.emb.weight = tied
        self.head.weight = tied
        torch.manual_seed(2)
        self.mid = nn.Linear(8, 8)

    def forward(self, ids: Any) -> Any:
        return self.head(torch.relu(self.mid(self.emb(ids))))


def test_a_tied_weight_read_under_its_other_name_is_a_rename_not_rewired_nodes(tmp_path: Path) -> None:
    ids = torch.randint(0, 20, (2, 5))
    paths = []
    for head_first in (False, True):
        path = tmp_path / f"tied_{head_first}.pt2"
        torch.export.save(torch.export.export(_TiedLM(head_first), (ids,)), path)
        paths.append(path)
    r = pt2canon.diff(*paths)
    assert _kinds(r) == {"signature_changed": 2}
    assert _renames(r, "inputs") == {"head.weight": "emb.weight", "emb.weight": "head.weight"}
    # both names hold the same tensor on both sides: no weight changed
    assert not [c for c in pt2canon.diff(*paths, level="full").changes if c.kind == "weight_changed"]


class _Branchy(nn.Module):
    def __init__(self, extra: bool) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.l = nn.Linear(4, 4)
        self.l2 = nn.Linear(4, 4)
        self.extra = extra

    def forward(self, x: Any) -> Any:
        def yes(x: Any) -> Any:
            y = self.l(x)
            return (self.l2(y) if self.extra else y).relu()

        return torch.cond(x.sum() > 0, yes, lambda x: x.sin(), (x,))


def test_a_layer_added_in_one_cond_branch_is_the_layer_and_the_operands_it_needs(tmp_path: Path) -> None:
    x = torch.randn(3, 4)
    paths = []
    for extra in (False, True):
        path = tmp_path / f"cond_{extra}.pt2"
        torch.export.save(torch.export.export(_Branchy(extra), (x,)), path)
        paths.append(path)
    r = pt2canon.diff(*paths)
    assert [(c.kind, c.location.graph.is_subgraph) for c in r.changes] == [
        ("node_changed", False),  # cond: two more operands
        ("node_added", True),  # the added linear, inside the branch
        ("node_rewired", True),  # relu reads it
    ]
    cond, linear, relu = r.changes
    assert re.search(r"\b3 -> 5 values\b", cond.summary)
    assert [e["new"]["op"] for e in cond.details["inputs"]] == ["input parameter l2.bias", "input parameter l2.weight"]
    assert all("old" not in e for e in cond.details["inputs"])
    assert linear.summary == "aten.linear.default added"
    (entry,) = relu.details["inputs"]
    assert entry["slot"] == "self" and entry["new"]["op"] == "aten.linear.default"
    # the operands are the same tensors: paired by FQN, no signature record
    assert not [c for c in r.changes if c.kind == "signature_changed"]


# --------------------------------------------------------------------------- options


class _Small(nn.Module):
    def __init__(self, act: str = "relu") -> None:
        super().__init__()
        torch.manual_seed(4)
        self.fc = nn.Linear(4, 3)
        self.act = act

    def forward(self, x: Any) -> Any:
        return getattr(torch, self.act)(self.fc(x))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("small")
    out = {}
    for name, act, x in (
        ("a", "relu", torch.ones(2, 4)),
        ("b", "relu", torch.zeros(2, 4)),
        ("c", "tanh", torch.ones(2, 4)),
    ):
        out[name] = folder / f"{name}.pt2"
        torch.export.save(torch.export.export(_Small(act), (x,)), out[name])
    return out


def test_changed_sample_inputs_are_said_at_level_full_and_count_only_when_included(small: Any) -> None:
    r = pt2canon.diff(small["a"], small["b"], level="full")
    (c,) = r.changes
    assert c.kind == "sample_inputs_changed" and "never unpickled" in c.summary and r.equal
    assert r.render("text").splitlines()[-1] == "no changes at level full: 1 sample inputs changed (not counted)"
    included = pt2canon.diff(small["a"], small["b"], include_sample_inputs=True)
    assert not included.equal and [c.kind for c in included.changes] == ["sample_inputs_changed"]
    assert included.hash_a == pt2canon.hash(small["a"], include_sample_inputs=True) != included.hash_b
    assert pt2canon.diff(small["a"], small["b"]).changes == []  # graph level: not read


def test_a_bare_model_json_at_level_full_is_one_note_not_every_weight_removed(small: Any, tmp_path: Path) -> None:
    bare = tmp_path / "model.json"
    art = pt2canon.load(small["a"])
    bare.write_bytes(art.read_member(art.model.member))
    r = pt2canon.diff(small["a"], bare, level="full")
    assert r.equal and r.changes == []
    (note,) = r.notes
    assert note.startswith(f"{bare} is a bare model.json: it holds no weights")
    assert f"note: {note}" in r.render("text") and note in r.render("markdown")


def test_ignore_leaves_out_records_of_a_kind_and_their_rows(small: Any) -> None:
    r = pt2canon.diff(small["a"], small["c"])
    assert [c.kind for c in r.changes] == ["node_changed"]
    ignored = pt2canon.diff(small["a"], small["c"], ignore=["node_changed"])
    assert ignored.equal and ignored.changes == [] and all(row.status == " " for row in ignored.rows)
    assert ignored.options["ignore"] == ["node_changed"]
    with pytest.raises(pt2canon.Pt2CanonError, match="ignore='nodes'"):
        pt2canon.diff(small["a"], small["c"], ignore=["nodes"])


def test_kept_metadata_is_compared_and_shows_what_changed(small: Any, tmp_path: Path) -> None:
    from corpus import member_bytes, rewrite_zip

    doc = json.loads(member_bytes(small["a"], "models/model.json"))
    node = next(n for n in doc["graph_module"]["graph"]["nodes"] if n["target"].endswith("relu.default"))
    node["metadata"]["stack_trace"] = 'File "model.py", line 99, in forward\n    return torch.relu(y)'
    moved = tmp_path / "moved.pt2"
    moved.write_bytes(rewrite_zip(small["a"], replace={"models/model.json": json.dumps(doc).encode()}))
    assert pt2canon.diff(small["a"], moved).equal  # metadata is not compared by default
    r = pt2canon.diff(small["a"], moved, keep_metadata=["stack_trace"])
    (c,) = r.changes
    assert c.kind == "node_changed" and c.summary.startswith("metadata stack_trace: ")
    assert [f["path"] for f in c.details["changes"]] == ["metadata.stack_trace"]
    assert r.hash_a == pt2canon.hash(small["a"], keep_metadata=["stack_trace"]) != r.hash_b


def test_a_model_of_neither_side_is_refused_by_name_not_reported_added() -> None:
    with pt2canon.load(EXAMPLES / "mlp_v1.pt2") as a, pt2canon.load(EXAMPLES / "mlp_v2.pt2") as b:
        with pytest.raises(UsageError, match=r"model='decoder': a model of neither .*mlp_v1\.pt2 \(model\)"):
            compare_artifacts(a, b, ["model", "decoder"], Options(), {"level": "graph"})
        assert [c.kind for c in compare_artifacts(a, b, ["model"], Options(), {"level": "graph"}).changes] == [
            "node_added",
            "node_rewired",
        ]
