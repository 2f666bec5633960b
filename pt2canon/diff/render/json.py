"""JSON rendering of a :class:`~pt2canon.diff.result.DiffResult` (the schema is ``docs/diff-json.md``).

Examples
--------
>>> from pt2canon.diff.result import DiffResult
>>> print(render_json(DiffResult("a.pt2", "b.pt2", "graph", [])).splitlines()[1])
  "a": "a.pt2",
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.diff.records import DiffRecords

__all__ = ["render_json"]


def render_json(result: DiffRecords) -> str:
    """The documented JSON form (:meth:`DiffResult.to_json`), keys sorted, indented by 2."""
    return json.dumps(result.to_json(), sort_keys=True, indent=2)
