"""``pt2canon canon``: placeholder until implemented."""

from __future__ import annotations

import argparse

from pt2canon.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    return sub.add_parser("canon", help="(not implemented yet)")


def run(args: argparse.Namespace) -> int:
    raise UsageError("'canon' is not implemented yet")
