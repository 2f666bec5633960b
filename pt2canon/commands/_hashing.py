"""Hashing many inputs for ``pt2canon hash`` and ``hash --check``: one input, all of them, in processes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

from pt2canon.commands._limits import parse_limits
from pt2canon.errors import Pt2CanonError

__all__ = ["STDIN", "Outcome", "hash_all", "hash_one", "options_of"]

#: The path that names standard input.
STDIN = "-"

#: ``(path, result JSON or None, error line or None)`` for one input.
Outcome = tuple[str, dict[str, Any] | None, str | None]


def _source(path: str, options: dict[str, Any]) -> Any:
    """What :func:`pt2canon.api.digest` reads for ``path``: the path, or standard input's bytes (read under ``options["limits"]``)."""
    if path != STDIN:
        return path
    from pt2canon.serde.archive import DEFAULT_LIMITS, read_bytes

    return read_bytes(sys.stdin.buffer.read(), label="<stdin>", limits=options.get("limits") or DEFAULT_LIMITS)


def hash_one(path: str, options: dict[str, Any]) -> Outcome:
    """Hash one file; returns ``(path, result json, error line)``. Runs in worker processes."""
    from pt2canon.api import digest

    try:
        r = digest(_source(path, options), **options)
    except Pt2CanonError as exc:
        return path, None, str(exc)
    except Exception as exc:  # keep one bad file from killing the batch
        return path, None, f"{path}: internal error {type(exc).__name__}: {exc} (rerun with --debug and report it)"
    return path, r.to_json(), None


def hash_all(
    files: list[str], options: dict[str, Any] | list[dict[str, Any]], *, jobs: int = 1, debug: bool = False
) -> Iterator[Outcome]:
    """Outcomes of :func:`hash_one` for ``files``, in order.

    ``options`` holds the :func:`pt2canon.api.digest` options, for all files
    or one dict per file; ``jobs > 1`` hashes in that many processes.
    """
    per_file = options if isinstance(options, list) else [options] * len(files)
    if len(files) == 1 and debug:  # let the traceback of the only input through
        from pt2canon.api import digest

        yield files[0], digest(_source(files[0], per_file[0]), **per_file[0]).to_json(), None
    elif jobs > 1 and len(files) > 1 and STDIN not in files:
        from pt2canon._pool import imap_processes

        yield from imap_processes(hash_one, files, per_file, workers=jobs)
    else:
        for f, o in zip(files, per_file):
            yield hash_one(f, o)


def options_of(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`pt2canon.api.digest` options the command line asks for."""
    return {
        "level": args.level,
        "include_versions": args.include_versions,
        "include_sample_inputs": args.include_sample_inputs,
        "keep_metadata": tuple(args.keep_metadata),
        "trust_pickle": args.trust_pickle,
        "limits": parse_limits(args.limit),
    }
