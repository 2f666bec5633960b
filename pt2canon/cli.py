"""The ``pt2canon`` command line: ``main(argv=None) -> int``.

Each subcommand lives in :mod:`pt2canon.commands` as a module with
``add_parser(subparsers)`` and ``run(args) -> int``. Exit status: 0 success
(or "equal" / "clean"), 1 a difference or finding, 2 an error. Errors print
one line, ``pt2canon: error: <file>:<member>: <where>: <problem>``, and no
traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from pt2canon import __version__
from pt2canon.errors import Pt2CanonError

__all__ = ["main"]

#: Subcommands in the order ``--help`` lists them; each names its module.
COMMANDS = ("show", "hash", "canon", "diff", "audit", "index")

EXIT_OK, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own usage errors: one line, exit 2, like every other error.
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = _Parser(
        prog="pt2canon",
        description="Canonicalize, hash and diff torch.export programs (.pt2 archives and model JSON).",
    )
    parser.add_argument("--version", action="version", version=f"pt2canon {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"pt2canon.commands.{name}")
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show a traceback on errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return int(args._run(args))
    except Pt2CanonError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"pt2canon: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("pt2canon: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug in pt2canon: still one line, never a raw traceback
        if args.debug:
            traceback.print_exc()
        print(
            f"pt2canon: error: internal error {type(exc).__name__}: {exc} (rerun with --debug and report it)",
            file=sys.stderr,
        )
        return EXIT_ERROR
