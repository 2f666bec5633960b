"""The recording backend: one canonical document and index line per graph, then the next backend."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

import pt2canon
import pt2canon.fx
from pt2canon.errors import UsageError

MODEL_V1 = """
import torch


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x):
        y = torch.relu(self.fc(x))
        print("logging")  # a graph break
        return y * 2
"""

MODEL_V2 = MODEL_V1.replace(
    "        return y * 2\n",
    '        z = y * 2\n        print("more logging")  # a second break: a new graph\n        return z.sum(0)\n',
)
MODEL_V3 = MODEL_V1.replace("torch.relu(", "torch.nn.functional.gelu(")


def load_model(folder: Path, source: str) -> ModuleType:
    """Write ``model.py`` into ``folder`` and import it (each version its own module, one file name)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"model_{abs(hash(str(folder)))}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def record(tmp: Path, name: str, source: str, *, then: object = "eager") -> tuple[Path, torch.Tensor]:
    """Compile ``Model`` of ``source`` with the recorder into ``tmp/name``; return the folder and the output."""
    torch._dynamo.reset()
    model = load_model(tmp / "src" / name, source).Model()
    run = tmp / name
    out = torch.compile(model, backend=pt2canon.fx.recorder(run, then=then))(torch.ones(2, 4))
    return run, out


def index(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "index.jsonl").read_text().splitlines()]


def test_a_graph_break_records_two_graphs_with_their_frames_and_hands_them_on(tmp_path: Path) -> None:
    run, out = record(tmp_path, "a", MODEL_V1)
    torch.manual_seed(0)
    expected = torch.relu(torch.nn.Linear(4, 4)(torch.ones(2, 4))) * 2
    assert torch.allclose(out, expected)
    entries = index(run)
    assert [e["index"] for e in entries] == [0, 1]
    assert [e["frame"]["name"] for e in entries] == ["Model.forward", "Model.torch_dynamo_resume_in_forward_at_13"]
    assert all(Path(e["frame"]["file"]).name == "model.py" for e in entries)
    assert entries[0]["graph_break"] and not entries[1]["graph_break"]
    assert entries[0]["compile_id"] == "0/0" and entries[1]["compile_id"] == "1/0"
    for e in entries:
        # the recorded document is canonical: read back, it hashes to the recorded hash
        assert pt2canon.hash(run / e["file"]) == e["hash"]
        assert pt2canon.canonicalize(run / e["file"]).doc == json.loads((run / e["file"]).read_bytes())
    first = json.loads((run / entries[0]["file"]).read_bytes())
    targets = [n["target"] for n in first["graph_module"]["graph"]["nodes"]]
    assert targets == ["torch._C._nn.linear", "torch.relu"]


def test_recording_the_same_program_twice_gives_the_same_index_apart_from_paths(tmp_path: Path) -> None:
    a, _ = record(tmp_path, "a", MODEL_V1)
    b, _ = record(tmp_path, "b", MODEL_V1)
    strip = [{k: v for k, v in e.items() if k != "frame"} for e in index(a)]
    assert strip == [{k: v for k, v in e.items() if k != "frame"} for e in index(b)]


@pytest.mark.skipif(
    shutil.which("g++") is None and shutil.which("clang++") is None, reason="Inductor needs a C++ compiler"
)
def test_the_recorder_hands_the_graph_to_inductor_by_default(tmp_path: Path) -> None:
    torch._dynamo.reset()
    backend = pt2canon.fx.recorder(tmp_path / "run")

    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x) * 2

    x = torch.randn(8)
    assert torch.allclose(torch.compile(f, backend=backend)(x), torch.sin(x) * 2)
    (entry,) = backend.entries
    assert entry["hash"] == pt2canon.hash(tmp_path / "run" / entry["file"])
    assert backend._backend() is torch._dynamo.lookup_backend("inductor")


def test_a_graph_pt2canon_cannot_read_is_indexed_with_the_error_and_still_compiled(tmp_path: Path) -> None:
    class Opaque:
        pass

    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    graph.output(graph.call_function(torch.add, (x, Opaque())))
    backend = pt2canon.fx.recorder(tmp_path / "run", then=lambda gm, inputs: "compiled")
    assert backend(graph, [torch.ones(1)]) == "compiled"  # a bare Graph: FX cannot even print this constant
    (entry,) = index(tmp_path / "run")
    assert "hash" not in entry and "Opaque object, which has no stable" in entry["error"]


def test_bad_recorder_options_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="level='exact'"):
        pt2canon.fx.recorder(tmp_path, level="exact")
    with pytest.raises(UsageError, match="then=3"):
        pt2canon.fx.recorder(tmp_path, then=3)
