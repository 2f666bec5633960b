"""``pt2canon hash --check SUMS``: verify stored hashes like ``sha256sum -c``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pt2canon
from pt2canon.cli import main
from pt2canon.commands.check import parse_sums


@pytest.fixture
def folder(corpus: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three archives and the SUMS file ``pt2canon hash`` wrote for them, paths relative to the folder."""
    for name in ("mlp", "cond", "dynamic_batch"):
        shutil.copy(corpus[name].path, tmp_path / f"{name}.pt2")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_sums(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["hash", *argv]) == 0
    return capsys.readouterr().out


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["hash", *argv[:-1], "--check", argv[-1]])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_every_entry_of_the_sums_hash_prints_is_ok(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "SUMS").write_text(write_sums(capsys, "mlp.pt2", "cond.pt2", "dynamic_batch.pt2"))
    assert check(capsys, "SUMS") == (0, "mlp.pt2: OK\ncond.pt2: OK\ndynamic_batch.pt2: OK\n", "")


def test_an_archive_changed_after_the_sums_were_made_fails_and_the_exit_status_is_1(
    corpus: dict, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "SUMS").write_text(write_sums(capsys, "mlp.pt2", "cond.pt2", "dynamic_batch.pt2"))
    shutil.copy(corpus["conv_bn_train"].path, folder / "cond.pt2")  # another program under the same name
    status, out, err = check(capsys, "SUMS")
    assert status == 1
    assert out == "mlp.pt2: OK\ncond.pt2: FAILED\ndynamic_batch.pt2: OK\n"
    assert err == (
        "pt2canon: WARNING: 1 computed hash did NOT match at level graph (sums made at another level need --level)\n"
    )
    assert check(capsys, "--quiet", "SUMS") == (1, "cond.pt2: FAILED\n", err)
    assert check(capsys, "--status", "SUMS") == (1, "", "")


def test_a_listed_file_that_cannot_be_read_fails_with_its_error_line(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "SUMS").write_text(write_sums(capsys, "mlp.pt2", "cond.pt2"))
    (folder / "cond.pt2").unlink()
    status, out, err = check(capsys, "SUMS")
    assert status == 1
    assert out == "mlp.pt2: OK\ncond.pt2: FAILED open or read\n"
    first, second = err.splitlines()
    assert first.startswith("pt2canon: error: cond.pt2") and "no such file" in first
    assert second == "pt2canon: WARNING: 1 listed file could not be read"


def test_the_level_of_plain_lines_is_the_commands_and_json_lines_carry_their_own(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "FULL").write_text(write_sums(capsys, "--level", "full", "mlp.pt2"))
    assert check(capsys, "FULL")[0] == 1  # checked at the default level, graph
    assert check(capsys, "--level", "full", "FULL") == (0, "mlp.pt2: OK\n", "")
    (folder / "FULL.jsonl").write_text(write_sums(capsys, "--json", "--level", "full", "mlp.pt2"))
    assert check(capsys, "FULL.jsonl") == (0, "mlp.pt2: OK\n", "")


def test_explain_output_is_a_valid_sums_file_and_bad_lines_are_counted(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sums = write_sums(capsys, "--explain", "mlp.pt2", "cond.pt2")
    (folder / "SUMS").write_text(sums + "a line that is no hash\n")
    status, out, err = check(capsys, "SUMS")
    assert status == 0 and out == "mlp.pt2: OK\ncond.pt2: OK\n"
    n = len(sums.splitlines()) + 1
    assert err == f"pt2canon: WARNING: 1 line is improperly formatted (line {n})\n"


def test_a_sums_file_without_a_hash_line_or_missing_is_an_error(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "EMPTY").write_text("nothing here\n")
    status, out, err = check(capsys, "EMPTY")
    assert status == 2 and out == "" and err.startswith("pt2canon: error: EMPTY: no hash line found")
    status, _, err = check(capsys, "MISSING")
    assert status == 2 and err.startswith("pt2canon: error: MISSING: no such file")
    assert main(["hash", "--check", "SUMS", "mlp.pt2"]) == 2
    assert main(["hash", "--quiet", "mlp.pt2"]) == 2
    assert "go with --check" in capsys.readouterr().err


def test_sums_can_come_from_standard_input(folder: Path) -> None:
    line = f"{pt2canon.hash('mlp.pt2')}  mlp.pt2\n"
    proc = subprocess.run(
        [sys.executable, "-m", "pt2canon", "hash", "--check", "-"], input=line, capture_output=True, text=True
    )
    assert (proc.returncode, proc.stdout) == (0, "mlp.pt2: OK\n"), proc.stderr


def test_parallel_checking_reports_in_the_order_of_the_sums_file(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "SUMS").write_text(write_sums(capsys, "dynamic_batch.pt2", "mlp.pt2", "cond.pt2"))
    assert check(capsys, "--jobs", "2", "SUMS") == (0, "dynamic_batch.pt2: OK\nmlp.pt2: OK\ncond.pt2: OK\n", "")


def test_parse_sums_reads_both_formats_hash_prints() -> None:
    h = "sha256:" + "ab" * 32
    text = f"{h}  dir/a b.pt2\n{json.dumps({'path': 'c.pt2', 'hash': h, 'level': 'full'})}\n{h} *binary.pt2\n"
    entries, bad = parse_sums(text)
    assert [(e.path, e.level) for e in entries] == [("dir/a b.pt2", None), ("c.pt2", "full"), ("binary.pt2", None)]
    assert bad == []
    assert parse_sums(f"{h} one-space.pt2\nsha256:abc  short.pt2\n")[1] == [1, 2]
