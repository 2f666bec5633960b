"""``pt2canon hash``: sha256sum-style lines, JSON, explain, batches, errors."""

from __future__ import annotations

import json
import re
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
    full = ["structure", "signature", "tensors", "constraints", "weights", "constants", "extra_files"]
    assert set(obj["layers"]) >= {*full, "versions"}
    assert obj["included"] == full


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


def test_dash_reads_the_archive_from_standard_input(archives: list[Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pt2canon", "hash", "-"], input=archives[0].read_bytes(), capture_output=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == f"{pt2canon.hash(str(archives[0]))}  -\n"
    bad = subprocess.run([sys.executable, "-m", "pt2canon", "hash", "-"], input=b"not an archive", capture_output=True)
    assert bad.returncode == 2 and bad.stderr.decode().startswith("pt2canon: error: <stdin>")


def test_recursive_hashing_finds_archives_whatever_the_case_of_their_suffix(
    archives: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = archives[0].parent
    upper = folder / "sub" / "UPPER.PT2"
    upper.parent.mkdir()
    shutil.copy(archives[0], upper)
    (folder / "notes.txt").write_text("not an archive")
    assert main(["hash", "-r", str(folder)]) == 0
    paths = [line.split("  ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    assert paths == [*sorted(map(str, archives)), str(upper)]  # sorted names, then subfolders


def test_explain_with_two_inputs_names_the_layers_that_differ(
    corpus: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only one tensor's dtype changes: by the spec (docs/hashing.md) that is the tensors layer alone.
    from corpus import member_bytes, rewrite_zip

    src = corpus["mlp"].path
    doc = json.loads(member_bytes(src, "models/model.json"))
    g = doc["graph_module"]["graph"]
    relu = next(n for n in g["nodes"] if n["target"] == "torch.ops.aten.relu.default")
    g["tensor_values"][relu["outputs"][0]["as_tensor"]["name"]]["dtype"] = 6
    changed = tmp_path / "dtype.pt2"
    changed.write_bytes(rewrite_zip(src, replace={"models/model.json": json.dumps(doc).encode()}))
    assert main(["hash", "--explain", str(src), str(changed)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == f"# {src} and {changed} differ in 1 layer: tensors"
    assert main(["hash", "--explain", str(src), str(src)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"# {src} and {src}: every layer is the same"


def test_without_a_terminal_nothing_but_hash_lines_is_written(
    archives: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hash", *map(str, archives)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert all(line.startswith("sha256:") for line in captured.out.splitlines())


# --------------------------------------------------------------------------- progress on a terminal


def _screen_lines(raw: bytes) -> tuple[list[str], str]:
    """What a terminal shows for ``raw``: finished lines, and the line the cursor is on.

    Understands what tqdm writes on one line: ``\\r``, erase-to-end ``ESC[K``, text.
    """
    lines: list[str] = []
    row: list[str] = []
    col = 0
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith("\x1b[K", i) or text.startswith("\x1b[0K", i):
            del row[col:]
            i += 3 if text[i + 2] == "K" else 4
            continue
        if ch == "\x1b":
            raise AssertionError(f"an escape sequence this check does not know: {text[i : i + 6]!r}")
        if ch == "\n":
            lines.append("".join(row).rstrip())
            row, col = [], 0
        elif ch == "\r":
            col = 0
        else:
            if col < len(row):
                row[col] = ch
            else:
                row.append(ch)
            col += 1
        i += 1
    return lines, "".join(row).rstrip()


def _run_on_a_pty(argv: list[str], *, stdout_too: bool) -> tuple[int, bytes, bytes]:
    """Run ``python -m pt2canon ARGV`` with stderr (and stdout if asked) on a pseudo-terminal of 100 columns."""
    import fcntl
    import os
    import select
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {**os.environ, "TQDM_MININTERVAL": "0"}  # redraw on every update, whatever the machine's speed
    proc = subprocess.Popen(
        [sys.executable, "-m", "pt2canon", *argv],
        stdout=slave if stdout_too else subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(slave)
    screen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            raise AssertionError("no output for 120 s")
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    out = proc.stdout.read() if proc.stdout is not None else b""
    os.close(master)
    return proc.wait(), out, screen


@pytest.fixture
def batch(archives: list[Path]) -> list[str]:
    return [str(p) for p in archives * 2]


def test_on_a_terminal_the_progress_bar_shows_count_rate_and_eta_and_stays_off_stdout(batch: list[str]) -> None:
    status, out, screen = _run_on_a_pty(["hash", *batch], stdout_too=False)
    assert status == 0
    assert out.decode().splitlines() == [f"{pt2canon.hash(p)}  {p}" for p in batch]
    text = screen.decode()
    assert re.search(rf"\b{len(batch)}/{len(batch)} \[\d\d:\d\d<\d\d:\d\d, +[\d.]+file/s", text), text[-400:]
    lines, current = _screen_lines(screen)
    assert lines == [] and current == "", "the bar is erased when the batch is done"


def test_on_a_terminal_hash_lines_are_never_mixed_with_progress_text(batch: list[str]) -> None:
    status, _, screen = _run_on_a_pty(["hash", *batch], stdout_too=True)
    assert status == 0
    assert "file/s" in screen.decode()  # the bar was drawn on the same terminal
    lines, current = _screen_lines(screen)
    assert lines == [f"{pt2canon.hash(p)}  {p}" for p in batch]
    assert current == ""


def test_no_progress_draws_nothing_even_on_a_terminal(batch: list[str]) -> None:
    status, out, screen = _run_on_a_pty(["hash", "--no-progress", *batch], stdout_too=False)
    assert status == 0 and screen == b""
    assert len(out.decode().splitlines()) == len(batch)


def test_the_hash_command_sets_up_no_other_subcommand(archives: list[Path]) -> None:
    code = (
        "import sys; from pt2canon.cli import COMMANDS, main; rc = main(['hash', sys.argv[1]]); "
        "print(sorted(c for c in COMMANDS if f'pt2canon.commands.{c}' in sys.modules)); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(archives[0])], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "['hash']"


def test_the_top_level_help_still_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    from pt2canon.cli import COMMANDS

    with pytest.raises(SystemExit):
        main(["--debug", "--help", "hash"])
    out = capsys.readouterr().out
    assert all(f"    {c} " in out for c in COMMANDS), out


def test_limit_bounds_what_hash_reads_in_files_on_standard_input_and_in_parallel_jobs(
    archives: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    mlp = str(archives[0])
    assert main(["hash", "--limit", "max_json_bytes=100", mlp]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and err[0].startswith(f"pt2canon: error: {mlp}:")
        and "over the limit max_json_bytes=100 " in err[0]
    )
    assert main(["hash", "--limit", "max_json_bytes=1G", mlp]) == 0  # raised: the same hash as the defaults
    assert capsys.readouterr().out == f"{pt2canon.hash(mlp)}  {mlp}\n"
    assert main(["hash", "--jobs", "2", "--limit", "max_json_bytes=100", *map(str, archives)]) == 2
    assert capsys.readouterr().err.count("over the limit max_json_bytes=100 ") == len(archives)
    proc = subprocess.run(
        [sys.executable, "-m", "pt2canon", "hash", "--limit", "max_json_bytes=100", "-"],
        input=archives[0].read_bytes(),
        capture_output=True,
    )
    assert proc.returncode == 2 and "over the limit max_json_bytes=100 " in proc.stderr.decode()
    assert main(["hash", "--limit", "max_bytes=1", mlp]) == 2
    assert capsys.readouterr().err.startswith("pt2canon: error: --limit 'max_bytes=1': expected NAME=VALUE")
