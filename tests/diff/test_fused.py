"""The compiled one-pass kernel gives the numpy path's figures, to the bit, on generated float32 slices.

``pt2canon.diff.fused`` is the differential pair of :mod:`pt2canon.diff.tensors`' numpy code: each
slice is compared by both (the numpy path with the kernel switched off) and every figure must be
the same: counts, greatest differences, and the first index of each. The slices cross the kernel's
blocks (4096 elements) and its 8-lane tails, and hold what breaks a kernel: signed zeros, zeros on
one side, subnormals, values near float32's largest (``b - a`` overflowing), NaN and infinities
(left to the numpy path), ties of the greatest difference across blocks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pt2canon.diff import fused
from pt2canon.diff.tensors import Tolerance, chunk_figures

needs_kernel = pytest.mark.skipif(not fused.AVAILABLE, reason="pt2canon.diff._fused is not built here")

TINY = float(np.finfo(np.float32).smallest_subnormal)
HUGE = float(np.finfo(np.float32).max)
SPECIAL = [0.0, -0.0, TINY, -TINY, 1e-38, HUGE, -HUGE, 1.0, -1.0, 3.0, float("inf"), float("-inf"), float("nan")]


def _figures(a: np.ndarray, b: np.ndarray, tol: Tolerance, beat: tuple[float, float]) -> list[object]:
    """The figures of a and b compared as one slice (float32, little-endian, scalar type 7)."""
    return chunk_figures(a.tobytes(), b.tobytes(), 7, ("little", "little"), max(4, a.nbytes), tol, beat)


_tolerances = st.sampled_from([Tolerance()]) | st.builds(
    Tolerance,
    atol=st.sampled_from([0.0, 1e-8, 1e-5, 0.5]),
    rtol=st.sampled_from([0.0, 1e-7, 1.3e-6, 1e-5, 0.25]),
)
_beats = st.sampled_from([(-1.0, -1.0), (0.0, 0.0), (1e-6, 1e-6), (float("inf"), float("inf"))])


@st.composite
def _cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, Tolerance]:
    """Two slices and a tolerance: b a scaled, noisy, patched or tied copy of a, specials on either side."""
    n = draw(st.sampled_from([0, 1, 7, 8, 9, 31, 4095, 4096, 4097, 4103, 8200]) | st.integers(0, 600))
    tol = draw(_tolerances)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1e-30, 1e-3, 1.0, 1e30]))
    a = (rng.standard_normal(n) * scale).astype(np.float32)
    how = draw(st.sampled_from(["scaled", "noise", "few", "same", "ties", "boundary", "special"]))
    if how == "scaled":  # every element differs a little (the benchmark's worst case)
        b = (a * np.float32(1 + draw(st.sampled_from([1e-7, 1e-6, 0.5])))).astype(np.float32)
    elif how == "noise":
        b = (a + rng.standard_normal(n).astype(np.float32) * np.float32(scale)).astype(np.float32)
    elif how == "boundary":  # b - a at the limit atol + rtol * |a| itself, as float32 rounds it
        limit = np.abs(a) * np.float32(tol.rtol) + np.float32(tol.atol)
        b = (a + limit).astype(np.float32)
    else:
        b = a.copy()
    if how == "few" and n:
        for i in draw(st.lists(st.integers(0, n - 1), max_size=5)):
            b[i] = draw(st.floats(width=32, allow_nan=False, allow_infinity=False))
    if how == "ties" and n:  # the same greatest difference at several indices, in several blocks
        for i in draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=6)):
            b[i] = a[i] + np.float32(1.0)
    specials = draw(st.integers(1, 6)) if how == "special" else draw(st.integers(0, 2))
    for _ in range(specials if n else 0):  # special values on either side, or on both at one index
        i, value = draw(st.integers(0, n - 1)), draw(st.sampled_from(SPECIAL))
        for side in draw(st.sampled_from([(a,), (b,), (a, b)])):
            side[i] = value
    return a, b, tol


@needs_kernel
@settings(max_examples=500, deadline=None)
@given(_cases(), _beats)
def test_the_kernel_gives_the_numpy_paths_figures(
    case: tuple[np.ndarray, np.ndarray, Tolerance], beat: tuple[float, float]
) -> None:
    a, b, tol = case
    got = _figures(a, b, tol, beat)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(fused, "ENABLED", False)
        want = _figures(a, b, tol, beat)
    assert got == want


@needs_kernel
def test_the_first_of_tied_greatest_differences_is_named_across_blocks() -> None:
    a = np.zeros(3 * 4096 + 5, dtype=np.float32) + 1
    b = a.copy()
    for i in (4096 * 2 + 3, 4096 + 9, 3 * 4096 + 4):  # the same difference in three blocks, the tail last
        b[i] = 3
    ((part, _),) = _figures(a, b, Tolerance(), (-1.0, -1.0))
    figures = (part.differing, part.max_abs, part.max_abs_at, part.max_rel, part.max_rel_at)
    assert figures == (3, 2.0, 4096 + 9, 2.0, 4096 + 9)


@needs_kernel
def test_a_nan_or_an_overflowing_difference_is_left_to_the_numpy_rule() -> None:
    a = np.ones(100, dtype=np.float32)
    b = a.copy()
    b[10] = np.nan
    assert fused.compare_f32(a, b, rtol=0.0, atol=0.0) is None
    a[20], b[20] = HUGE, -HUGE  # finite both, b - a overflows
    b[10] = 1
    assert fused.compare_f32(a, b, rtol=0.0, atol=0.0) is None
    ((part, _),) = _figures(a, b, Tolerance(), (-1.0, -1.0))
    assert (part.differing, part.max_abs_at) == (1, 20)
    assert part.max_abs > HUGE  # the careful path's float64: 2 * HUGE, no overflow


@needs_kernel
def test_buffers_of_other_lengths_are_refused_with_both_lengths_named() -> None:
    a = np.ones(4, dtype=np.float32)
    with pytest.raises(ValueError, match="a has 16 bytes and b 12"):
        fused.compare_f32(a, a[:3], rtol=0.0, atol=0.0)


def test_the_kernel_is_built_where_the_package_was_installed_with_a_c_compiler() -> None:
    # CI installs with gcc on PATH: a build that failed (optional=True goes on without it) fails here.
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if not sys.platform.startswith("linux") or shutil.which(cc) is None:
        pytest.skip(f"no C compiler {cc!r} here")
    assert fused.AVAILABLE


@needs_kernel
@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({"PT2CANON_FUSED": "0"}, "False"),
        ({"PT2CANON_COMPILED": "0"}, "False"),  # every compiled part off
        ({"PT2CANON_COMPILED": "0", "PT2CANON_FUSED": "1"}, "True"),  # the kernel's own switch decides
        ({}, "True"),
    ],
)
def test_pt2canon_fused_0_or_compiled_0_turns_the_kernel_off(env: dict[str, str], enabled: str) -> None:
    code = "from pt2canon.diff import fused; print(fused.AVAILABLE, fused.ENABLED)"
    base = {k: v for k, v in os.environ.items() if k not in ("PT2CANON_FUSED", "PT2CANON_COMPILED")}
    run = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["True", enabled]


@needs_kernel
@settings(max_examples=100, deadline=None)
@given(_cases(), st.integers(1, 3))
def test_a_slice_at_any_byte_offset_gives_the_figures_of_an_aligned_one(
    case: tuple[np.ndarray, np.ndarray, Tolerance], offset: int
) -> None:
    a, b, tol = case
    raw = bytearray(offset + a.nbytes + b.nbytes)
    raw[offset : offset + a.nbytes], raw[offset + a.nbytes :] = a.tobytes(), b.tobytes()
    ua = np.frombuffer(raw, dtype=np.float32, count=len(a), offset=offset)
    ub = np.frombuffer(raw, dtype=np.float32, count=len(b), offset=offset + a.nbytes)
    assert not ua.flags.aligned or not len(a)  # the kernel reads them where they are
    assert fused.compare_f32(ua, ub, rtol=tol.rtol, atol=tol.atol) == fused.compare_f32(
        a, b, rtol=tol.rtol, atol=tol.atol
    )


@needs_kernel
def test_equal_slices_have_no_mismatch_whatever_the_limit_as_on_the_numpy_path() -> None:
    a = np.ones(20, dtype=np.float32)
    for tol in (Tolerance(atol=-1.0), Tolerance(rtol=-1.0)):  # not reachable through pt2canon.diff, but one rule
        got = _figures(a, a.copy(), tol, (-1.0, -1.0))
        with pytest.MonkeyPatch.context() as m:
            m.setattr(fused, "ENABLED", False)
            assert got == _figures(a, a.copy(), tol, (-1.0, -1.0))
        assert got[0][0].mismatched == 0


def test_a_numpy_tolerance_is_held_as_a_python_float() -> None:
    # a float64 atol would be a strong scalar to numpy: the limit rounded once, not as float32 arithmetic does
    tol = Tolerance(atol=np.float64(0.5414612202490917), rtol=np.float32(0.25))
    assert type(tol.atol) is float and type(tol.rtol) is float


@needs_kernel
@pytest.mark.parametrize("other", [np.ones(4), np.ones(4, dtype=">f4"), b"\0" * 16])
def test_a_buffer_that_is_not_native_float32_is_refused_with_its_format(other: object) -> None:
    with pytest.raises(TypeError, match="it must be native float32"):
        fused.compare_f32(np.ones(4, dtype=np.float32), other, rtol=0.0, atol=0.0)
