"""The exceptions pt2canon raises: one root, a subclass per kind of failure.

Every failure on bad input is a :class:`Pt2CanonError`. Its message names
where the problem is (file, archive member, JSON path or node), what rule was
broken, and, where there is one, how to fix it::

    model.pt2:m/models/model.json: graph.nodes[3] (add): input 'other' refers
    to value 'x_9', which no graph input or earlier node defines

The command line prints that one line and exits 2. Archive text in a
message (member names, node names, targets) may hold newlines or terminal
escape sequences; :func:`printable` escapes them, so the message stays one
line and cannot forge another.
"""

from __future__ import annotations

import re

__all__ = [
    "ArchiveError",
    "GraphError",
    "InputError",
    "MissingDependencyError",
    "Pt2CanonError",
    "SchemaError",
    "UnsafeArchiveError",
    "UnsupportedVersionError",
    "UsageError",
    "printable",
]

# C0 and C1 controls, DEL, the Unicode line and paragraph separators and the bidirectional
# overrides (which reorder what a terminal shows): none of them belongs in a one-line message.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x80 else f"\\u{c:04x}"


def printable(text: str) -> str:
    """``text`` with every control character escaped (``\\x1b``, ``\\u2028``), so it prints as one line.

    Examples
    --------
    >>> printable("ok\\npt2canon: error: forged\\x1b[2J")
    'ok\\\\x0apt2canon: error: forged\\\\x1b[2J'
    >>> printable("s77 + 1")
    's77 + 1'
    """
    return _UNPRINTABLE.sub(_escape, text) if _UNPRINTABLE.search(text) else text


class Pt2CanonError(Exception):
    """Root of every exception pt2canon raises on purpose.

    Parameters
    ----------
    message : str
        What went wrong and, where known, how to fix it.
    file : str, optional
        The file being read or written.
    member : str, optional
        The archive member inside ``file``.
    where : str, optional
        The JSON path (``graph.nodes[3].inputs[0]``) or node (``node 'add'``).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        member: str | None = None,
        where: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.member = member
        self.where = where
        super().__init__(self._format())

    def _format(self) -> str:
        location = ""
        if self.file:
            location = self.file
            if self.member:
                location += f":{self.member}"
        elif self.member:
            location = self.member
        parts = [p for p in (location, self.where) if p]
        prefix = ": ".join(parts)
        return printable(f"{prefix}: {self.message}" if prefix else self.message)

    def located(
        self,
        *,
        file: str | None = None,
        member: str | None = None,
        where: str | None = None,
    ) -> Pt2CanonError:
        """Fill in location fields that are still empty; return ``self``."""
        self.file = self.file or file
        self.member = self.member or member
        if where and self.where:
            self.where = f"{where}: {self.where}"
        else:
            self.where = self.where or where
        self.args = (self._format(),)
        return self

    def __str__(self) -> str:
        return self._format()


class UsageError(Pt2CanonError):
    """The caller asked for something that cannot be done (bad option values)."""


class MissingDependencyError(Pt2CanonError):
    """An optional dependency (torch, matplotlib, ...) is needed but not installed."""


class InputError(Pt2CanonError):
    """The input file or object cannot be read as an exported program."""


class ArchiveError(InputError):
    """The zip container is broken, truncated or lacks a required member."""


class UnsafeArchiveError(ArchiveError):
    """The archive breaks a safety rule (path traversal, size bomb, ...)."""


class SchemaError(InputError):
    """The JSON does not have the shape of a serialized ExportedProgram."""


class UnsupportedVersionError(SchemaError):
    """The document was written by a schema major version pt2canon cannot read."""


class GraphError(InputError):
    """The graph breaks an invariant: a dangling reference, a value defined twice, a cycle."""
