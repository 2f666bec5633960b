"""Fast JSON in and stable JSON out.

``orjson`` parses a 2.5 MB ``model.json`` about 3x faster than the standard
library (see BENCHMARKS.md); it is used when installed and the standard
library otherwise. :func:`canonical_bytes` is the one spelling pt2canon
hashes: sorted keys, no spaces, UTF-8, floats in shortest round-trip form.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["canonical_bytes", "dumps_pretty", "loads"]

try:  # pragma: no cover - exercised by whichever is installed
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None  # type: ignore[assignment]


def _finite_float(text: str) -> float:
    # 1e400 parses as inf, which canonical_bytes (orjson) would write as null: inf,
    # -inf and null would hash alike. torch spells non-finite floats as strings.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number overflows to infinity (non-finite floats are spelled as strings)")
    return value


def loads(data: bytes | str) -> Any:
    """Parse JSON; raise ``ValueError`` on malformed input."""
    if _orjson is not None:
        try:
            # orjson itself refuses numbers that overflow a double.
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            # orjson refuses integers over 64 bits and NaN literals; the
            # standard library accepts both, so give it the final word.
            pass
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    doc = json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)
    if "\\u" in data:
        # A lone surrogate escape ("\ud800") parses here but can never be written
        # as UTF-8 (hashing would fail later); orjson refuses it, and so do we.
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    return doc


def _refuse_constant(name: str) -> Any:
    # torch spells non-finite floats as the strings "Infinity", "-Infinity"
    # and "NaN"; bare literals are not JSON and have no canonical spelling.
    raise ValueError(f"non-standard JSON literal {name}")


def canonical_bytes(obj: Any) -> bytes:
    """Serialize ``obj`` to the canonical JSON bytes that pt2canon hashes.

    Keys are sorted, separators carry no spaces, strings are UTF-8 (not
    ``\\u`` escaped) and floats use the shortest representation that round
    trips (``repr``). Non-finite floats are refused: torch's schema spells
    them as the strings ``"Infinity"``, ``"-Infinity"`` and ``"NaN"``.

    Examples
    --------
    >>> canonical_bytes({"b": 1.5, "a": [1, "é"]})
    b'{"a":[1,"\\xc3\\xa9"],"b":1.5}'
    """
    if _orjson is not None:
        try:
            return _orjson.dumps(obj, option=_orjson.OPT_SORT_KEYS)
        except TypeError:
            pass
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def dumps_pretty(obj: Any) -> str:
    """Indented, key-sorted JSON for people (CLI ``--json`` output, golden files)."""
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
