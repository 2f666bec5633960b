"""``pt2canon hash PATH...``: print ``sha256:<hex>  PATH`` lines, like ``sha256sum``.

Exit status 0 when every input hashed, 2 when any failed (each failure is
one ``pt2canon: error:`` line on stderr; the other inputs are still hashed).
``-`` reads one archive from standard input (into memory). ``-r`` walks
directories for ``*.pt2`` files (any case of the suffix); ``--jobs N``
hashes in N processes. On a terminal a progress bar (count, rate, ETA) is
drawn on standard error while several inputs are hashed, and erased; it is
never drawn when standard error is not a terminal, nor with
``--no-progress``, and never touches standard output.

``--explain`` prints every layer's digest below each hash (``*`` marks the
layers the level combines); with two inputs a last line, a ``#`` comment,
names the layers that differ between them. ``--check SUMS`` reads lines as ``hash`` prints
them and verifies them like ``sha256sum -c``: see :mod:`pt2canon.commands.check`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from pt2canon.commands._hashing import STDIN, hash_all, hash_one, options_of
from pt2canon.commands._limits import add_limit_argument
from pt2canon.commands._progress import Progress
from pt2canon.errors import UsageError
from pt2canon.fx.pickled import add_trust_pickle_argument

__all__ = ["STDIN", "add_parser", "explain_difference", "hash_all", "hash_one", "iter_inputs", "options_of", "run"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser(
        "hash",
        help="print the canonical hash of each archive, or check a list of them (--check)",
        description="Print 'sha256:<hex>  PATH' for each input; equal hashes mean the same program at the chosen level.",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help=".pt2 archive, older zip, model JSON, - for stdin, or a directory with -r",
    )
    p.add_argument(
        "--level", choices=("structure", "graph", "full"), default="graph", help="what the hash covers (default: graph)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per input with per-layer digests")
    p.add_argument(
        "--explain",
        action="store_true",
        help="print every layer's digest; with two inputs, name the layers that differ",
    )
    p.add_argument("-r", "--recursive", action="store_true", help="hash every *.pt2 under directories")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="hash in N processes (default: 1)")
    p.add_argument("--include-versions", action="store_true", help="let torch/schema/opset versions change the hash")
    p.add_argument(
        "--include-sample-inputs", action="store_true", help="hash the sample-input bytes too (never unpickled)"
    )
    p.add_argument(
        "--keep-metadata", action="append", default=[], metavar="KEY", help="node metadata key to keep (repeatable)"
    )
    p.add_argument("--no-progress", action="store_true", help="never draw a progress bar")
    add_limit_argument(p)
    check = p.add_argument_group("verifying (like sha256sum -c)")
    check.add_argument("-c", "--check", metavar="SUMS", help="verify the hash lines in SUMS (- for stdin)")
    check.add_argument("--quiet", action="store_true", help="with --check: print only the FAILED lines")
    check.add_argument("--status", action="store_true", help="with --check: print nothing; the exit status tells")
    add_trust_pickle_argument(p)
    return p


def iter_inputs(paths: Iterable[str], recursive: bool) -> Iterator[str]:
    """The files to hash: paths as given, directories expanded with ``recursive`` (``*.pt2`` in any case)."""
    for path in paths:
        if path != STDIN and os.path.isdir(path):
            if not recursive:
                raise UsageError(f"{path} is a directory; use -r to hash the archives in it")
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for f in sorted(files):
                    if f.lower().endswith(".pt2"):
                        yield os.path.join(root, f)
        else:
            yield path


def explain_difference(a: tuple[str, dict[str, Any]], b: tuple[str, dict[str, Any]]) -> str:
    """One ``#`` comment line naming the layers whose digests differ between two hashed inputs.

    A comment, so that the output of ``hash --explain`` stays a sums file for ``--check``.

        A layer the level leaves out is named with ``(not in level L)``; for
        multi-model archives each layer names the models it differs in.

        Examples
        --------
        >>> x = {"level": "graph", "included": ["structure", "tensors"], "layers": {"structure": "s1", "tensors": "t1"}}
        >>> y = {"level": "graph", "included": ["structure", "tensors"], "layers": {"structure": "s1", "tensors": "t2"}}
        >>> explain_difference(("a.pt2", x), ("b.pt2", y))
        '# a.pt2 and b.pt2 differ in 1 layer: tensors'
        >>> explain_difference(("a.pt2", x), ("b.pt2", x))
        '# a.pt2 and b.pt2: every layer is the same'
    """
    (pa, ra), (pb, rb) = a, b
    la, lb = ra["layers"], rb["layers"]
    names = [k for k in la if k in lb and la[k] != lb[k]] + [k for k in (*la, *lb) if (k in la) != (k in lb)]
    if not names:
        return f"# {pa} and {pb}: every layer is the same"
    ma, mb = ra.get("models") or {}, rb.get("models") or {}
    parts = []
    for k in dict.fromkeys(names):
        text = k
        models = [m for m in sorted(set(ma) | set(mb)) if (ma.get(m) or {}).get(k) != (mb.get(m) or {}).get(k)]
        if ma and mb and models:
            text += f" (model{'s' if len(models) > 1 else ''} {', '.join(models)})"
        if k not in ra["included"]:
            text += f" (not in level {ra['level']})"
        parts.append(text)
    n = len(parts)
    return f"# {pa} and {pb} differ in {n} layer{'s' if n != 1 else ''}: {', '.join(parts)}"


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise UsageError(f"--jobs={args.jobs}: needs a positive number of processes")
    if args.check is not None:
        from pt2canon.commands.check import run_check

        return run_check(args)
    if args.quiet or args.status:
        raise UsageError("--quiet and --status go with --check SUMS")
    if not args.paths:
        raise UsageError("no input: give archives to hash (- for stdin), or --check SUMS")
    files = list(iter_inputs(args.paths, args.recursive))
    if files.count(STDIN) > 1:
        raise UsageError("'-' (standard input) can be given once")
    progress = Progress(len(files), enabled=not args.no_progress, desc="hash")
    status = 0
    explained: list[tuple[str, dict[str, Any]]] = []
    try:
        for path, result, error in hash_all(files, options_of(args), jobs=args.jobs, debug=args.debug):
            progress.advance(path)
            if error is not None:
                progress.write(f"pt2canon: error: {error}", stream=sys.stderr)
                status = 2
                continue
            assert result is not None
            if args.json:
                progress.write(json.dumps({"path": path, **result}, sort_keys=True))
                continue
            lines = [f"{result['hash']}  {path}"]
            if args.explain:
                explained.append((path, result))
                for name, digest in result["layers"].items():
                    mark = "*" if name in result["included"] else " "
                    lines.append(f"    {mark} {name:<14} {digest}")
            progress.write("\n".join(lines))
    finally:
        progress.close()
    if len(explained) == 2 == len(files):
        print(explain_difference(*explained))
    return status
