"""``--limit NAME=VALUE``: the size bounds of :class:`pt2canon.serde.archive.Limits` on the command line.

``pt2canon audit`` and ``pt2canon hash`` take it; the other commands read
archives under the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses

from pt2canon.errors import UsageError
from pt2canon.serde.archive import DEFAULT_LIMITS, Limits

__all__ = ["add_limit_argument", "parse_limits"]

_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def add_limit_argument(p: argparse.ArgumentParser) -> None:
    """Add the repeatable ``--limit NAME=VALUE`` option (read it with :func:`parse_limits`)."""
    p.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=(
            f"change one limit (repeatable): {', '.join(f.name for f in dataclasses.fields(Limits))}; "
            "sizes take K, M, G, T suffixes (powers of 1024), e.g. --limit max_member_bytes=2G"
        ),
    )


def parse_limits(specs: list[str]) -> Limits:
    """:class:`Limits` with ``NAME=VALUE`` overrides applied to the defaults.

    Examples
    --------
    >>> parse_limits(["max_json_bytes=1G", "max_depth=200"]).max_json_bytes == 1 << 30
    True
    >>> parse_limits(["max_bytes=1"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pt2canon.errors.UsageError: --limit 'max_bytes=1': expected NAME=VALUE with NAME one of max_depth, ...
    >>> parse_limits(["max_depth=²"])
    Traceback (most recent call last):
    ...
    pt2canon.errors.UsageError: --limit 'max_depth=²': '²' is not a whole number (K, M, G, T suffixes allowed)
    """
    names = {f.name for f in dataclasses.fields(Limits)}
    changes: dict[str, int] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        name, raw = name.strip(), value.strip()
        value = raw.upper()
        if not sep or name not in names:
            raise UsageError(f"--limit {spec!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(names))}")
        digits, suffix = (value[:-1], value[-1]) if value[-1:] in _SUFFIXES and value[-1:] else (value, "")
        if not (digits.isascii() and digits.isdigit()):  # "²" is a digit to str.isdigit, not to int
            raise UsageError(f"--limit {spec!r}: {raw!r} is not a whole number (K, M, G, T suffixes allowed)")
        changes[name] = int(digits) * _SUFFIXES[suffix]
    return dataclasses.replace(DEFAULT_LIMITS, **changes)
