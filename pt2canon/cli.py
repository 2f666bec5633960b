"""The ``pt2canon`` command line: ``main(argv=None) -> int``.

Each subcommand lives in :mod:`pt2canon.commands` as a module with
``add_parser(subparsers)`` and ``run(args) -> int``. Exit status: 0 success
(or "equal" / "clean"), 1 a difference or finding, 2 an error. Errors print
one line, ``pt2canon: error: <file>:<member>: <where>: <problem>``, and no
traceback unless ``--debug`` is given.

Only the subcommand being run is imported: when the command line names one
(``pt2canon [--debug] COMMAND ...``), the parser registers that one alone, so
``pt2canon hash`` does not import the diff, drawing or audit modules to set
up parsers it will not use. Any other command line (``--help``, no command,
an unknown one) gets the parser with every subcommand, which prints the same
help and errors; a subcommand's own parser is the same either way.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from pt2canon import __version__
from pt2canon.errors import Pt2CanonError

__all__ = ["build_parser", "command_of", "main"]

#: Subcommands in the order ``--help`` lists them; each names its module.
COMMANDS = ("show", "hash", "canon", "diff", "audit", "index")

EXIT_OK, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own usage errors: one line, exit 2, like every other error.
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def command_of(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` runs, when nothing but ``--debug`` comes before it; else ``None``.

    Examples
    --------
    >>> command_of(["hash", "-r", "x"]), command_of(["--debug", "diff", "a", "b"])
    ('hash', 'diff')
    >>> command_of(["--help", "hash"]), command_of(["bogus"]), command_of([])
    (None, None, None)
    """
    for token in argv:
        if token != "--debug":
            return token if token in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered, or only the subcommand ``only``."""
    parser = _Parser(
        prog="pt2canon",
        description="Canonicalize, hash and diff torch.export programs (.pt2 archives and model JSON).",
    )
    parser.add_argument("--version", action="version", version=f"pt2canon {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS if only is None else (only,):
        module = importlib.import_module(f"pt2canon.commands.{name}")
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show a traceback on errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_of(argv))
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
