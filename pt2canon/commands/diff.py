"""``pt2canon diff A B``: the structural diff of two exported programs.

Exit status 0 when the programs are equal at the chosen level, 1 when they
differ, 2 on an error (one ``pt2canon: error:`` line), like ``diff`` and
``git diff --exit-code``. Version changes are shown but count only with
``--include-versions``. Colour: ``--color auto`` (the default) colours the
text format when standard output is a terminal and ``NO_COLOR`` is unset
or empty; ``always``/``never`` decide regardless.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from pt2canon._gc import gc_paused
from pt2canon.diff.records import CHANGE_KINDS
from pt2canon.errors import UsageError
from pt2canon.fx.pickled import add_trust_pickle_argument

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.diff.result import Change, DiffResult

__all__ = ["add_parser", "format_stat", "run", "use_color"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser(
        "diff",
        help="structural diff of two exported programs (exit 0 equal, 1 different, 2 error)",
        description=(
            "Align two exported programs node for node and print what changed: ops added, removed, changed "
            "or rewired, the signature, range constraints, weights (--level full) and versions. Exit status "
            "0 when equal at the chosen level, 1 when different, 2 on error."
        ),
    )
    p.add_argument(
        "a",
        metavar="A",
        help="the old program: .pt2 archive, older-format zip, model JSON, or a pt2canon.fx.recorder folder",
    )
    p.add_argument("b", metavar="B", help="the new program (a recorder folder when A is one)")
    p.add_argument(
        "--level",
        choices=("structure", "graph", "full"),
        default="graph",
        help="what counts as a change, as for hash levels (default: graph; full adds weights)",
    )
    p.add_argument(
        "--format", choices=("text", "json", "markdown", "html"), default="text", help="output format (default: text)"
    )
    p.add_argument(
        "--context", type=int, default=3, metavar="N", help="unchanged lines around each change (default: 3)"
    )
    p.add_argument("--ignore-shapes", action="store_true", help="ignore sizes, strides and range constraints")
    p.add_argument("--ignore-dtypes", action="store_true", help="ignore dtypes")
    p.add_argument("--ignore-weights", action="store_true", help="ignore weights and constants at --level full")
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="KIND",
        choices=CHANGE_KINDS,
        help="leave out records of this kind (repeatable)",
    )
    p.add_argument(
        "--keep-metadata",
        action="append",
        default=[],
        metavar="KEY",
        help="compare this node metadata key (repeatable)",
    )
    p.add_argument("--include-versions", action="store_true", help="let torch/schema/opset version changes count")
    p.add_argument(
        "--include-sample-inputs", action="store_true", help="let changed sample inputs count (never unpickled)"
    )
    p.add_argument("--atol", type=float, default=0.0, metavar="X", help="weights within atol + rtol*|a| count as equal")
    p.add_argument(
        "--rtol", type=float, default=0.0, metavar="X", help="see --atol (torch.testing.assert_close's rule)"
    )
    p.add_argument("--equal-nan", action="store_true", help="NaN against NaN counts as equal in weights")
    p.add_argument("--model", metavar="NAME", help="compare only this model of multi-model archives")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("-q", "--quiet", action="store_true", help="print nothing; the exit status tells")
    shown.add_argument("--stat", action="store_true", help="changes per module and per kind, like git diff --stat")
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the text format: auto = on a terminal unless NO_COLOR is set (default: auto)",
    )
    add_trust_pickle_argument(p)
    return p


def use_color(choice: str, stream: object = None) -> bool:
    """Whether to colour: ``always``, ``never``, or ``auto`` (a terminal and ``NO_COLOR`` unset or empty)."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


_STAT_MARKS = {"node_added": "+", "node_removed": "-"}
_STAT_GROUPS = {
    "signature_changed": "(signature)",
    "constraint_changed": "(range constraints)",
    "version_changed": "(versions)",
}


def _stat_group(change: Change) -> str:
    if change.kind in _STAT_GROUPS:
        return _STAT_GROUPS[change.kind]
    return change.location.module or "(root)"  # a weight's is the module holding it


def format_stat(result: DiffResult, *, width: int = 40) -> str:
    """Changes per module and per kind, like ``git diff --stat``.

    One line per module path (in the order of the first change in it; a
    weight counts for the module holding it; ``(root)`` for ops of the root
    module, ``(signature)``, ``(range constraints)`` and ``(versions)`` for
    the other kinds): the number of changes and a bar of ``+`` added, ``-``
    removed and ``~`` changed or rewired nodes, scaled to ``width`` marks.
    The last line counts the changes of each kind.

    Examples
    --------
    >>> from pt2canon.diff.result import Change, DiffResult, Location
    >>> r = DiffResult("a", "b", "graph", [
    ...     Change("node_added", Location(b="n3", module="layers.0.act"), "aten.gelu.default"),
    ...     Change("node_rewired", Location(a="n3", b="n4", module="head"), "input"),
    ... ])
    >>> print(format_stat(r), end="")
     layers.0.act | 1 +
     head         | 1 ~
     2 changes at level graph: 1 node added, 1 node rewired
    """
    from pt2canon.diff.render.common import summary_line

    groups: dict[str, list[str]] = {}
    for c in result.changes:
        groups.setdefault(_stat_group(c), []).append(_STAT_MARKS.get(c.kind, "~"))
    lines = []
    if groups:
        name_w = min(max(len(g) for g in groups), 60)
        most = max(len(m) for m in groups.values())
        for group, marks in groups.items():
            name = group if len(group) <= name_w else "..." + group[-(name_w - 3) :]
            bar = ""
            for mark in "+-~":
                k = marks.count(mark)
                bar += mark * (max(1, round(k * width / most)) if k and most > width else k)
            lines.append(f" {name:<{name_w}} | {len(marks):>{len(str(most))}} {bar}")
    lines.append(" " + summary_line(result))
    return "\n".join(lines) + "\n"


@gc_paused  # one pause for loading, comparing and rendering: no collector pass over the loaded programs
def run(args: argparse.Namespace) -> int:
    from pt2canon.api import load
    from pt2canon.diff import diff_programs
    from pt2canon.diff.render import render

    if args.context < 0:
        raise UsageError(f"--context={args.context}: needs a number of lines >= 0")
    if os.path.isdir(args.a) and os.path.isdir(args.b):  # two runs of pt2canon.fx.recorder
        from pt2canon.fx.runs import diff_runs

        kw = {"ignore_shapes": args.ignore_shapes, "include_versions": args.include_versions, "context": args.context}
        runs = diff_runs(args.a, args.b, level=args.level, ignore_weights=args.ignore_weights, **kw)
        text = runs.render(args.format, **({"color": use_color(args.color)} if args.format == "text" else {}))
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0 if runs.equal else 1
    a = load(args.a, trust_pickle=args.trust_pickle)
    try:
        b = load(args.b, trust_pickle=args.trust_pickle)
        try:
            result = diff_programs(
                a,
                b,
                level=args.level,
                ignore_shapes=args.ignore_shapes,
                ignore_dtypes=args.ignore_dtypes,
                ignore_weights=args.ignore_weights,
                ignore=args.ignore,
                keep_metadata=args.keep_metadata,
                include_versions=args.include_versions,
                include_sample_inputs=args.include_sample_inputs,
                atol=args.atol,
                rtol=args.rtol,
                equal_nan=args.equal_nan,
                context=args.context,
                model=args.model,
            )
            if args.quiet:
                return 0 if result.equal else 1
            if args.stat:
                text = format_stat(result)
            else:
                options: dict[str, object] = {"context": args.context}
                if args.format == "text":
                    options["color"] = use_color(args.color)
                text = render(result, args.format, **options)
        finally:
            b.close()
    finally:
        a.close()
    out = sys.stdout
    out.write(text if text.endswith("\n") else text + "\n")
    out.flush()
    return 0 if result.equal else 1
