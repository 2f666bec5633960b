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

from pt2canon.errors import UsageError
from pt2canon.fx.pickled import add_trust_pickle_argument

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
    p.add_argument("--ignore-shapes", action="store_true", help="ignore tensor metadata and range constraints")
    p.add_argument("--ignore-weights", action="store_true", help="ignore weights and constants at --level full")
    p.add_argument("--include-versions", action="store_true", help="let torch/schema/opset version changes count")
    p.add_argument("--model", metavar="NAME", help="compare only this model of multi-model archives")
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
                ignore_weights=args.ignore_weights,
                include_versions=args.include_versions,
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
