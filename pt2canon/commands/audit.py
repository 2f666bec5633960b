"""``pt2canon audit PATH... [--json]``: a static safety scan for CI gates.

Nothing is unpickled. One line per finding::

    model.pt2:m/data/sample_inputs/model.pt!archive/data.pkl: high unsafe-global: pickle imports and calls posix.system ...

then one summary line per file. Exit status: 0 every file is clean (no
finding above ``info``), 1 some file has findings, 2 a file cannot be read
(missing, not a zip, a zip holding no program): that error is printed as one
line after the other files' results.
"""

from __future__ import annotations

import argparse
import json
import sys

from pt2canon.commands._limits import add_limit_argument, parse_limits
from pt2canon.errors import Pt2CanonError, printable

#: Version of the ``--json`` document's shape.
JSON_VERSION = 1


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser(
        "audit",
        help="scan archives for pickled code, path traversal and zip bombs, without unpickling",
        description=(
            "Statically scan .pt2 archives (also older-format zips, torch.save files and bare pickles) for "
            "globals outside what torch needs to rebuild tensors, member names that escape a folder, "
            "symlinks, zip bombs, compressed or unknown members. Nothing is unpickled. "
            "Exit 0: clean; 1: findings; 2: a file cannot be read."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="archives to scan")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    add_limit_argument(p)
    return p


def _summary(report: object) -> str:
    from pt2canon.audit import SEVERITIES, AuditReport

    assert isinstance(report, AuditReport)
    n = len(report.pickles)
    scanned = f"{n} pickle{'s' if n != 1 else ''} scanned"
    counts = report.counts()
    if report.clean:
        extra = f", {counts['info']} info" if counts["info"] else ""
        return f"{report.path}: clean ({scanned}{extra})"
    total = sum(counts.values())
    parts = ", ".join(f"{counts[s]} {s}" for s in SEVERITIES if counts[s])
    return f"{report.path}: {total} finding{'s' if total != 1 else ''} ({parts}); {scanned}"


def run(args: argparse.Namespace) -> int:
    from pt2canon.audit import audit_path

    limits = parse_limits(args.limit)
    reports = []
    errors: list[Pt2CanonError] = []
    for path in args.paths:
        try:
            reports.append(audit_path(path, limits=limits))
        except Pt2CanonError as exc:
            errors.append(exc)
    out = sys.stdout
    if args.json:
        doc = {
            "version": JSON_VERSION,
            "clean": not errors and all(r.clean for r in reports),
            "reports": [r.to_dict() for r in reports],
            "errors": [{"path": e.file, "message": str(e)} for e in errors],
        }
        out.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    else:
        for report in reports:
            for f in report.findings:
                where = f"{report.path}:{f.member}" if f.member else report.path
                out.write(printable(f"{where}: {f.severity} {f.code}: {f.message}") + "\n")
            out.write(printable(_summary(report)) + "\n")
    out.flush()
    if errors:
        # Every error but the last as one line here; the last goes to the dispatcher (one line, exit 2).
        for err in errors[:-1]:
            print(f"pt2canon: error: {err}", file=sys.stderr)
        raise errors[-1]
    return 0 if all(r.clean for r in reports) else 1
