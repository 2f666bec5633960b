"""``pt2canon show``: placeholder until implemented."""

from __future__ import annotations

import argparse

from pt2canon.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    return sub.add_parser("show", help="(not implemented yet)")


def run(args: argparse.Namespace) -> int:
    raise UsageError("'show' is not implemented yet")
