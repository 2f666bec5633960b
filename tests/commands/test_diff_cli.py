"""``pt2canon diff``: exit status 0 equal / 1 different / 2 error, every format, colour, options."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from corpus import member_bytes, rewrite_zip, save
from torch.export.pt2_archive._package import package_pt2

import pt2canon
from pt2canon.cli import main
from pt2canon.commands.diff import use_color
from pt2canon.diff.render import render


@pytest.fixture(scope="module")
def archives(corpus: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The corpus MLP and variants: one op inserted, one weight changed, a dtype, a version, a copy."""
    folder = tmp_path_factory.mktemp("diff_cli")
    entry = corpus["mlp"]
    out = {"a": entry.path}
    copy_path = folder / "same_program_other_name.pt2"
    copy_path.write_bytes(entry.path.read_bytes())
    out["copy"] = copy_path

    inserted = copy.deepcopy(entry.module)
    inserted.forward = lambda x: inserted.fc2(torch.tanh(torch.relu(inserted.fc1(x))))
    out["inserted"] = save(torch.export.export(inserted, entry.args), folder / "inserted.pt2")

    weighted = copy.deepcopy(entry.module)
    with torch.no_grad():
        weighted.fc2.bias[0] += 1.0
    out["weight"] = save(torch.export.export(weighted, entry.args), folder / "weight.pt2")

    doc = json.loads(member_bytes(entry.path, "models/model.json"))
    g = doc["graph_module"]["graph"]
    relu = next(n for n in g["nodes"] if n["target"] == "torch.ops.aten.relu.default")
    g["tensor_values"][relu["outputs"][0]["as_tensor"]["name"]]["dtype"] = 6
    out["dtype"] = folder / "dtype.pt2"
    out["dtype"].write_bytes(rewrite_zip(entry.path, replace={"models/model.json": json.dumps(doc).encode()}))

    doc = json.loads(member_bytes(entry.path, "models/model.json"))
    doc["torch_version"] = "2.99.0"
    out["version"] = folder / "version.pt2"
    out["version"].write_bytes(rewrite_zip(entry.path, replace={"models/model.json": json.dumps(doc).encode()}))

    out["two"] = folder / "two.pt2"
    package_pt2(out["two"], exported_programs={"mlp": entry.ep, "cond": corpus["cond"].ep})
    out["two_changed"] = folder / "two_changed.pt2"
    package_pt2(
        out["two_changed"], exported_programs={"mlp": torch.export.load(out["inserted"]), "cond": corpus["cond"].ep}
    )
    return out


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    status = main(["diff", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_equal_programs_exit_0(archives: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    for other in (archives["a"], archives["copy"]):
        status, out, err = run(capsys, archives["a"], other)
        assert status == 0 and err == ""
        assert out.endswith("no changes at level graph\n")


def test_a_different_program_exits_1_and_shows_the_inserted_op(
    archives: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, archives["a"], archives["inserted"])
    assert status == 1 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"--- {archives['a']}" and lines[1] == f"+++ {archives['inserted']}"
    # the added op is one + line; the rewired op its - line (A's) and + line (B's), then what changed
    plus = [i for i, line in enumerate(lines) if line.startswith("+ ")]
    minus = [i for i, line in enumerate(lines) if line.startswith("- ")]
    assert len(plus) == 2 and len(minus) == 1 and "aten.tanh.default" in lines[plus[0]]
    assert (
        minus[0] + 1 == plus[1] and "aten.linear.default" in lines[minus[0]] and "aten.linear.default" in lines[plus[1]]
    )
    assert "-> %" in lines[plus[1] + 1] and "aten.tanh.default)" in lines[plus[1] + 1]
    assert not [line for line in lines if line.startswith("~ ")]
    assert lines[-1] == "2 changes at level graph: 1 node added, 1 node rewired"


def test_context_sets_the_unchanged_lines_shown(archives: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, zero, _ = run(capsys, archives["a"], archives["inserted"], "--context", "0")
    _, five, _ = run(capsys, archives["a"], archives["inserted"], "--context", "5")
    unchanged = [line for line in zero.splitlines() if line.startswith("  ") and not line.strip().startswith("#")]
    assert unchanged == []
    assert len(five.splitlines()) > len(zero.splitlines()) + 5


def test_json_format_is_the_documented_schema(archives: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, archives["a"], archives["inserted"], "--format", "json")
    doc = json.loads(out)
    assert status == 1 and doc["schema_version"] == 2 and doc["equal"] is False and doc["counted"] == 2
    assert {k: v for k, v in doc["summary"].items() if v} == {"node_added": 1, "node_rewired": 1}
    assert [(c["kind"], c["counted"]) for c in doc["changes"]] == [("node_added", True), ("node_rewired", True)]
    assert doc["hash"]["a"] == pt2canon.hash(archives["a"]) and doc["hash"]["b"] == pt2canon.hash(archives["inserted"])
    assert doc["options"]["level"] == "graph"
    status, out, _ = run(capsys, archives["a"], archives["copy"], "--format", "json")
    assert status == 0 and json.loads(out)["equal"] is True and json.loads(out)["changes"] == []


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_markdown_and_html_formats_print_their_renderers_output(
    archives: dict[str, Path], capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    status, out, _ = run(capsys, archives["a"], archives["inserted"], "--format", fmt, "--context", "2")
    expected = render(pt2canon.diff(archives["a"], archives["inserted"], context=2), fmt, context=2)
    assert status == 1 and out == expected + ("" if expected.endswith("\n") else "\n")
    assert "tanh" in out


def test_weights_count_at_level_full_unless_ignored(
    archives: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, archives["a"], archives["weight"])[0] == 0
    status, out, _ = run(capsys, archives["a"], archives["weight"], "--level", "full")
    assert status == 1
    # by how much: one element of fc2.bias moved by 1.0
    assert "~ [weight_changed] weight fc2.bias: 1 of 4 elements differ, max abs 1 at [0], max rel " in out
    assert out.splitlines()[-1] == "1 change at level full: 1 weight changed"
    status, out, _ = run(capsys, archives["a"], archives["weight"], "--level", "full", "--atol", "1")
    assert status == 0 and out.splitlines()[-1] == "no changes at level full: 1 weight changed (not counted)"
    assert "within atol=1, rtol=0" in out
    assert run(capsys, archives["a"], archives["weight"], "--level", "full", "--atol", "0.9")[0] == 1
    assert run(capsys, archives["a"], archives["weight"], "--level", "full", "--ignore-weights")[0] == 0


def test_shapes_count_unless_ignored_and_not_at_level_structure(
    archives: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, archives["a"], archives["dtype"])
    assert status == 1 and "output 0: f32[3, 16] -> f16[3, 16]" in out
    assert run(capsys, archives["a"], archives["dtype"], "--ignore-dtypes")[0] == 0
    assert run(capsys, archives["a"], archives["dtype"], "--ignore-shapes")[0] == 1  # a dtype is not a shape
    assert run(capsys, archives["a"], archives["dtype"], "--ignore", "node_changed")[0] == 0
    assert run(capsys, archives["a"], archives["dtype"], "--level", "structure")[0] == 0


def test_versions_are_shown_but_count_only_with_include_versions(
    archives: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, archives["a"], archives["version"])
    assert status == 0 and "~ [version_changed] torch_version: 2.13.0+cpu -> 2.99.0" in out
    assert out.splitlines()[-1] == "no changes at level graph: 1 version changed (not counted)"
    assert run(capsys, archives["a"], archives["version"], "--include-versions")[0] == 1


def test_model_picks_one_model_of_multi_model_archives(
    archives: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, archives["two"], archives["two_changed"])
    assert status == 1 and "@@ " in out and " mlp " in out.splitlines()[2]
    assert run(capsys, archives["two"], archives["two_changed"], "--model", "cond")[0] == 0
    assert run(capsys, archives["two"], archives["two_changed"], "--model", "mlp")[0] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.pt2", "{a}"], "missing.pt2"),
        (["{a}", "{garbage}"], "not a .pt2 archive"),
        (["{a}", "{a}", "--context", "-1"], "--context=-1"),
        (["{a}", "{a}", "--level", "weights"], "invalid choice"),
        (["{a}", "{a}", "--format", "yaml"], "invalid choice"),
        (["{a}", "{a}", "--model", "nope"], "model='nope': no model of that name in either archive"),
    ],
)
def test_errors_exit_2_with_one_line(
    archives: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    garbage = tmp_path / "garbage.pt2"
    garbage.write_bytes(b"this is not a zip")
    args = [a.format(a=archives["a"], garbage=garbage) for a in argv]
    if "invalid choice" in message:
        with pytest.raises(SystemExit) as exc:
            main(["diff", *args])
        assert exc.value.code == 2
        err = capsys.readouterr().err
    else:
        status, out, err = run(capsys, *args)
        assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_the_console_entry_point_exits_with_the_diff_status(archives: dict[str, Path]) -> None:
    def status(*argv: Any) -> int:
        return subprocess.run(
            [sys.executable, "-m", "pt2canon", "diff", *map(str, argv)], capture_output=True
        ).returncode

    assert status(archives["a"], archives["copy"]) == 0
    assert status(archives["a"], archives["inserted"]) == 1
    assert status(archives["a"], "does_not_exist.pt2") == 2


def test_colour_always_never_and_auto(
    archives: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, always, _ = run(capsys, archives["a"], archives["inserted"], "--color", "always")
    _, never, _ = run(capsys, archives["a"], archives["inserted"], "--color", "never")
    _, auto, _ = run(capsys, archives["a"], archives["inserted"])  # captured output is not a terminal
    assert "\x1b[32m+ " in always and "\x1b[" not in never and auto == never
    _, as_json, _ = run(capsys, archives["a"], archives["inserted"], "--color", "always", "--format", "json")
    assert "\x1b[" not in as_json

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color("auto", Tty()) is True
    assert use_color("auto", io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color("auto", Tty()) is False
    assert use_color("always", io.StringIO()) is True
    monkeypatch.setenv("NO_COLOR", "")
    assert use_color("auto", Tty()) is True  # set but empty does not count (no-color.org)
    assert use_color("never", Tty()) is False


def test_quiet_prints_nothing_and_only_the_exit_status_tells(
    archives: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "-q", archives["a"], archives["inserted"]) == (1, "", "")
    assert run(capsys, "--quiet", archives["a"], archives["copy"]) == (0, "", "")
    status, out, err = run(capsys, "-q", archives["a"], "missing.pt2")
    assert status == 2 and out == "" and "missing.pt2" in err


def test_stat_counts_the_changes_per_module_and_per_kind(
    archives: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # The tanh is called in forward (the root module) and rewires fc2's linear, which reads it.
    status, out, _ = run(capsys, "--stat", archives["a"], archives["inserted"])
    assert status == 1
    assert out == " (root) | 1 +\n fc2    | 1 ~\n 2 changes at level graph: 1 node added, 1 node rewired\n"
    status, out, _ = run(capsys, "--stat", "--level", "full", archives["a"], archives["weight"])
    assert (status, out) == (1, " fc2 | 1 ~\n 1 change at level full: 1 weight changed\n")  # fc2.bias
    assert run(capsys, "--stat", archives["a"], archives["copy"]) == (0, " no changes at level graph\n", "")
    with pytest.raises(SystemExit):
        main(["diff", "--stat", "-q", str(archives["a"]), str(archives["copy"])])


def test_stat_bars_are_scaled_to_forty_marks_like_git() -> None:
    from pt2canon.commands.diff import format_stat
    from pt2canon.diff.result import Change, DiffResult, Location

    many = [Change("node_added", Location(b=f"n{i}", module="big"), "x") for i in range(120)]
    few = [Change("node_removed", Location(a=f"n{i}", module="small"), "x") for i in range(3)]
    lines = format_stat(DiffResult("a", "b", "graph", many + few)).splitlines()
    assert lines[0] == " big   | 120 " + "+" * 40
    assert lines[1] == " small |   3 -"  # 3 * 40 / 120 = 1 mark
