"""Colours and shapes of drawn nodes, and the text helpers every drawing uses (XML-safe, escaped, shortened)."""

from __future__ import annotations

import html
import re

__all__ = ["KIND_STYLES", "STATUS_STYLES"]

#: Fill and stroke colour of a highlighted node, by status.
STATUS_STYLES: dict[str, dict[str, str]] = {
    "added": {"fill": "#b2f2bb", "stroke": "#2f9e44"},
    "changed": {"fill": "#ffd8a8", "stroke": "#f08c00"},
    "rewired": {"fill": "#ffec99", "stroke": "#f08c00"},
    "removed": {"fill": "#ffc9c9", "stroke": "#e03131"},
    "highlight": {"fill": "#a5d8ff", "stroke": "#1971c2"},
}

#: Fill and stroke colour, and Graphviz shape, of a node that is not highlighted, by kind.
KIND_STYLES: dict[str, dict[str, str]] = {
    "op": {"fill": "#f8f9fa", "stroke": "#868e96", "shape": "box", "style": "rounded,filled"},
    "input": {"fill": "#e7f5ff", "stroke": "#4dabf7", "shape": "ellipse", "style": "filled"},
    "weight": {"fill": "#f1f3f5", "stroke": "#adb5bd", "shape": "ellipse", "style": "filled"},
    "output": {"fill": "#e7f5ff", "stroke": "#4dabf7", "shape": "ellipse", "style": "filled"},
    "module": {"fill": "#f3f0ff", "stroke": "#7950f2", "shape": "box3d", "style": "filled"},
    "external": {"fill": "#ffffff", "stroke": "#adb5bd", "shape": "box", "style": "rounded,dashed,filled"},
    "note": {"fill": "#ffffff", "stroke": "#adb5bd", "shape": "note", "style": "filled"},
}

HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_LABEL_CHARS = 34
UNSAFE_ID = re.compile(r"[^A-Za-z0-9_.:\-]")
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_clean(text: object) -> str:
    """Text with the characters XML cannot hold removed."""
    return _BAD_XML.sub("", str(text))


def xml_escape(text: object) -> str:
    return html.escape(xml_clean(text), quote=True)


def shorten(text: str, limit: int = _LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
