"""The Markdown renderer: headline, summary, grouped changes, diff fences, escaping and the byte cap."""

from __future__ import annotations

import itertools
import re

import pytest

from pt2canon.diff.render.common import clean_text, hunks
from pt2canon.diff.render.markdown import MIN_BYTES, render_markdown
from pt2canon.diff.result import CHANGE_KINDS, AlignedLine, Change, DiffResult, GraphPath, Location
from pt2canon.errors import UsageError

# -- synthetic results -------------------------------------------------------------------------


def _node(i: int, target: str = "aten.relu.default") -> str:
    return f"%v{i + 1} = {target}(%v{i})  # f32[2, 3]"


def one_of_each_kind() -> DiffResult:
    changes = [
        Change(
            "node_added",
            Location(b="n4", b_original="gelu", module="encoder.act"),
            "aten.gelu.default",
            b_line=_node(4, "aten.gelu.default"),
        ),
        Change("node_removed", Location(a="n7", a_original="dropout"), "aten.dropout.default", a_line=_node(7)),
        Change(
            "node_changed",
            Location(a="n2", b="n2", a_original="mul", b_original="mul_1"),
            "constant argument 1: 2.0 -> 3.0",
            details={"args": {"1": {"old": 2.0, "new": 3.0}}},
            a_line="%v3 = aten.mul.Tensor(%v2, 2.0)",
            b_line="%v3 = aten.mul.Tensor(%v2, 3.0)",
        ),
        Change("node_rewired", Location(a="n5", b="n6"), "operands swapped", details={"inputs": [[0, 1], [1, 0]]}),
        Change("signature_changed", Location(item="inputs[2]"), "user input added: y"),
        Change("weight_changed", Location(item="fc1.weight"), "content sha256:aa -> sha256:bb"),
        Change("constraint_changed", Location(item="s0"), "range [2, 1024] -> [1, 1024]"),
        Change("sample_inputs_changed", Location(item="sample inputs"), "content sha256:cc -> sha256:dd"),
        Change("version_changed", Location(item="torch_version"), "2.12.0 -> 2.13.0"),
    ]
    rows = [AlignedLine(" ", _node(i), _node(i)) for i in range(20)]
    rows[2] = AlignedLine("~", "%v3 = aten.mul.Tensor(%v2, 2.0)", "%v3 = aten.mul.Tensor(%v2, 3.0)")
    rows[4] = AlignedLine("+", None, _node(4, "aten.gelu.default"))
    rows[15] = AlignedLine("-", _node(15, "aten.dropout.default"), None)
    return DiffResult(
        "old/model.pt2", "new/model.pt2", "graph", changes, rows, "sha256:" + "a" * 64, "sha256:" + "b" * 64
    )


def many_changes(n: int, *, name: str = "node") -> DiffResult:
    changes = [
        Change(
            "node_changed",
            Location(a=f"n{i}", b=f"n{i}", a_original=f"{name}_{i}", b_original=f"{name}_{i}", module=f"layers.{i}"),
            "aten.relu.default -> aten.gelu.default",
            details={"target": ["aten.relu.default", "aten.gelu.default"]},
            a_line=_node(i),
            b_line=_node(i, "aten.gelu.default"),
        )
        for i in range(n)
    ]
    rows = [AlignedLine("~", _node(i), _node(i, "aten.gelu.default")) for i in range(n)]
    return DiffResult("a.pt2", "b.pt2", "graph", changes, rows, "sha256:" + "1" * 64, "sha256:" + "2" * 64)


def _table_rows(md: str, header: str) -> list[str]:
    """The body rows of the Markdown table whose header line is ``header``."""
    lines = md.splitlines()
    start = lines.index(header) + 2
    out = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        out.append(line)
    return out


def _cells(row: str) -> list[str]:
    """Cells of a table row, split on unescaped pipes (as GitHub does)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


# -- headline and summary ------------------------------------------------------------------------


def test_equal_result_has_an_equal_headline_and_no_change_tables() -> None:
    r = DiffResult("a.pt2", "b.pt2", "graph", [], hash_a="sha256:" + "c" * 64, hash_b="sha256:" + "c" * 64)
    md = render_markdown(r)
    assert md.splitlines()[0] == "### pt2canon diff: equal"
    assert "No changes at level `graph`." in md
    assert "| kind | count |" not in md
    assert "```" not in md
    assert md.count("sha256:" + "c" * 64) == 1  # one hash when both sides agree


def test_headline_counts_changes_and_leaves_version_changes_out_of_the_count() -> None:
    md = render_markdown(one_of_each_kind())
    # the version change, and the sample inputs (not included), do not count
    assert md.splitlines()[0] == "### pt2canon diff: 7 changes"
    assert "1 version change shown below, not counted." in md
    assert "1 other change shown below, not counted (within tolerance or not included)." in md
    assert "`old/model.pt2` → `new/model.pt2`" in md
    assert f"`sha256:{'a' * 64}` → `sha256:{'b' * 64}`" in md


def test_only_version_changes_render_as_equal() -> None:
    r = DiffResult("a", "b", "graph", [Change("version_changed", Location(item="torch_version"), "2.12 -> 2.13")])
    md = render_markdown(r)
    assert md.splitlines()[0] == "### pt2canon diff: equal"
    assert "`torch_version`" in md


def test_summary_table_has_one_row_per_kind_present_and_the_total() -> None:
    r = one_of_each_kind()
    r.changes.append(Change("node_added", Location(b="n9"), "aten.sin.default"))
    md = render_markdown(r)
    rows = _table_rows(md, "| kind | count |")
    counts = {_cells(row)[0]: _cells(row)[1] for row in rows}
    assert counts["Nodes added (`node_added`)"] == "2"
    assert counts["Nodes changed (`node_changed`)"] == "1"
    assert counts["**total**"] == f"**{len(CHANGE_KINDS) + 1}**"
    assert len(rows) == len(CHANGE_KINDS) + 1


def test_options_are_listed_in_the_headline() -> None:
    r = one_of_each_kind()
    r.options = {"ignore_shapes": True, "ignore_weights": False, "model": "enc", "level": "graph", "context": 5}
    md = render_markdown(r)
    assert "options: `ignore_shapes`, `model=enc`" in md
    assert "ignore_weights" not in md and "context=" not in md and "level=" not in md


# -- change groups ---------------------------------------------------------------------------------


def test_changes_are_grouped_by_kind_in_the_documented_order() -> None:
    md = render_markdown(one_of_each_kind())
    headings = [line for line in md.splitlines() if line.startswith("#### ")]
    assert headings == [
        "#### Nodes added (1)",
        "#### Nodes removed (1)",
        "#### Nodes changed (1)",
        "#### Nodes rewired (1)",
        "#### Signature changes (1)",
        "#### Weight changes (1)",
        "#### Range constraint changes (1)",
        "#### Sample input changes (1)",
        "#### Version changes (1)",
        "#### Listing (2 hunks)",
    ]


def test_locations_show_canonical_and_original_names_and_module() -> None:
    md = render_markdown(one_of_each_kind())
    assert "| `n4` (`gelu`) in `encoder.act` | `aten.gelu.default` |" in md
    assert "| `n2` (was `mul`, now `mul_1`) | `constant argument 1: 2.0 -> 3.0` |" in md
    assert "| `n5` → `n6` | `operands swapped` |" in md
    assert "| `fc1.weight` | `content sha256:aa -> sha256:bb` |" in md


def test_change_details_are_shown_as_compact_json() -> None:
    md = render_markdown(one_of_each_kind())
    row = next(line for line in md.splitlines() if line.startswith("| `n2`"))
    assert _cells(row)[2] == '`{"args": {"1": {"new": 3.0, "old": 2.0}}}`'


def test_a_group_larger_than_the_fold_threshold_is_folded_into_details() -> None:
    md = render_markdown(many_changes(11))
    assert "<details><summary><strong>Nodes changed (11)</strong></summary>\n\n| location |" in md
    assert "#### Nodes changed" not in md
    small = render_markdown(many_changes(10))
    assert "#### Nodes changed (10)" in small
    assert "<details><summary><strong>Nodes changed" not in small


# -- the aligned listing -----------------------------------------------------------------------


def test_listing_shows_changed_rows_with_context_in_diff_fences() -> None:
    md = render_markdown(one_of_each_kind(), context=1)
    fence = md[md.index("```diff\n") + len("```diff\n") :]
    fence = fence[: fence.index("```\n")]
    assert fence.splitlines() == [
        "@@ -2,4 +2,5 @@ graph",
        " " + _node(1),
        "-%v3 = aten.mul.Tensor(%v2, 2.0)",
        "+%v3 = aten.mul.Tensor(%v2, 3.0)",
        " " + _node(3),
        "+" + _node(4, "aten.gelu.default"),
        " " + _node(5),
        "@@ -14,3 +15,2 @@ graph",
        " " + _node(14),
        "-" + _node(15, "aten.dropout.default"),
        " " + _node(16),
    ]


def test_context_zero_shows_only_changed_rows() -> None:
    md = render_markdown(one_of_each_kind(), context=0)
    assert _node(1) not in md
    assert _node(14) not in md
    assert "-" + _node(15, "aten.dropout.default") in md


def test_hunks_merge_when_their_context_touches() -> None:
    rows = [AlignedLine(" ", str(i), str(i)) for i in range(10)]
    rows[2] = AlignedLine("-", "2", None)
    rows[6] = AlignedLine("+", None, "6")
    assert [(h.start, h.stop) for h in hunks(rows, context=1)] == [(1, 4), (5, 8)]
    assert [(h.start, h.stop) for h in hunks(rows, context=2)] == [(0, 9)]
    (h,) = hunks(rows, context=2)
    assert h.header() == "@@ -1,8 +1,8 @@ graph"


def test_subgraph_rows_are_labelled_with_their_graph() -> None:
    rows = [
        AlignedLine(" ", "%a = aten.sin.default(%x)", "%a = aten.sin.default(%x)"),
        AlignedLine(
            "~",
            "%b = aten.cos.default(%a)",
            "%b = aten.tan.default(%a)",
            graph=GraphPath(steps=(("n1", "true_graph_0"),)),
        ),
    ]
    r = DiffResult(
        "a",
        "b",
        "graph",
        [Change("node_changed", Location(graph=GraphPath(steps=(("n1", "true_graph_0"),)), a="n0"), "x")],
        rows,
    )
    md = render_markdown(r)
    assert "@@ graph n1/true_graph_0 @@\n-%b = aten.cos.default(%a)\n+%b = aten.tan.default(%a)\n" in md
    assert "in subgraph `n1/true_graph_0`" in md


# -- escaping --------------------------------------------------------------------------------------


def hostile() -> DiffResult:
    name = "x|y`z<script>alert(1)</script>@octocat $a$ \n\x00"
    line = "%v1 = my.op('```\n')  # <b>"
    changes = [Change("node_added", Location(b=name, b_original=name, module="a|b"), f"summary {name}", b_line=line)]
    rows = [AlignedLine("+", None, line), AlignedLine(" ", "```", "```")]
    return DiffResult("a<b>.pt2", "b|c.pt2", "graph", changes, rows)


def test_hostile_names_stay_inside_code_spans_and_keep_the_table_shape() -> None:
    md = render_markdown(hostile())
    (row,) = _table_rows(md, "| location | change |")
    assert len(_cells(row)) == 2
    assert "\\x00" in row and "\\n" in row  # control characters spelled out, the row stays on one line
    for line in md.splitlines():
        if "<script>" in line:
            # only inside code spans: strip them and the tag must be gone
            assert "<script>" not in re.sub(r"(`+).*?\1", "", line)


def test_a_listing_line_with_backticks_gets_a_longer_fence() -> None:
    md = render_markdown(hostile())
    assert "````diff\n" in md
    body = md[md.index("````diff\n") :]
    assert "\n```\n" not in body.split("\n````\n")[0]  # no line of the listing can close the fence


def test_hostile_markdown_renders_without_raw_html_or_broken_tables() -> None:
    markdown_it = pytest.importorskip("markdown_it")
    md = render_markdown(hostile())
    html = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>" not in html
    body_rows = re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)
    changes_row = next(r for r in body_rows if "octocat" in r)
    assert changes_row.count("<td>") == 2
    assert '<pre><code class="language-diff">' in html


def test_clean_text_spells_out_control_characters_and_lone_surrogates() -> None:
    assert clean_text("a\tb\r\n\x1b\ud800") == "a\tb\\r\\n\\x1b\\ud800"
    assert clean_text("é✓") == "é✓"


# -- the byte cap ----------------------------------------------------------------------------------


def test_fifty_thousand_changes_stay_under_one_megabyte_and_count_what_is_left_out() -> None:
    r = many_changes(50_000)
    md = render_markdown(r)
    size = len(md.encode("utf-8"))
    assert size <= 1_000_000
    assert size > 900_000  # the budget is used, not thrown away
    rows = _table_rows(md, "| location | change | detail |")
    m = re.search(r"\*\*\.\.\. (\d+) more changes not shown\*\*", md)
    assert m is not None
    assert len(rows) + int(m.group(1)) == 50_000
    assert md.count("<details>") == md.count("</details>") == 1
    assert "... 50000 listing rows not shown" in md


@pytest.mark.parametrize("max_bytes", [MIN_BYTES, 10_000, 65_536])
def test_the_cap_holds_for_small_budgets_and_multibyte_text(max_bytes: int) -> None:
    r = many_changes(2_000, name="ノード✓")
    md = render_markdown(r, max_bytes=max_bytes)
    assert len(md.encode("utf-8")) <= max_bytes
    m = re.search(r"\.\.\. (\d+) more changes not shown", md)
    assert m is not None
    shown = sum(1 for line in md.splitlines() if line.startswith("| `n"))
    assert shown + int(m.group(1)) == 2_000


def test_a_long_listing_is_folded_and_cut_with_a_count_of_the_lines_left_out() -> None:
    r = many_changes(30_000)
    r.changes = r.changes[:3]  # few changes, a huge listing
    md = render_markdown(r, max_bytes=50_000)
    assert len(md.encode("utf-8")) <= 50_000
    assert "<details><summary><strong>Listing (1 hunk)</strong></summary>" in md
    m = re.search(r"\.\.\. (\d+) more listing lines not shown", md)
    assert m is not None
    shown = sum(1 for line in md.splitlines() if line[:1] in "+-" and "%v" in line)
    assert shown + int(m.group(1)) == 2 * 30_000  # a "~" row is a "-" and a "+" line; the hunk header was shown
    assert md.rstrip().endswith("more listing lines not shown")
    # the fence and the details block are closed before the note
    before = md[: m.start()]
    assert before.rstrip().endswith("</details>")


def test_max_bytes_below_the_minimum_is_refused() -> None:
    with pytest.raises(UsageError, match="max_bytes"):
        render_markdown(one_of_each_kind(), max_bytes=MIN_BYTES - 1)


# -- real archives ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp_pair(corpus, tmp_path_factory):  # type: ignore[no-untyped-def]
    """``(a, b)``: the corpus MLP and the same weights with ``gelu`` for ``relu`` and an extra ``* 2.0``."""
    torch = pytest.importorskip("torch")
    from corpus import MLP

    class Changed(MLP):
        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.fc2(torch.nn.functional.gelu(self.fc1(x))) * 2.0

    entry = corpus["mlp"]
    module = Changed()
    module.load_state_dict(entry.module.state_dict())
    path = tmp_path_factory.mktemp("changed") / "mlp_changed.pt2"
    torch.export.save(torch.export.export(module.eval(), entry.args), path)
    return entry.path, path


def test_a_real_diff_renders_the_changed_ops_in_tables_and_the_diff_fence(mlp_pair) -> None:  # type: ignore[no-untyped-def]
    import pt2canon

    result = pt2canon.diff(*mlp_pair)
    md = render_markdown(result)
    assert md == result.render("markdown")  # the dispatcher calls this renderer
    assert md.splitlines()[0] == f"### pt2canon diff: {len(result.changes)} changes"
    summary = {_cells(row)[0]: _cells(row)[1] for row in _table_rows(md, "| kind | count |")}
    assert summary["Nodes added (`node_added`)"] == "1"
    assert summary["Nodes changed (`node_changed`)"] == "1"
    assert "`aten.relu.default -> aten.gelu.default`" in md
    fence = md[md.index("```diff\n") : md.rindex("```")]
    assert re.search(r"^-\s+%\w+ = aten\.relu\.default\(", fence, flags=re.M)
    assert re.search(r"^\+\s+%\w+ = aten\.gelu\.default\(", fence, flags=re.M)
    assert re.search(r"^\+\s+%\w+ = aten\.mul\.Tensor\(%\w+, 2\.0\)", fence, flags=re.M)
    assert not re.search(r"^[-+]\s+%\w+ = aten\.linear", fence, flags=re.M)  # unchanged ops are context only


def test_a_real_program_against_itself_renders_as_equal(corpus) -> None:  # type: ignore[no-untyped-def]
    import pt2canon

    path = corpus["transformer_layer"].path
    md = render_markdown(pt2canon.diff(path, path))
    assert md.splitlines()[0] == "### pt2canon diff: equal"
    assert "```" not in md and "| kind | count |" not in md


def test_every_corpus_program_diffed_against_the_next_stays_within_a_small_cap(corpus) -> None:  # type: ignore[no-untyped-def]
    import pt2canon

    names = sorted(corpus)
    for a, b in itertools.pairwise(names):
        result = pt2canon.diff(corpus[a].path, corpus[b].path)
        md = render_markdown(result, max_bytes=8_192)
        assert len(md.encode("utf-8")) <= 8_192, (a, b)
        shown = len(re.findall(r"^\| `", md, flags=re.M))
        m = re.search(r"\.\.\. (\d+) more changes not shown", md)
        assert shown + (int(m.group(1)) if m else 0) == len(result.changes), (a, b)
