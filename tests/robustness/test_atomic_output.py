"""``pt2canon canon`` writes its output atomically and nowhere else.

The output is built in a temporary file beside the target and moved over it
with ``os.replace``: while writing, the previous file is still whole; after
an error (bad input, a failure injected in the middle of the write, an
interrupt) the previous file is byte-identical and no temporary file is
left. The input is never overwritten unless ``--force`` is given, however
its path is spelled. Nothing is written to the working directory, the
temporary folder or the input's folder.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bad_inputs import KINDS, Sandbox
from corpus import Corpus

import pt2canon
import pt2canon.serde.writer as writer
from pt2canon.cli import main
from pt2canon.errors import UsageError

OLD = b"the previous output, which must survive any failure\n"


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _listing(*folders: Path) -> dict[str, list[str]]:
    return {str(f): sorted(os.listdir(f)) for f in folders}


@pytest.fixture
def layout(tmp_path: Path, corpus: Corpus, sandbox: Sandbox) -> dict[str, Path]:
    """An input folder holding a copy of ``effects`` and an output folder holding an old output."""
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    dst.mkdir()
    inp = src / "model.pt2"
    inp.write_bytes(corpus["effects"].path.read_bytes())
    for name in ("canonical.pt2", "canonical.json"):
        (dst / name).write_bytes(OLD)
    return {"in": inp, "src": src, "dst": dst}


@pytest.mark.parametrize("name", ["canonical.pt2", "canonical.json"])
def test_canon_replaces_the_output_with_a_new_file_in_one_rename_while_the_old_one_stays_whole(
    layout: dict[str, Path],
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    out = layout["dst"] / name
    os.chmod(out, 0o600)
    old_inode = os.stat(out).st_ino
    renames: list[tuple[str, str]] = []
    seen_while_writing: list[bytes] = []
    real_replace, real_fsync = os.replace, os.fsync

    def replace(a: Any, b: Any) -> None:
        renames.append((os.fspath(a), os.fspath(b)))
        real_replace(a, b)

    def fsync(fd: int) -> None:  # called once the temporary file is complete, before the rename
        seen_while_writing.append(out.read_bytes())
        real_fsync(fd)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", fsync)
    status, stdout, err = _run(capsys, ["canon", str(layout["in"]), "-o", str(out)])
    assert (status, err) == (0, "")

    # One rename, from a hidden temporary file in the same folder, over the target.
    ((tmp, target),) = renames
    assert target == str(out)
    assert os.path.dirname(tmp) == str(layout["dst"])
    assert re.fullmatch(rf"\.{re.escape(name)}\..*\.tmp", os.path.basename(tmp)), tmp
    assert seen_while_writing[0] == OLD  # the temporary file is complete and the old file still whole
    assert os.stat(out).st_ino != old_inode  # a new file, not the old one rewritten in place
    assert os.stat(out).st_mode & 0o777 == 0o600  # the old file's permissions carry over
    assert _listing(layout["src"], layout["dst"]) == {
        str(layout["src"]): ["model.pt2"],
        str(layout["dst"]): ["canonical.json", "canonical.pt2"],
    }
    sandbox.assert_untouched()

    # The new file is what canon promised: the hash it printed, the program of the input.
    printed = stdout.split()[0]
    assert stdout == f"{printed}  {out}\n"
    assert pt2canon.hash(out) == printed == pt2canon.hash(layout["in"])
    if name.endswith(".pt2"):
        assert pt2canon.hash(out, level="full") == pt2canon.hash(layout["in"], level="full")


@pytest.mark.parametrize("name", ["canonical.pt2", "canonical.json"])
@pytest.mark.parametrize("kind", sorted(k for k in KINDS if k != "missing_file"))
def test_a_bad_input_leaves_the_previous_output_byte_identical_and_no_temporary_file(
    layout: dict[str, Path],
    bad_files: dict[str, Path],
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    name: str,
) -> None:
    out = layout["dst"] / name
    inode = os.stat(out).st_ino
    before = _listing(layout["src"], layout["dst"])
    status, _stdout, err = _run(capsys, ["canon", str(bad_files[kind]), "-o", str(out)])
    assert status == 2
    assert err.startswith(f"pt2canon: error: {bad_files[kind]}") and len(err.splitlines()) == 1
    assert out.read_bytes() == OLD
    assert os.stat(out).st_ino == inode
    assert _listing(layout["src"], layout["dst"]) == before
    sandbox.assert_untouched()


class Boom(Exception):
    pass


def _fail_at_member(n: int, exc: BaseException) -> Callable[..., None]:
    real = writer._write_member
    calls = [0]

    def write_member(*args: Any, **kwargs: Any) -> None:
        calls[0] += 1
        if calls[0] == n:
            raise exc
        real(*args, **kwargs)

    return write_member


FAILURES: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], int, str]] = {
    "disk_full_mid_archive": (
        lambda mp: mp.setattr(writer, "_write_member", _fail_at_member(4, OSError(errno.ENOSPC, "No space left on device"))),
        2,
        "cannot write file (No space left on device)",
    ),
    "bug_mid_archive": (
        lambda mp: mp.setattr(writer, "_write_member", _fail_at_member(3, Boom("injected"))),
        2,
        "internal error Boom: injected",
    ),
    "interrupt_mid_archive": (
        lambda mp: mp.setattr(writer, "_write_member", _fail_at_member(2, KeyboardInterrupt())),
        130,
        "pt2canon: interrupted",
    ),
    "fsync_fails": (
        lambda mp: mp.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "Input/output error"))),
        2,
        "cannot write file (Input/output error)",
    ),
    "rename_fails": (
        lambda mp: mp.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(OSError(errno.EXDEV, "Invalid cross-device link"))),
        2,
        "cannot write file (Invalid cross-device link)",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", ["canonical.pt2", "canonical.json"])
@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_failure_in_the_middle_of_the_write_leaves_the_previous_output_and_no_temporary_file(
    layout: dict[str, Path],
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    failure: str,
    name: str,
) -> None:
    inject, expected_status, message = FAILURES[failure]
    if name.endswith(".json") and "archive" in failure:
        pytest.skip("a JSON output has no archive members")
    out = layout["dst"] / name
    before = _listing(layout["src"], layout["dst"])
    inject(monkeypatch)
    status, _stdout, err = _run(capsys, ["canon", str(layout["in"]), "-o", str(out)])
    assert status == expected_status
    assert len(err.splitlines()) == 1 and message in err, err
    assert "Traceback" not in err
    assert out.read_bytes() == OLD
    assert _listing(layout["src"], layout["dst"]) == before  # the temporary file is gone
    sandbox.assert_untouched()


def test_the_writer_api_leaves_the_previous_file_on_data_it_cannot_write(tmp_path: Path) -> None:
    out = tmp_path / "doc.json"
    out.write_bytes(OLD)
    for doc in ({"x": float("nan")}, {"x": object()}, {1j: 2}):
        with pytest.raises(UsageError):
            writer.write_json(out, doc)
    assert out.read_bytes() == OLD
    assert os.listdir(tmp_path) == ["doc.json"]


# -- the input is never overwritten --------------------------------------------------------------------


def _spellings(inp: Path) -> dict[str, str]:
    link = inp.parent / "link.pt2"
    link.symlink_to(inp)
    hard = inp.parent / "hard.pt2"
    os.link(inp, hard)
    return {
        "same": str(inp),
        "dot": str(inp.parent / "." / inp.name),
        "dotdot": str(inp.parent / ".." / inp.parent.name / inp.name),
        "symlink": str(link),
        "hardlink": str(hard),
    }


@pytest.mark.parametrize("spelling", ["same", "dot", "dotdot", "symlink", "hardlink"])
def test_canon_refuses_to_overwrite_its_input_however_spelled_unless_forced(
    layout: dict[str, Path], sandbox: Sandbox, capsys: pytest.CaptureFixture[str], spelling: str
) -> None:
    inp = layout["in"]
    original = inp.read_bytes()
    full = pt2canon.hash(inp, level="full")
    target = _spellings(inp)[spelling]
    before = _listing(layout["src"])
    status, stdout, err = _run(capsys, ["canon", str(inp), "-o", target])
    assert (status, stdout) == (2, "")
    assert err.splitlines() == [f"pt2canon: error: output {target!r} is the input file; pass --force to replace it"]
    assert inp.read_bytes() == original
    assert _listing(layout["src"]) == before

    status, _stdout, err = _run(capsys, ["canon", str(inp), "-o", target, "--force"])
    assert (status, err) == (0, "")
    assert pt2canon.hash(target, level="full") == full  # replaced by its canonical form
    assert Path(target).read_bytes() != original
    assert _listing(layout["src"]) == before
    sandbox.assert_untouched()


# -- nothing is written anywhere else ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["pt2", "json"])
def test_canon_writes_the_requested_output_and_nothing_else(
    layout: dict[str, Path], sandbox: Sandbox, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    out = layout["dst"] / f"fresh.{fmt}"
    before = _listing(layout["src"], layout["dst"])
    status, _, err = _run(capsys, ["canon", str(layout["in"]), "-o", str(out)])
    assert (status, err) == (0, "")
    after = _listing(layout["src"], layout["dst"])
    assert after[str(layout["src"])] == before[str(layout["src"])]
    assert after[str(layout["dst"])] == sorted([*before[str(layout["dst"])], out.name])
    sandbox.assert_untouched()


def test_a_relative_output_lands_in_the_working_directory_only(
    layout: dict[str, Path], sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _run(capsys, ["canon", str(layout["in"]), "-o", "rel.pt2"])
    assert (status, err) == (0, "")
    assert sorted(os.listdir(sandbox.cwd)) == ["rel.pt2"]
    assert os.listdir(sandbox.tmp) == []
    os.unlink(sandbox.cwd / "rel.pt2")


@pytest.mark.parametrize("where", ["missing_folder", "a_directory", "a_file_as_folder"])
def test_an_output_path_that_cannot_be_written_is_one_error_line_and_creates_nothing(
    layout: dict[str, Path], sandbox: Sandbox, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    dst = layout["dst"]
    target = {
        "missing_folder": dst / "no" / "such" / "folder" / "x.pt2",
        "a_directory": dst,
        "a_file_as_folder": dst / "canonical.pt2" / "x.pt2",
    }[where]
    before = _listing(layout["src"], dst, dst.parent)
    status, _, err = _run(capsys, ["canon", str(layout["in"]), "-o", str(target)])
    assert status == 2
    assert len(err.splitlines()) == 1 and err.startswith("pt2canon: error: ") and str(target) in err, err
    assert "internal error" not in err
    assert _listing(layout["src"], dst, dst.parent) == before
    assert (dst / "canonical.pt2").read_bytes() == OLD
    sandbox.assert_untouched()
