"""Worker processes for ``--jobs N`` / ``workers=N``: batched hand-offs, results in order."""

from __future__ import annotations

import shutil
from pathlib import Path

from corpus import Corpus

from pt2canon import batch
from pt2canon._pool import PRELOAD, chunk_size, imap_processes


def test_batched_hand_offs_give_every_result_in_the_order_of_the_items(corpus: Corpus, tmp_path: Path) -> None:
    names = [n for n in ("mlp", "cond", "effects", "dynamic_batch") if n in corpus]
    files = []
    for i in range(41):  # 41 items, 2 workers: hand-offs of 3, the last one short
        f = tmp_path / f"a{i:02d}.pt2"
        shutil.copyfile(corpus[names[i % len(names)]].path, f)
        files.append(str(f))
    assert chunk_size(len(files), 2) == 3
    serial = [batch.hash_record(f, level="graph") for f in files]
    assert list(imap_processes(batch.hash_record, files, workers=2)) == serial
    assert len({r["hash"] for r in serial}) == len(names)  # the programs differ, so order is visible


def test_every_preloaded_module_exists_so_the_fork_server_can_import_it() -> None:
    import importlib.util

    assert all(importlib.util.find_spec(m) is not None for m in PRELOAD)
