"""Hash, digest and audit many archives: pure per-archive functions, mapped with Dask.

Each per-archive function takes one path and keyword options and returns a
JSON-ready ``dict`` naming the path; a file that cannot be read gives a
record with an ``"error"`` line instead of an exception, so one bad archive
never stops a batch. The functions read nothing but the file, so they run
anywhere the file is reachable: in this process, in local worker processes,
or on the workers of a Dask cluster (``docs/batch.md``).

:func:`hash_record`, :func:`digest_record`, :func:`audit_record`
    What ``pt2canon hash``, ``hash --json`` and ``audit`` compute for one file.
:func:`index_record`
    One line of an index: path, size, mtime, hash, layers, audit verdict.
:func:`map_archives`
    Map one of them over paths: here, in ``workers`` processes, or with a
    Dask scheduler (a ``distributed.Client``, a scheduler address, or one of
    dask's local schedulers); :func:`archive_bag` is the lazy ``dask.bag``.
:func:`update_index`, :func:`read_index`, :func:`write_index`, :func:`group_records`
    An incremental index (JSON lines): files whose size and mtime did not
    change keep their record; equal programs are grouped by hash.

Dask is an optional dependency (``pip install 'pt2canon[dask]'``), needed
only when a Dask scheduler is asked for.

Examples
--------
>>> from pt2canon import batch
>>> batch.hash_record("missing.pt2")["error"]
'missing.pt2: no such file'
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pt2canon import __version__
from pt2canon.errors import InputError, MissingDependencyError, Pt2CanonError, UsageError

__all__ = [
    "INDEX_VERSION",
    "Group",
    "IndexUpdate",
    "archive_bag",
    "audit_record",
    "digest_record",
    "group_records",
    "hash_record",
    "index_record",
    "map_archives",
    "read_index",
    "update_index",
    "write_index",
]

#: Version of an index line's shape; a change rehashes every file.
INDEX_VERSION = 1

#: A record made less than this many nanoseconds after its file's mtime is not trusted
#: on the next run: the file may have changed again within the file system's mtime
#: resolution (git's "racily clean" entries).
_RACY_NS = 2_000_000_000

Record = dict[str, Any]

# -- per-archive functions -------------------------------------------------------------


def _error_line(path: str, exc: BaseException) -> str:
    if isinstance(exc, Pt2CanonError):
        return str(exc) if exc.file else f"{path}: {exc}"
    return f"{path}: internal error {type(exc).__name__}: {exc} (rerun with --debug and report it)"


def digest_record(
    path: str,
    *,
    level: str = "graph",
    include_sample_inputs: bool = False,
    include_versions: bool = False,
    keep_metadata: Iterable[str] = (),
) -> Record:
    """The layered hash of one file, as ``pt2canon hash --json`` prints it.

    Returns
    -------
    dict
        ``{"path", "hash", "level", "spec", "layers", "included", "versions"}``
        (and ``"models"`` for multi-model archives), or ``{"path", "error"}``.
    """
    from pt2canon.api import digest

    try:
        result = digest(
            path,
            level=level,
            include_sample_inputs=include_sample_inputs,
            include_versions=include_versions,
            keep_metadata=tuple(keep_metadata),
        )
    except Exception as exc:  # one bad file must not stop the batch
        return {"path": path, "error": _error_line(path, exc)}
    return {"path": path, **result.to_json()}


def hash_record(path: str, *, level: str = "graph", **options: Any) -> Record:
    """``{"path", "hash"}`` of one file (options as for :func:`digest_record`), or ``{"path", "error"}``."""
    record = digest_record(path, level=level, **options)
    return {k: record[k] for k in ("path", "hash", "error") if k in record}


def audit_record(path: str, *, limits: Any = None) -> Record:
    """The static safety scan of one file (:func:`pt2canon.audit.audit_path`), as JSON-ready data.

    Returns
    -------
    dict
        The report's ``to_dict()`` (``path``, ``format``, ``clean``,
        ``counts``, ``pickles``, ``findings``), or ``{"path", "error"}``.
    """
    from pt2canon.audit import audit_path
    from pt2canon.serde.archive import DEFAULT_LIMITS

    try:
        return audit_path(path, limits=limits or DEFAULT_LIMITS).to_dict()
    except Exception as exc:
        return {"path": path, "error": _error_line(path, exc)}


def _fingerprint(level: str, audit: bool, options: Mapping[str, Any]) -> dict[str, Any]:
    from pt2canon.canon.hashing import HASH_SPEC

    return {
        "index": INDEX_VERSION,
        "pt2canon": __version__,
        "spec": HASH_SPEC,
        "level": level,
        "audit": audit,
        "options": {k: list(v) if isinstance(v, (tuple, list)) else v for k, v in sorted(options.items())},
    }


def index_record(path: str, *, level: str = "graph", audit: bool = True, **options: Any) -> Record:
    """One index line: the file's size and mtime, its hash and layers at ``level``, its audit verdict.

    The size and mtime are read *before* the file is hashed, so a file
    changed while it is hashed is hashed again on the next run.

    Returns
    -------
    dict
        ``path``, ``size``, ``mtime_ns``, ``indexed_ns``, ``hash``,
        ``layers``, ``audit`` (``{"clean", "counts"}``, or ``None`` without
        ``audit``), ``error`` (``None``, or the one-line error), and
        ``fingerprint`` (what the record depends on besides the file).
    """
    record: Record = {"path": path, "fingerprint": _fingerprint(level, audit, options)}
    try:
        st = os.stat(path)
    except OSError as exc:
        return {**record, "error": _error_line(path, InputError(f"cannot read file ({exc.strerror})", file=path))}
    record.update(size=st.st_size, mtime_ns=st.st_mtime_ns, indexed_ns=time.time_ns())
    digest = digest_record(path, level=level, **options)
    record.update(hash=digest.get("hash"), layers=digest.get("layers"), error=digest.get("error"))
    record["audit"] = None
    if audit and record["error"] is None:
        report = audit_record(path)
        if "error" in report:
            record["error"] = report["error"]
        else:
            record["audit"] = {"clean": report["clean"], "counts": report["counts"]}
    return record


# -- mapping over paths ----------------------------------------------------------------

_ADDRESS_PREFIXES = ("tcp://", "tls://", "inproc://", "ucx://", "ws://", "wss://")
#: dask's local schedulers (``dask.compute(scheduler=...)``); "distributed" is the current client.
_LOCAL = frozenset(
    {"sync", "synchronous", "single-threaded", "threads", "threading", "processes", "multiprocessing", "distributed"}
)


def _dask_bag() -> Any:
    try:
        import dask.bag
    except ImportError as exc:
        raise MissingDependencyError(
            f"a Dask scheduler needs dask, an optional dependency ({exc}); install it with: pip install 'pt2canon[dask]'"
        ) from None
    return dask.bag


def archive_bag(
    func: Callable[..., Record], paths: Sequence[str], *, npartitions: int | None = None, **options: Any
) -> Any:
    """A lazy ``dask.bag.Bag`` of ``func(path, **options)`` over ``paths``, one partition per path by default.

    Compose it with other bag operations, or compute it with any scheduler:
    ``archive_bag(index_record, paths).filter(lambda r: r["error"]).compute(scheduler=client)``.
    """
    bag = _dask_bag()
    files = [os.fspath(p) for p in paths]
    n = npartitions or max(1, min(len(files), 4096))
    return bag.from_sequence(files, npartitions=n).map(func, **options)


def map_archives(
    func: Callable[..., Record],
    paths: Iterable[str | os.PathLike[str]],
    *,
    scheduler: Any = None,
    workers: int | None = None,
    npartitions: int | None = None,
    **options: Any,
) -> list[Record]:
    """``[func(path, **options) for path in paths]``, computed here, in processes, or on a Dask cluster.

    Parameters
    ----------
    func : callable
        A per-archive function of this module (or any picklable function of
        a path returning a record).
    paths : iterable of path
        The files; on a cluster, every worker must see them at these paths.
    scheduler : distributed.Client, str or None
        ``None``: no Dask; run here (or in ``workers`` processes). A
        ``distributed.Client``, or a scheduler address
        (``"tcp://host:8786"``; a client is opened and closed for the call),
        or a dask local scheduler name (``"threads"``, ``"processes"``,
        ``"sync"``).
    workers : int, optional
        Without ``scheduler``: processes to run in (``concurrent.futures``).
        With a local dask scheduler: its ``num_workers``.
    npartitions : int, optional
        Partitions of the dask bag (default: one per path, at most 4,096).
    **options
        Keyword options for ``func`` (``level=``, ``audit=``, ...).

    Returns
    -------
    list of dict
        One record per path, in the order of ``paths``.
    """
    files: list[str] = [os.fspath(p) for p in paths]
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UsageError(f"workers={workers!r} must be a positive number of processes; pass workers=1 or more")
    if scheduler is None:
        if not workers or workers == 1 or len(files) < 2:
            return [func(p, **options) for p in files]
        from functools import partial

        from pt2canon._pool import imap_processes

        return list(imap_processes(partial(func, **options), files, workers=workers))
    if isinstance(scheduler, str) and not scheduler.startswith(_ADDRESS_PREFIXES) and scheduler not in _LOCAL:
        raise UsageError(
            f"scheduler={scheduler!r} is not a Dask scheduler; pass a distributed.Client, an address such as "
            f"'tcp://host:8786', or one of {', '.join(sorted(_LOCAL))}"
        )
    if not files:
        return []
    bag = archive_bag(func, files, npartitions=npartitions, **options)
    if isinstance(scheduler, str) and scheduler.startswith(_ADDRESS_PREFIXES):
        try:
            from distributed import Client
        except ImportError as exc:
            raise MissingDependencyError(
                f"scheduler={scheduler!r} needs distributed ({exc}); install it with: pip install 'pt2canon[dask]'"
            ) from None
        try:
            client = Client(scheduler, timeout=30)
        except OSError as exc:
            raise UsageError(f"scheduler={scheduler!r}: cannot connect to a Dask scheduler there ({exc})") from None
        with client:
            return list(bag.compute(scheduler=client))
    extra = {"num_workers": workers} if workers and isinstance(scheduler, str) else {}
    return list(bag.compute(scheduler=scheduler, **extra))


# -- the index -------------------------------------------------------------------------


@dataclass
class IndexUpdate:
    """What :func:`update_index` did.

    Attributes
    ----------
    records : list of dict
        The new index, one record per path, in the order given.
    hashed, reused, removed : list of str
        Paths hashed on this run, paths whose record was kept (unchanged
        files), paths of the previous index no longer given.
    """

    records: list[Record]
    hashed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Record]:
        """Records of files that could not be hashed or audited."""
        return [r for r in self.records if r.get("error")]


def _unchanged(record: Mapping[str, Any] | None, fingerprint: Mapping[str, Any], path: str) -> bool:
    if not record or record.get("error") or record.get("fingerprint") != fingerprint:
        return False
    try:
        st = os.stat(path)
    except OSError:
        return False
    mtime, made = record.get("mtime_ns"), record.get("indexed_ns")
    if not isinstance(mtime, int) or not isinstance(made, int) or made - mtime < _RACY_NS:
        return False
    return bool(st.st_size == record.get("size") and st.st_mtime_ns == mtime)


def update_index(
    paths: Iterable[str | os.PathLike[str]],
    previous: Mapping[str, Record],
    *,
    level: str = "graph",
    audit: bool = True,
    scheduler: Any = None,
    workers: int | None = None,
    **options: Any,
) -> IndexUpdate:
    """Index ``paths``, reusing the records of ``previous`` whose files did not change.

    A record is reused when the file has the size and mtime it had when it
    was hashed, the record has no error, was made with the same level,
    options, hash spec and pt2canon version, and was made at least two
    seconds after the file's mtime (a file changed within the mtime
    resolution of the file system is hashed again). Everything else is
    hashed with :func:`map_archives` (``scheduler``, ``workers``).
    """
    from pt2canon.canon.hashing import LEVELS

    if level not in LEVELS:
        raise UsageError(f"level={level!r} is not one of {', '.join(LEVELS)}")
    files: list[str] = [os.fspath(p) for p in paths]
    fingerprint = _fingerprint(level, audit, options)
    todo = [p for p in files if not _unchanged(previous.get(p), fingerprint, p)]
    fresh = map_archives(index_record, todo, scheduler=scheduler, workers=workers, level=level, audit=audit, **options)
    by_path = {r["path"]: r for r in fresh}
    records = [by_path.get(p) or dict(previous[p]) for p in files]
    given = set(files)
    return IndexUpdate(
        records=records,
        hashed=todo,
        reused=[p for p in files if p not in by_path],
        removed=[p for p in previous if p not in given],
    )


def read_index(path: str | os.PathLike[str]) -> dict[str, Record]:
    """The records of an index file, by path; ``{}`` if the file does not exist."""
    from pt2canon import _json

    label = os.fspath(path)
    try:
        with open(label, "rb") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InputError(f"cannot read the index ({exc.strerror or exc})", file=label) from None
    out: dict[str, Record] = {}
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = _json.loads(line)
        except ValueError as exc:
            raise InputError(
                f"line {i} is not JSON ({exc}); delete the file to rebuild the index", file=label
            ) from None
        if not isinstance(record, dict) or not isinstance(record.get("path"), str):
            raise InputError(f"line {i} is not an index record (an object with a 'path')", file=label)
        out[record["path"]] = record
    return out


def write_index(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> None:
    """Write records as JSON lines (sorted keys), atomically: a reader sees the old index or the new one."""
    from pt2canon._json import canonical_bytes
    from pt2canon.serde.atomic import atomic_write

    lines = [canonical_bytes(r) + b"\n" for r in records]
    atomic_write(path, lambda fh: fh.writelines(lines))


@dataclass(frozen=True)
class Group:
    """Archives holding one program: its hash and their paths (sorted)."""

    hash: str
    paths: tuple[str, ...]


def group_records(records: Iterable[Mapping[str, Any]]) -> list[Group]:
    """Records grouped by hash, largest group first (then by hash); records with errors are left out."""
    groups: dict[str, list[str]] = {}
    for r in records:
        if r.get("hash") and not r.get("error"):
            groups.setdefault(r["hash"], []).append(r["path"])
    return sorted((Group(h, tuple(sorted(p))) for h, p in groups.items()), key=lambda g: (-len(g.paths), g.hash))
