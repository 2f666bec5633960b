"""bench/index_store.py runs on a tiny input, and both stores it compares hold the same records (no timing asserted)."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from pathlib import Path

import pytest

from pt2canon.batch import read_index

ROOT = Path(__file__).resolve().parents[2]


def test_both_stores_hold_every_record_after_a_next_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_index_store", ROOT / "bench" / "index_store.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    bench.measure(str(tmp_path), 40)
    rows = capsys.readouterr().out.splitlines()
    assert [r.split(" | ")[1] for r in rows] == ["JSON lines", "SQLite", "(walk + stat of 40 files)"]
    expected = {r["path"]: r for r in bench.records(40)}
    changed = {**bench.records(40)[20], "size": 1, "hash": bench._sha(-1, "h")}
    expected[changed["path"]] = changed
    assert read_index(tmp_path / "index.jsonl") == expected
    con = sqlite3.connect(tmp_path / "index.sqlite")
    stored = {p: json.loads(r) for p, r in con.execute("SELECT path, record FROM archives")}
    con.close()
    assert stored == expected
