"""Where a test's golden files are, and reading and writing them.

A golden file lives beside the test module, in a folder named after it:
``<test dir>/<module stem>/<test name>[.<name>].pt2canon.json``; the test
name is ``[Class.]function[_params_]`` with characters unsafe in file
names as ``_`` (long names keep a digest).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pt2canon.errors import UsageError
from pt2canon.golden.format import GOLDEN_SUFFIX, GoldenFileError, parse_golden

if TYPE_CHECKING:  # pragma: no cover
    import pytest

    from pt2canon.serde.archive import Artifact

__all__ = ["golden_path", "node_stem", "read_golden", "write_golden"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


def node_stem(node: pytest.Item) -> str:
    """The file-name stem of a test: ``[Class.]function[_params_]`` with unsafe characters as ``_``."""
    import pytest

    parts = [n.name for n in node.listchain() if isinstance(n, (pytest.Class, pytest.Function))]
    stem = _UNSAFE.sub("_", ".".join(parts) or node.name).strip("._") or "test"
    if len(stem) > 150:  # keep file names portable; the digest keeps long ids apart
        import hashlib

        stem = f"{stem[:130]}-{hashlib.sha256(stem.encode()).hexdigest()[:12]}"
    return stem


def golden_path(node: pytest.Item, name: str | None = None) -> Path:
    """``<test dir>/<module stem>/<test stem>[.<name>].pt2canon.json`` for ``node``.

    Raises
    ------
    UsageError
        When ``name`` is not a safe file-name part.
    """
    module = Path(node.path)
    stem = node_stem(node)
    if name is not None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise UsageError(f"name={name!r}: use letters, digits, '_', '.' and '-' (not starting with '.' or '-')")
        stem = f"{stem}.{name}"
    return module.parent / module.stem / f"{stem}{GOLDEN_SUFFIX}"


def read_golden(path: Path, label: str) -> tuple[dict[str, Any], Artifact] | None:
    """``(header, artifact)`` of the golden file at ``path``, ``None`` when it does not exist.

    Raises
    ------
    GoldenFileError
        When it exists but cannot be read, or is not a golden file.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise GoldenFileError(f"cannot read it ({exc.strerror or exc})", file=label) from None
    return parse_golden(data, label)


def write_golden(path: Path, doc: dict[str, Any]) -> None:
    """Write a golden document (:func:`~pt2canon.golden.format.golden_document`) atomically, folders made."""
    from pt2canon.serde.writer import write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, doc, indent=2)
