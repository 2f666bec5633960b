"""The diff's compiled float32 comparison (``pt2canon/diff/_fused.c``), where it was built.

The numeric weight comparison (:mod:`pt2canon.diff.tensors`) computes a
slice's figures with numpy in eight passes (subtract, abs, two
reductions, divide, two more; an argmax where a maximum can win). Where
the optional C extension ``pt2canon.diff._fused`` was built (``pip
install`` compiles it with the machine's C compiler, and goes on without
it when there is none), float32 slices -- float16, bfloat16 and float8
too, which decode to float32 -- take one pass instead: 0.05 s per GiB of
each side against numpy's 0.12-0.25 s, in the CPU's cache, and the 1 GiB
comparison of ``bench/diff_weights.py`` from 2.1x ``cat`` to 1.2-1.3x. The
numpy path stays the reference: the same figures, to the bit, on
generated slices (``tests/diff/test_fused.py``), and it decides every
slice with a NaN or an infinity in it.

``PT2CANON_FUSED=0`` in the environment turns the compiled path off, as
does ``PT2CANON_COMPILED=0`` (every compiled part) where ``PT2CANON_FUSED``
is not set (the figures are the same; only the time differs). An editable
install builds the extension once: after editing ``_fused.c``, ``pip
install -e .`` again.

Examples
--------
>>> import numpy as np
>>> a = np.array([1.0, 2.0, 0.0, 4.0], dtype=np.float32)
>>> b = np.array([1.0, 2.5, 0.0, 3.0], dtype=np.float32)
>>> compare_f32(a, b, rtol=0.0, atol=0.0) if AVAILABLE else (2, 2, 1.0, 3, 0.25, 1)
(2, 2, 1.0, 3, 0.25, 1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pt2canon._compiled import enabled

__all__ = ["AVAILABLE", "ENABLED", "compare_f32"]

_compare: Callable[..., tuple[int, int, float, int, float, int] | None] | None
try:
    from pt2canon.diff._fused import compare_f32 as _compare
except ImportError:  # not built (no C compiler at install time): the numpy path does it all
    _compare = None

#: Whether the compiled extension was built and imports.
AVAILABLE: bool = _compare is not None
#: Whether :mod:`pt2canon.diff.tensors` uses it: available, and ``PT2CANON_FUSED`` (if set, else ``PT2CANON_COMPILED``) is not ``0``.
ENABLED: bool = enabled(AVAILABLE, own="PT2CANON_FUSED")


def compare_f32(a: Any, b: Any, *, rtol: float, atol: float) -> tuple[int, int, float, int, float, int] | None:
    """The figures of two equal-length buffers of native float32, in one pass.

    Returns ``(differing, mismatched, max_abs, max_abs_at, max_rel,
    max_rel_at)``: elements with ``b != a``; elements with ``|b - a| >
    atol + rtol * |a|`` (both 0: every differing one); the greatest
    ``|b - a|`` and the greatest ``|b - a| / |a|`` (``inf`` where ``a`` is 0
    and ``b`` is not), each at the first index that has it (``-1`` where
    nothing differs). All in float32 arithmetic, as numpy computes it.
    ``None`` where some ``|b - a|`` is not finite: NaNs and infinities are
    left to the numpy path's element-wise rule.

    Raises ``RuntimeError`` where the extension is not built
    (:data:`AVAILABLE` is false), ``TypeError`` where a buffer is not
    native float32 (format ``'f'``), ``ValueError`` where one is not
    C-contiguous or the lengths differ.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([0.0, 1.0], dtype=np.float32)
    >>> compare_f32(a, a + 1, rtol=0.0, atol=0.0) if AVAILABLE else (2, 2, 1.0, 0, float("inf"), 0)
    (2, 2, 1.0, 0, inf, 0)
    >>> compare_f32(a, a + 1, rtol=0.5, atol=0.5) if AVAILABLE else (2, 1, 1.0, 0, float("inf"), 0)
    (2, 1, 1.0, 0, inf, 0)
    """
    if _compare is None:
        raise RuntimeError(
            "compare_f32: the compiled extension pt2canon.diff._fused is not built (AVAILABLE is False);"
            " reinstall pt2canon where a C compiler is on PATH, or use the numpy path"
        )
    exact = atol == 0.0 and rtol == 0.0
    return _compare(a, b, rtol, atol, exact)
