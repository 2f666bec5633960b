"""bench/fx.py writes its section of the report between its markers and leaves the rest alone (no timing asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _fx_bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_fx", ROOT / "bench" / "fx.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


RESULTS = {
    "machine": {"cpus": 2, "python": "3.11", "torch": "2.13.0", "platform": "linux"},
    "capture": {
        "layers": 48,
        "fx_nodes": 1250,
        "op_nodes": 670,
        "capture_seconds": 20.0,
        "hash_seconds": 0.1,
        "convert_seconds": 0.05,
        "ratio": 0.005,
    },
    "cachekey": {
        "rows": [
            {"variant": "base", "inductor_key": "k1", "dynamo_graph": "h1", "inductor_graph": "g1"},
            {"variant": "swapped statements", "inductor_key": "k2", "dynamo_graph": "h1", "inductor_graph": "g2"},
        ],
        "distinct": {"inductor_key": 2, "dynamo_graph": 1, "inductor_graph": 2},
        "same_as_base": {"inductor_key": 1, "dynamo_graph": 2, "inductor_graph": 1},
    },
}


def test_the_fx_section_is_appended_once_then_replaced_in_place(tmp_path: Path) -> None:
    bench = _fx_bench()
    report = tmp_path / "BENCH.md"
    report.write_text("# Benchmarks\n\nother sections\n\n## Notes\n\n* a note\n")
    bench.write_markdown(RESULTS, report)
    first = report.read_text()
    assert first.startswith("# Benchmarks\n\nother sections\n\n## Notes\n\n* a note\n\n<!-- fx:begin -->")
    assert "| 20.00 s | 100 ms | 50 ms | **0.50%** (target < 5%) |" in first
    assert "| swapped statements | differs | same | differs |" in first
    assert "| **sharing the base's** | **1 of 2** | **2 of 2** | **1 of 2** |" in first
    bench.write_markdown({**RESULTS, "capture": {**RESULTS["capture"], "ratio": 0.01}}, report)
    second = report.read_text()
    assert second.count("<!-- fx:begin -->") == 1 and "**1.00%**" in second and "**0.50%**" not in second
    assert second.startswith("# Benchmarks\n\nother sections\n\n## Notes\n\n* a note\n\n")
