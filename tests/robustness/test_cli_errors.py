"""Every command on every bad input: exit 2, one ``pt2canon: error:`` line naming the file and problem.

The bad inputs are :data:`bad_inputs.KINDS` (broken containers, wrong JSON,
broken graphs, unsafe members, zip bombs, code in symbolic shapes). Each
command (``show``, ``hash``, ``canon``, ``diff`` with the bad file on either
side) must print exactly one line on standard error, starting
``pt2canon: error: <file>`` and naming the problem, print nothing on
standard output, write no file, and show no traceback, unless ``--debug``
is given (before or after the subcommand). ``audit`` is a static scan: it
exits 2 on what it cannot read and reports findings (exit 1) on unsafe
archives. Most checks call :func:`pt2canon.cli.main` in-process; a handful
run ``python -m pt2canon`` in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from bad_inputs import KINDS
from corpus import Corpus

from pt2canon.cli import main

TRACEBACK = "Traceback (most recent call last)"

#: argv for each command, given the bad file, a good archive and a folder for output.
COMMANDS: dict[str, Callable[[str, str, Path], list[str]]] = {
    "show": lambda bad, good, out: ["show", bad],
    "show_json": lambda bad, good, out: ["show", "--json", bad],
    "hash": lambda bad, good, out: ["hash", bad],
    "hash_full_json": lambda bad, good, out: ["hash", "--level", "full", "--include-sample-inputs", "--json", bad],
    "canon": lambda bad, good, out: ["canon", bad, "-o", str(out / "out.pt2")],
    "canon_json": lambda bad, good, out: ["canon", bad, "-o", str(out / "out.json")],
    "diff_bad_old": lambda bad, good, out: ["diff", bad, good],
    "diff_bad_new": lambda bad, good, out: ["diff", good, bad, "--format", "json"],
}


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = int(exc.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _assert_one_error_line(err: str, path: Path, fragments: tuple[str, ...]) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    (line,) = lines
    assert line.startswith(f"pt2canon: error: {path}"), line
    assert "internal error" not in line, line  # a bug would show here
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    assert TRACEBACK not in err
    return line


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_command_on_every_bad_input_exits_2_with_one_line_naming_file_and_problem(
    kind: str,
    command: str,
    bad_files: dict[str, Path],
    corpus: Corpus,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = bad_files[kind]
    out = tmp_path / "out"
    out.mkdir()
    argv = COMMANDS[command](str(bad), str(corpus["mlp"].path), out)
    status, stdout, err = _run(capsys, argv)
    assert status == 2, (status, stdout, err)
    _assert_one_error_line(err, bad, KINDS[kind].fragments)
    assert stdout == ""
    assert os.listdir(out) == [], "a failed command left a file behind"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_audit_exits_2_on_what_it_cannot_read_and_1_with_findings_on_unsafe_archives(
    kind: str, bad_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = bad_files[kind]
    expected = KINDS[kind].audit
    status, stdout, err = _run(capsys, ["audit", str(bad)])
    assert status == expected, (status, stdout, err)
    assert TRACEBACK not in err + stdout
    if expected == 2:
        _assert_one_error_line(err, bad, ())
        assert stdout == ""
    else:
        assert err == ""
        summary = stdout.splitlines()[-1]
        assert summary.startswith(f"{bad}: ")
        assert ("clean" in summary) == (expected == 0), summary
        if expected == 1:
            assert all(line.startswith(str(bad)) for line in stdout.splitlines())


@pytest.mark.parametrize("placement", ["global", "subcommand"])
@pytest.mark.parametrize("command", ["show", "hash", "canon", "diff_bad_old"])
@pytest.mark.parametrize(
    "kind", ["not_a_zip", "truncated_zip", "wrong_type", "dangling_reference", "dotdot_member", "inflation_zip_bomb"]
)
def test_debug_shows_the_traceback_and_still_ends_with_the_error_line(
    kind: str,
    command: str,
    placement: str,
    bad_files: dict[str, Path],
    corpus: Corpus,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = bad_files[kind]
    argv = COMMANDS[command](str(bad), str(corpus["mlp"].path), tmp_path)
    argv = ["--debug", *argv] if placement == "global" else [*argv, "--debug"]
    status, stdout, err = _run(capsys, argv)
    assert (status, stdout) == (2, "")
    assert TRACEBACK in err
    assert KINDS[kind].error.__name__ in err  # the traceback ends in pt2canon's own exception
    last = err.splitlines()[-1]
    assert last.startswith(f"pt2canon: error: {bad}"), last
    # Without --debug, the same failure is the last line alone.
    status, _stdout, quiet = _run(capsys, COMMANDS[command](str(bad), str(corpus["mlp"].path), tmp_path))
    assert status == 2
    assert quiet.splitlines() == [last]


def test_several_files_to_hash_each_bad_one_is_a_line_and_the_good_ones_still_hash(
    bad_files: dict[str, Path], corpus: Corpus, capsys: pytest.CaptureFixture[str]
) -> None:
    good = corpus["mlp"].path
    bads = [bad_files[k] for k in ("empty_file", "cycle", "absolute_member")]
    status, stdout, err = _run(capsys, ["hash", str(bads[0]), str(good), str(bads[1]), str(bads[2])])
    assert status == 2
    assert [line.split("  ")[1] for line in stdout.splitlines()] == [str(good)]
    lines = err.splitlines()
    assert len(lines) == 3
    for line, bad in zip(lines, bads, strict=True):
        assert line.startswith(f"pt2canon: error: {bad}"), line
    assert TRACEBACK not in err


def test_a_bug_inside_pt2canon_is_still_one_line_and_a_traceback_with_debug(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pt2canon.listing

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(pt2canon.listing, "generate_listing", broken)
    path = str(corpus["mlp"].path)
    status, _, err = _run(capsys, ["show", path])
    assert status == 2
    assert err.splitlines() == [
        "pt2canon: error: internal error RuntimeError: a bug (rerun with --debug and report it)"
    ]
    status, _, err = _run(capsys, ["--debug", "show", path])
    assert status == 2
    assert TRACEBACK in err and "RuntimeError: a bug" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["hash", "--level", "everything", "x.pt2"],
        ["canon", "x.pt2"],
        ["diff", "only_one.pt2"],
        ["show"],
        ["frobnicate"],
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    status, _stdout, err = _run(capsys, argv)
    assert status == 2
    assert len(err.splitlines()) == 1 and err.startswith("pt2canon"), err
    assert TRACEBACK not in err


# -- a handful through the real entry point -----------------------------------------------------------------


def _pt2canon(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pt2canon", *argv], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ("hash", "not_a_zip"),
        ("show", "dangling_reference"),
        ("canon", "dotdot_member"),
        ("diff_bad_new", "code_in_symbolic_expression"),
        ("hash_full_json", "inflation_zip_bomb"),
    ],
)
def test_the_installed_entry_point_exits_2_with_one_line_and_a_traceback_only_with_debug(
    command: str, kind: str, bad_files: dict[str, Path], corpus: Corpus, tmp_path: Path
) -> None:
    bad = bad_files[kind]
    argv = COMMANDS[command](str(bad), str(corpus["mlp"].path), tmp_path)
    proc = _pt2canon(*argv, cwd=tmp_path)
    assert proc.returncode == 2
    _assert_one_error_line(proc.stderr, bad, KINDS[kind].fragments)
    assert proc.stdout == ""
    debug = _pt2canon("--debug", *argv, cwd=tmp_path)
    assert debug.returncode == 2
    assert TRACEBACK in debug.stderr
    assert debug.stderr.splitlines()[-1] == proc.stderr.strip()
    assert os.listdir(tmp_path) == []
