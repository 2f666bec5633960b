"""Before/after record of the drawings and summaries the notebooks show.

``bench/snapshot.py`` covers hashes, documents, listings and diffs; the
drawings are not in it. This script runs every code cell of every notebook
in ``notebooks/`` in one process (the notebooks' own code, on this checkout)
and records, for every object a cell shows or binds that draws
(``GraphView``, ``Summary``, ``DiffResult``), the sha256 of its SVG or HTML
and of the DOT program of its drawing::

    python bench/draw_snapshot.py record -o before.json
    ... change the code ...
    python bench/draw_snapshot.py record -o after.json
    python bench/draw_snapshot.py compare before.json after.json   # exit 1 and a list if anything moved

Paths that change from run to run (the diff notebook's temporary folder)
are replaced by ``<tmp>`` before hashing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _sha(text: str) -> str:
    text = re.sub(re.escape(tempfile.gettempdir()) + r"/pt2canon-diff-[A-Za-z0-9_]+", "<tmp>", text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _record_object(value: Any) -> dict[str, str] | None:
    from pt2canon.diff.result import DiffResult
    from pt2canon.draw import GraphView, Summary, to_dot

    if isinstance(value, GraphView):
        return {"engine": value.engine, "svg": _sha(value.svg), "dot": _sha(to_dot(value.drawing))}
    if isinstance(value, (Summary, DiffResult)):
        return {"html": _sha(value._repr_html_())}
    return None


def _record(output: Path) -> int:
    import nbformat

    os.environ.setdefault("MPLBACKEND", "agg")
    sys.path.insert(0, str(ROOT))
    snap: dict[str, Any] = {}
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        env: dict[str, Any] = {"display": lambda *a, **k: None, "__name__": "__main__"}
        cwd = os.getcwd()
        os.chdir(nb_path.parent)
        try:
            for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
                before = dict(env)
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(cell.source, f"{nb_path.name}[{i}]", "exec"), env)
                for name, value in env.items():
                    if before.get(name) is value:
                        continue
                    rec = _record_object(value)
                    if rec is not None:
                        snap[f"{nb_path.name}[{i}] {name}"] = rec
        finally:
            os.chdir(cwd)
    output.write_text(json.dumps(snap, indent=1, sort_keys=True))
    print(f"recorded {len(snap)} drawings and summaries into {output}")
    return 0


def _compare(before: Path, after: Path) -> int:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    moved = [
        f"{k}: {'missing' if k not in a or k not in b else 'differs'}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]
    if moved:
        print("\n".join(moved))
        print(f"{len(moved)} of {len(set(a) | set(b))} entries differ")
        return 1
    print(f"identical: {len(a)} drawings and summaries (SVG, DOT, HTML)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("record", help="run the notebooks' cells and record their drawings")
    p.add_argument("-o", "--output", type=Path, required=True)
    p = sub.add_parser("compare", help="exit 1 if two records differ")
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "record":
        return _record(args.output.resolve())
    return _compare(args.before, args.after)


if __name__ == "__main__":
    raise SystemExit(main())
