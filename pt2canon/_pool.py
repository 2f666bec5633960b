"""Map a function over many small items in worker processes, in order.

One helper for every ``--jobs N`` / ``workers=N`` of the package
(``pt2canon hash``, ``hash --check``, :func:`pt2canon.batch.map_archives`).
Hashing is CPU-bound Python, so it runs in processes; the tasks are small
(1-3 ms for an archive of a few hundred nodes), so two costs decide whether
two processes beat one:

* **imports.** The hashing modules (:data:`PRELOAD`) are imported once and
  the workers are forked from a process that has them: this process when
  it runs no other thread (a fork then copies nothing but memory pages),
  else a fork server that imported them (forking a process with threads
  can copy a lock another thread holds). No worker imports the package
  again;
* **hand-offs.** Items go to the workers in batches (about eight per
  worker), not one by one.

Results come back in the order of the items, as :func:`map` gives them.
Where neither fork nor the fork server exists (Windows), workers are
spawned.
"""

from __future__ import annotations

import importlib
import multiprocessing
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

__all__ = ["PRELOAD", "chunk_size", "imap_processes"]

T = TypeVar("T")

#: Modules the fork server imports before forking workers: what hashing one archive needs.
PRELOAD = ("pt2canon.api", "pt2canon.canon.program", "pt2canon.canon.hashing", "pt2canon.serde.archive")

#: Batches per worker: enough to even out archives of different sizes, few enough hand-offs.
_BATCHES_PER_WORKER = 8


def chunk_size(items: int, workers: int) -> int:
    """Items per hand-off so that each worker gets about eight batches.

    Examples
    --------
    >>> chunk_size(300, 2), chunk_size(3, 2), chunk_size(0, 4)
    (19, 1, 1)
    """
    return max(1, -(-items // (workers * _BATCHES_PER_WORKER)))


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        for name in PRELOAD:
            importlib.import_module(name)
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(PRELOAD))
        return ctx
    return multiprocessing.get_context("spawn")


def imap_processes(func: Callable[..., T], *iterables: Sequence[Any], workers: int) -> Iterator[T]:
    """``map(func, *iterables)`` computed in ``workers`` processes, yielded in order.

    ``func`` must be picklable (a module-level function or a
    :func:`functools.partial` of one).
    """
    n = min(len(it) for it in iterables) if iterables else 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        yield from pool.map(func, *iterables, chunksize=chunk_size(n, workers))
