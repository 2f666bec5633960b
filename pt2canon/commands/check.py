"""``pt2canon hash --check SUMS``: verify stored hashes, like ``sha256sum -c``.

SUMS holds lines as ``pt2canon hash`` prints them: ``sha256:<64 hex>  PATH``
(the indented layer lines of ``--explain``, ``#`` comments and blank lines
are skipped), or
the JSON lines of ``hash --json``, which carry their own level. Each entry
is hashed again with the command's options (``--level`` and the rest apply
to plain lines) and reported as ``PATH: OK`` or ``PATH: FAILED`` (``PATH:
FAILED open or read`` when it cannot be hashed; the reason is one
``pt2canon: error:`` line on standard error). Paths are relative to the
working directory, as with ``sha256sum``; ``-`` as SUMS reads the list
from standard input, ``-`` as a listed path reads that archive from it.

``--quiet`` prints only the failures; ``--status`` prints nothing on
standard output. Exit status 0 when every entry matched, 1 when any did not
or could not be read, 2 when SUMS cannot be read or holds no hash line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass

from pt2canon.commands._hashing import STDIN, hash_all, options_of
from pt2canon.commands._progress import Progress
from pt2canon.errors import InputError, UsageError

__all__ = ["Entry", "parse_sums", "run_check"]

_LINE = re.compile(r"(sha256:[0-9a-f]{64}) [ *](.+)")


@dataclass(frozen=True)
class Entry:
    """One line of a sums file: the path, the hash it should have, the level (``None``: the command's)."""

    path: str
    hash: str
    level: str | None = None


def parse_sums(text: str) -> tuple[list[Entry], list[int]]:
    """The entries of a sums file and the numbers of the lines that are not hash lines.

    Examples
    --------
    >>> h = "sha256:" + "0" * 64
    >>> entries, bad = parse_sums(f"{h}  a.pt2\\n    * structure  {h}\\n\\nnot a hash\\n")
    >>> [e.path for e in entries], bad
    (['a.pt2'], [4])
    """
    entries: list[Entry] = []
    bad: list[int] = []
    for i, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip() or line[:1].isspace() or line.startswith("#"):  # blank, --explain's layers, comments
            continue
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                entries.append(Entry(str(obj["path"]), str(obj["hash"]), str(obj["level"])))
            except (ValueError, KeyError, TypeError):
                bad.append(i)
            continue
        m = _LINE.fullmatch(line)
        if m is None:
            bad.append(i)
        else:
            entries.append(Entry(m.group(2), m.group(1)))
    return entries, bad


def _read_sums(path: str) -> str:
    if path == STDIN:
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise InputError("no such file (the sums file of --check)", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the sums file: {exc}", file=path) from None


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def run_check(args: argparse.Namespace) -> int:
    """Run ``hash --check``; the exit status."""
    if args.paths:
        raise UsageError(f"--check={args.check!r} takes its paths from the sums file, not {args.paths[0]!r}")
    entries, bad = parse_sums(_read_sums(args.check))
    if not entries:
        raise InputError("no hash line found ('sha256:<64 hex>  PATH', as 'pt2canon hash' prints)", file=args.check)
    if args.check == STDIN and any(e.path == STDIN for e in entries):
        raise UsageError("--check - reads the sums from standard input, so no listed path can be '-'")
    base = options_of(args)
    options = [{**base, "level": e.level or args.level} for e in entries]
    silent = args.status
    progress = Progress(len(entries), enabled=not args.no_progress and not silent, desc="check")
    failed = unreadable = 0
    try:
        outcomes = hash_all([e.path for e in entries], options, jobs=args.jobs)
        for entry, (path, result, error) in zip(entries, outcomes):
            progress.advance(path)
            if error is not None:
                unreadable += 1
                progress.write(f"pt2canon: error: {error}", stream=sys.stderr)
                verdict = "FAILED open or read"
            elif result is not None and result["hash"] == entry.hash:
                verdict = "OK"
            else:
                failed += 1
                verdict = "FAILED"
            if not silent and not (args.quiet and verdict == "OK"):
                progress.write(f"{path}: {verdict}")
    finally:
        progress.close()
    if not silent:
        warn = []
        if bad:
            warn.append(
                f"{_plural(len(bad), 'line is', 'lines are')} improperly formatted (line {', '.join(map(str, bad[:5]))})"
            )
        if unreadable:
            warn.append(f"{_plural(unreadable, 'listed file', 'listed files')} could not be read")
        if failed:
            hint = (
                ""
                if all(e.level for e in entries)
                else f" at level {args.level} (sums made at another level need --level)"
            )
            warn.append(f"{_plural(failed, 'computed hash', 'computed hashes')} did NOT match{hint}")
        for w in warn:
            print(f"pt2canon: WARNING: {w}", file=sys.stderr)
    return 1 if failed or unreadable else 0
