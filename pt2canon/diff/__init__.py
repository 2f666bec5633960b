"""Structural diff of two exported programs: :func:`diff_programs` and the result model.

Each side is canonicalized (:mod:`pt2canon.canon.program`), the two graphs
are aligned node for node (:mod:`pt2canon.diff.align`), aligned pairs and
the non-graph parts are compared (:mod:`pt2canon.diff.artifacts`, which
calls :mod:`~pt2canon.diff.nodes`, :mod:`~pt2canon.diff.signature`,
:mod:`~pt2canon.diff.payloads`, ...), and the result
(:class:`DiffResult`) renders as text, JSON, Markdown or HTML
(:mod:`pt2canon.diff.render`).

``pt2canon.diff`` is this package and the API function at once: calling
the package calls :func:`diff_programs` (``pt2canon.diff("v1.pt2",
"v2.pt2")``). Importing it is cheap: networkx, deepdiff and the
canonicalizer are imported when a diff runs.

Examples
--------
>>> import pt2canon                                              # doctest: +SKIP
>>> r = pt2canon.diff("v1.pt2", "v2.pt2")                        # doctest: +SKIP
>>> r.equal, r.summary()["node_added"]                           # doctest: +SKIP
(False, 1)
>>> print(r.render("text", context=2))                           # doctest: +SKIP
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable
from typing import Any

from pt2canon._gc import gc_paused
from pt2canon.diff.result import (
    CHANGE_KINDS,
    DIFF_SCHEMA_VERSION,
    AlignedLine,
    Change,
    DiffResult,
    GraphPath,
    Location,
)

__all__ = [
    "CHANGE_KINDS",
    "DIFF_SCHEMA_VERSION",
    "LEVELS",
    "AlignedLine",
    "Change",
    "DiffResult",
    "GraphPath",
    "Location",
    "diff_programs",
]

#: The levels a diff compares at (as the hash levels of :mod:`pt2canon.canon.hashing`).
LEVELS = ("structure", "graph", "full")


@gc_paused
def diff_programs(
    a: Any,
    b: Any,
    *,
    level: str = "graph",
    ignore_shapes: bool = False,
    ignore_dtypes: bool = False,
    ignore_weights: bool = False,
    ignore: Iterable[str] = (),
    keep_metadata: Iterable[str] = (),
    include_versions: bool = False,
    include_sample_inputs: bool = False,
    atol: float = 0.0,
    rtol: float = 0.0,
    equal_nan: bool = False,
    context: int = 3,
    model: str | None = None,
    trust_pickle: bool = False,
) -> DiffResult:
    """The structural diff of two programs.

    Parameters
    ----------
    a, b : Artifact, path, bytes, ExportedProgram or torch.fx.GraphModule
        An artifact from :func:`pt2canon.load`, or anything it loads
        (loaded here, and closed again before returning).
    level : {"structure", "graph", "full"}
        What counts as a change, as for the hash levels: ``structure``
        (ops, constants, wiring, signature kinds), ``graph`` (+ tensor
        metadata, symbolic shapes, range constraints, signature FQNs,
        module call graph), ``full`` (+ weights and constants, compared in
        numbers where their bytes differ).
    ignore_shapes : bool
        Leave sizes, strides, storage offsets, symbolic values and range
        constraints out.
    ignore_dtypes : bool
        Leave dtypes out (with ``ignore_shapes``: all tensor metadata).
    ignore_weights : bool
        Leave weights and constants out at ``full``.
    ignore : iterable of str
        Record kinds (:data:`CHANGE_KINDS`) left out of the result.
    keep_metadata : iterable of str
        Node metadata keys compared, as ``pt2canon hash --keep-metadata``
        hashes them (``stack_trace``, ``nn_module_stack``, ...).
    include_versions : bool
        Let torch/schema/opset version changes make the programs unequal
        (they are always reported as ``version_changed``).
    include_sample_inputs : bool
        Let changed sample inputs count (at ``full`` they are always
        reported, as ``sample_inputs_changed``; never unpickled), and put
        them in the hashes.
    atol, rtol : float
        A changed weight whose elements are all within ``atol + rtol * |a|``
        of A's does not count (``torch.testing.assert_close``'s rule).
    equal_nan : bool
        NaN against NaN is close.
    context : int
        Context lines the text rendering shows by default (kept in ``options``).
    model : str, optional
        Compare only this model of multi-model archives (default: every
        model; a model only one side has is a ``signature_changed`` record).
    trust_pickle : bool
        Let :func:`pt2canon.load` unpickle a GraphPickler payload given as
        ``a`` or ``b`` (it runs the code it names); refused without it.

    Returns
    -------
    DiffResult
        ``equal`` is true when no record counts; ``changes`` in order:
        inputs, graph nodes (B's canonical order, subgraphs after their
        node, the output node last), outputs, module call graph, other
        signature parts, constraints, weights, sample inputs, versions.
        ``hash_a`` / ``hash_b`` are the compared models' hashes at
        ``level`` (with versions and sample inputs when included), as
        ``pt2canon hash`` prints them.

    Raises
    ------
    UsageError
        On an unknown level or record kind, a negative context or tolerance.
    InputError
        If ``model`` names a model that neither side has, or a program is broken.

    Examples
    --------
    ``mlp_v1_again`` is ``mlp_v1`` exported again (another example batch
    size): equal even at ``full``, where its other sample inputs are
    reported but do not count. ``mlp_v2`` adds a GELU:

    >>> r = diff_programs("examples/mlp_v1.pt2", "examples/mlp_v1_again.pt2", level="full")
    >>> r.equal, [(c.kind, r.counts(c)) for c in r.changes]
    (True, [('sample_inputs_changed', False)])
    >>> r = diff_programs("examples/mlp_v1.pt2", "examples/mlp_v2.pt2")
    >>> r.equal, [c.kind for c in r.changes], r.hash_a != r.hash_b
    (False, ['node_added', 'node_rewired'], True)
    >>> [c.kind for c in diff_programs("examples/mlp_v1.pt2", "examples/mlp_v2.pt2", ignore=["node_rewired"]).changes]
    ['node_added']
    >>> diff_programs("examples/mlp_v1.pt2", "examples/mlp_v2.pt2", level="weights")
    Traceback (most recent call last):
    ...
    pt2canon.errors.UsageError: level='weights' is not one of structure, graph, full
    """
    from pt2canon.api import load
    from pt2canon.diff.artifacts import compare_artifacts
    from pt2canon.diff.options import Options
    from pt2canon.diff.tensors import Tolerance
    from pt2canon.errors import InputError, UsageError
    from pt2canon.serde.archive import Artifact

    if level not in LEVELS:
        raise UsageError(f"level={level!r} is not one of {', '.join(LEVELS)}")
    if not isinstance(context, int) or context < 0:
        raise UsageError(f"context={context!r}: needs a number of lines >= 0")
    ignored = sorted(set(ignore))
    unknown = [k for k in ignored if k not in CHANGE_KINDS]
    if unknown:
        raise UsageError(f"ignore={unknown[0]!r} is not a record kind; use one of {', '.join(CHANGE_KINDS)}")
    for label, value in (("atol", atol), ("rtol", rtol)):
        if not isinstance(value, (int, float)) or not value >= 0:
            raise UsageError(f"{label}={value!r}: needs a number >= 0")
    kept = sorted(set(keep_metadata))
    opts = Options(
        level=level,
        ignore_shapes=ignore_shapes,
        ignore_weights=ignore_weights,
        include_versions=include_versions,
        ignore_dtypes=ignore_dtypes,
        include_sample_inputs=include_sample_inputs,
        ignore=frozenset(ignored),
        keep_metadata=frozenset(kept),
        tolerance=Tolerance(float(atol), float(rtol), bool(equal_nan)),
    )
    options: dict[str, Any] = {
        "level": level,
        "ignore_shapes": ignore_shapes,
        "ignore_dtypes": ignore_dtypes,
        "ignore_weights": ignore_weights,
        "include_versions": include_versions,
        "include_sample_inputs": include_sample_inputs,
        "context": context,
    }
    extras = {"ignore": ignored, "keep_metadata": kept, "atol": atol, "rtol": rtol, "equal_nan": equal_nan}
    options.update({k: v for k, v in extras.items() if v})
    if model is not None:
        options["model"] = model
    opened: list[Artifact] = []
    try:
        for source in (a, b):
            if not isinstance(source, Artifact):
                opened.append(load(source, trust_pickle=trust_pickle))
        art_a = a if isinstance(a, Artifact) else opened[0]
        art_b = b if isinstance(b, Artifact) else opened[-1]
        if model is not None:
            if model not in art_a.models and model not in art_b.models:
                raise InputError(
                    f"model={model!r}: no model of that name in either archive; "
                    f"{art_a.path} holds {', '.join(sorted(art_a.models))}, "
                    f"{art_b.path} holds {', '.join(sorted(art_b.models))}"
                )
            names = [model]
        else:
            names = sorted(set(art_a.models) | set(art_b.models))
        return compare_artifacts(art_a, art_b, names, opts, options)
    finally:
        for artifact in opened:
            artifact.close()


class _CallableModule(types.ModuleType):
    """``pt2canon.diff`` is both this package and the API function: calling it calls :func:`diff_programs`.

    The package must be importable as ``pt2canon.diff`` (its modules live
    in it) and ``pt2canon.diff(a, b)`` must diff; a module whose class has
    a ``__call__`` is both.
    """

    def __call__(self, a: Any, b: Any, **options: Any) -> DiffResult:
        return diff_programs(a, b, **options)


sys.modules[__name__].__class__ = _CallableModule
