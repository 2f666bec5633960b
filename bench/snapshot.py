"""Before/after snapshot of everything pt2canon outputs for the test corpus.

A behaviour-preserving change (a refactor) must leave every hash, every
canonical document, every listing and every rendered diff of the test
corpus byte-identical. This script proves it::

    python bench/snapshot.py build /tmp/snap/corpus        # export the corpus once (needs torch)
    python bench/snapshot.py record /tmp/snap/corpus -o before.json
    ... change the code ...
    python bench/snapshot.py record /tmp/snap/corpus -o after.json
    python bench/snapshot.py compare before.json after.json  # exit 1 and a list if anything moved

``build`` exports every entry of ``tests/corpus.py`` (the fixture corpus
of the test suite) into a folder, so the before and after runs read the
very same archive bytes. ``record`` needs no torch: for every archive it
records the hash at each level with every layer digest, the sha256 of the
canonical document, the ``show`` listing, the ``audit --json`` report,
and for pairs of archives (each with the next one in name order, and each
with itself) the diff rendered in every format, and at ``--level full``
in JSON (the weights' figures). Records are sha256 digests of the outputs
(the listing and the diffs are kept in full for a readable ``compare``)
or the error line when a command refuses the input.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ("text", "json", "markdown", "html")


def _build(folder: Path) -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    from corpus import build_corpus

    corpus = build_corpus(folder)
    print(f"{len(corpus)} archives in {folder} ({len(corpus.failures)} exportdb examples did not export)")
    return 0


def _sha(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _cli(*argv: str) -> dict[str, Any]:
    """Run the command line in this process; its exit status, stdout and stderr."""
    import contextlib
    import io

    from pt2canon.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return {"status": status, "stdout": out.getvalue(), "stderr": err.getvalue()}


def _record_archive(path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for level in ("structure", "graph", "full"):
        out[f"hash/{level}"] = _cli("hash", "--no-progress", "--json", "--explain", "--level", level, path)
    with tempfile.TemporaryDirectory() as tmp:  # this run's own: two runs at once do not share it
        written = Path(tmp) / "canonical.json"
        canonical = _cli("canon", path, "-o", str(written))
        if canonical["status"] == 0:  # its standard output names the file: the file's digest instead
            canonical["stdout"] = _sha(written.read_bytes())
    out["canonical"] = canonical
    out["listing"] = _cli("show", path)
    out["audit"] = _cli("audit", "--json", path)
    return out


def _record_pair(a: str, b: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fmt in FORMATS:
        r = _cli("diff", "--format", fmt, a, b)
        if fmt != "text":
            r["stdout"] = _sha(r["stdout"])
        out[fmt] = r
    full = _cli("diff", "--format", "json", "--level", "full", a, b)  # weights compared in numbers
    full["stdout"] = _sha(full["stdout"])
    out["json/full"] = full
    return out


def _record(folder: Path, output: Path) -> int:
    os.chdir(folder)  # paths in rendered output are relative and equal in both runs
    names = sorted(p.name for p in Path(".").glob("*.pt2"))
    if not names:
        print(f"snapshot: no .pt2 archives in {folder}; run 'build' first", file=sys.stderr)
        return 2
    snap: dict[str, Any] = {"archives": {}, "pairs": {}}
    for name in names:
        snap["archives"][name] = _record_archive(name)
    for a, b in [*itertools.pairwise(names), *((n, n) for n in names)]:
        snap["pairs"][f"{a} -> {b}"] = _record_pair(a, b)
    output.write_text(json.dumps(snap, indent=1, sort_keys=True, default=str))
    print(f"recorded {len(names)} archives and {len(snap['pairs'])} pairs into {output}")
    return 0


def _compare(before: Path, after: Path) -> int:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    moved = []
    for section in ("archives", "pairs"):
        for key in sorted(set(a[section]) | set(b[section])):
            x, y = a[section].get(key), b[section].get(key)
            if x == y:
                continue
            if x is None or y is None:
                moved.append(f"{section}: {key}: only in {'after' if x is None else 'before'}")
                continue
            for field in sorted(set(x) | set(y)):
                if x.get(field) != y.get(field):
                    moved.append(f"{section}: {key}: {field} differs")
    total = sum(len(a[s]) for s in ("archives", "pairs"))
    if moved:
        print("\n".join(moved))
        print(f"{len(moved)} outputs differ ({total} entries compared)")
        return 1
    print(f"identical: {len(a['archives'])} archives, {len(a['pairs'])} pairs, every hash, document, listing and diff")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("build", help="export the test corpus into FOLDER (needs torch)")
    p.add_argument("folder", type=Path)
    p = sub.add_parser("record", help="record every output for the archives in FOLDER")
    p.add_argument("folder", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p = sub.add_parser("compare", help="exit 1 if two records differ")
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "build":
        return _build(args.folder)
    if args.cmd == "record":
        return _record(args.folder.resolve(), args.output.resolve())
    return _compare(args.before, args.after)


if __name__ == "__main__":
    raise SystemExit(main())
