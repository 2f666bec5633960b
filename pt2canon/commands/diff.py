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

from pt2canon.diff.records import CHANGE_KINDS
from pt2canon.errors import UsageError

__all__ = ["add_parser", "run", "use_color"]


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
    p.add_argument("a", metavar="A", help="the old program: .pt2 archive, older-format zip or model JSON")
    p.add_argument("b", metavar="B", help="the new program")
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
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the text format: auto = on a terminal unless NO_COLOR is set (default: auto)",
    )
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


def run(args: argparse.Namespace) -> int:
    from pt2canon.api import load
    from pt2canon.diff import diff_programs
    from pt2canon.diff.render import render

    if args.context < 0:
        raise UsageError(f"--context={args.context}: needs a number of lines >= 0")
    a = load(args.a)
    try:
        b = load(args.b)
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
