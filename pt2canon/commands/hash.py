"""``pt2canon hash``: placeholder until implemented."""

from __future__ import annotations

import argparse

from pt2canon.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    return sub.add_parser("hash", help="(not implemented yet)")


def run(args: argparse.Namespace) -> int:
    raise UsageError("'hash' is not implemented yet")
