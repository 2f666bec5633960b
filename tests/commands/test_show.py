"""``pt2canon show``: the listing of every model, ``--json``, ``--model``, ``--no-weights``, errors."""

from __future__ import annotations

import json
import operator
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.export import Dim
from torch.export.pt2_archive._package import package_pt2

import pt2canon
from pt2canon.cli import main
from pt2canon.listing import generate_listing


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.lin(x))


class Head(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cond(x.sum() > 0, lambda x: x.sin(), lambda x: x.cos(), (x,))


@pytest.fixture(scope="module")
def programs() -> dict[str, torch.export.ExportedProgram]:
    torch.manual_seed(0)
    return {
        "encoder": torch.export.export(
            Encoder().eval(), (torch.randn(5, 4),), dynamic_shapes={"x": {0: Dim("b", min=2, max=8)}}
        ),
        "head": torch.export.export(Head(), (torch.randn(3),)),
    }


@pytest.fixture(scope="module")
def single(programs: dict[str, torch.export.ExportedProgram], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("show") / "encoder.pt2"
    torch.export.save(programs["encoder"], path)
    return path


@pytest.fixture(scope="module")
def multi(programs: dict[str, torch.export.ExportedProgram], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("show") / "two_models.pt2"
    package_pt2(path, exported_programs=dict(programs))
    return path


def fx_call_count(ep: torch.export.ExportedProgram) -> int:
    return sum(1 for n in ep.graph.nodes if n.op == "call_function" and n.target is not operator.getitem)


def test_show_prints_the_listing_with_weights_and_exits_0(single: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(single)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    with pt2canon.load(single) as art:
        m = art.model
        expected = list(
            generate_listing(m.program, weights=m.weights, constants=m.constants, info=art.info, name="model")
        )
    assert out.splitlines() == expected
    assert "weights: 2 entries, 60 B" in out.splitlines()
    assert "    %relu = aten.relu.default(%linear)" in out


def test_show_lists_every_model_of_an_archive_separated_by_a_blank_line(
    multi: Path, programs: dict[str, torch.export.ExportedProgram], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(multi)]) == 0
    blocks = capsys.readouterr().out.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == ["model: encoder", "model: head"]
    assert "        @true_graph_0:" in blocks[1].splitlines()


def test_show_model_picks_one_model(multi: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(multi), "--model", "head"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model: head\n")
    assert "model: encoder" not in out


def test_show_no_weights_leaves_out_the_payload_summaries(single: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(single), "--no-weights"]) == 0
    out = capsys.readouterr().out
    assert "weights:" not in out and "constants:" not in out
    with pt2canon.load(single) as art:
        assert out.splitlines() == list(generate_listing(art.model.program, info=art.info))


def test_show_json_parses_and_counts_the_nodes_of_every_model(
    multi: Path, programs: dict[str, torch.export.ExportedProgram], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(multi), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["listing_version"] == 1
    assert [m["name"] for m in doc["models"]] == ["encoder", "head"]
    for m in doc["models"]:
        assert len(m["nodes"]) == fx_call_count(programs[m["name"]])
    encoder = doc["models"][0]
    assert encoder["weights"]["count"] == 2
    assert [r for r in encoder["range_constraints"].values()] == [{"min": 2, "max": 8}]
    sym = next(iter(encoder["range_constraints"]))
    assert encoder["signature"]["inputs"][-1]["meta"] == f"f32[{sym}, 4]"


def test_show_json_with_model_and_no_weights(multi: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(multi), "--json", "--model", "head", "--no-weights"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in doc["models"]] == ["head"]
    assert doc["models"][0]["weights"] is None


def test_show_works_on_every_corpus_archive(corpus_entry, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert main(["show", str(corpus_entry.path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    start = lines.index("graph:") + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith(" ")), len(lines))
    top = [line for line in lines[start:end] if line.startswith("    ") and not line.startswith("     ")]
    assert top[-1].startswith("    return (")
    assert len(top) - 1 == fx_call_count(corpus_entry.ep)
    assert main(["show", str(corpus_entry.path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["models"][0]["nodes"]) == fx_call_count(corpus_entry.ep)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pt2canon: error: ")
    return lines[0]


def test_show_on_a_missing_file_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.pt2"
    assert main(["show", str(missing)]) == 2
    line = one_error_line(capsys)
    assert str(missing) in line and "no such file" in line


def test_show_on_a_file_that_is_not_an_archive_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "notes.pt2"
    bogus.write_text("just some text\n")
    assert main(["show", str(bogus)]) == 2
    assert str(bogus) in one_error_line(capsys)


def test_show_on_a_zip_without_a_program_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.pt2"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    assert main(["show", str(empty)]) == 2
    assert "no exported program" in one_error_line(capsys)


def test_show_with_an_unknown_model_name_exits_2_naming_the_models(
    multi: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(multi), "--model", "decoder"]) == 2
    line = one_error_line(capsys)
    assert "'decoder'" in line and "encoder, head" in line


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_canonical_lists_the_lines_and_names_the_diff_prints(capsys: pytest.CaptureFixture[str]) -> None:
    v1, v2 = EXAMPLES / "mlp_v1.pt2", EXAMPLES / "mlp_v2.pt2"
    assert main(["show", "--canonical", str(v1)]) == 0
    canonical = capsys.readouterr().out.splitlines()
    assert main(["show", str(v1)]) == 0
    original = capsys.readouterr().out.splitlines()
    assert "    %x: user_input  f32[s77, 16]" in original and "    %v6: user_input  f32[s0, 16]" in canonical
    assert main(["show", "--canonical", str(EXAMPLES / "mlp_v1_again.pt2")]) == 0
    assert capsys.readouterr().out.splitlines() == canonical  # the same program exported again
    # The diff's rows for side B (unchanged, added, changed) are lines of B's canonical listing.
    assert main(["show", "--canonical", str(v2)]) == 0
    canonical_b = capsys.readouterr().out.splitlines()
    assert main(["diff", "--color", "never", str(v1), str(v2)]) == 1
    rows = [line[2:] for line in capsys.readouterr().out.splitlines() if line[:2] in ("  ", "+ ", "~ ")]
    code = [row for row in rows if row.startswith("    %")]
    assert len(code) == 6 and all(row in canonical_b for row in code)


def test_the_weights_summary_says_how_many_more_there_are_and_all_weights_lists_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # mlp_v1 has six weights: fc1, fc2 and head, each a weight and a bias; head.bias (4 floats) is the smallest.
    assert main(["show", str(EXAMPLES / "mlp_v1.pt2")]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("weights: 6 entries, 6.8 KiB")
    assert len(lines[start + 1 :]) == 6
    assert lines[-1] == "    ... 1 more (16 B); --all-weights lists them all"
    assert main(["show", "--all-weights", str(EXAMPLES / "mlp_v1.pt2")]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = lines[lines.index("weights: 6 entries, 6.8 KiB") + 1 :]
    assert [line.split(":")[0].strip() for line in listed] == [
        "fc2.weight", "fc1.weight", "head.weight", "fc1.bias", "fc2.bias", "head.bias"]  # fmt: skip
    assert listed[-1] == "    head.bias: f32[4]{requires_grad}  16 B"
    with pytest.raises(SystemExit):
        main(["show", "--all-weights", "--no-weights", str(EXAMPLES / "mlp_v1.pt2")])
