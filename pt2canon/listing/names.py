"""The listing's constants; the names of torch's enum values come from :mod:`pt2canon.serde.enums`."""

from __future__ import annotations

from pt2canon.serde.enums import DTYPE_ABBRS, DTYPE_NAMES, LAYOUT_NAMES, MEMORY_FORMAT_NAMES
from pt2canon.serde.tags import REF_KINDS, VALUE_TABLES

__all__ = ["DTYPE_ABBRS", "DTYPE_NAMES", "LAYOUT_NAMES", "MEMORY_FORMAT_NAMES"]

STRIDED = 7
KEYWORD = 2
INDENT = "    "
NONFINITE = {"Infinity": "inf", "-Infinity": "-inf", "NaN": "nan"}
#: Union tag -> the graph table holding the metadata of the value it names.
VALUE_TABLE = {tag: VALUE_TABLES[kind] for tag, kind in REF_KINDS.items() if kind in VALUE_TABLES}
