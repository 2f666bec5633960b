"""The HTML renderer: a self-contained, escaped, well-formed fragment with highlighted listing rows."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

from pt2canon.diff.render.html import ROW_CLASSES, render_html
from pt2canon.diff.result import AlignedLine, Change, DiffResult, GraphPath, Location


def _node(i: int, target: str = "aten.relu.default") -> str:
    return f"%v{i + 1} = {target}(%v{i})  # f32[2, 3]"


def sample() -> DiffResult:
    changes = [
        Change("node_added", Location(b="n4", b_original="gelu", module="encoder.act"), "aten.gelu.default"),
        Change("node_removed", Location(a="n7", a_original="dropout"), "aten.dropout.default"),
        Change(
            "node_changed",
            Location(a="n2", b="n2", a_original="mul", b_original="mul_1"),
            "constant argument 1: 2.0 -> 3.0",
            details={"args": {"1": {"old": 2.0, "new": 3.0}}},
        ),
        Change("signature_changed", Location(item="inputs[2]"), "user input added: y"),
    ]
    rows = [AlignedLine(" ", _node(i), _node(i)) for i in range(30)]
    rows[2] = AlignedLine("~", "%v3 = aten.mul.Tensor(%v2, 2.0)", "%v3 = aten.mul.Tensor(%v2, 3.0)")
    rows[4] = AlignedLine("+", None, _node(4, "aten.gelu.default"))
    rows[20] = AlignedLine("-", _node(20, "aten.dropout.default"), None)
    return DiffResult("old.pt2", "new.pt2", "graph", changes, rows, "sha256:" + "a" * 64, "sha256:" + "b" * 64)


def hostile() -> DiffResult:
    name = "<script>alert('x')</script> & \"q\" \x00\x1b\ud800\n"
    rows = [
        AlignedLine("~", f"%a = my.op('{name}')", "%a = my.op('<img src=x onerror=alert(1)>')", graph=GraphPath("<g>")),
        AlignedLine("+", None, "&nbsp; <!-- -->"),
    ]
    changes = [
        Change(
            "node_changed",
            Location(graph=GraphPath("<g>"), a=name, b=name, a_original=name, module="<m>"),
            f"target {name}",
            details={"<k>": name},
        )
    ]
    return DiffResult(f"a{name}.pt2", "b&c.pt2", "<level>", changes, rows, options={"<opt>": True})


def parse(fragment: str) -> ET.Element:
    """Parse the fragment as XML inside a root element (fails if it is not well-formed)."""
    return ET.fromstring(f"<root>{fragment}</root>")


def _text(el: ET.Element) -> str:
    return "".join(el.itertext())


def test_fragment_is_one_div_with_scoped_style_and_no_external_assets() -> None:
    out = render_html(sample())
    root = parse(out)
    (div,) = list(root)
    assert div.tag == "div" and div.get("class") == "pt2canon-diff"
    style = div.find("style")
    assert style is not None and ".pt2canon-diff .pt2canon-added td" in style.text
    assert not re.search(r"<(script|link|img|iframe)\b", out)
    assert "url(" not in out and "http" not in out


def test_headline_summary_and_changes_tables() -> None:
    div = parse(render_html(sample()))[0]
    head = div.find("p[@class='pt2canon-head']")
    assert head is not None and "pt2canon diff: 4 changes" in _text(head)
    summary = div.find("table[@class='pt2canon-summary']")
    counts = {_text(tr[0]): _text(tr[1]) for tr in summary.iter("tr") if tr.find("td") is not None}
    assert counts == {
        "Nodes added": "1",
        "Nodes removed": "1",
        "Nodes changed": "1",
        "Signature changes": "1",
        "total": "4",
    }
    changes = div.find("table[@class='pt2canon-changes']")
    body = [tr for tr in changes.iter("tr") if tr.find("td") is not None]
    assert [tr.get("class") for tr in body] == [
        "pt2canon-node_added",
        "pt2canon-node_removed",
        "pt2canon-node_changed",
        "pt2canon-signature_changed",
    ]
    assert _text(body[0][1]) == "n4 (gelu) in encoder.act"
    assert _text(body[2][1]) == "n2 (was mul, now mul_1)"
    assert _text(body[2][3]) == '{"args": {"1": {"new": 3.0, "old": 2.0}}}'


def test_equal_result_says_equal_and_has_no_tables() -> None:
    out = render_html(DiffResult("a", "b", "graph", []))
    div = parse(out)[0]
    assert "pt2canon diff: equal" in _text(div)
    assert div.find("table") is None


def test_listing_rows_carry_the_class_of_their_status() -> None:
    div = parse(render_html(sample(), context=1))[0]
    listing = div.find("table[@class='pt2canon-listing']")
    rows = [tr for tr in listing.iter("tr") if tr.find("td[@class='pt2canon-a']") is not None]
    by_class: dict[str, list[ET.Element]] = {}
    for tr in rows:
        by_class.setdefault(tr.get("class"), []).append(tr)
    assert set(ROW_CLASSES.values()) == set(by_class)
    (changed,) = by_class["pt2canon-changed"]
    assert _text(changed.find("td[@class='pt2canon-a']")) == "%v3 = aten.mul.Tensor(%v2, 2.0)"
    assert _text(changed.find("td[@class='pt2canon-b']")) == "%v3 = aten.mul.Tensor(%v2, 3.0)"
    (added,) = by_class["pt2canon-added"]
    assert _text(added.find("td[@class='pt2canon-a']")) == ""
    assert _text(added.find("td[@class='pt2canon-b']")) == _node(4, "aten.gelu.default")
    (removed,) = by_class["pt2canon-removed"]
    assert _text(removed.find("td[@class='pt2canon-a']")) == _node(20, "aten.dropout.default")
    # line numbers on each side: the removed row is A's 20th line (row 4 exists only in B)
    assert [_text(td) for td in removed.findall("td[@class='pt2canon-lineno']")] == ["20", ""]
    # context=1: rows far from any change are folded into "skip" rows that count them
    skips = [_text(tr) for tr in listing.iter("tr") if tr.get("class") == "pt2canon-skip"]
    assert skips == ["… 1 unchanged rows", "… 13 unchanged rows", "… 8 unchanged rows"]
    assert _node(10) not in _text(listing)


def test_every_text_is_escaped_and_the_fragment_is_well_formed_xml() -> None:
    out = render_html(hostile())
    div = parse(out)[0]  # raises on a stray '<', '&' or a control character
    assert "<script>" not in out and "<img" not in out and "<!--" not in out
    assert "&lt;script&gt;" in out and "&amp;nbsp;" in out
    text = _text(div)
    assert "<script>alert('x')</script> & \"q\" \\x00\\x1b\\ud800\\n" in text
    assert "b&c.pt2" in text and "<level>" in text and "<opt>" in text


def test_long_results_are_cut_with_a_count_of_what_is_left_out() -> None:
    changes = [Change("node_changed", Location(a=f"n{i}"), "x") for i in range(300)]
    rows = [AlignedLine("~", f"a{i}", f"b{i}") for i in range(300)]
    out = render_html(DiffResult("a", "b", "graph", changes, rows), max_changes=100, max_rows=50)
    div = parse(out)[0]
    changes_table = div.find("table[@class='pt2canon-changes']")
    assert sum(1 for tr in changes_table.iter("tr") if tr.find("td") is not None) == 100
    notes = [_text(p) for p in div.findall("p[@class='pt2canon-more']")]
    assert notes == ["... 200 more changes not shown", "... 250 more listing rows not shown"]


def test_repr_html_of_a_result_is_this_renderer() -> None:
    r = sample()
    assert r._repr_html_() == render_html(r)
    assert r.render("html", context=0) == render_html(r, context=0)


# -- real archives ---------------------------------------------------------------------------------


def test_a_real_diff_highlights_the_changed_and_added_rows(corpus, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    torch = pytest.importorskip("torch")
    from corpus import MLP

    import pt2canon

    class Changed(MLP):
        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.fc2(torch.nn.functional.gelu(self.fc1(x))) * 2.0

    entry = corpus["mlp"]
    module = Changed()
    module.load_state_dict(entry.module.state_dict())
    path = tmp_path / "changed.pt2"
    torch.export.save(torch.export.export(module.eval(), entry.args), path)

    result = pt2canon.diff(entry.path, path)
    out = render_html(result)
    assert result._repr_html_() == out  # what a notebook shows
    listing = parse(out)[0].find("table[@class='pt2canon-listing']")
    by_class: dict[str, list[tuple[str, str]]] = {}
    for tr in listing.iter("tr"):
        a, b = tr.find("td[@class='pt2canon-a']"), tr.find("td[@class='pt2canon-b']")
        if a is not None:  # b.text: the B line without the note span that follows it
            by_class.setdefault(tr.get("class"), []).append((_text(a), (b.text or "").strip()))
    changed = by_class["pt2canon-changed"]
    assert any("aten.relu.default" in a and "aten.gelu.default" in b for a, b in changed)
    assert any("aten.mul.Tensor" in b and a == "" for a, b in by_class["pt2canon-added"])
    assert all("aten.linear" not in a + b for a, b in changed + by_class["pt2canon-added"])
    notes = [_text(span) for span in listing.iter("span") if span.get("class") == "pt2canon-note"]
    assert "# aten.relu.default -> aten.gelu.default" in notes
    assert any("aten.mul.Tensor" in note for note in notes)  # the rewired output, noted with its new producer


def test_every_corpus_program_diffed_against_the_next_is_well_formed(corpus) -> None:  # type: ignore[no-untyped-def]
    import pt2canon

    names = sorted(corpus)
    for a, b in itertools.pairwise(names):
        result = pt2canon.diff(corpus[a].path, corpus[b].path)
        div = parse(render_html(result))[0]
        rows = div.find("table[@class='pt2canon-changes']")
        shown = 0 if rows is None else sum(1 for tr in rows.iter("tr") if tr.find("td") is not None)
        assert shown == min(len(result.changes), 2000), (a, b)
