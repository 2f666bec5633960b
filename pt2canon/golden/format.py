"""The golden file format: the canonical program as indented JSON with sorted keys, and a header.

A golden file is the canonical program (:func:`pt2canon.canonicalize`)
plus one top-level key, :data:`HEADER_KEY`, whose object holds the
format version, the hash, its spec, the layer digests and the level it
was checked at. Without the header the document is a plain serialized
``ExportedProgram`` (``pt2canon show|diff`` read it as a bare
``model.json``, warning about the one field torch's schema does not know).

Examples
--------
>>> check_level("graph")
'graph'
>>> check_level("full")
Traceback (most recent call last):
...
pt2canon.errors.UsageError: level='full': golden files are checked at structure or graph (they hold no weights; compare weights with pt2canon.hash(..., level='full'))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pt2canon.errors import InputError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.canon.hashing import HashResult
    from pt2canon.serde.archive import Artifact

__all__ = [
    "GOLDEN_FORMAT",
    "GOLDEN_LEVELS",
    "GOLDEN_SUFFIX",
    "HEADER_KEY",
    "GoldenFileError",
    "check_level",
    "golden_document",
    "parse_golden",
]

#: File name ending of golden files.
GOLDEN_SUFFIX = ".pt2canon.json"
#: Key of the header object in a golden file (sorts before the program's own keys).
HEADER_KEY = "_pt2canon"
#: Version of the golden file layout (the header's ``format``).
GOLDEN_FORMAT = 1
#: Levels a golden file can be checked at (it holds no weights, so not ``full``).
GOLDEN_LEVELS = ("structure", "graph")


class GoldenFileError(InputError):
    """A golden file that exists but cannot be read as one (not JSON, not a program)."""


def check_level(level: str) -> str:
    """``level`` if golden files can be checked at it; else a :class:`~pt2canon.errors.UsageError`."""
    if level not in GOLDEN_LEVELS:
        raise UsageError(
            f"level={level!r}: golden files are checked at {' or '.join(GOLDEN_LEVELS)} "
            "(they hold no weights; compare weights with pt2canon.hash(..., level='full'))"
        )
    return level


def golden_document(program: dict[str, Any], digest: HashResult) -> dict[str, Any]:
    """The golden file's content: the canonical program and a header with its hash at ``digest.level``."""
    header = {
        "format": GOLDEN_FORMAT,
        "hash": digest.hash,
        "hash_spec": digest.spec,
        "layers": {k: digest.layers[k] for k in digest.included if k in digest.layers},
        "level": digest.level,
        "written_by": "pt2canon pytest plugin; regenerate with pytest --pt2canon-update",
    }
    return {HEADER_KEY: header, **program}


def parse_golden(data: bytes, label: str) -> tuple[dict[str, Any], Artifact]:
    """``(header, artifact)`` of a golden file's bytes; ``label`` names the file in messages.

    The header is taken out before the program is read, so the schema
    checker sees only the program.

    Raises
    ------
    GoldenFileError
        When the bytes are not a JSON object or not a program.
    """
    from pt2canon import _json
    from pt2canon.errors import Pt2CanonError
    from pt2canon.serde.archive import read_bytes

    try:
        doc = _json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GoldenFileError(f"it is not JSON ({first})", file=label) from None
    if not isinstance(doc, dict):
        raise GoldenFileError("it is not a JSON object", file=label)
    header = doc.pop(HEADER_KEY, None)
    try:
        artifact = read_bytes(_json.canonical_bytes(doc), label=label)
    except Pt2CanonError as exc:
        raise GoldenFileError(str(exc)) from None
    return (header if isinstance(header, dict) else {}), artifact
