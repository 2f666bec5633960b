"""``pt2canon canon``: byte-identical canonical archives of re-exports, sample inputs, ``-o -``."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import pt2canon
from pt2canon.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
V1, V1_AGAIN = EXAMPLES / "mlp_v1.pt2", EXAMPLES / "mlp_v1_again.pt2"
SAMPLE = "archive/data/sample_inputs/model.pt"


def canon(tmp_path: Path, src: Path, name: str, *extra: str) -> Path:
    out = tmp_path / name
    assert main(["canon", str(src), "-o", str(out), *extra]) == 0
    return out


def test_two_exports_of_the_same_program_give_byte_identical_canonical_archives(tmp_path: Path) -> None:
    # The README's pair: one model exported twice, with example batches of other sizes.
    a, b = canon(tmp_path, V1, "a.pt2"), canon(tmp_path, V1_AGAIN, "b.pt2")
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as zf:
        assert zf.read(SAMPLE) == b""  # left out: the member torch.export.load reads as "no sample inputs"


def test_keep_sample_inputs_copies_them_and_then_only_they_differ(tmp_path: Path) -> None:
    a = canon(tmp_path, V1, "a.pt2", "--keep-sample-inputs")
    b = canon(tmp_path, V1_AGAIN, "b.pt2", "--keep-sample-inputs")
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb, zipfile.ZipFile(V1) as zsrc:
        assert za.namelist() == zb.namelist()
        differ = [n for n in za.namelist() if za.read(n) != zb.read(n)]
        assert differ == [SAMPLE]
        original = next(n for n in zsrc.namelist() if n.endswith("data/sample_inputs/model.pt"))
        assert za.read(SAMPLE) == zsrc.read(original)  # copied as bytes


def test_the_canonical_archive_without_sample_inputs_loads_in_torch_and_computes_the_same(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    out = canon(tmp_path, V1, "c.pt2")
    original, canonical = torch.export.load(str(V1)), torch.export.load(str(out))
    assert canonical.example_inputs is None and original.example_inputs is not None
    x = torch.randn(5, 16)
    torch.testing.assert_close(canonical.module()(x), original.module()(x))


@pytest.mark.parametrize("fmt", ["pt2", "json"])
def test_dash_writes_to_standard_output_and_the_hash_line_to_standard_error(tmp_path: Path, fmt: str) -> None:
    expected = canon(tmp_path, V1, f"file.{fmt}")
    proc = subprocess.run(
        [sys.executable, "-m", "pt2canon", "canon", str(V1), "-o", "-", "--format", fmt],
        capture_output=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected.read_bytes()
    assert proc.stderr.decode() == f"{pt2canon.hash(str(V1))}  -\n"
    assert not (tmp_path / "-").exists()


def test_an_archive_is_not_written_to_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    assert main(["canon", str(V1), "-o", "-"]) == 2
    assert "refusing to write a binary archive to a terminal" in capsys.readouterr().err
