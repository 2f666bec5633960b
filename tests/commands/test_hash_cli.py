"""``pt2canon hash``: sha256sum-style lines, JSON, explain, batches, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pt2canon
from pt2canon.cli import main


@pytest.fixture
def archives(corpus: dict, tmp_path: Path) -> list[Path]:
    out = []
    for name in ("mlp", "cond", "dynamic_batch"):
        dst = tmp_path / "models" / f"{name}.pt2"
        dst.parent.mkdir(exist_ok=True)
        shutil.copy(corpus[name].path, dst)
        out.append(dst)
    return out


def test_each_line_is_the_hash_then_two_spaces_then_the_path(
    archives: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hash", *map(str, archives)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{pt2canon.hash(str(p))}  {p}" for p in archives]


def test_json_output_has_path_level_hash_and_every_layer(
    archives: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hash", "--json", "--level", "full", str(archives[0])]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["path"] == str(archives[0]) and obj["level"] == "full" and obj["spec"] == "pt2canon-hash/3"
    assert obj["hash"] == pt2canon.hash(str(archives[0]), level="full")
    assert set(obj["layers"]) >= {
        "structure",
        "signature",
        "tensors",
        "constraints",
        "weights",
        "constants",
        "versions",
    }
    assert obj["included"] == ["structure", "signature", "tensors", "constraints", "weights", "constants"]


def test_explain_marks_the_layers_the_level_includes(archives: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hash", "--explain", "--level", "structure", str(archives[0])]) == 0
    out = capsys.readouterr().out.splitlines()
    marked = {line.split()[1] for line in out[1:] if line.strip().startswith("*")}
    assert marked == {"structure"}


def test_a_directory_is_walked_with_r_and_refused_without(
    archives: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(archives[0].parent)
    assert main(["hash", folder]) == 2
    assert "use -r" in capsys.readouterr().err
    assert main(["hash", "-r", folder]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(archives)


def test_parallel_jobs_give_the_same_lines_in_the_same_order(
    archives: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hash", *map(str, archives)]) == 0
    serial = capsys.readouterr().out
    assert main(["hash", "--jobs", "2", *map(str, archives)]) == 0
    assert capsys.readouterr().out == serial


def test_one_bad_file_is_one_error_line_and_exit_2_while_the_others_are_still_hashed(
    archives: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"PK\x03\x04 truncated")
    assert main(["hash", str(archives[0]), str(bad), str(archives[1])]) == 2
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1 and str(bad) in errors[0] and "Traceback" not in captured.err


def test_the_hash_command_runs_as_a_process_without_importing_torch(archives: list[Path]) -> None:
    code = "import sys; from pt2canon.cli import main; rc = main(['hash', sys.argv[1]]); assert 'torch' not in sys.modules; sys.exit(rc)"
    proc = subprocess.run([sys.executable, "-c", code, str(archives[2])], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("sha256:")


def test_include_versions_makes_the_torch_version_count(corpus: dict, tmp_path: Path) -> None:
    import zipfile

    src = corpus["mlp"].path
    dst = tmp_path / "other_version.pt2"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("models/model.json"):
                doc = json.loads(data)
                doc["torch_version"] = "2.99.0"
                data = json.dumps(doc).encode()
            zout.writestr(info, data)
    assert pt2canon.hash(str(src)) == pt2canon.hash(str(dst))
    assert pt2canon.hash(str(src), include_versions=True) != pt2canon.hash(str(dst), include_versions=True)
