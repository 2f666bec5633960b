"""``pt2canon index PATH... -o INDEX.jsonl``: an incremental index of a model registry.

Every ``*.pt2`` under the given folders (the files ``hash -r`` hashes) gets
one JSON line in the index: path, size, mtime, hash, layers and audit
verdict. On the next run, files whose size and mtime did not change keep
their line and are not read again. The report groups archives that hold
the same program. ``--scheduler`` runs the hashing on a Dask cluster
(``docs/batch.md``). Exit status 0, or 2 when some file could not be
hashed (each such file is one ``pt2canon: error:`` line; its line in the
index records the error, and it is tried again on the next run).
"""

from __future__ import annotations

import argparse
import json
import sys

from pt2canon.errors import UsageError

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser(
        "index",
        help="index a folder of archives: hash, audit and group equal programs, skipping unchanged files",
        description=(
            "Hash and audit every *.pt2 under the given folders into a JSON-lines index (path, size, mtime, hash, "
            "layers, audit verdict), reusing the lines of files that did not change since the last run, and "
            "report the groups of archives that hold the same program."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="folders (searched for *.pt2) or archives")
    p.add_argument(
        "-o", "--output", required=True, metavar="INDEX", help="the index file (JSON lines), read and rewritten"
    )
    p.add_argument(
        "--level", choices=("structure", "graph", "full"), default="graph", help="what the hash covers (default: graph)"
    )
    p.add_argument("--no-audit", action="store_true", help="skip the safety scan of each archive")
    p.add_argument("--rehash", action="store_true", help="hash every file again, even unchanged ones")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N", help="hash in N processes (default: 1)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask cluster: a scheduler address (tcp://host:8786), or threads/processes/sync",
    )
    p.add_argument("--json", action="store_true", help="print the groups and counts as one JSON document")
    return p


def run(args: argparse.Namespace) -> int:
    from pt2canon import batch
    from pt2canon.commands.hash import iter_inputs

    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs={args.jobs}: needs a positive number of processes")
    files = list(dict.fromkeys(iter_inputs(args.paths, True)))
    previous = {} if args.rehash else batch.read_index(args.output)
    update = batch.update_index(
        files, previous, level=args.level, audit=not args.no_audit, scheduler=args.scheduler, workers=args.jobs
    )
    batch.write_index(args.output, update.records)
    groups = batch.group_records(update.records)
    errors = update.errors
    counts = {
        "archives": len(update.records),
        "hashed": len(update.hashed),
        "unchanged": len(update.reused),
        "removed": len(update.removed),
        "errors": len(errors),
        "programs": len(groups),
        "duplicate_groups": sum(1 for g in groups if len(g.paths) > 1),
        "unsafe": sum(1 for r in update.records if r.get("audit") and not r["audit"]["clean"]),
    }
    if args.json:
        doc = {
            "index": args.output,
            "counts": counts,
            "groups": [{"hash": g.hash, "paths": list(g.paths)} for g in groups],
        }
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        for g in groups:
            if len(g.paths) > 1:
                print(f"{g.hash}  {len(g.paths)} archives")
                for path in g.paths:
                    print(f"    {path}")
        print(
            f"{args.output}: {counts['archives']} archives ({counts['hashed']} hashed, {counts['unchanged']} unchanged, "
            f"{counts['removed']} removed, {counts['errors']} errors); {counts['programs']} distinct programs, "
            f"{counts['duplicate_groups']} held by more than one archive; {counts['unsafe']} with audit findings"
        )
    sys.stdout.flush()
    for r in errors:
        print(f"pt2canon: error: {r['error']}", file=sys.stderr)
    return 2 if errors else 0
