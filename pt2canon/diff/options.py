"""What a diff compares: :class:`Options` (level and what to ignore), and the hash layers that follow.

Examples
--------
>>> opts = Options(level="graph", ignore_dtypes=True)
>>> opts.view_meta({"dtype": 7, "sizes": [{"as_int": 2}], "device": {"type": "cpu"}})
{'sizes': [{'as_int': 2}], 'device': {'type': 'cpu'}}
>>> opts.layers(), opts.exact_layers()
(('structure', 'signature', 'tensors', 'constraints'), ('structure', 'constraints'))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pt2canon.diff.tensors import Tolerance

__all__ = ["SHAPE_FIELDS", "Options"]

#: Tensor metadata fields that are the shape (what ``ignore_shapes`` leaves out, with symbolic values).
SHAPE_FIELDS = frozenset({"sizes", "strides", "storage_offset"})


@dataclass(frozen=True)
class Options:
    """What a comparison looks at (see :func:`pt2canon.diff.diff_programs`).

    Attributes
    ----------
    level : {"structure", "graph", "full"}
    ignore_shapes : bool
        Leave sizes, strides, storage offsets, symbolic values and range
        constraints out.
    ignore_dtypes : bool
        Leave dtypes out.
    ignore_weights : bool
        Leave weights and constants out at ``full``.
    include_versions, include_sample_inputs : bool
        Let version changes, and changed sample inputs, count.
    ignore : frozenset of str
        Record kinds left out of the result.
    keep_metadata : frozenset of str
        Node metadata keys compared (and hashed), as for ``pt2canon hash --keep-metadata``.
    tolerance : Tolerance
        When changed weights count as equal (``atol``, ``rtol``, ``equal_nan``).

    Examples
    --------
    What each level compares: ``structure`` no metadata and no names,
    ``graph`` both, ``full`` the weights as well:

    >>> [(o.level, o.meta, o.names, o.weights) for o in (Options("structure"), Options(), Options("full"))]
    [('structure', False, False, False), ('graph', True, True, False), ('full', True, True, True)]
    >>> Options("full", ignore_weights=True).weights, Options().tolerance.exact
    (False, True)

    ``ignore_shapes`` leaves sizes, strides and offsets out of the metadata
    compared, and a symbolic value altogether:

    >>> opts = Options(ignore_shapes=True)
    >>> opts.shapes, opts.view_meta({"dtype": 7, "sizes": [{"as_int": 2}], "strides": [{"as_int": 1}]})
    (False, {'dtype': 7})
    >>> opts.view_meta({"as_expr": {"expr_str": "Symbol('s0')"}}) is None
    True
    """

    level: str = "graph"
    ignore_shapes: bool = False
    ignore_weights: bool = False
    include_versions: bool = False
    ignore_dtypes: bool = False
    include_sample_inputs: bool = False
    ignore: frozenset[str] = frozenset()
    keep_metadata: frozenset[str] = frozenset()
    tolerance: Tolerance = field(default_factory=Tolerance)

    @property
    def meta(self) -> bool:
        """Compare tensor metadata at all (dtype, sizes, ...)."""
        return self.level != "structure" and not (self.ignore_shapes and self.ignore_dtypes)

    @property
    def shapes(self) -> bool:
        """Compare shapes: sizes, strides, symbolic values, range constraints."""
        return self.level != "structure" and not self.ignore_shapes

    @property
    def names(self) -> bool:
        """Compare signature FQNs and the module call graph."""
        return self.level != "structure"

    @property
    def weights(self) -> bool:
        return self.level == "full" and not self.ignore_weights

    def view_meta(self, meta: Any) -> Any:
        """One value's metadata as compared: the ignored fields left out."""
        if not (self.ignore_shapes or self.ignore_dtypes) or not isinstance(meta, Mapping):
            return meta
        if "as_expr" in meta or "as_int" in meta:  # a symbolic value: a shape
            return None if self.ignore_shapes else meta
        drop = (SHAPE_FIELDS if self.ignore_shapes else frozenset()) | ({"dtype"} if self.ignore_dtypes else set())
        return {k: v for k, v in meta.items() if k not in drop}

    def view_metas(self, metas: list[Any]) -> list[Any]:
        return [self.view_meta(m) for m in metas] if self.ignore_shapes or self.ignore_dtypes else metas

    def layers(self) -> tuple[str, ...]:
        """The hash layers whose equality means "no change" under these options."""
        out = ["structure"]
        if self.names:
            out.append("signature")
        if self.meta:
            out.append("tensors")
        if self.shapes:
            out.append("constraints")
        if self.weights:
            out += ["weights", "constants", "extra_files"]
        return tuple(out)

    def exact_layers(self) -> tuple[str, ...]:
        """The layers compared whole: a difference in one of them must show as a record.

        With shapes or dtypes ignored, neither ``tensors`` nor ``signature``
        is: unread parameters and buffers are placed by their metadata, so a
        reshaped one can move in the signature's canonical order while its
        spec, paired by FQN, is unchanged.
        """
        partial = {"tensors", "signature"} if self.ignore_shapes or self.ignore_dtypes else set()
        return tuple(k for k in self.layers() if k not in partial)
