"""GraphPickler payloads: refused without the opt-in, hashed like the graph with it, audited without running."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from captures import capture
from torch import nn
from torch.fx._graph_pickler import GraphPickler

import pt2canon
from pt2canon.audit import audit_path
from pt2canon.cli import main
from pt2canon.errors import InputError


@pytest.fixture(scope="module")
def graph() -> tuple[torch.fx.GraphModule, object, bytes]:
    x = torch.randn(3, 4)
    (cap,) = capture(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), x, dynamic=[(0, 0)])
    return cap.gm, cap.artifact, GraphPickler.dumps(cap.gm)


@pytest.fixture
def payload_file(tmp_path: Path, graph: tuple) -> Path:
    path = tmp_path / "graph.pkl"
    path.write_bytes(graph[2])
    return path


def test_a_graph_pickler_payload_is_refused_without_the_opt_in(graph: tuple, payload_file: Path) -> None:
    for source in (graph[2], payload_file, str(payload_file)):
        with pytest.raises(InputError, match=r"is a pickle.*trust_pickle=True"):
            pt2canon.load(source)
    with pytest.raises(InputError, match=r"is a pickle"):
        pt2canon.hash(graph[2])


def test_the_command_line_refuses_a_payload_in_one_line_unless_trust_pickle_is_given(
    payload_file: Path, graph: tuple, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hash", str(payload_file)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--trust-pickle" in err and str(payload_file) in err
    assert main(["hash", str(payload_file), "--trust-pickle"]) == 0
    assert capsys.readouterr().out.split()[0] == pt2canon.hash(graph[0])
    assert main(["show", str(payload_file), "--trust-pickle"]) == 0
    assert "torch._C._nn.linear" in capsys.readouterr().out
    out = payload_file.with_suffix(".json")
    assert main(["canon", str(payload_file), "-o", str(out), "--trust-pickle"]) == 0
    assert capsys.readouterr().out.split()[0] == pt2canon.hash(out) == pt2canon.hash(graph[0])
    assert main(["canon", str(payload_file), "-o", str(out.with_suffix(".pt2")), "--trust-pickle"]) == 2
    assert "write it as JSON" in capsys.readouterr().err


def test_with_the_opt_in_a_payload_hashes_and_diffs_like_the_graph_it_holds(graph: tuple) -> None:
    gm, inside, data = graph
    loaded = pt2canon.load(data, trust_pickle=True)
    assert loaded.format == "fx" and loaded.model.program["range_constraints"]
    assert pt2canon.hash(loaded) == pt2canon.hash(gm) == pt2canon.hash(inside)
    assert pt2canon.diff(loaded, inside).equal
    assert pt2canon.diff(data, gm, trust_pickle=True).equal


def test_a_trusted_pickle_that_holds_no_graph_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"holds a builtins\.dict, not a torch\.fx\.GraphModule"):
        pt2canon.load(pickle.dumps({"not": "a graph"}), trust_pickle=True)
    with pytest.raises(InputError, match=r"GraphPickler.loads cannot load it"):
        pt2canon.load(b"\x80\x04" + b"garbage", trust_pickle=True)


def test_audit_reports_what_a_payload_would_import_and_that_it_is_a_graph_pickler_payload(payload_file: Path) -> None:
    report = audit_path(payload_file)
    assert report.format == "pickle" and not report.clean
    imported = {f.detail["global"] for f in report.findings if f.code == "unsafe-global"}
    assert "torch.fx._graph_pickler._GraphModulePickleData" in imported
    assert "torch.fx._graph_pickler._NodePickleData" in imported
    (note,) = [f for f in report.findings if f.code == "graph-pickler-payload"]
    assert note.severity == "info" and "--trust-pickle" in note.message
    assert set(note.detail["globals"]) == {g for g in imported if g.startswith("torch.fx._graph_pickler.")}


def test_audit_does_not_call_a_plain_pickle_a_graph_pickler_payload(tmp_path: Path) -> None:
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"a": [1, 2]}, protocol=4))
    report = audit_path(path)
    assert report.clean and not [f for f in report.findings if f.code == "graph-pickler-payload"]
