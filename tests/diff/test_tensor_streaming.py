"""The streamed comparison of two stored tensors, end to end, against a plain numpy reference (hypothesis).

:func:`~pt2canon.diff.tensors.compare_tensors` splits a tensor's bytes into tasks, each task into slices,
reads them with positional reads on the comparing threads (a stored member in a file, with ``os.preadv`` or
without it, or in memory) or in order (a deflated member), skips equal slices, merges the figures and the
CRC-32s in order and reads the storage before and after the view. Here the task and slice sizes are made small, so that generated tensors
of a few thousand elements cross many task and slice boundaries, at any storage offset, with bytes past the
view's end; the figures must be the reference's, whatever the form of the archive.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pt2canon.diff import tensors
from pt2canon.diff.tensors import compare_tensors
from pt2canon.serde.archive import Artifact, Payload
from pt2canon.serde.layout import DEFAULT_LIMITS
from pt2canon.serde.zipsource import ZipSource

#: Small sizes for the test (bytes): a slice of 64 float32 elements, tasks and ordered reads of 4 slices.
SLICE, TASK = 256, 1024
DTYPES = {"float32": (np.float32, 7), "float16": (np.float16, 6)}  # numpy dtype, torch's schema code


def _reference(a: np.ndarray, b: np.ndarray) -> tuple[int, float, int, float, int]:
    """Differing count, max |b-a| and its first index, max |b-a|/|a| and its first index.

    Computed in float32, as the comparison computes (float16 decodes to float32 exactly).
    """
    a, b = a.astype(np.float32), b.astype(np.float32)
    diff = np.abs(b - a)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, (diff / np.abs(a)).astype(np.float64))
    d64 = diff.astype(np.float64)
    return int(np.count_nonzero(d64)), float(d64.max()), int(np.argmax(d64)), float(rel.max()), int(np.argmax(rel))


def _artifact(storage: np.ndarray, form: str, folder: Path, name: str) -> Artifact:
    """An archive holding ``storage`` as member ``w``: a stored file, stored bytes, or deflated bytes."""
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if form == "deflated" else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as zf:
        zf.writestr("w", storage.tobytes())
    if form.startswith("file"):
        path = folder / f"{name}.zip"
        path.write_bytes(buf.getvalue())
        src = ZipSource(None, str(path), str(path), DEFAULT_LIMITS)
    else:
        src = ZipSource(buf.getvalue(), None, name, DEFAULT_LIMITS)
    return Artifact(name, "pt2", {}, _zip=src)


@st.composite
def _pairs(draw: Any) -> tuple[str, np.ndarray, np.ndarray, int, int]:
    """A dtype, A's and B's values, a storage offset and a tail (elements of the storage past the view)."""
    dtype = draw(st.sampled_from(sorted(DTYPES)))
    n = draw(st.integers(1, 3000))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal(n) * 10).astype(DTYPES[dtype][0])
    b = a.copy()
    kind = draw(st.sampled_from(["equal", "scaled", "few", "zeros"]))
    if kind == "scaled":  # every element (almost) differs
        b = (a * (1 + draw(st.sampled_from([1e-3, 1e-6])))).astype(a.dtype)
    elif kind in ("few", "zeros"):
        where = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=8))
        if kind == "zeros":
            a[where] = 0  # a = 0 with b not: infinitely relative
        b[where] = (rng.standard_normal(len(where)) * 10).astype(a.dtype)
    return dtype, a, b, draw(st.integers(0, 300)), draw(st.integers(0, 300))


@pytest.mark.parametrize("form", ["file", "file without preadv", "bytes", "deflated"])
@settings(max_examples=60, deadline=None)
@given(case=_pairs())
def test_any_tensor_streamed_in_many_tasks_and_slices_gives_the_reference_figures(form: str, case: Any) -> None:
    dtype, a, b, offset, tail = case
    np_dtype, code = DTYPES[dtype]
    pad = np.arange(offset + tail, dtype=np_dtype)  # storage outside the view: read and CRC-checked, not compared
    n = len(a)
    meta = {"dtype": code, "sizes": [{"as_int": n}], "strides": [{"as_int": 1}], "storage_offset": {"as_int": offset}}
    payload = Payload("w", "weight", "w", "w", (n + offset + tail) * a.itemsize, tensor_meta=meta)
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(tensors, "CHUNK", SLICE)
        mp.setattr(tensors, "TASK", TASK)
        mp.setattr(tensors, "READ", TASK)
        if form == "file without preadv":  # as on Windows and macOS: seek and read under the reader's lock
            mp.delattr(os, "preadv")
        art_a, art_b = (
            _artifact(np.concatenate([pad[:offset], x, pad[offset:]]), form, Path(tmp), name)
            for x, name in ((a, "a"), (b, "b"))
        )
        d = compare_tensors(art_a, payload, art_b, payload)
    differing, max_abs, abs_at, max_rel, rel_at = _reference(a, b)
    assert d is not None and d.compared and d.numel == n
    assert d.differing == d.mismatched == differing
    assert (d.max_abs_diff, d.max_rel_diff) == (max_abs, max_rel)
    if differing:
        assert (d.max_abs_at, d.max_rel_at) == ([abs_at], [rel_at])
