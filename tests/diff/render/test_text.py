"""The text and JSON renderings of a diff, and the dispatch to the Markdown and HTML renderers."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

import pt2canon
from pt2canon.diff import DiffResult, diff_programs
from pt2canon.diff.render import render
from pt2canon.diff.render.common import summary_line
from pt2canon.diff.render.text import render_text
from pt2canon.diff.result import Change, Location
from pt2canon.errors import UsageError


def meta(dtype: int = 7, n: int = 3) -> dict[str, Any]:
    return {
        "dtype": dtype,
        "sizes": [{"as_int": n}],
        "requires_grad": False,
        "device": {"type": "cpu", "index": None},
        "strides": [{"as_int": 1}],
        "storage_offset": {"as_int": 0},
        "layout": 7,
    }


def make(ops: list[tuple[str, str, list[str]]], metas: dict[str, Any] | None = None) -> dict[str, Any]:
    """A program: parameter ``w``, user input ``x``, one node per ``(name, aten target, tensor args)``, output the last."""
    metas = metas or {}
    nodes, values = [], {"w": meta(), "x": meta()}
    for name, target, args in ops:
        inputs = [
            {"name": ("self", "other")[i], "arg": {"as_tensor": {"name": a}}, "kind": 1} for i, a in enumerate(args)
        ]
        nodes.append(
            {
                "target": "torch.ops.aten." + target,
                "inputs": inputs,
                "outputs": [{"as_tensor": {"name": name}}],
                "metadata": {},
                "name": name,
            }
        )
        values[name] = metas.get(name, meta())
    out = ops[-1][0]
    graph = {
        "inputs": [{"as_tensor": {"name": "w"}}, {"as_tensor": {"name": "x"}}],
        "outputs": [{"as_tensor": {"name": out}}],
        "nodes": nodes,
        "tensor_values": values,
        "sym_int_values": {},
        "sym_bool_values": {},
        "sym_float_values": {},
        "custom_obj_values": {},
    }
    return {
        "graph_module": {
            "graph": graph,
            "signature": {
                "input_specs": [
                    {"parameter": {"arg": {"name": "w"}, "parameter_name": "lin.weight"}},
                    {"user_input": {"arg": {"as_tensor": {"name": "x"}}}},
                ],
                "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": out}}}}],
            },
            "module_call_graph": [{"fqn": "", "signature": None}],
        },
        "opset_version": {"aten": 10},
        "range_constraints": {},
        "schema_version": {"major": 8, "minor": 20},
        "torch_version": "2.13.0+cpu",
        "verifiers": [],
    }


CHAIN = [
    ("a", "mul.Tensor", ["x", "w"]),
    ("b", "relu.default", ["a"]),
    ("c", "sin.default", ["b"]),
    ("d", "neg.default", ["c"]),
    ("e", "exp.default", ["d"]),
    ("f", "cos.default", ["e"]),
    ("g", "abs.default", ["f"]),
    ("h", "sqrt.default", ["g"]),
    ("i", "log.default", ["h"]),
    ("y", "add.Tensor", ["i", "x"]),
]


def diff(a: dict[str, Any], b: dict[str, Any], **options: Any) -> DiffResult:
    return diff_programs(pt2canon.load(json.dumps(a).encode()), pt2canon.load(json.dumps(b).encode()), **options)


@pytest.fixture(scope="module")
def inserted() -> DiffResult:
    ops = list(CHAIN)
    ops[3:4] = [("t", "tanh.default", ["c"]), ("d", "neg.default", ["t"])]
    return diff(make(CHAIN), make(ops))


def test_an_inserted_op_renders_as_a_plus_row_and_the_rewired_op_as_its_old_and_new_line(inserted: DiffResult) -> None:
    # Every value after the inserted tanh is renumbered in B: A's neg defines %v5, B's %v6; the
    # rewired neg reads sin (A's %v4) in A and tanh (B's %v5) in B.
    assert render_text(inserted, context=2) == "\n".join(
        [
            "--- <bytes>",
            "+++ <bytes>",
            "@@ -8,5 +8,6 @@ graph n3",
            "      %v3 = aten.relu.default(%v2)  # f32[3]",
            "      %v4 = aten.sin.default(%v3)  # f32[3]",
            "+     %v5 = aten.tanh.default(%v4)  # f32[3]",
            "-     %v5 = aten.neg.default(%v4)  # f32[3]",
            "+     %v6 = aten.neg.default(%v5)  # f32[3]",
            "          # self: %v4 (n2 aten.sin.default) -> %v5 (n3 aten.tanh.default)",
            "          # the same values: A's %v5 is B's %v6",
            "      %v7 = aten.exp.default(%v6)  # f32[3]",
            "      %v8 = aten.cos.default(%v7)  # f32[3]",
            "2 changes at level graph: 1 node added, 1 node rewired",
        ]
    )


def test_context_sets_how_many_unchanged_rows_surround_a_change(inserted: DiffResult) -> None:
    def body(text: str) -> list[str]:
        return [line for line in text.splitlines()[3:-1] if not line.lstrip().startswith("#")]

    assert [line[0] for line in body(render_text(inserted, context=0))] == ["+", "-", "+"]
    assert len(body(render_text(inserted, context=1))) == 5
    assert len(body(render_text(inserted, context=3))) == 9
    # The default is the diff's own context option (3).
    assert render_text(inserted) == render_text(inserted, context=3) == str(inserted)
    # Enough context shows the whole listing: inputs, outputs and the return line, once.
    whole = render_text(inserted, context=100)
    assert whole.count("@@") == 2 and "  inputs:" in whole and "      return (%v12,)" in whole


def test_changes_far_apart_make_separate_hunks_and_close_ones_merge() -> None:
    ops = list(CHAIN)
    ops[1] = ("b", "gelu.default", ["a"])
    ops[8] = ("i", "log2.default", ["h"])
    r = diff(make(CHAIN), make(ops))
    assert [c.kind for c in r.changes] == ["node_changed", "node_changed"]
    assert render_text(r, context=1).count("\n@@ ") == 2
    assert render_text(r, context=4).count("\n@@ ") == 1
    text = render_text(r, context=1)
    assert (
        "-     %v3 = aten.relu.default(%v2)  # f32[3]\n"
        "+     %v3 = aten.gelu.default(%v2)  # f32[3]\n"
        "          # aten.relu.default -> aten.gelu.default\n"
    ) in text  # the same value names on both sides: nothing to explain


def test_removed_rows_show_the_old_line_with_a_minus() -> None:
    ops = [op for op in CHAIN if op[0] != "e"]
    ops[4] = ("f", "cos.default", ["d"])
    r = diff(make(CHAIN), make(ops))
    text = render_text(r, context=0)
    assert "\n-     %v6 = aten.exp.default(%v5)  # f32[3]\n" in text
    assert text.endswith("2 changes at level graph: 1 node removed, 1 node rewired")


def test_changes_outside_the_listing_follow_the_hunks_one_line_each() -> None:
    # x has a symbolic size (a range constraint counts only for a symbol some value mentions).
    s0 = {"as_expr": {"expr_str": "Symbol('s0', integer=True, positive=True)", "hint": None}}
    a = make(CHAIN)
    a["graph_module"]["graph"]["tensor_values"]["x"]["sizes"] = [s0]
    b = make(CHAIN)
    b["graph_module"]["graph"]["tensor_values"]["x"]["sizes"] = [s0]
    b["range_constraints"] = {"s0": {"min_val": 2, "max_val": 8}}
    b["torch_version"] = "2.14.0"
    r = diff(a, b)
    text = render_text(r)
    assert "@@" not in text
    assert text.splitlines()[2:] == [
        "~ [constraint_changed] s0 [2, 8] added",
        "~ [version_changed] torch_version: 2.13.0+cpu -> 2.14.0",
        "1 change at level graph: 1 constraint changed, 1 version changed (not counted)",
    ]


def test_an_equal_diff_says_so_in_one_line() -> None:
    r = diff(make(CHAIN), make(CHAIN))
    assert render_text(r) == "--- <bytes>\n+++ <bytes>\nno changes at level graph"
    assert summary_line(r) == "no changes at level graph"
    assert r.rows and all(row.status == " " for row in r.rows)  # the aligned listing is still there


def test_colour_only_when_asked(inserted: DiffResult) -> None:
    plain = render_text(inserted)
    assert "\x1b[" not in plain
    coloured = render_text(inserted, color=True)
    assert "\x1b[32m+     %v5 = aten.tanh.default(%v4)  # f32[3]\x1b[0m" in coloured
    assert "\x1b[31m-     %v5 = aten.neg.default(%v4)  # f32[3]\x1b[0m" in coloured and "\x1b[36m@@ " in coloured
    assert (
        coloured.replace("\x1b[0m", "")
        .replace("\x1b[1m", "")
        .replace("\x1b[2m", "")
        .replace("\x1b[31m", "")
        .replace("\x1b[32m", "")
        .replace("\x1b[33m", "")
        .replace("\x1b[36m", "")
        == plain
    )


def test_json_is_the_documented_form_with_sorted_keys(inserted: DiffResult) -> None:
    text = render(inserted, "json")
    assert text == json.dumps(inserted.to_json(), sort_keys=True, indent=2)
    doc = json.loads(text)
    assert doc["schema_version"] == 2 and doc["equal"] is False and doc["counted"] == 2 and doc["notes"] == []
    assert (
        doc["summary"]["node_added"] == 1 and doc["summary"]["node_rewired"] == 1 and sum(doc["summary"].values()) == 2
    )
    added, rewired = doc["changes"]
    assert (
        added["kind"] == "node_added"
        and added["location"] == {"b": "n3", "b_original": "t"}
        and added["b"].startswith("%v5 = ")
    )
    assert rewired["location"] == {"a": "n3", "b": "n4", "a_original": "d", "b_original": "d"}
    assert rewired["details"]["inputs"][0]["new"] == {"node": "n3", "value": "%v5", "op": "aten.tanh.default"}


def test_markdown_and_html_dispatch_to_their_renderers(inserted: DiffResult) -> None:
    from pt2canon.diff.render.html import render_html
    from pt2canon.diff.render.markdown import render_markdown

    assert render(inserted, "markdown") == render_markdown(inserted)
    assert render(inserted, "html", context=1) == render_html(inserted, context=1)
    assert inserted._repr_html_() == render_html(inserted)


def test_a_missing_renderer_or_an_unknown_format_is_a_usage_error(
    inserted: DiffResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pt2canon.diff.render.markdown", None)  # makes the import fail
    with pytest.raises(UsageError, match="markdown renderer is not available"):
        render(inserted, "markdown")
    with pytest.raises(UsageError, match="format='yaml'"):
        render(inserted, "yaml")
    with pytest.raises(UsageError, match="context"):
        render_text(inserted, context=-1)


def test_a_result_built_by_hand_renders_its_records_without_rows() -> None:
    r = DiffResult(
        a="a.pt2",
        b="b.pt2",
        level="full",
        changes=[Change("weight_changed", Location(item="weight fc.weight"), "weight fc.weight: content 1 -> 2")],
    )
    assert render_text(r) == "\n".join(
        [
            "--- a.pt2",
            "+++ b.pt2",
            "~ [weight_changed] weight fc.weight: content 1 -> 2",
            "1 change at level full: 1 weight changed",
        ]
    )


def test_a_hunk_with_nothing_on_one_side_is_numbered_as_diff_u_numbers_it_in_text_and_markdown() -> None:
    from pt2canon.diff.records import AlignedLine
    from pt2canon.diff.render.markdown import render_markdown

    rows = [AlignedLine(" ", "%a = aten.sin.default(%x)", "%a = aten.sin.default(%x)"),
            AlignedLine("+", None, "%b = aten.cos.default(%a)")]  # fmt: skip
    r = DiffResult("a", "b", "graph", [Change("node_added", Location(b="n1"), "aten.cos.default added")], rows)
    # diff -u: an empty side's start is the line before the hunk (here line 1), its length 0
    assert "\n@@ -1,0 +2,1 @@ graph" in render_text(r, context=0)
    assert "@@ -1,0 +2,1 @@ graph" in render_markdown(r, context=0)
