"""The benchmark suite's entry points run on tiny inputs (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_synthetic_programs_are_valid_and_have_the_requested_size() -> None:
    from pt2canon.canon.program import canonicalize_program
    from pt2canon.serde.schema import check_program

    synthetic = _load("synthetic")
    doc = synthetic.synthetic_program(200)
    check_program(doc)
    assert 200 <= len(doc["graph_module"]["graph"]["nodes"]) < 210
    assert canonicalize_program(doc).doc["graph_module"]["graph"]["nodes"]
    assert synthetic.synthetic_program(200) == doc  # deterministic


def test_the_benchmark_runs_in_quick_mode_and_rewrites_its_report_keeping_the_notes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _load("run")
    report = tmp_path / "BENCH.md"
    report.write_text("# Benchmarks\n\nold figures\n\n## Notes\n\n* a hand-written note\n")
    assert (
        run.main(
            [
                "--quick",
                "--only",
                "canon",
                "scaling",
                "cold",
                "--work",
                str(tmp_path / "work"),
                "--markdown",
                str(report),
            ]
        )
        == 0
    )
    text = report.read_text()
    assert "old figures" not in text and text.endswith("## Notes\n\n* a hand-written note\n")
    assert "| program |" in text and "Scaling" in text and "Cold process" in text
    results = json.loads((ROOT / "bench" / "results" / "quick.json").read_text())
    assert results["canon"][0]["speedup_vs_torch"] > 0
    assert len(results["scaling"]["rows"]) == 2


def test_the_weights_benchmark_runs_its_dtype_section_and_reports_it(capsys: pytest.CaptureFixture[str]) -> None:
    diff_weights = _load("diff_weights")
    assert diff_weights.main(["--quick", "--only", "dtypes"]) == 0
    out = capsys.readouterr().out
    assert "| bfloat16 |" in out and "| float8_e4m3fn |" in out
