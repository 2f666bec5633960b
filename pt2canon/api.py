"""The small Python API: :func:`load`, :func:`canonicalize`, :func:`hash`, :func:`diff`."""

from __future__ import annotations

import os
from typing import Any

from pt2canon.errors import InputError
from pt2canon.serde.archive import Artifact, Limits, read_artifact

__all__ = ["load"]


def load(source: Any, *, limits: Limits | None = None) -> Artifact:
    """Load an exported program from a path, bytes or an in-memory ``ExportedProgram``.

    Parameters
    ----------
    source : str, os.PathLike, bytes, Artifact or torch.export.ExportedProgram
        A ``.pt2`` archive, an older-format zip, a ``model.json``, their
        bytes, or a program in memory (serialized with torch's own
        serializer; torch is imported only in that case).
    limits : Limits, optional
        Size bounds for untrusted archives.

    Returns
    -------
    Artifact
    """
    from pt2canon.serde import archive

    lim = limits or archive.DEFAULT_LIMITS
    if isinstance(source, Artifact):
        return source
    if isinstance(source, (str, os.PathLike)):
        return read_artifact(source, limits=lim)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return archive.read_bytes(bytes(source), limits=lim)
    if type(source).__name__ == "ExportedProgram":
        from pt2canon.serde.torch_io import from_exported_program

        return from_exported_program(source)
    raise InputError(f"cannot load {type(source).__name__!r}: expected a path, bytes or a torch.export.ExportedProgram")
