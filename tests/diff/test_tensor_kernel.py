"""The streamed comparison's kernel against a plain float64 reference, on slices built to trip its shortcuts.

The fast path takes the relative difference as ``|b - a| / a`` (its sign, a's) and its greatest magnitude
from the greatest and the least; counts every element as differing when the least difference is not 0;
and looks for a position only when a slice's maximum beats the ones before. Each case here breaks one
of those if it were wrong: the maxima at other elements and in other slices, the largest relative
difference at a negative ``a``, ``-0.0`` against ``0.0``, ``a = ±0`` with ``b`` not 0 (infinite), ties.
"""

from __future__ import annotations

import numpy as np
import pytest

from pt2canon.diff.tensors import READ, RunningFigures, Tolerance, chunk_figures

#: Bytes per slice here (the package's own slices are as large as its reads): several slices per read.
SLICE = READ // 4


def _reference(a: np.ndarray, b: np.ndarray) -> tuple[int, float, int, float, int]:
    # the kernel computes in the dtype itself (as before): the figures rounded to float32, held in float64
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    diff = np.abs(fb - fa)
    diff32 = np.abs(b - a).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel32 = np.where(diff32 == 0, 0.0, (np.abs(b - a) / np.abs(a)).astype(np.float64))
    assert int(np.count_nonzero(diff)) == int(np.count_nonzero(diff32))
    return (
        int(np.count_nonzero(diff32)),
        float(diff32.max()),
        int(np.argmax(diff32)),
        float(rel32.max()),
        int(np.argmax(rel32)),
    )


def _streamed(a: np.ndarray, b: np.ndarray, tol: Tolerance | None = None) -> RunningFigures:
    tol = tol or Tolerance()
    stats = RunningFigures(tol)
    ba, bb = a.tobytes(), b.tobytes()
    step = SLICE - SLICE % a.itemsize
    for i in range(0, len(ba), READ):
        beat = (stats.d.max_abs_diff, stats.d.max_rel_diff)
        for part, n in chunk_figures(ba[i : i + READ], bb[i : i + READ], 7, ("little", "little"), step, tol, beat):
            stats.merge(part, n)
    return stats


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(3)
    n = 3 * (READ // 4) + 1000  # several reads, several slices each, a short last one
    a = rng.standard_normal(n).astype(np.float32) + np.float32(3.0)
    every = (a * np.float32(1 + 1e-6)).astype(np.float32)
    apart = a.copy()  # the largest absolute and the largest relative difference at other elements and slices
    apart[5] += 4.0
    apart[READ // 4 + 17] += 2.0
    a_small = a.copy()
    a_small[READ // 4 + 17] = np.float32(-1e-3)  # negative a: the largest relative difference
    apart_neg = a_small.copy()
    apart_neg[5] += 4.0
    apart_neg[READ // 4 + 17] += np.float32(0.5)
    zeros = a.copy()
    zeros[[10, 11, 12]] = [0.0, -0.0, 0.0]
    signed = zeros.copy()
    signed[10] = -0.0  # -0.0 against 0.0: equal by value
    signed[11] = np.float32(1e-30)  # -0.0 against a number: infinitely relative
    signed[n - 2] += 1.0
    a_ties = a.copy()  # equal maxima in later slices and reads: the first one wins
    a_ties[[100, 100 + SLICE // 4, 100 + READ // 4]] = np.float32(1.0)
    ties = a_ties.copy()
    ties[[100, 100 + SLICE // 4, 100 + READ // 4]] = np.float32(2.0)
    return {
        "every element": (a, every),
        "maxima apart": (a, apart),
        "negative a": (a_small, apart_neg),
        "signed zeros": (zeros, signed),
        "ties": (a_ties, ties),
        "equal": (a, a.copy()),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_the_streamed_figures_are_the_reference_ones(name: str) -> None:
    a, b = _cases()[name]
    differing, max_abs, abs_at, max_rel, rel_at = _reference(a, b)
    d = _streamed(a, b).d
    assert d.differing == differing == d.mismatched
    assert d.max_abs_diff == max_abs and d.max_rel_diff == max_rel
    if differing:
        assert (d._max_abs_flat, d._max_rel_flat) == (abs_at, rel_at)


@pytest.mark.parametrize("name", list(_cases()))
def test_with_a_tolerance_the_same_figures_and_the_rule_of_assert_close(name: str) -> None:
    a, b = _cases()[name]
    tol = Tolerance(atol=1e-5, rtol=1e-3)
    exact, loose = _streamed(a, b).d, _streamed(a, b, tol).d
    assert (loose.differing, loose.max_abs_diff, loose.max_rel_diff) == (
        exact.differing,
        exact.max_abs_diff,
        exact.max_rel_diff,
    )
    assert (loose._max_abs_flat, loose._max_rel_flat) == (exact._max_abs_flat, exact._max_rel_flat)
    diff = np.abs(b - a)
    limit = np.abs(a) * np.float32(tol.rtol) + np.float32(tol.atol)
    assert loose.mismatched == int(np.count_nonzero(diff > limit))
