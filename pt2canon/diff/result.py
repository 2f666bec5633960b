"""The result of a structural diff: :class:`DiffResult`, its records, and their renderings.

:class:`DiffResult` is the :class:`~pt2canon.diff.records.DiffRecords` a
diff found, rendered on request (:meth:`DiffResult.render`), shown as
HTML in notebooks and as text by ``print``. The records themselves
(:class:`Change`, :class:`Location`, :class:`AlignedLine`, ...) are in
:mod:`pt2canon.diff.records`, which the renderers read; this module sits
above both.

Examples
--------
>>> r = DiffResult("a.pt2", "b.pt2", "graph", [Change("node_added", Location(b="n3"), "aten.relu.default added")])
>>> r.equal, r.summary()["node_added"]
(False, 1)
>>> print(r.render("text").splitlines()[-1])
1 change at level graph: 1 node added
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pt2canon.diff.records import (
    CHANGE_KINDS,
    DIFF_SCHEMA_VERSION,
    TOP_GRAPH,
    AlignedLine,
    Change,
    ChangeKind,
    DiffRecords,
    GraphPath,
    Location,
    RowStatus,
)
from pt2canon.diff.render import render

__all__ = [
    "CHANGE_KINDS",
    "DIFF_SCHEMA_VERSION",
    "TOP_GRAPH",
    "AlignedLine",
    "Change",
    "ChangeKind",
    "DiffRecords",
    "DiffResult",
    "GraphPath",
    "Location",
    "RowStatus",
]


@dataclass
class DiffResult(DiffRecords):
    """The outcome of :func:`pt2canon.diff.diff_programs`: its records (see :class:`DiffRecords`), renderable.

    Examples
    --------
    ``mlp_v2.pt2`` is ``mlp_v1.pt2`` with a GELU added after ``fc2``: one
    node added, and ``head``'s linear now reads the GELU's output:

    >>> import json, pt2canon
    >>> r = pt2canon.diff("examples/mlp_v1.pt2", "examples/mlp_v2.pt2")
    >>> r.equal, [(c.kind, c.summary) for c in r.changes][0]
    (False, ('node_added', 'aten.gelu.default added'))
    >>> print(str(r).splitlines()[-1])
    2 changes at level graph: 1 node added, 1 node rewired
    >>> json.loads(r.render("json"))["summary"]["node_rewired"]
    1
    >>> print(r.render("markdown").splitlines()[0])
    ### pt2canon diff: 2 changes

    ``mlp_v1_again.pt2`` is the same program exported again: no records,
    and its hash is the one ``pt2canon.hash`` gives:

    >>> same = pt2canon.diff("examples/mlp_v1.pt2", "examples/mlp_v1_again.pt2")
    >>> same.equal, same.changes, same.hash_b == pt2canon.hash("examples/mlp_v1_again.pt2")
    (True, [], True)
    """

    def render(self, format: str = "text", **options: Any) -> str:
        """Render as ``text``, ``json``, ``markdown`` or ``html`` (see :mod:`pt2canon.diff.render`).

        Examples
        --------
        >>> r = DiffResult("a.pt2", "b.pt2", "graph", [Change("node_added", Location(b="n3"), "aten.gelu.default added")])
        >>> print(r.render("text", color=False))
        --- a.pt2
        +++ b.pt2
        1 change at level graph: 1 node added
        """
        return render(self, format, **options)

    def _repr_html_(self) -> str:
        return self.render("html")

    def __str__(self) -> str:
        return self.render("text", color=False)
