"""``pt2canon hash PATH...``: print ``sha256:<hex>  PATH`` lines, like ``sha256sum``.

Exit status 0 when every input hashed, 2 when any failed (each failure is
one ``pt2canon: error:`` line on stderr; the other inputs are still hashed).
``-r`` walks directories for ``*.pt2`` files; ``--jobs N`` hashes in N
processes; a progress line is drawn on a terminal for long runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

from pt2canon.errors import Pt2CanonError, UsageError
from pt2canon.fx.pickled import add_trust_pickle_argument

__all__ = ["add_parser", "hash_one", "iter_inputs", "run"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser(
        "hash",
        help="print the canonical hash of each archive",
        description="Print 'sha256:<hex>  PATH' for each input; equal hashes mean the same program at the chosen level.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=".pt2 archive, older zip, model JSON, or directory with -r")
    p.add_argument(
        "--level", choices=("structure", "graph", "full"), default="graph", help="what the hash covers (default: graph)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per input with per-layer digests")
    p.add_argument("--explain", action="store_true", help="print the digest of every layer below each hash")
    p.add_argument("-r", "--recursive", action="store_true", help="hash every *.pt2 under directories")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="hash in N processes (default: 1)")
    p.add_argument("--include-versions", action="store_true", help="let torch/schema/opset versions change the hash")
    p.add_argument(
        "--include-sample-inputs", action="store_true", help="hash the sample-input bytes too (never unpickled)"
    )
    p.add_argument(
        "--keep-metadata", action="append", default=[], metavar="KEY", help="node metadata key to keep (repeatable)"
    )
    p.add_argument("--no-progress", action="store_true", help="never draw a progress line")
    add_trust_pickle_argument(p)
    return p


def iter_inputs(paths: list[str], recursive: bool) -> Iterator[str]:
    """The files to hash: paths as given, directories expanded with ``recursive``."""
    for path in paths:
        if os.path.isdir(path):
            if not recursive:
                raise UsageError(f"{path} is a directory; use -r to hash the archives in it")
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for f in sorted(files):
                    if f.endswith(".pt2"):
                        yield os.path.join(root, f)
        else:
            yield path


def hash_one(path: str, options: dict[str, Any]) -> tuple[str, dict[str, Any] | None, str | None]:
    """Hash one file; returns ``(path, result json, error line)``. Runs in worker processes."""
    from pt2canon.api import digest

    try:
        r = digest(path, **options)
    except Pt2CanonError as exc:
        return path, None, str(exc)
    except Exception as exc:  # keep one bad file from killing the batch
        return path, None, f"{path}: internal error {type(exc).__name__}: {exc} (rerun with --debug and report it)"
    return path, r.to_json(), None


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise UsageError(f"--jobs={args.jobs}: needs a positive number of processes")
    files = list(iter_inputs(args.paths, args.recursive))
    options = {
        "level": args.level,
        "include_versions": args.include_versions,
        "include_sample_inputs": args.include_sample_inputs,
        "keep_metadata": tuple(args.keep_metadata),
        "trust_pickle": args.trust_pickle,
    }
    if len(files) == 1 and args.debug:
        from pt2canon.api import digest

        results: Iterator[tuple[str, dict[str, Any] | None, str | None]] = iter(
            [(files[0], digest(files[0], **options).to_json(), None)]
        )
    elif args.jobs > 1 and len(files) > 1:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(max_workers=args.jobs)
        results = pool.map(hash_one, files, [options] * len(files), chunksize=1)
    else:
        results = (hash_one(f, options) for f in files)
    progress = not args.no_progress and sys.stderr.isatty() and len(files) > 1
    status = 0
    for done, (path, result, error) in enumerate(results, 1):
        if progress:
            sys.stderr.write(f"\r\x1b[K[{done}/{len(files)}] {path}"[:200])
            sys.stderr.flush()
        if error is not None:
            if progress:
                sys.stderr.write("\r\x1b[K")
            print(f"pt2canon: error: {error}", file=sys.stderr)
            status = 2
            continue
        assert result is not None
        if args.json:
            print(json.dumps({"path": path, **result}, sort_keys=True))
        else:
            print(f"{result['hash']}  {path}")
            if args.explain:
                for name, digest in result["layers"].items():
                    mark = "*" if name in result["included"] else " "
                    print(f"    {mark} {name:<14} {digest}")
        sys.stdout.flush()
    if progress:
        sys.stderr.write("\r\x1b[K")
    return status
