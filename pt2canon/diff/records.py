"""The records of a structural diff: where (:class:`Location`, :class:`GraphPath`), what (:class:`Change`), rows.

:class:`DiffRecords` holds the :class:`Change` records of comparing two
programs (each side canonicalized, then aligned node for node by
:mod:`pt2canon.diff.align`) and the aligned listing (:class:`AlignedLine`)
the renderers print; :class:`pt2canon.diff.result.DiffResult` adds the
rendering to it. Records are typed by ``kind``:

==================== ==========================================================
``node_added``       an op node only B has
``node_removed``     an op node only A has
``node_changed``     an aligned pair whose target, constant arguments or output
                     metadata differ (``details`` holds the field-level diff)
``node_rewired``     an aligned pair that reads other values (e.g. swapped
                     operands of ``sub``), nothing else changed
``signature_changed`` inputs/outputs of the signature, module call graph
``weight_changed``   a weight or constant's bytes or metadata (``full`` level)
``constraint_changed`` a range constraint
``sample_inputs_changed`` the sample-input pickle's bytes (shown; counts only with
                     ``include_sample_inputs``; never unpickled)
``version_changed``  torch/schema/opset versions (shown, never make a diff unequal
                     unless versions are included in the level)
==================== ==========================================================

The JSON form (:meth:`DiffRecords.to_json`) is versioned by
:data:`DIFF_SCHEMA_VERSION`; ``docs/diff-json.md`` documents it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

__all__ = [
    "CHANGE_KINDS",
    "DIFF_SCHEMA_VERSION",
    "TOP_GRAPH",
    "AlignedLine",
    "Change",
    "ChangeKind",
    "DiffRecords",
    "GraphPath",
    "LineText",
    "Location",
    "RowStatus",
]

#: Version of the JSON output's schema (2: ``sample_inputs_changed``, ``notes``, ``counted``, numeric weights).
DIFF_SCHEMA_VERSION = 2

ChangeKind = Literal[
    "node_added",
    "node_removed",
    "node_changed",
    "node_rewired",
    "signature_changed",
    "weight_changed",
    "constraint_changed",
    "sample_inputs_changed",
    "version_changed",
]

#: How a row of the aligned listing reads: same, only in A, only in B, changed.
RowStatus = Literal[" ", "-", "+", "~"]

#: Every change kind, in the order summaries list them.
CHANGE_KINDS: tuple[str, ...] = get_args(ChangeKind)


@dataclass(frozen=True)
class GraphPath:
    """Which graph of a diff: the model (when several are diffed) and the way down to a subgraph.

    Attributes
    ----------
    model : str
        The model's name when the diffed archives hold several, else ``""``.
    steps : tuple of (str, str)
        From the model's top-level graph down: each higher-order op's
        canonical node name (B's; A's for a removed op) and the canonical
        name of the subgraph it holds (``(("n9", "subgraph_1a2b3c4d5e6f"),)``).

    Examples
    --------
    >>> top = GraphPath()
    >>> sub = top.child("n9", "subgraph_1a2b")
    >>> str(sub), sub.is_subgraph, bool(top)
    ('n9/subgraph_1a2b', True, False)
    >>> str(GraphPath("encoder").child("n3", "subgraph_0"))
    'encoder/n3/subgraph_0'
    """

    model: str = ""
    steps: tuple[tuple[str, str], ...] = ()

    @property
    def is_subgraph(self) -> bool:
        """True below a model's top-level graph."""
        return bool(self.steps)

    def child(self, node: str, subgraph: str) -> GraphPath:
        """The path of ``subgraph``, held by ``node`` of this graph."""
        return GraphPath(self.model, (*self.steps, (node, subgraph)))

    def __bool__(self) -> bool:
        return bool(self.model or self.steps)

    def __str__(self) -> str:
        parts = [self.model] if self.model else []
        parts += [f"{node}/{sub}" for node, sub in self.steps]
        return "/".join(parts)


#: The top-level graph of the only model diffed.
TOP_GRAPH = GraphPath()


@dataclass(frozen=True)
class Location:
    """Where a change is, readable by a person.

    Attributes
    ----------
    graph : GraphPath
        Which graph: empty for the top-level graph of the only model; its
        text form (in JSON) is the ``/``-joined path
        (``"n9/subgraph_1a2b3c4d5e6f"``, ``"encoder/n9/subgraph_..."``).
    a, b : str or None
        Canonical node name (``"n12"``) on each side; ``None`` where absent.
    a_original, b_original : str or None
        The node's name in the original, un-canonicalized file.
    module : str or None
        Module path from ``nn_module_stack`` (``"encoder.layers.3.linear1"``).
    item : str or None
        For non-node changes: the signature entry, FQN, symbol or version key.

    Examples
    --------
    A node that is ``n3`` in A and ``n4`` in B (an op inserted before it),
    named ``linear_2`` in both original files, in module ``head``:

    >>> loc = Location(a="n3", b="n4", a_original="linear_2", b_original="linear_2", module="head")
    >>> str(loc)
    'n3 -> n4 (linear_2) in head'
    >>> loc.to_json()
    {'a': 'n3', 'b': 'n4', 'a_original': 'linear_2', 'b_original': 'linear_2', 'module': 'head'}

    A non-node change reads as its item; a node of a subgraph is prefixed by its path:

    >>> str(Location(item="weight fc1.weight")), str(Location(GraphPath().child("n9", "subgraph_0"), "n1", "n1"))
    ('weight fc1.weight', 'n9/subgraph_0/n1')
    """

    graph: GraphPath = TOP_GRAPH
    a: str | None = None
    b: str | None = None
    a_original: str | None = None
    b_original: str | None = None
    module: str | None = None
    item: str | None = None

    def __str__(self) -> str:
        if self.item is not None:
            return self.item
        parts = []
        side = " -> ".join(x for x in (self.a, self.b) if x) if self.a != self.b else (self.a or "")
        orig = (
            " -> ".join(x for x in (self.a_original, self.b_original) if x)
            if self.a_original != self.b_original
            else (self.a_original or "")
        )
        if self.graph:
            parts.append(f"{self.graph}/")
        parts.append(side)
        if orig:
            parts.append(f" ({orig})")
        if self.module:
            parts.append(f" in {self.module}")
        return "".join(parts)

    def describe(self, code: Callable[[str], str] = str) -> str:
        """A readable location for renderers; ``code`` wraps each name (escaping, markup).

        Examples
        --------
        >>> Location(a="n3", b="n4", a_original="relu", module="layers.0").describe(lambda s: f"`{s}`")
        '`n3` → `n4` (`relu`) in `layers.0`'
        """
        if self.item is not None:
            text = code(self.item)
        else:
            if self.a and self.b and self.a != self.b:
                text = f"{code(self.a)} → {code(self.b)}"
            else:
                text = code(self.a or self.b or "?")
            if self.a_original and self.b_original and self.a_original != self.b_original:
                text += f" (was {code(self.a_original)}, now {code(self.b_original)})"
            elif self.a_original or self.b_original:
                text += f" ({code(self.a_original or self.b_original or '')})"
        if self.module:
            text += f" in {code(self.module)}"
        if self.graph:
            text += f" in subgraph {code(str(self.graph))}"
        return text

    def to_json(self) -> dict[str, Any]:
        out = {k: str(v) if k == "graph" else v for k, v in self.__dict__.items()}
        return {k: v for k, v in out.items() if v not in (None, "")}


@dataclass(frozen=True)
class Change:
    """One change record.

    Attributes
    ----------
    kind : str
        One of :data:`CHANGE_KINDS`.
    location : Location
    summary : str
        One line for people (``"aten.relu.default -> aten.gelu.default"``).
    details : dict
        JSON-ready, field-level detail (``{"target": ["...", "..."]}``,
        ``{"args": {"1": {"old": 2.0, "new": 3.0}}}``, ...).
    a_line, b_line : str or None
        The node's listing line on each side (:func:`pt2canon.listing.format_node`).

    Examples
    --------
    >>> c = Change("node_changed", Location(a="n1", b="n1", a_original="relu", b_original="gelu"),
    ...            "aten.relu.default -> aten.gelu.default", {"target": ["aten.relu.default", "aten.gelu.default"]})
    >>> c.details_text()
    '{"target": ["aten.relu.default", "aten.gelu.default"]}'
    >>> c.to_json()["location"], "a" in c.to_json()  # no listing lines given: none in the JSON
    ({'a': 'n1', 'b': 'n1', 'a_original': 'relu', 'b_original': 'gelu'}, False)
    """

    kind: ChangeKind
    location: Location
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    a_line: str | None = None
    b_line: str | None = None

    def details_text(self) -> str:
        """``details`` as one line of JSON (``""`` when there are none), for renderers."""
        if not self.details:
            return ""
        try:
            return json.dumps(self.details, sort_keys=True, ensure_ascii=False, separators=(", ", ": "), default=str)
        except (TypeError, ValueError):
            return repr(self.details)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "location": self.location.to_json(), "summary": self.summary}
        if self.details:
            out["details"] = self.details
        if self.a_line is not None:
            out["a"] = self.a_line
        if self.b_line is not None:
            out["b"] = self.b_line
        return out


#: A row's text: the line, ``None`` where the side has no line, or a function formatting it on first use.
LineText = str | Callable[[], str] | None


@dataclass(frozen=True, eq=False)
class AlignedLine:
    """One row of the aligned listing: ``status`` is ``" "`` same, ``"-"``, ``"+"`` or ``"~"``.

    ``a_line``/``b_line`` are the row's text on each side (``None`` where
    the side has no line). They may be given as functions (``a_text``,
    ``b_text``) that format the line on first use: a diff of two large
    programs that differ in one op has a row per node, and the renderers
    only read the text of the rows they show. ``graph`` is the graph the
    row belongs to, ``a_name``/``b_name`` the canonical node (or input
    value) names of the row on each side, ``module`` the node's module
    path (deferred the same way: ``module_text``), ``note`` the summary of the change a ``"~"`` row stands for,
    ``renames`` the values a ``"~"`` row reads or defines that are the same
    on both sides but named apart, as ``(A's name, B's name)`` (so that A's
    ``%v8`` and B's ``%v9`` read as one value).

    Examples
    --------
    >>> row = AlignedLine(" ", lambda: "%a = aten.sin.default(%x)", None)
    >>> row.a_text is not None, row.b_line
    (True, None)
    >>> row.a_line
    '%a = aten.sin.default(%x)'
    """

    status: RowStatus
    a_text: LineText
    b_text: LineText
    graph: GraphPath = TOP_GRAPH
    a_name: str | None = None
    b_name: str | None = None
    module_text: str | Callable[[], str | None] | None = None
    note: str | None = None
    renames: tuple[tuple[str, str], ...] = ()

    @property
    def module(self) -> str | None:
        """The node's module path (found now if it was deferred: ``module_text``)."""
        return self._resolve("module_text")

    @property
    def a_line(self) -> str | None:
        """A's text of the row (formatted now if it was deferred)."""
        return self._resolve("a_text")

    @property
    def b_line(self) -> str | None:
        """B's text of the row (formatted now if it was deferred)."""
        return self._resolve("b_text")

    def _resolve(self, name: str) -> str | None:
        text = getattr(self, name)
        if callable(text):
            text = text()
            object.__setattr__(self, name, text)
        return text  # type: ignore[no-any-return]

    def _key(self) -> tuple[Any, ...]:
        return (self.status, self.a_line, self.b_line, self.graph, self.a_name, self.b_name, self.module,
                self.note, self.renames)  # fmt: skip

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if isinstance(other, AlignedLine) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"AlignedLine({self.status!r}, {self.a_line!r}, {self.b_line!r}, graph={self.graph!r}, "
            f"a_name={self.a_name!r}, b_name={self.b_name!r}, module={self.module!r}, note={self.note!r}, "
            f"renames={self.renames!r})"
        )


@dataclass
class DiffRecords:
    """The outcome of a diff as data: what :func:`pt2canon.diff.diff_programs` found (its result renders it).

    Attributes
    ----------
    a, b : str
        Labels (paths) of the two sides.
    level : str
        The hash level compared (``structure``, ``graph`` or ``full``).
    changes : list of Change
    rows : list of AlignedLine
        The aligned canonical listing, for the unified text rendering.
    hash_a, hash_b : str
        Each side's hash at ``level``.
    options : dict
        The options the diff ran with (``ignore_shapes``, ...).
    notes : list of str
        What the diff could not compare, one line each (a bare ``model.json``
        holds no weights, ...).

    Examples
    --------
    A version change and a weight within the tolerance are reported but
    do not count, so the programs are equal:

    >>> recs = DiffRecords("a.pt2", "b.pt2", "graph", [
    ...     Change("version_changed", Location(item="torch_version"), "torch_version: 2.12.0 -> 2.13.0"),
    ...     Change("weight_changed", Location(item="weight fc.weight"), "1 of 4 elements differ",
    ...            {"within_tolerance": True}),
    ... ])
    >>> recs.equal, bool(recs), [recs.counts(c) for c in recs.changes]
    (True, False, [False, False])
    >>> {k: n for k, n in recs.summary().items() if n}
    {'weight_changed': 1, 'version_changed': 1}

    With versions included, the version change counts:

    >>> recs.options["include_versions"] = True
    >>> recs.equal, recs.to_json()["counted"]
    (False, 1)
    """

    a: str
    b: str
    level: str
    changes: list[Change]
    rows: list[AlignedLine] = field(default_factory=list)
    hash_a: str = ""
    hash_b: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def counts(self, change: Change) -> bool:
        """Whether ``change`` makes the programs unequal.

        Version changes count only with ``include_versions``, sample inputs
        only with ``include_sample_inputs``, and a weight within the
        tolerance (``atol``/``rtol``) does not.
        """
        if change.kind == "version_changed":
            return bool(self.options.get("include_versions"))
        if change.kind == "sample_inputs_changed":
            return bool(self.options.get("include_sample_inputs"))
        return not change.details.get("within_tolerance")

    @property
    def equal(self) -> bool:
        """True when no record counts (:meth:`counts`)."""
        return not any(self.counts(c) for c in self.changes)

    def __bool__(self) -> bool:
        """A diff is truthy when the programs differ, like a non-empty diff."""
        return not self.equal

    def summary(self) -> dict[str, int]:
        """Count of changes per kind, every kind present (zero included)."""
        counts: Counter[str] = Counter(c.kind for c in self.changes)
        return {k: counts.get(k, 0) for k in CHANGE_KINDS}

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (``schema_version`` :data:`DIFF_SCHEMA_VERSION`)."""
        return {
            "schema_version": DIFF_SCHEMA_VERSION,
            "a": self.a,
            "b": self.b,
            "level": self.level,
            "equal": self.equal,
            "hash": {"a": self.hash_a, "b": self.hash_b},
            "summary": self.summary(),
            "counted": sum(1 for c in self.changes if self.counts(c)),
            "changes": [{**c.to_json(), "counted": self.counts(c)} for c in self.changes],
            "options": self.options,
            "notes": list(self.notes),
        }
