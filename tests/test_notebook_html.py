"""The HTML pt2canon shows in notebooks looks right in JupyterLab, the classic notebook, nbconvert and standalone.

Each fragment (a diff's ``_repr_html_``, a program summary's) is opened in
headless Chromium in the three hosts of :mod:`browser` and checked in the
page as laid out, through the computed style and the geometry of the text:
code cells are left-aligned, keep their spaces (``white-space: pre``, no
word breaking) and so their indentation, measured as the distance of the
first non-space character from the cell's edge; the changed rows carry
their colours, checked on a screenshot. JupyterLab's own rule
``:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td { text-align: right }``
and the classic notebook's ``.rendered_html td { text-align: right;
white-space: normal }`` are in those pages, as the hosts ship them.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import browser
import pytest

import pt2canon
from pt2canon.draw import Summary

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


#: For each non-empty code cell: its computed style, the index of its first non-space
#: character, where that character starts from the cell's content edge, and a space's width.
_CELLS_JS = """
const out = [];
for (const td of document.querySelectorAll(arguments[0])) {
  const text = td.firstChild;
  if (!text || text.nodeType !== Node.TEXT_NODE || !text.data.trim()) continue;
  const cs = getComputedStyle(td);
  const lead = text.data.search(/\\S/);
  const r = document.createRange();
  r.setStart(text, lead); r.setEnd(text, lead + 1);
  const glyph = r.getBoundingClientRect();
  const box = td.getBoundingClientRect();
  const edge = box.left + parseFloat(cs.borderLeftWidth) + parseFloat(cs.paddingLeft);
  const probe = document.createElement("span");
  probe.style.whiteSpace = "pre"; probe.textContent = "    ";
  td.appendChild(probe);
  const space = probe.getBoundingClientRect().width / 4;
  probe.remove();
  out.push({text: text.data, align: cs.textAlign, whiteSpace: cs.whiteSpace, wordBreak: cs.wordBreak,
            lead: lead, x: glyph.left - edge, space: space, width: box.width});
}
return out;
"""


@pytest.fixture(scope="module")
def driver() -> Any:
    reason = browser.missing()
    if reason is not None:
        pytest.fail(reason, pytrace=False)
    with browser.chromium() as d:
        yield d


@pytest.fixture(scope="module")
def fragments() -> dict[str, str]:
    result = pt2canon.diff(EXAMPLES / "mlp_v1.pt2", EXAMPLES / "mlp_v2.pt2")
    return {"diff": result._repr_html_(), "summary": Summary(EXAMPLES / "mlp_v1.pt2")._repr_html_()}


def open_in(driver: Any, fragment: str, host: str, folder: Path, name: str) -> None:
    driver.get(browser.page(fragment, host, folder, name).as_uri())
    shot = folder / f"{name}-{host}.png"
    driver.save_screenshot(str(shot))  # left in the test's folder, to look at


def cells(driver: Any, selector: str) -> list[dict[str, Any]]:
    found = driver.execute_script(_CELLS_JS, selector)
    assert found, f"no cell matches {selector!r}"
    return found


@pytest.mark.parametrize("host", browser.HOSTS)
def test_diff_listing_code_is_left_aligned_and_keeps_its_indentation(
    driver: Any, fragments: dict[str, str], host: str, tmp_path: Path
) -> None:
    open_in(driver, fragments["diff"], host, tmp_path, "diff")
    code = cells(driver, ".pt2canon-listing td.pt2canon-a, .pt2canon-listing td.pt2canon-b")
    for c in code:
        assert c["align"] in ("left", "start"), c
        assert c["whiteSpace"] == "pre" and c["wordBreak"] == "normal", c
        # Indentation: the first non-space character sits `lead` spaces from the cell's edge.
        assert c["x"] == pytest.approx(c["lead"] * c["space"], abs=1.0), c
    indented = [c for c in code if c["text"].startswith("    %")]
    assert len(indented) >= 10  # A and B sides of the graph's lines
    # Lines of one indentation start at one x, whatever their length: left-aligned, as read.
    assert max(c["x"] for c in indented) - min(c["x"] for c in indented) < 1.0


@pytest.mark.parametrize("host", browser.HOSTS)
def test_diff_tables_and_summary_tables_are_left_aligned(
    driver: Any, fragments: dict[str, str], host: str, tmp_path: Path
) -> None:
    open_in(driver, fragments["diff"], host, tmp_path, "diff")
    for c in cells(driver, ".pt2canon-changes td, .pt2canon-summary td"):
        assert c["align"] in ("left", "start"), c
    open_in(driver, fragments["summary"], host, tmp_path, "summary")
    for c in cells(driver, ".pt2canon-summary td"):
        assert c["align"] in ("left", "start"), c


@pytest.mark.parametrize("host", browser.HOSTS)
def test_added_rows_are_drawn_green_and_changed_rows_orange(
    driver: Any, fragments: dict[str, str], host: str, tmp_path: Path
) -> None:
    from matplotlib.image import imread

    open_in(driver, fragments["diff"], host, tmp_path, "diff")

    def colour(selector: str) -> tuple[float, float, float]:
        from selenium.webdriver.common.by import By

        cell = driver.find_element(By.CSS_SELECTOR, selector)
        pixels = imread(io.BytesIO(cell.screenshot_as_png))[..., :3]
        flat = pixels.reshape(-1, 3)
        # The background is the most common colour of the cell.
        values, counts = __import__("numpy").unique((flat * 255).round().astype(int), axis=0, return_counts=True)
        r, g, b = values[counts.argmax()]
        return float(r), float(g), float(b)

    r, g, b = colour(".pt2canon-listing tr.pt2canon-added td.pt2canon-b")
    assert g > r + 10 and g > b + 10, (r, g, b)  # green
    r, g, b = colour(".pt2canon-listing tr.pt2canon-changed td.pt2canon-b")
    assert r > b + 20 and g > b + 10, (r, g, b)  # orange / amber
    r, g, b = colour(".pt2canon-listing tr.pt2canon-same td.pt2canon-b")
    assert abs(r - g) < 12 and abs(g - b) < 12, (r, g, b)  # unchanged: no tint


@pytest.mark.parametrize("host", browser.HOSTS)
def test_a_drawing_shows_every_node_inside_the_output(driver: Any, host: str, tmp_path: Path) -> None:
    from pt2canon.draw import draw

    view = draw(EXAMPLES / "mlp_v1.pt2", engine="matplotlib")
    open_in(driver, view._repr_html_(), host, tmp_path, "drawing")
    shown = driver.execute_script(
        """
        const svg = document.querySelector("svg"); const box = svg.getBoundingClientRect();
        const nodes = [...svg.querySelectorAll("g[id^='node-']")].map(g => {
          const r = g.getBoundingClientRect();
          return {id: g.id, w: r.width, h: r.height,
                  inside: r.left >= box.left - 1 && r.right <= box.right + 1 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1};
        });
        return {width: box.width, nodes};
        """
    )
    assert shown["width"] > 100
    assert {n["id"] for n in shown["nodes"]} == {f"node-{n}" for n in view.nodes}
    assert all(n["w"] > 20 and n["h"] > 10 and n["inside"] for n in shown["nodes"]), shown["nodes"]
