"""``pt2canon index``: an incremental JSON-lines index of a folder of archives, and its report of equal programs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from corpus import Corpus, legacy_zip_bytes

from pt2canon.cli import main

PAST = 1_600_000_000


@pytest.fixture
def registry(corpus: Corpus, tmp_path: Path) -> Path:
    root = tmp_path / "models"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    shutil.copyfile(corpus["mlp"].path, root / "a/mlp.pt2")
    shutil.copyfile(corpus["mlp"].path, root / "b/mlp_again.pt2")
    (root / "b/mlp_old_format.pt2").write_bytes(legacy_zip_bytes(corpus["mlp"].ep))
    shutil.copyfile(corpus["cond"].path, root / "b/cond.pt2")
    for p in root.rglob("*.pt2"):
        os.utime(p, (PAST, PAST))
    return root


def _index(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_index_writes_one_line_per_archive_and_reports_the_groups(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hashes.jsonl"
    assert main(["index", str(registry), "-o", str(out)]) == 0
    stdout = capsys.readouterr().out.splitlines()
    records = _index(out)
    assert [r["path"] for r in records] == [
        str(registry / p) for p in ("a/mlp.pt2", "b/cond.pt2", "b/mlp_again.pt2", "b/mlp_old_format.pt2")
    ]  # the files `hash -r` hashes, in its order
    mlp = records[0]
    assert stdout[0] == f"{mlp['hash']}  3 archives"
    assert stdout[1:4] == [f"    {registry / p}" for p in ("a/mlp.pt2", "b/mlp_again.pt2", "b/mlp_old_format.pt2")]
    assert stdout[4] == (
        f"{out}: 4 archives (4 hashed, 0 unchanged, 0 removed, 0 errors); 2 distinct programs, "
        "1 held by more than one archive; 0 with audit findings"
    )
    assert all(r["audit"]["clean"] and r["error"] is None for r in records)


def test_a_second_run_reads_only_what_changed(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hashes.jsonl"
    main(["index", str(registry), "-o", str(out), "--json", "--scheduler", "threads"])  # dask's local threads
    first = json.loads(capsys.readouterr().out)
    assert first["counts"]["hashed"] == 4
    main(["index", str(registry), "-o", str(out), "--json"])
    second = json.loads(capsys.readouterr().out)
    assert (second["counts"]["hashed"], second["counts"]["unchanged"]) == (0, 4)
    assert second["groups"] == first["groups"]

    # The copy becomes another program: it leaves the group and forms its own.
    (registry / "b/mlp_again.pt2").write_bytes((registry / "b/cond.pt2").read_bytes())
    os.utime(registry / "b/mlp_again.pt2", (PAST + 5, PAST + 5))
    main(["index", str(registry), "-o", str(out), "--json"])
    third = json.loads(capsys.readouterr().out)
    assert (third["counts"]["hashed"], third["counts"]["unchanged"]) == (1, 3)
    paths = sorted(tuple(g["paths"]) for g in third["groups"])
    assert paths == [
        (str(registry / "a/mlp.pt2"), str(registry / "b/mlp_old_format.pt2")),
        (str(registry / "b/cond.pt2"), str(registry / "b/mlp_again.pt2")),
    ]


def test_a_broken_archive_is_recorded_reported_and_exits_2(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (registry / "b/broken.pt2").write_bytes(b"not a zip")
    out = tmp_path / "hashes.jsonl"
    assert main(["index", str(registry), "-o", str(out), "--no-audit"]) == 2
    captured = capsys.readouterr()
    line = f"{registry / 'b/broken.pt2'}: not a .pt2 archive (zip) nor a model JSON document"
    assert captured.err.splitlines() == [f"pt2canon: error: {line}"]
    assert "1 errors" in captured.out.splitlines()[-1]
    (broken,) = [r for r in _index(out) if r["error"]]
    assert broken["error"] == line and broken["hash"] is None
    assert all(r["audit"] is None for r in _index(out))


def test_index_options_are_checked(registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "hashes.jsonl"
    assert main(["index", str(registry), "-o", str(out), "--jobs", "0"]) == 2
    assert capsys.readouterr().err.strip() == "pt2canon: error: --jobs=0: needs a positive number of processes"
    assert main(["index", str(registry), "-o", str(out), "--scheduler", "elsewhere"]) == 2
    assert "scheduler='elsewhere' is not a Dask scheduler" in capsys.readouterr().err
    assert not out.exists()
