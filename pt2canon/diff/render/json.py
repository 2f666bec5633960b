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
    """The documented JSON form (:meth:`DiffResult.to_json`), keys sorted, indented by 2.

    Examples
    --------
    >>> import json, pt2canon
    >>> doc = json.loads(render_json(pt2canon.diff("examples/mlp_v1.pt2", "examples/mlp_v2.pt2")))
    >>> doc["equal"], doc["counted"], [c["kind"] for c in doc["changes"]], doc["summary"]["node_added"]
    (False, 2, ['node_added', 'node_rewired'], 1)
    """
    return json.dumps(result.to_json(), sort_keys=True, indent=2)
