"""The aligned listing of a diff: built once, each line formatted only when a renderer shows it."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import pt2canon
from pt2canon.diff.records import AlignedLine
from pt2canon.diff.render import FORMATS, render

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from synthetic import synthetic_program


def _pair(n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    a = synthetic_program(n)
    b = copy.deepcopy(a)
    nodes = b["graph_module"]["graph"]["nodes"]
    i = next(k for k in range(len(nodes) // 2, len(nodes)) if nodes[k]["target"].endswith("relu.default"))
    nodes[i]["target"] = nodes[i]["target"].replace("relu", "gelu")
    return a, b


def _load(doc: dict[str, Any]) -> Any:
    return pt2canon.load(json.dumps(doc).encode())


def _formatted(rows: list[AlignedLine]) -> int:
    return sum(not callable(r.a_text) and not callable(r.b_text) for r in rows)


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "json"])
def test_a_renderer_formats_only_the_rows_it_shows_and_prints_what_formatting_all_would(fmt: str) -> None:
    a, b = _pair(600)
    lazy = pt2canon.diff(_load(a), _load(b))
    text = render(lazy, fmt, context=3)
    rows = list(lazy.rows)
    deferred = len(rows) - _formatted(rows)
    assert deferred > len(rows) // 2  # the unchanged graph far from the one change is never formatted
    eager = pt2canon.diff(_load(a), _load(b))
    for r in eager.rows:  # format every line first, then render
        r.a_line, r.b_line, r.module  # noqa: B018
    assert render(eager, fmt, context=3) == text
    assert "gelu" in text


def test_a_deferred_line_is_formatted_once_and_compares_by_its_text() -> None:
    calls: list[int] = []

    def line() -> str:
        calls.append(1)
        return "%a = aten.sin.default(%x)"

    row = AlignedLine(" ", line, "%a = aten.sin.default(%x)")
    assert row == AlignedLine(" ", "%a = aten.sin.default(%x)", "%a = aten.sin.default(%x)")
    assert row.a_line == row.a_line and calls == [1]
