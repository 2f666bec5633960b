"""Graph drawings, diff drawings and summaries (``pt2canon.draw``).

Drawings are checked as SVG documents: parsed with ``xml.etree`` and
searched for the group of each drawn node (id ``node-<canonical name>``,
``module-<path>``, ``node-A:<name>``) and the fill and stroke colours
inside it. Both engines are checked where they can run: matplotlib always,
Graphviz ``dot`` when it is on the ``PATH``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from corpus import transformer_stack

import pt2canon
from pt2canon import draw
from pt2canon.canon.program import CanonicalProgram
from pt2canon.diff import diff_programs
from pt2canon.errors import MissingDependencyError, UsageError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
V1, V1_AGAIN, V2 = EXAMPLES / "mlp_v1.pt2", EXAMPLES / "mlp_v1_again.pt2", EXAMPLES / "mlp_v2.pt2"
HAVE_DOT = shutil.which("dot") is not None
ENGINES = [
    "matplotlib",
    pytest.param("dot", marks=pytest.mark.skipif(not HAVE_DOT, reason="Graphviz 'dot' is not on the PATH")),
]


# --------------------------------------------------------------------------- helpers


def parse(svg: str) -> ET.Element:
    assert svg.startswith("<svg"), svg[:80]
    return ET.fromstring(svg)


def groups(root: ET.Element) -> dict[str, ET.Element]:
    """SVG groups by id (ids of dot's wrapper anchors ``a_node-...`` left out)."""
    return {g.get("id"): g for g in root.iter() if g.tag.endswith("}g") and g.get("id")}


def colours(elem: ET.Element) -> set[tuple[str, str]]:
    """``(fill, stroke)`` of every shape inside ``elem`` (attributes or ``style``)."""
    out = set()
    for e in elem.iter():
        fill, stroke = e.get("fill"), e.get("stroke")
        style = e.get("style") or ""
        m = re.search(r"fill:\s*(#[0-9a-fA-F]{6})", style)
        fill = m.group(1) if m else fill
        m = re.search(r"stroke:\s*(#[0-9a-fA-F]{6})", style)
        stroke = m.group(1) if m else stroke
        if fill and stroke and fill != "none":
            out.add((fill.lower(), stroke.lower()))
    return out


def node_ids(root: ET.Element) -> set[str]:
    return {i for i in groups(root) if i.startswith(("node-", "module-"))}


def tooltip(elem: ET.Element) -> str:
    """The tooltip of a node group: matplotlib's ``<title>`` or dot's ``<a xlink:title>``."""
    for e in elem.iter():
        if e.tag.endswith("}a"):
            return e.get("{http://www.w3.org/1999/xlink}title") or ""
    for e in elem.iter():
        if e.tag.endswith("}title"):
            return e.text or ""
    return ""


def weird_program() -> bytes:
    """A tiny program whose module path and string constant hold XML's special characters."""
    meta = {"dtype": 7, "sizes": [{"as_int": 3}], "strides": [{"as_int": 1}], "requires_grad": False,
            "device": {"type": "cpu", "index": None}, "storage_offset": {"as_int": 0}, "layout": 7}  # fmt: skip
    stack = 'L__self__,,m.Top;L__self__a<b>,a<b>&"c",m.Weird<T>'
    arg = lambda n: {"as_tensor": {"name": n}}  # noqa: E731
    graph = {
        "inputs": [arg("x")],
        "outputs": [arg("y")],
        "nodes": [
            {
                "target": "torch.ops.aten.add.Tensor",
                "name": "add",
                "metadata": {"nn_module_stack": stack},
                "inputs": [{"name": "self", "arg": arg("x"), "kind": 1}, {"name": "other", "arg": arg("x"), "kind": 1}],
                "outputs": [arg("add")],
            },
            {
                "target": "torch.ops.aten.mul.Tensor",
                "name": "y",
                "metadata": {"nn_module_stack": stack},
                "inputs": [
                    {"name": "self", "arg": arg("add"), "kind": 1},
                    {"name": "other", "arg": {"as_string": "</svg><script>&'\""}, "kind": 1},
                ],
                "outputs": [arg("y")],
            },
        ],
        "tensor_values": {n: meta for n in ("x", "add", "y")},
    }
    program = {
        "graph_module": {"graph": graph, "module_call_graph": [], "signature": {
            "input_specs": [{"user_input": {"arg": arg("x")}}],
            "output_specs": [{"user_output": {"arg": arg("y")}}]}},
        "opset_version": {"aten": 10}, "range_constraints": {},
        "schema_version": {"major": 8, "minor": 20}, "torch_version": "2.13.0",
    }  # fmt: skip
    return json.dumps(program).encode()


@pytest.fixture(scope="module")
def stack48() -> CanonicalProgram:
    _, ep, _ = transformer_stack(48)
    return pt2canon.canonicalize(ep)


# --------------------------------------------------------------------------- the canonical graph


def test_the_digraph_names_ops_inputs_and_the_output_canonically() -> None:
    D = draw.to_digraph(V1)
    assert [n for n, k in D.nodes(data="kind") if k == "op"] == ["n0", "n1", "n2", "n3", "n4"]
    assert [n for n, k in D.nodes(data="kind") if k == "input"] == [f"v{i}" for i in range(7)]
    assert D.nodes["v6"]["role"] == "user_input" and D.nodes["v6"]["original"] == "x"
    assert D.nodes["v0"]["fqn"] == "fc1.weight" and D.nodes["v1"]["fqn"] == "fc1.bias"  # by first use
    assert D.nodes["n1"]["op"] == "aten.relu.default"
    assert D.nodes["n0"]["module"] == "fc1" and D.nodes["n1"]["module"] == ""
    assert D.nodes["n0"]["line"] == "%v7 = aten.linear.default(%v6, %v0, %v1)  # f32[s0, 32]"
    assert nx_ancestors(D, "output") == {"n0", "n1", "n2", "n3", "n4", *(f"v{i}" for i in range(7))}
    assert D.edges["n0", "n1"]["values"] == ["v7"]


def nx_ancestors(D, node: str) -> set[str]:
    import networkx as nx

    return set(nx.ancestors(D, node))


def test_the_digraph_is_the_same_for_the_same_program_exported_again() -> None:
    a, b = draw.to_digraph(V1), draw.to_digraph(V1_AGAIN)
    assert list(a.nodes(data="line")) == list(b.nodes(data="line"))
    assert sorted(a.edges) == sorted(b.edges)


# --------------------------------------------------------------------------- SVG and colours


@pytest.mark.parametrize("engine", ENGINES)
def test_the_svg_is_valid_xml_with_one_group_per_drawn_node(engine: str) -> None:
    view = draw.draw(V1, engine=engine)
    assert view.engine == engine
    root = parse(view.svg)
    assert node_ids(root) == {f"node-{n}" for n in view.nodes}
    assert set(view.nodes) == {*(f"v{i}" for i in range(7)), "n0", "n1", "n2", "n3", "n4", "output"}
    assert "aten.relu.default" in tooltip(groups(root)["node-n1"])


@pytest.mark.parametrize("engine", ENGINES)
def test_highlighted_nodes_are_drawn_in_the_colours_of_their_status(engine: str) -> None:
    hl = {"n1": "added", "n2": "changed", "n3": "rewired", "n4": "removed"}
    root = parse(draw.draw_svg(V1, highlight=hl, engine=engine))
    g = groups(root)
    for name, status in hl.items():
        style = draw.STATUS_STYLES[status]
        assert (style["fill"], style["stroke"]) in colours(g[f"node-{name}"]), name
    plain = draw.KIND_STYLES["op"]
    assert colours(g["node-n0"]) == {(plain["fill"], plain["stroke"])}


def test_the_status_colours_are_green_orange_and_red() -> None:
    assert draw.STATUS_STYLES["added"]["stroke"] == "#2f9e44"  # green
    assert draw.STATUS_STYLES["changed"]["stroke"] == "#f08c00"  # orange
    assert draw.STATUS_STYLES["removed"]["stroke"] == "#e03131"  # red


def test_a_set_of_names_is_highlighted_in_the_plain_highlight_colour() -> None:
    view = draw.draw(V1, highlight={"n2", "v6"}, engine="matplotlib")
    g = groups(parse(view.svg))
    blue = draw.STATUS_STYLES["highlight"]
    assert (blue["fill"], blue["stroke"]) in colours(g["node-n2"])
    assert (blue["fill"], blue["stroke"]) in colours(g["node-v6"])
    assert view.status("n2") == "highlight" and view.status("n1") is None


def test_a_hex_colour_highlights_and_an_unknown_status_is_refused() -> None:
    g = groups(parse(draw.draw_svg(V1, highlight={"n2": "#123456"}, engine="matplotlib")))
    assert ("#123456", "#123456") in colours(g["node-n2"])
    with pytest.raises(UsageError, match="not one of"):
        draw.draw_svg(V1, highlight={"n2": "purple"})
    with pytest.raises(UsageError, match="one string"):
        draw.draw_svg(V1, highlight="n2")


@pytest.mark.parametrize("engine", ENGINES)
def test_text_from_the_program_is_escaped(engine: str) -> None:
    view = draw.draw(weird_program(), engine=engine, title="<title & 'quotes'>")
    root = parse(view.svg)  # well-formed: nothing from the program broke out
    assert not any(e.tag.endswith("script") for e in root.iter())
    text = " ".join(t for e in root.iter() for t in (e.text, *e.attrib.values()) if t)
    assert "</svg><script>" in text  # the string constant, in the tooltip, as text
    assert "<title & 'quotes'>" in text
    boxed = draw.draw(weird_program(), engine=engine, collapse_depth=1)
    assert boxed.nodes == ["v0", 'module:a<b>&"c"', "output"]
    g = groups(parse(boxed.svg))
    box = boxed.drawing.items['module:a<b>&"c"'].svg_id
    assert box == "module-a_b___c_" and box in g  # ids keep to safe characters; the label keeps the path
    assert 'a<b>&"c"' in " ".join(t.text or "" for t in g[box].iter())


# --------------------------------------------------------------------------- engines


def test_the_matplotlib_fallback_is_used_when_dot_is_not_on_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    view = draw.draw(V1)
    assert view.engine == "matplotlib"
    assert "Matplotlib" in view.svg
    parse(view.svg)


def test_a_failing_dot_falls_back_to_matplotlib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'broken dot' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: str(fake) if name == "dot" else None)
    view = draw.draw(V1)
    assert view.engine == "matplotlib"
    with pytest.raises(MissingDependencyError, match="broken dot"):
        draw.draw(V1, engine="dot")


def test_asking_for_dot_without_dot_is_a_missing_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(MissingDependencyError, match="graphviz"):
        draw.draw_svg(V1, engine="dot")
    with pytest.raises(UsageError, match="engine"):
        draw.draw_svg(V1, engine="neato")


@pytest.mark.skipif(not HAVE_DOT, reason="Graphviz 'dot' is not on the PATH")
def test_dot_is_used_when_it_is_on_the_path() -> None:
    view = draw.draw(V1)
    assert view.engine == "dot"
    assert "Generated by graphviz" not in view.svg  # the prolog is stripped: the SVG starts at <svg
    parse(view.svg)


def test_the_matplotlib_drawing_is_deterministic() -> None:
    assert draw.draw_svg(V1, engine="matplotlib") == draw.draw_svg(V1_AGAIN, engine="matplotlib", title="mlp_v1.pt2")


def test_importing_pt2canon_draw_imports_neither_matplotlib_nor_subprocess() -> None:
    code = "import sys, pt2canon.draw; print(sorted(m for m in ('matplotlib', 'subprocess', 'networkx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ})
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- notebook objects


def test_repr_svg_and_repr_html_return_the_same_svg() -> None:
    view = draw.draw(V1, engine="matplotlib")
    assert view._repr_svg_() == view._repr_html_() == view.svg
    assert repr(view).startswith("<GraphView 13 nodes")


def test_the_summary_shows_signature_weights_symbolic_shapes_and_every_hash() -> None:
    s = draw.Summary(V1)
    assert [e["kind"] for e in s.inputs] == ["parameter"] * 6 + ["user_input"]
    assert s.inputs[-1]["meta"] == "f32[s77, 16]"
    assert len(s.weights) == 6 and {w["fqn"] for w in s.weights} >= {"fc1.weight", "head.bias"}
    assert s.ranges == {"s77": (1, 1024)} and s.symbols == {"s77": "s0"}
    assert s.symbol_uses["s77"] == ["%x: user_input  f32[s77, 16]", "%softmax: user_output  f32[s77, 4]"]
    for level in ("structure", "graph", "full"):
        assert s.hashes[level] == pt2canon.hash(V1, level=level)
    assert s.op_counts == {"aten.linear.default": 3, "aten.relu.default": 1, "aten.softmax.int": 1}
    html = s._repr_html_()
    root = ET.fromstring(html)  # well-formed
    tables = {t.get("class"): t for t in root.iter("table")}
    assert set(tables) >= {
        "pt2canon-inputs",
        "pt2canon-outputs",
        "pt2canon-ranges",
        "pt2canon-weights",
        "pt2canon-hashes",
        "pt2canon-layers",
    }
    text = " ".join(ET.tostring(tables["pt2canon-hashes"], encoding="unicode", method="text").split())
    assert all(h in text for h in s.hashes.values())
    assert "fc1.weight" in ET.tostring(tables["pt2canon-weights"], encoding="unicode", method="text")
    assert "1024" in ET.tostring(tables["pt2canon-ranges"], encoding="unicode", method="text")
    assert s.listing().splitlines()[-0] == "model: model"
    assert "    %v8 = aten.relu.default(%v7)  # f32[s0, 32]" in s.listing().splitlines()


def test_the_summary_escapes_text_from_the_program() -> None:
    s = draw.explore(weird_program(), levels=("graph",))
    root = ET.fromstring(s._repr_html_())
    modules = ET.tostring(
        next(t for t in root.iter("table") if t.get("class") == "pt2canon-modules"), encoding="unicode", method="text"
    )
    assert 'a<b>&"c"' in modules


# --------------------------------------------------------------------------- collapse and drill-down


def test_collapse_depth_zero_draws_every_op_and_one_draws_a_box_per_top_level_module() -> None:
    assert len(draw.draw(V1, collapse_depth=0, engine="matplotlib").nodes) == 13
    view = draw.draw(V1, collapse_depth=1, engine="matplotlib")
    assert view.nodes == ["v6", "module:fc1", "n1", "module:fc2", "module:head", "n4", "output"]
    assert {"module-fc1", "module-fc2", "module-head"} <= node_ids(parse(view.svg))
    with pytest.raises(UsageError, match="collapse_depth"):
        draw.draw_svg(V1, collapse_depth=-1)


def test_a_module_box_takes_the_status_of_the_nodes_it_holds() -> None:
    view = draw.draw(V1, collapse_depth=1, highlight={"n2": "added"}, engine="matplotlib")
    assert view.status("n2") == "added" and view.drawing.find("n2").id == "module:fc2"
    added = draw.STATUS_STYLES["added"]
    assert (added["fill"], added["stroke"]) in colours(groups(parse(view.svg))["module-fc2"])


def test_an_unknown_module_is_a_usage_error_that_names_the_known_paths() -> None:
    with pytest.raises(UsageError, match=r"no op belongs to module 'fc9'.*fc1, fc2, head"):
        draw.draw_svg(V1, module="fc9")


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_the_48_layer_transformer_collapses_by_module_to_under_150_nodes(stack48, engine: str) -> None:
    n_ops = len(stack48.graph.order)
    assert n_ops == 1680
    view = draw.draw(stack48, engine=engine)
    assert len(view.nodes) <= 150
    assert view.drawing.collapse_depth == 2
    boxes = [n for n in view.nodes if n.startswith("module:")]
    assert boxes == [f"module:layers.{i}" for i in range(48)]
    assert sum(len(view.drawing.items[b].members) for b in boxes) == n_ops
    root = parse(view.svg)
    assert {f"module-layers.{i}" for i in range(48)} <= node_ids(root)
    assert len(node_ids(root)) == len(view.nodes)
    assert "TransformerEncoderLayer" in tooltip(groups(root)["module-layers.7"])


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_drilling_into_one_module_draws_only_its_ops_and_their_neighbours(stack48, engine: str) -> None:
    D = draw.to_digraph(stack48)
    inside = {n for n, m in D.nodes(data="module") if m is not None and (m == "layers.3" or m.startswith("layers.3."))}
    assert len(inside) == 35
    view = draw.draw(stack48, module="layers.3", engine=engine)
    items = view.drawing.items
    assert {n for n, it in items.items() if it.kind == "op"} == inside
    assert not any(it.kind == "module" for it in items.values())
    for n, it in items.items():
        if it.kind == "external":  # ops of layers 2 and 4 that feed layer 3 or use it
            assert D.nodes[n]["module"].startswith(("layers.2.", "layers.4.")) or D.nodes[n]["module"] in (
                "layers.2",
                "layers.4",
            )
        elif it.kind == "weight":
            assert D.nodes[n]["fqn"].startswith("layers.3.")
    root = parse(view.svg)
    assert node_ids(root) == {f"node-{n}" for n in items}
    deeper = draw.draw(stack48, module="layers.3", collapse_depth=3, engine=engine)
    assert "module:layers.3.self_attn" in deeper.nodes and len(deeper.nodes) < len(view.nodes)


# --------------------------------------------------------------------------- diffs


@pytest.fixture(scope="module")
def diffs() -> dict[str, object]:
    a, b = pt2canon.load(V1), pt2canon.load(V2)
    return {
        "forward": diff_programs(a, b),
        "backward": diff_programs(b, a),
        "same": diff_programs(a, pt2canon.load(V1_AGAIN)),
    }


def test_diff_highlight_marks_added_and_rewired_nodes_on_b_and_removed_nodes_on_a(diffs) -> None:
    assert draw.diff_highlight(diffs["forward"]) == {"n3": "added", "n4": "rewired"}
    assert draw.diff_highlight(diffs["forward"], "a") == {"n3": "rewired"}
    assert draw.diff_highlight(diffs["backward"], "a") == {"n3": "removed", "n4": "rewired"}
    assert draw.diff_highlight(diffs["same"]) == {}
    with pytest.raises(UsageError):
        draw.diff_highlight(diffs["forward"], "c")


@pytest.mark.parametrize("engine", ENGINES)
def test_the_diff_drawing_shows_the_added_node_green_and_its_rewired_user_orange(diffs, engine: str) -> None:
    view = draw.draw_diff(diffs["forward"], V1, V2, engine=engine)
    g = groups(parse(view.svg))
    added, rewired = draw.STATUS_STYLES["added"], draw.STATUS_STYLES["rewired"]
    assert (added["fill"], added["stroke"]) in colours(g["node-n3"])
    assert (rewired["fill"], rewired["stroke"]) in colours(g["node-n4"])
    assert "aten.gelu.default" in tooltip(g["node-n3"])
    # radius 2 around n3 and n4: their producers and users, not fc1's linear
    assert {"n1", "n2", "n5", "output"} <= set(view.nodes) and "n0" not in view.nodes
    small = draw.draw_diff(diffs["forward"], V1, V2, radius=0, engine=engine)
    assert small.nodes == ["n3", "n4"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_removed_node_is_drawn_red_from_side_a_between_its_aligned_neighbours(diffs, engine: str) -> None:
    view = draw.draw_diff(diffs["backward"], V2, V1, radius=1, engine=engine)
    g = groups(parse(view.svg))
    removed = draw.STATUS_STYLES["removed"]
    assert (removed["fill"], removed["stroke"]) in colours(g["node-A:n3"])
    # A's gelu sat between A's n2 and n4, which are B's n2 and n3
    assert ("n2", "A:n3") in view.drawing.edges and ("A:n3", "n3") in view.drawing.edges
    assert view.drawing.removed_edges == {("n2", "A:n3"), ("A:n3", "n3")}  # drawn dashed red
    assert view.status("n3") == "rewired"


def test_a_diff_without_node_changes_draws_a_note(diffs) -> None:
    view = draw.draw_diff(diffs["same"], V1, V1_AGAIN, engine="matplotlib")
    assert view.nodes == ["note"]
    assert "no op was added" in view.svg
    parse(view.svg)


def test_a_changed_constant_is_drawn_orange() -> None:
    prog = json.loads(weird_program())
    other = json.loads(weird_program())
    other["graph_module"]["graph"]["nodes"][1]["inputs"][1]["arg"] = {"as_string": "changed"}
    a, b = pt2canon.load(json.dumps(prog).encode()), pt2canon.load(json.dumps(other).encode())
    result = diff_programs(a, b)
    assert [c.kind for c in result.changes] == ["node_changed"]
    assert draw.diff_highlight(result) == {"n1": "changed"}
    svg = draw.draw_diff_svg(result, a, b, engine="matplotlib")
    changed = draw.STATUS_STYLES["changed"]
    assert (changed["fill"], changed["stroke"]) in colours(groups(parse(svg))["node-n1"])


# --------------------------------------------------------------------------- no edge through a box


def test_the_geometry_check_finds_an_edge_through_a_box() -> None:
    from geometry import crossings

    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg">'
        '<g id="node-a"><path d="M 0 0 L 10 0 L 10 10 L 0 10 Z"/></g>'
        '<g id="node-b"><path d="M 0 50 L 10 50 L 10 60 L 0 60 Z"/></g>'
        '<g id="node-c"><path d="M 0 100 L 10 100 L 10 110 L 0 110 Z"/></g>'
        '<g id="edge-0"><path d="M 5 10 L 5 100"/></g>'  # a -> c, straight through b
        '<g id="edge-1"><path d="M 5 10 C 40 30 40 80 5 100"/></g>'  # a -> c, curving round b
        "</svg>"
    )
    assert crossings(svg) == ["edge-0 enters node-b"]


def _drawings(stack48: CanonicalProgram) -> dict[str, object]:
    a, b = pt2canon.load(V1), pt2canon.load(V2)
    forward, backward = diff_programs(a, b), diff_programs(b, a)
    return {
        "mlp": lambda e: draw.draw(V1, engine=e),
        "mlp collapsed": lambda e: draw.draw(V1, collapse_depth=1, engine=e),
        "mlp one module": lambda e: draw.draw(V1, module="head", engine=e),
        "diff": lambda e: draw.draw_diff(forward, V1, V2, engine=e),
        "diff, a node removed": lambda e: draw.draw_diff(backward, V2, V1, radius=1, engine=e),
        "48 layers": lambda e: draw.draw(stack48, engine=e),
        "48 layers, layers.3": lambda e: draw.draw(stack48, module="layers.3", engine=e),
        "48 layers, layers.3 at depth 3": lambda e: draw.draw(stack48, module="layers.3", collapse_depth=3, engine=e),
    }


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_no_edge_passes_through_a_node_box_in_any_drawing(stack48: CanonicalProgram, engine: str) -> None:
    from geometry import crossings, svg_geometry

    for name, make in _drawings(stack48).items():
        view = make(engine)
        boxes, edges = svg_geometry(view.svg)
        assert len(boxes) == len(view.drawing.items), name  # every box and every edge was read
        assert len(edges) == len(view.drawing.edges), name
        assert crossings(view.svg) == [], name
