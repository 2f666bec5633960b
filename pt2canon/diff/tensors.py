"""Numeric comparison of two stored tensors: by how much a changed weight changed.

:func:`compare_tensors` reads the raw bytes of a weight or constant from
each archive (never unpickling, without torch), in chunks of
:data:`CHUNK` bytes so that memory stays flat whatever the tensor's size,
and decodes them with numpy (:mod:`pt2canon.diff.dtypes`: every dtype of
torch's schema, bfloat16 and float8 included). The view each FQN is of
its file (dtype, sizes, strides, storage offset) comes from the weights
config.

Elements compare as ``torch.testing.assert_close`` compares them: ``b``
(the new side) is close to ``a`` when ``|b - a| <= atol + rtol * |a|``,
or when they are equal (infinities of one sign), or both NaN with
``equal_nan``. The figures (:class:`TensorDiff`): how many elements
differ at all and how many are not close, the greatest absolute and
relative difference and where (the logical index of the first element
that has it).

Two views with the same strides that cover a dense block of their file
(every contiguous tensor, at any storage offset) compare in storage
order, both files streamed side by side. Other layouts (a transposed
view on one side) are compared in memory when each view's span of its
file is at most :data:`MAX_SPAN` bytes, else only by content digest
(``compared`` is false and ``reason`` says why).
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pt2canon.diff import fused
from pt2canon.diff.dtypes import decode, storage_dtype
from pt2canon.serde.members import MemberReader, crc32

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from pt2canon.serde.archive import Artifact, Payload

__all__ = ["CHUNK", "MAX_SPAN", "READ", "TASK", "TensorDiff", "Tolerance", "compare_tensors"]

#: Bytes of each side read at a time when a member is read in order (a deflated one): a task of the
#: comparing threads.
READ = 1 << 20
#: Bytes of each side a task of the comparing threads reads itself, in slices of :data:`CHUNK`, when
#: both members are stored (positional reads).
TASK = 4 << 20
#: Bytes of each side decoded and compared at a time (a slice of a task, kept in the CPU's cache).
CHUNK = 1 << 20
#: Largest span of a file (bytes) read whole, for views that cannot be streamed side by side.
MAX_SPAN = 64 << 20
#: Threads that compare chunks while the reading goes on.
THREADS = 2
#: Pairs of :data:`READ`-byte buffers per ordered comparison (being read, queued or compared): its
#: memory is ``2 * BUFFERS * READ`` bytes at most, whatever the tensor's size; a positional one's is
#: ``2 * THREADS * CHUNK`` bytes and the decoded slices.
BUFFERS = 2 * THREADS + 2


@dataclass(frozen=True)
class Tolerance:
    """What counts as close: ``|b - a| <= atol + rtol * |a|`` (``torch.testing.assert_close``'s rule).

    Examples
    --------
    The default is exact: any difference counts.

    >>> Tolerance().exact, Tolerance(rtol=1e-5).exact
    (True, False)

    >>> Tolerance(atol=1e-6, equal_nan=True)
    Tolerance(atol=1e-06, rtol=0.0, equal_nan=True)

    :func:`compare_tensors` applies it (see its examples), and
    :func:`pt2canon.diff.diff_programs` builds it from ``atol``, ``rtol``
    and ``equal_nan``.
    """

    atol: float = 0.0
    rtol: float = 0.0
    equal_nan: bool = False

    def __post_init__(self) -> None:
        # Python floats: a numpy float64 would be a strong scalar to numpy, and round the limit once
        # instead of twice (the compiled kernel, pt2canon.diff.fused, rounds as float32 arithmetic does).
        object.__setattr__(self, "atol", float(self.atol))
        object.__setattr__(self, "rtol", float(self.rtol))

    @property
    def exact(self) -> bool:
        return self.atol == 0.0 and self.rtol == 0.0


@dataclass
class TensorDiff:
    """How two tensors of equal dtype and shape differ.

    Attributes
    ----------
    numel : int
    differing : int
        Elements whose values differ (NaN against NaN is no difference).
    mismatched : int
        Elements that are not close under the tolerance (with ``atol = rtol
        = 0``: the differing ones, and NaNs unless ``equal_nan``).
    max_abs_diff, max_rel_diff : float
        Greatest ``|b - a|`` and ``|b - a| / |a|`` over the elements where
        they are numbers (``inf`` where ``a`` is 0 and ``b`` is not).
    max_abs_at, max_rel_at : list of int or None
        Logical index of the first element with that difference.
    atol, rtol : float
    equal_nan : bool
        The tolerance compared with.
    within_tolerance : bool
        ``mismatched == 0``.
    compared : bool
        False when the layouts could not be compared (``reason`` says why).

    Examples
    --------
    :func:`compare_tensors` makes one; the figures read as a record's summary says them:

    >>> d = TensorDiff(numel=4, differing=1, mismatched=1, max_abs_diff=0.5, max_abs_at=[1, 0],
    ...                max_rel_diff=0.125, max_rel_at=[1, 0])
    >>> d.within_tolerance, d.summary()
    (False, '1 of 4 elements differ, max abs 0.5 at [1, 0], max rel 0.125 at [1, 0]')
    >>> TensorDiff(numel=8, compared=False, reason="other layouts").summary()
    'not compared numerically (other layouts)'
    """

    numel: int = 0
    differing: int = 0
    mismatched: int = 0
    max_abs_diff: float = 0.0
    max_abs_at: list[int] | None = None
    max_rel_diff: float = 0.0
    max_rel_at: list[int] | None = None
    atol: float = 0.0
    rtol: float = 0.0
    equal_nan: bool = False

    compared: bool = True
    reason: str | None = None
    _max_abs_flat: int = field(default=-1, repr=False)
    _max_rel_flat: int = field(default=-1, repr=False)

    @property
    def within_tolerance(self) -> bool:
        return self.compared and self.mismatched == 0

    def to_json(self) -> dict[str, Any]:
        """The figures as the JSON record carries them (``details["numeric"]``)."""
        out = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        out["within_tolerance"] = self.within_tolerance
        for k in ("max_abs_diff", "max_rel_diff"):
            if isinstance(out[k], float) and not math.isfinite(out[k]):
                out[k] = "Infinity" if out[k] > 0 else "NaN"
        return {k: v for k, v in out.items() if v is not None}

    def summary(self) -> str:
        """``"12 of 4096 elements differ, max abs 1.2e-07 at [3, 7], max rel 1e-07 at [3, 7]"``."""
        if not self.compared:
            return f"not compared numerically ({self.reason})"
        if not self.differing:
            return f"all {self.numel} elements equal by value (the bytes differ: signed zeros or NaN payloads)"
        text = (
            f"{self.differing} of {self.numel} elements differ, max abs {self.max_abs_diff:.3g} at {self.max_abs_at}, "
            f"max rel {self.max_rel_diff:.3g} at {self.max_rel_at}"
        )
        if self.atol or self.rtol:
            if self.within_tolerance:
                text += f"; within atol={self.atol:g}, rtol={self.rtol:g}"
            else:
                text += f"; {self.mismatched} beyond atol={self.atol:g}, rtol={self.rtol:g}"
        elif self.mismatched != self.differing:  # NaNs on both sides at the same place
            text += f"; {self.mismatched} not equal"
        return text


def _ints(values: Sequence[Any] | None) -> list[int] | None:
    out = []
    for v in values or ():
        if not (isinstance(v, Mapping) and isinstance(v.get("as_int"), int)):
            return None
        out.append(v["as_int"])
    return out


def _layout(meta: Mapping[str, Any]) -> tuple[list[int], list[int], int] | None:
    sizes, strides = _ints(meta.get("sizes")), _ints(meta.get("strides"))
    offset = _ints([meta.get("storage_offset", {"as_int": 0})])
    if sizes is None or strides is None or offset is None or len(sizes) != len(strides):
        return None
    return sizes, strides, offset[0]


def _dense(sizes: list[int], strides: list[int]) -> bool:
    """True when the view covers ``numel`` consecutive elements of its storage, each once."""
    expected = 1
    for stride, size in sorted((st, s) for s, st in zip(sizes, strides) if s != 1):  # innermost first
        if stride != expected:
            return False
        expected *= size
    return True


def _unravel(flat: int, sizes: list[int], strides: list[int]) -> list[int]:
    """The logical index of the element ``flat`` positions into a dense view's block."""
    index = [0] * len(sizes)
    for d in sorted(range(len(sizes)), key=lambda d: -strides[d]):
        if sizes[d] > 1:
            index[d], flat = divmod(flat, strides[d])
    return index


def _range(artifact: Artifact, payload: Payload, start: int, stop: int) -> Iterator[bytes]:
    """The bytes ``[start, stop)`` of a payload's file, in chunks of at most :data:`READ` bytes."""
    pos = 0
    for block in artifact.iter_payload(payload, chunk=READ):
        end = pos + len(block)
        if end > start and pos < stop:
            yield block[max(0, start - pos) : min(len(block), stop - pos)]
        pos = end
        if pos >= stop:
            return


@dataclass
class _Part:
    """The figures of one pair of chunks, indices within the chunk."""

    differing: int = 0
    mismatched: int = 0
    max_abs: float = 0.0
    max_abs_at: int = -1
    max_rel: float = 0.0
    max_rel_at: int = -1


def _native_f32(x: np.ndarray) -> bool:
    return x.dtype.char == "f" and x.dtype.isnative and x.flags.c_contiguous


def _part(xa: np.ndarray, xb: np.ndarray, tol: Tolerance, beat: tuple[float, float] = (-1.0, -1.0)) -> _Part:
    """Compare one pair of decoded chunks (runs on worker threads: numpy releases the GIL).

    ``beat`` holds the greatest absolute and relative difference of the
    chunks before this one: where this chunk's does not exceed it, its
    position is not looked for (it cannot be the first greatest).

    float32 slices go to the compiled one-pass kernel where it is built
    (:mod:`pt2canon.diff.fused`); the numpy code below is its reference
    and decides every slice with a NaN or an infinity.
    """
    import numpy as np

    out = _Part()
    n = len(xa)
    if fused.ENABLED and n and _native_f32(xa) and _native_f32(xb):
        got = fused.compare_f32(xa, xb, rtol=tol.rtol, atol=tol.atol)
        if got is not None:  # else a NaN or an infinity: the careful path below
            out.differing, out.mismatched, out.max_abs, at, out.max_rel, rel_at = got
            out.max_abs_at = at if out.max_abs > beat[0] else -1
            out.max_rel_at = rel_at if out.max_rel > beat[1] else -1
            return out
    if xa.dtype.kind in "biuc" or xa.dtype.itemsize > 8:
        return _part_general(xa, xb, tol, out)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.subtract(xb, xa)
        np.abs(diff, out=diff)
        top = diff.max() if n else 0.0
        if not np.isfinite(top):  # NaNs or infinities: the careful path
            return _part_general(xa, xb, tol, out)
        if not top:
            return out
        # Every element differs when the least difference is not 0 (one reduction, the worst case);
        # else the comparison into booleans and their count (a float array's count_nonzero branches
        # on each element: 0.75 s per GiB against 0.06 s measured).
        out.differing = n if diff.min() > 0 else int(np.count_nonzero(np.greater(diff, 0)))
        out.max_abs = float(top)
        if out.max_abs > beat[0]:
            out.max_abs_at = int(np.argmax(diff))
        if tol.exact:
            out.mismatched = out.differing
            # |b - a| / a: the relative difference with the sign of a (no |a| pass; division's magnitude
            # does not depend on the signs): its greatest magnitude from the greatest and the least.
            ratio = np.divide(diff, xa, out=diff)  # ±inf where a is ±0 and b is not, NaN where both are 0
            rel_top = float(np.fmax(np.fmax.reduce(ratio), -np.fmin.reduce(ratio)))
            if rel_top > 0:
                out.max_rel = rel_top
                if rel_top > beat[1]:
                    out.max_rel_at = int(np.nanargmax(np.abs(ratio, out=ratio)))
            return out
        scale = np.abs(xa)
        limit = np.multiply(scale, tol.rtol, dtype=diff.dtype)
        limit += tol.atol
        out.mismatched = int(np.count_nonzero(diff > limit))
        np.divide(diff, scale, out=scale)  # relative: inf where A is 0 and B is not, NaN where both are
        rel_top = float(np.fmax.reduce(scale))
        if rel_top > 0:
            out.max_rel = rel_top
            if rel_top > beat[1]:
                out.max_rel_at = int(np.nanargmax(scale))
    return out


def _part_general(xa: np.ndarray, xb: np.ndarray, tol: Tolerance, out: _Part) -> _Part:
    """Any dtype, NaNs and infinities: ``torch.isclose``'s rule element by element."""
    import numpy as np

    n = len(xa)
    same = xa == xb
    if xa.dtype.kind in "biu":  # integers and bools: equal or not; figures in float64
        fa, fb = xa.astype(np.float64), xb.astype(np.float64)
        both_nan = np.zeros(n, dtype=bool)
    else:
        fa, fb = xa, xb
        both_nan = np.isnan(fa) & np.isnan(fb)
    equal = same | both_nan
    out.differing = n - int(np.count_nonzero(equal))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.abs(fb - fa)
        scale = np.abs(fa)
        if tol.exact:
            close = equal if tol.equal_nan else same
        else:
            close = same | (diff <= tol.atol + tol.rtol * scale)
            if tol.equal_nan:
                close |= both_nan
        out.mismatched = n - int(np.count_nonzero(close))
        diff[np.isnan(diff)] = 0.0  # NaN against a number: counted above, no figure
        if n:
            i = int(np.argmax(diff))
            out.max_abs, out.max_abs_at = float(diff[i]), i
            rel = diff / scale
            rel[np.isnan(rel) | equal] = 0.0
            j = int(np.argmax(rel))
            out.max_rel, out.max_rel_at = float(rel[j]), j
    return out


class RunningFigures:
    """The running figures: parts merged in element order (the first greatest difference wins)."""

    def __init__(self, tol: Tolerance) -> None:
        self.tol = tol
        self.d = TensorDiff(atol=tol.atol, rtol=tol.rtol, equal_nan=tol.equal_nan)
        self.flat = 0

    def skip(self, n: int) -> None:
        self.flat += n

    def merge(self, part: _Part, n: int) -> None:
        d = self.d
        d.differing += part.differing
        d.mismatched += part.mismatched
        if part.max_abs > d.max_abs_diff:  # a part's position is there whenever it can win (see ``beat``)
            d.max_abs_diff, d._max_abs_flat = part.max_abs, self.flat + part.max_abs_at
        if part.max_rel > d.max_rel_diff:
            d.max_rel_diff, d._max_rel_flat = part.max_rel, self.flat + part.max_rel_at
        self.flat += n

    def add(self, xa: np.ndarray, xb: np.ndarray) -> None:
        self.merge(_part(xa, xb, self.tol), len(xa))


def chunk_figures(
    ca: bytes | memoryview,
    cb: bytes | memoryview,
    dtype: int,
    orders: tuple[str, str],
    step: int,
    tol: Tolerance,
    beat: tuple[float, float],
) -> list[tuple[_Part, int]]:
    """Compare one pair of read chunks slice by slice (on a worker thread): each slice's figures.

    Shared with the kernel's tests (``tests/diff/test_tensor_kernel.py``), as :class:`RunningFigures` is.
    """
    best_abs, best_rel = beat
    out = []
    for i in range(0, len(ca), step):
        xa = decode(memoryview(ca)[i : i + step], dtype, orders[0])
        xb = decode(memoryview(cb)[i : i + step], dtype, orders[1])
        part = _part(xa, xb, tol, (best_abs, best_rel))
        best_abs, best_rel = max(best_abs, part.max_abs), max(best_rel, part.max_rel)
        out.append((part, len(xa)))
    return out


class _Spares:
    """Pairs of :data:`READ`-byte buffers kept from one ordered comparison for the next (at most :data:`BUFFERS`).

    A new buffer costs its pages' faults and zeroing as it is first
    filled (about as much again as reading into it, measured): one
    comparison after another (every weight of a diff) reuses the same
    ``2 * BUFFERS * READ`` bytes instead.
    """

    def __init__(self) -> None:
        self._pairs: list[tuple[bytearray, bytearray]] = []
        self._lock = threading.Lock()

    def take(self, size: int, count: int) -> list[tuple[bytearray, bytearray]]:
        with self._lock:
            kept = [p for p in self._pairs if len(p[0]) == size][:count]
            self._pairs = [p for p in self._pairs if all(p is not k for k in kept)]
        return kept + [(bytearray(size), bytearray(size)) for _ in range(count - len(kept))]

    def give(self, pairs: list[tuple[bytearray, bytearray]]) -> None:
        with self._lock:
            self._pairs = [p for p in pairs if len(p[0]) == READ][:BUFFERS]


_SPARES = _Spares()
#: Pairs of :data:`CHUNK`-byte buffers of the positional comparison's tasks, kept for the next task.
_SCRATCH: queue.SimpleQueue[tuple[bytearray, bytearray]] = queue.SimpleQueue()

_Figures = Sequence[tuple["_Part | None", int]]  # a task's figures in order: (None, n) for n equal elements


def _skip(reader: Any, start: int, n: int, positional: bool) -> None:
    """Read and drop the ``n`` bytes from ``start`` (fewer if the member ends first): CRC-checked all the same."""
    scratch = memoryview(bytearray(min(n, READ))) if n > 0 else None
    while scratch is not None and n > 0:
        view = scratch[: min(n, len(scratch))]
        if positional:
            got = reader.read_at(view, start)
            reader.join_crc(crc32(view[:got]), got)
        else:
            got = reader.readinto(view)
        if not got:
            return
        start += got
        n -= got


def _stream(
    stats: RunningFigures,
    readers: tuple[Any, Any],
    spans: tuple[tuple[int, int], tuple[int, int]],
    dtype: int,
    orders: tuple[str, str],
    item: int,
) -> None:
    """Compare the byte ranges ``spans`` of two members side by side, in chunks, on :data:`THREADS` threads.

    Two stored archive members (both readers
    :class:`~pt2canon.serde.members.MemberReader`) are compared by
    :func:`_compare_positional`, any other pair (a deflated member, an FX
    payload) by :func:`_compare_ordered`. Every byte up to each span's end
    is read, so a member whose span reaches its end is CRC-checked whole.
    """
    ra, rb = readers
    (start_a, stop_a), (start_b, stop_b) = spans
    len_a = max(0, min(stop_a, ra.size) - start_a)
    len_b = max(0, min(stop_b, rb.size) - start_b)
    common = min(len_a, len_b)
    common -= common % item
    positional = isinstance(ra, MemberReader) and isinstance(rb, MemberReader)
    _skip(ra, 0, start_a, positional)
    _skip(rb, 0, start_b, positional)
    compare = _compare_positional if positional else _compare_ordered
    done = compare(stats, (ra, rb), (start_a, start_b), common, dtype, orders, item)
    _skip(ra, start_a + done, len_a - done, positional)
    _skip(rb, start_b + done, len_b - done, positional)


def _merge(stats: RunningFigures, figures: _Figures) -> None:
    for part, n in figures:
        if part is None:
            stats.skip(n)
        else:
            stats.merge(part, n)


def _compare_positional(
    stats: RunningFigures,
    readers: tuple[MemberReader, MemberReader],
    starts: tuple[int, int],
    common: int,
    dtype: int,
    orders: tuple[str, str],
    item: int,
) -> int:
    """Compare ``common`` bytes of two stored members from ``starts`` on, in tasks of :data:`TASK` bytes; ``common``.

    Each task runs on a comparing thread and goes through its range in
    slices of :data:`CHUNK` bytes, each read (positional reads), CRC-checked
    and compared (equal bytes: one ``memcmp``) while it is in the CPU's
    cache, in a buffer pair of the task's own. Tasks are merged in member
    order, figures and CRC-32s; at most ``2 * THREADS`` wait, so the figures
    a task has to beat are recent. Reading on the comparing threads, not
    ahead of them, measured 1.5x faster than :func:`_compare_ordered` on
    the 1 GiB benchmark (``bench/diff_weights.py``).
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    ra, rb = readers
    start_a, start_b = starts
    step = CHUNK - CHUNK % item
    task_size = max(step, TASK - TASK % step)
    same_order = orders[0] == orders[1]
    tol = stats.tol

    def task(pos: int, n: int, beat: tuple[float, float]) -> tuple[_Figures, int, int]:
        """Read and compare the ``n`` bytes from ``pos``: figures and both sides' CRC-32."""
        try:
            ba, bb = _SCRATCH.get_nowait()
        except queue.Empty:
            ba = bb = bytearray()
        if len(ba) != step:  # a first task, or CHUNK changed since
            ba, bb = bytearray(step), bytearray(step)
        try:
            crc_a = crc_b = 0
            out: list[tuple[_Part | None, int]] = []
            for i in range(0, n, step):
                m = min(step, n - i)
                va, vb = memoryview(ba)[:m], memoryview(bb)[:m]
                ra.read_at(va, start_a + pos + i)  # m bytes each: the ranges end within both members
                rb.read_at(vb, start_b + pos + i)
                crc_a, crc_b = crc32(va, crc_a), crc32(vb, crc_b)
                # bytearrays: ``==`` between two is one memcmp (between memoryviews it goes byte by byte).
                if same_order and (ba == bb if m == step else va.tobytes() == vb.tobytes()):
                    out.append((None, m // item))
                    continue
                for part, k in chunk_figures(va, vb, dtype, orders, step, tol, beat):
                    beat = max(beat[0], part.max_abs), max(beat[1], part.max_rel)
                    out.append((part, k))
            return out, crc_a, crc_b
        finally:
            _SCRATCH.put((ba, bb))

    def merge(future: Future[tuple[_Figures, int, int]] | tuple[_Figures, int, int], n: int) -> None:
        figures, crc_a, crc_b = future.result() if isinstance(future, Future) else future
        ra.join_crc(crc_a, n)
        rb.join_crc(crc_b, n)
        _merge(stats, figures)

    if common <= task_size:  # one task (a small tensor): here, no threads
        if common:
            merge(task(0, common, (-1.0, -1.0)), common)
        return common
    pending: deque[tuple[Future[tuple[_Figures, int, int]], int]] = deque()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for pos in range(0, common, task_size):
            while len(pending) >= 2 * THREADS or (pending and pending[0][0].done()):
                merge(*pending.popleft())
            n = min(task_size, common - pos)
            beat = (stats.d.max_abs_diff, stats.d.max_rel_diff)  # merged so far: all of earlier tasks
            pending.append((pool.submit(task, pos, n, beat), n))
        while pending:
            merge(*pending.popleft())
    return common


def _compare_ordered(
    stats: RunningFigures,
    readers: tuple[Any, Any],
    starts: tuple[int, int],
    common: int,
    dtype: int,
    orders: tuple[str, str],
    item: int,
) -> int:
    """Compare up to ``common`` bytes of two readers read in order (``readinto``); how many were compared.

    Both readers are read here, in pairs of :data:`READ`-byte chunks, into
    a few reused buffer pairs (:data:`BUFFERS`: no allocation per read, a
    new object per read costs its pages' faults). Each pair is one task of
    the comparing threads (decoded and compared in slices of :data:`CHUNK`
    bytes) while the next pairs are read; equal pairs are skipped here (one
    ``memcmp``). A buffer pair is read into again once its figures are
    merged, in order. Fewer than ``common`` bytes when a reader ends first.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    ra, rb = readers
    size = max(item, min(READ, common))
    count = max(1, min(BUFFERS, -(-common // size)))
    step = CHUNK - CHUNK % item
    same_order = orders[0] == orders[1]
    free = _SPARES.take(size, count)
    every = list(free)
    pending: deque[tuple[Future[_Figures] | _Figures, tuple[bytearray, bytearray]]] = deque()

    def merge(result: Future[_Figures] | _Figures, bufs: tuple[bytearray, bytearray]) -> None:
        _merge(stats, result.result() if isinstance(result, Future) else result)
        free.append(bufs)

    def ready(result: Future[_Figures] | _Figures) -> bool:
        """Figures of a chunk compared here (equal bytes, one buffer pair), or a finished task's."""
        return not isinstance(result, Future) or result.done()

    done = 0
    try:
        with contextlib.ExitStack() as stack:
            # One buffer pair (a small tensor): compared here as it is read, no threads.
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=THREADS)) if count > 1 else None
            while done < common:
                while not free or (pending and ready(pending[0][0])):
                    merge(*pending.popleft())
                ba, bb = free.pop()
                va, vb = memoryview(ba), memoryview(bb)
                want = min(size, common - done)
                got = min(ra.readinto(va[:want]), rb.readinto(vb[:want]))
                n = got - got % item
                if not n:
                    free.append((ba, bb))
                    break
                done += n
                result: Future[_Figures] | _Figures
                if same_order and (ba == bb if n == size else va[:n].tobytes() == vb[:n].tobytes()):
                    result = [(None, n // item)]
                else:
                    beat = (stats.d.max_abs_diff, stats.d.max_rel_diff)  # merged so far: all of earlier chunks
                    args = (va[:n], vb[:n], dtype, orders, step, stats.tol, beat)
                    result = chunk_figures(*args) if pool is None else pool.submit(chunk_figures, *args)
                pending.append((result, (ba, bb)))
            while pending:
                merge(*pending.popleft())
    finally:  # every task is done here (the pool waits for its tasks as it closes)
        _SPARES.give(every)
    return done


def compare_tensors(
    a: Artifact, pa: Payload, b: Artifact, pb: Payload, *, tolerance: Tolerance = Tolerance()
) -> TensorDiff | None:
    """How the tensor ``pa`` of ``a`` and ``pb`` of ``b`` differ, streamed; ``None`` if they are not comparable.

    Not comparable: a pickled payload, no tensor metadata, or another
    dtype or shape (the record names those changes already).

    Examples
    --------
    Two archives in memory holding a 2x2 float32 weight ``w``, one element
    of which changed from 4.0 to 4.5 (the element at row 1, column 0):

    >>> import io, zipfile
    >>> import numpy as np
    >>> from pt2canon.serde.archive import DEFAULT_LIMITS, Artifact, Payload
    >>> from pt2canon.serde.zipsource import ZipSource
    >>> def archive(values):
    ...     buf = io.BytesIO()
    ...     with zipfile.ZipFile(buf, "w") as z:
    ...         z.writestr("w", np.array(values, dtype="<f4").tobytes())
    ...     return Artifact("<bytes>", "pt2", {}, _zip=ZipSource(buf.getvalue(), None, "<bytes>", DEFAULT_LIMITS))
    >>> meta = {"dtype": 7, "sizes": [{"as_int": 2}, {"as_int": 2}], "strides": [{"as_int": 2}, {"as_int": 1}]}
    >>> w = Payload("w", "weight", "w", "w", 16, tensor_meta=meta)
    >>> a, b = archive([1.0, 2.0, 4.0, 8.0]), archive([1.0, 2.0, 4.5, 8.0])
    >>> d = compare_tensors(a, w, b, w)
    >>> d.differing, d.max_abs_diff, d.max_rel_diff, d.max_abs_at, d.within_tolerance
    (1, 0.5, 0.125, [1, 0], False)

    A relative difference of 0.125 is within ``rtol=0.2``, an absolute one
    of 0.5 beyond ``atol=0.1``:

    >>> compare_tensors(a, w, b, w, tolerance=Tolerance(rtol=0.2)).within_tolerance
    True
    >>> compare_tensors(a, w, b, w, tolerance=Tolerance(atol=0.1)).summary()
    '1 of 4 elements differ, max abs 0.5 at [1, 0], max rel 0.125 at [1, 0]; 1 beyond atol=0.1, rtol=0'

    Another dtype is not compared in numbers:

    >>> compare_tensors(a, w, b, Payload("w", "weight", "w", "w", 16, tensor_meta={**meta, "dtype": 8})) is None
    True
    """
    ma, mb = pa.tensor_meta, pb.tensor_meta
    if pa.use_pickle or pb.use_pickle or ma is None or mb is None or ma.get("dtype") != mb.get("dtype"):
        return None
    la, lb = _layout(ma), _layout(mb)
    if la is None or lb is None or la[0] != lb[0]:
        return None
    dtype = int(ma["dtype"])
    order_a, order_b = a.info.get("byteorder", "little"), b.info.get("byteorder", "little")
    item = storage_dtype(dtype).itemsize
    sizes = la[0]
    numel = math.prod(sizes)
    stats = RunningFigures(tolerance)
    stats.d.numel = numel
    if numel == 0:
        return stats.d
    if la[1] == lb[1] and _dense(sizes, la[1]):
        strides = la[1]
        spans = ((la[2] * item, (la[2] + numel) * item), (lb[2] * item, (lb[2] + numel) * item))
        with a.open_payload(pa) as ra, b.open_payload(pb) as rb:
            _stream(stats, (ra, rb), spans, dtype, (order_a, order_b), item)
        if stats.flat != numel:
            stats.d.compared = False
            stats.d.reason = f"a file holds fewer bytes than its view needs ({stats.flat} of {numel} elements)"
            return stats.d
        unravel = lambda flat: _unravel(flat, sizes, strides)  # noqa: E731
    else:
        encoded = []
        for art, p, (sz, st, off), order in ((a, pa, la, order_a), (b, pb, lb, order_b)):
            raw = _strided(art, p, dtype, order, sz, st, off)
            if raw is None:
                stats.d.compared = False
                stats.d.reason = f"the views have other layouts and span more than {MAX_SPAN >> 20} MiB of their file"
                return stats.d
            encoded.append(raw.reshape(-1))
        step = max(1, CHUNK // item)
        for i in range(0, numel, step):
            stats.add(
                decode(encoded[0][i : i + step].tobytes(), dtype, order_a),
                decode(encoded[1][i : i + step].tobytes(), dtype, order_b),
            )
        unravel = lambda flat: _c_index(flat, sizes)  # noqa: E731
    d = stats.d
    if d._max_abs_flat >= 0:
        d.max_abs_at = unravel(d._max_abs_flat)
    if d._max_rel_flat >= 0:
        d.max_rel_at = unravel(d._max_rel_flat)
    return d


def _c_index(flat: int, sizes: list[int]) -> list[int]:
    out = []
    for n in reversed(sizes):
        flat, i = divmod(flat, n) if n else (flat, 0)
        out.append(i)
    return out[::-1]


def _strided(
    art: Artifact, p: Payload, dtype: int, order: str, sizes: list[int], strides: list[int], offset: int
) -> np.ndarray | None:
    """The stored elements of a strided view, in logical (row-major) order; ``None`` past :data:`MAX_SPAN`."""
    import numpy as np

    item = storage_dtype(dtype, order).itemsize
    lo = offset + sum(s * (n - 1) for s, n in zip(strides, sizes) if s < 0)
    hi = offset + sum(s * (n - 1) for s, n in zip(strides, sizes) if s > 0)
    if (hi - lo + 1) * item > MAX_SPAN:
        return None
    raw = np.frombuffer(b"".join(_range(art, p, lo * item, (hi + 1) * item)), dtype=storage_dtype(dtype, order))
    view = np.lib.stride_tricks.as_strided(
        raw[offset - lo :], shape=sizes, strides=[s * item for s in strides], writeable=False
    )
    return np.ascontiguousarray(view)
