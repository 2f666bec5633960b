"""How to store ``pt2canon index``: JSON lines against an embedded SQLite file, side by side.

Run ``python bench/index_store.py [N ...]`` (default 10,000 and 100,000
records shaped like real index lines). For each size it measures, medians of
five runs in this one process:

``write all``     writing every record (a first run);
``next run``      what an incremental run costs besides hashing: reading every
                  record (each file's size and mtime is compared) and storing
                  the index again with one record changed;
``bytes``         size on disk;
``walk + stat``   for scale: finding N files in a folder tree (``os.walk``) and
                  reading each one's size and mtime, which every run does too.

JSON lines are rewritten whole (atomically, through a temporary file);
SQLite reads every row and updates one in a transaction.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import timeit
from collections.abc import Callable
from typing import Any

from pt2canon.batch import read_index, write_index


def _sha(i: int, salt: str) -> str:
    return "sha256:" + hashlib.sha256(f"{salt}{i}".encode()).hexdigest()


def records(n: int) -> list[dict[str, Any]]:
    layers = ("structure", "signature", "tensors", "constraints")
    return [
        {
            "path": f"registry/team{i % 50}/model{i}/v{i % 7}.pt2",
            "size": 10_000_000 + i,
            "mtime_ns": 1_700_000_000_000_000_000 + i,
            "indexed_ns": 1_700_000_100_000_000_000 + i,
            "hash": _sha(i % (n // 3 + 1), "h"),
            "layers": {k: _sha(i, k) for k in layers},
            "audit": {"clean": True, "counts": {"high": 0, "medium": 0, "low": 0, "info": 0}},
            "error": None,
            "fingerprint": {
                "index": 1,
                "pt2canon": "0.1.0",
                "spec": "pt2canon-hash/2",
                "level": "graph",
                "audit": True,
                "options": {},
            },
        }
        for i in range(n)
    ]


def _median(fn: Callable[[], object], runs: int = 5) -> float:
    return statistics.median(timeit.repeat(fn, number=1, repeat=runs))


_SCHEMA = "CREATE TABLE IF NOT EXISTS archives (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, record TEXT)"


def sqlite_write_all(path: str, recs: list[dict[str, Any]]) -> None:
    if os.path.exists(path):
        os.unlink(path)
    con = sqlite3.connect(path)
    with con:
        con.execute(_SCHEMA)
        con.executemany(
            "INSERT INTO archives VALUES (?, ?, ?, ?)",
            ((r["path"], r["size"], r["mtime_ns"], json.dumps(r, sort_keys=True)) for r in recs),
        )
    con.close()


def sqlite_next_run(path: str, changed: dict[str, Any]) -> None:
    con = sqlite3.connect(path)
    with con:
        rows = {p: (s, m) for p, s, m in con.execute("SELECT path, size, mtime_ns FROM archives")}
        assert changed["path"] in rows
        con.execute(
            "INSERT OR REPLACE INTO archives VALUES (?, ?, ?, ?)",
            (changed["path"], changed["size"], changed["mtime_ns"], json.dumps(changed, sort_keys=True)),
        )
    con.close()


def jsonl_next_run(path: str, changed: dict[str, Any]) -> None:
    index = read_index(path)
    index[changed["path"]] = changed
    write_index(path, index.values())


def measure(tmp: str, n: int) -> None:
    recs = records(n)
    changed = {**recs[n // 2], "size": 1, "hash": _sha(-1, "h")}
    jl, db = os.path.join(tmp, "index.jsonl"), os.path.join(tmp, "index.sqlite")
    w_jl = _median(lambda: write_index(jl, recs))
    n_jl = _median(lambda: jsonl_next_run(jl, changed))
    w_db = _median(lambda: sqlite_write_all(db, recs))
    n_db = _median(lambda: sqlite_next_run(db, changed))
    print(f"| {n:,} | JSON lines | {w_jl:.3f} | {n_jl:.3f} | {os.path.getsize(jl):,} |")
    print(f"| {n:,} | SQLite | {w_db:.3f} | {n_db:.3f} | {os.path.getsize(db):,} |")
    tree = os.path.join(tmp, f"tree{n}")
    for i in range(n):
        folder = os.path.join(tree, f"team{i % 50}", f"model{i // 50}")
        os.makedirs(folder, exist_ok=True)
        open(os.path.join(folder, "v.pt2"), "wb").close()
    walk = _median(lambda: [os.stat(os.path.join(r, f)) for r, _, fs in os.walk(tree) for f in fs], runs=3)
    print(f"| {n:,} | (walk + stat of {n:,} files) | | {walk:.3f} | |")


def main(sizes: list[int]) -> None:
    print("| records | store | write all (s) | next run (s) | bytes |")
    print("|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            measure(tmp, n)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
