"""The small Python API: :func:`load`, :func:`canonicalize`, :func:`hash`, :func:`digest`.

``pt2canon.diff`` (the package :mod:`pt2canon.diff`, callable) builds on it.

Examples
--------
>>> import pt2canon                                          # doctest: +SKIP
>>> a = pt2canon.load("resnet.pt2")                          # doctest: +SKIP
>>> pt2canon.hash(a)                                         # doctest: +SKIP
'sha256:0c4f...'
>>> pt2canon.digest(a, level="full").layers["weights"]       # doctest: +SKIP
'sha256:9e1d...'
>>> print(pt2canon.diff("v1.pt2", "v2.pt2").render("text"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pt2canon._gc import gc_paused
from pt2canon.errors import InputError, Pt2CanonError
from pt2canon.serde.archive import Artifact, Limits, Model, read_artifact

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.canon.hashing import HashResult
    from pt2canon.canon.program import CanonicalProgram

__all__ = ["canonicalize", "canonicalize_all", "canonicalize_model", "digest", "hash", "load"]


@gc_paused
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


def _profile(keep_metadata: Iterable[str]) -> Any:
    from pt2canon.canon.program import DEFAULT_PROFILE, Profile

    keep = frozenset(keep_metadata)
    return Profile(name="custom", keep_metadata=keep) if keep else DEFAULT_PROFILE


def canonicalize_model(artifact: Artifact, model: Model, *, keep_metadata: Iterable[str] = ()) -> CanonicalProgram:
    """The canonical form of one model of a loaded artifact; errors name the artifact's file and member."""
    from pt2canon.canon.program import canonicalize_program

    profile = _profile(keep_metadata)
    try:
        return canonicalize_program(model.program, profile=profile)
    except Pt2CanonError as exc:
        raise exc.located(file=artifact.path, member=model.member) from None
    except RecursionError:
        raise InputError("graph is nested too deeply", file=artifact.path, member=model.member) from None


@gc_paused
def canonicalize_all(source: Any, *, keep_metadata: Iterable[str] = ()) -> dict[str, CanonicalProgram]:
    """Canonicalize every model of an artifact; returns ``{model name: CanonicalProgram}``."""
    artifact = load(source)
    return {
        name: canonicalize_model(artifact, m, keep_metadata=keep_metadata)
        for name, m in sorted(artifact.models.items())
    }


@gc_paused
def canonicalize(source: Any, *, model: str | None = None, keep_metadata: Iterable[str] = ()) -> CanonicalProgram:
    """The canonical form of one program.

    Parameters
    ----------
    source : path, bytes, Artifact or ExportedProgram
        Anything :func:`load` accepts.
    model : str, optional
        Which model of a multi-model archive (default: the only one, or ``"model"``).
    keep_metadata : iterable of str
        Node metadata keys to keep (default: none; see :class:`pt2canon.canon.program.Profile`).

    Returns
    -------
    CanonicalProgram
        ``.doc`` is the canonical ``ExportedProgram`` JSON.
    """
    artifact = load(source)
    m = artifact.models.get(model) if model else artifact.model
    if m is None:
        raise InputError(
            f"no model named {model!r}; the archive holds {', '.join(sorted(artifact.models))}", file=artifact.path
        )
    return canonicalize_model(artifact, m, keep_metadata=keep_metadata)


@gc_paused
def digest(
    source: Any,
    *,
    level: str = "graph",
    include_sample_inputs: bool = False,
    include_versions: bool = False,
    keep_metadata: Iterable[str] = (),
) -> HashResult:
    """The layered hash of an artifact, with the digest of every layer.

    See :mod:`pt2canon.canon.hashing` and ``docs/hashing.md`` for what each
    level includes.
    """
    from pt2canon.canon.hashing import hash_layers

    artifact = load(source)
    canons = canonicalize_all(artifact, keep_metadata=keep_metadata)
    try:
        return hash_layers(
            canons,
            level=level,
            artifact=artifact,
            include_sample_inputs=include_sample_inputs,
            include_versions=include_versions,
        )
    except Pt2CanonError as exc:
        raise exc.located(file=artifact.path) from None


def hash(source: Any, *, level: str = "graph", **options: Any) -> str:
    """The hash of an artifact as ``"sha256:<64 hex>"``; options as for :func:`digest`."""
    return digest(source, level=level, **options).hash
