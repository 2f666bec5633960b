"""The diff of two recorded runs: graphs paired by frame, new, gone, changed and how."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_recording import MODEL_V1, MODEL_V2, MODEL_V3, record

import pt2canon.fx
from pt2canon.cli import main
from pt2canon.errors import InputError


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("runs")
    return {
        name: record(tmp, name, source)[0]
        for name, source in (("v1", MODEL_V1), ("v1_again", MODEL_V1), ("v2", MODEL_V2), ("v3", MODEL_V3))
    }


def _statuses(result: pt2canon.fx.RunDiff) -> list[tuple[str, str]]:
    return [(p.status, p.key) for p in result.pairs]


def test_two_runs_of_the_same_program_are_equal(runs: dict[str, Path]) -> None:
    result = pt2canon.fx.diff_runs(runs["v1"], runs["v1_again"])
    assert result.equal
    assert _statuses(result) == [
        ("same", "model.py:Model.forward#0"),
        ("same", "model.py:Model.torch_dynamo_resume_in_forward#0"),
    ]


def test_a_change_that_adds_a_graph_break_shows_one_new_graph_and_the_rest_paired(runs: dict[str, Path]) -> None:
    result = pt2canon.fx.diff_runs(runs["v1"], runs["v2"])
    assert not result.equal
    assert result.summary() == {"same": 2, "changed": 0, "new": 1, "gone": 0}
    (new,) = [p for p in result.pairs if p.status == "new"]
    assert new.key == "model.py:Model.torch_dynamo_resume_in_forward#1" and new.a is None
    assert new.b is not None and new.b["frame"]["name"].startswith("Model.torch_dynamo_resume_in_forward_at_")
    back = pt2canon.fx.diff_runs(runs["v2"], runs["v1"])
    assert back.summary() == {"same": 2, "changed": 0, "new": 0, "gone": 1}


def test_a_changed_op_is_a_changed_graph_with_the_diff_of_its_documents(runs: dict[str, Path]) -> None:
    result = pt2canon.fx.diff_runs(runs["v1"], runs["v3"])
    assert result.summary() == {"same": 1, "changed": 1, "new": 0, "gone": 0}
    (changed,) = [p for p in result.pairs if p.status == "changed"]
    assert changed.key == "model.py:Model.forward#0"
    (record_,) = changed.diff.changes
    assert record_.kind == "node_changed" and "gelu" in (record_.b_line or "")
    text = result.render("text")
    assert "changed  model.py:Model.forward#0" in text and "torch._C._nn.gelu" in text
    assert text.rstrip().endswith("summary: 1 same, 1 changed, 0 new, 0 gone (level graph)")
    doc = json.loads(result.render("json"))
    assert doc["summary"]["changed"] == 1 and doc["graphs"][0]["diff"]["changes"][0]["kind"] == "node_changed"
    assert "| changed | `model.py:Model.forward#0` |" in result.render("markdown")
    assert "<table>" in result.render("html")


def test_pt2canon_diff_of_two_run_folders_exits_1_on_a_difference_and_0_when_equal(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diff", str(runs["v1"]), str(runs["v2"]), "--color", "never"]) == 1
    out = capsys.readouterr().out
    assert (
        "new      model.py:Model.torch_dynamo_resume_in_forward#1" in out and "graph break" not in out.split("new")[0]
    )
    assert main(["diff", str(runs["v1"]), str(runs["v1_again"]), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["equal"] is True


def test_a_folder_without_an_index_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match=r"not a recorded run: no index\.jsonl"):
        pt2canon.fx.diff_runs(tmp_path, tmp_path)
    assert main(["diff", str(tmp_path), str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
