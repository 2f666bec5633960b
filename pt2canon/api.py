"""The small Python API: :func:`load`, :func:`canonicalize`, :func:`hash`, :func:`digest`.

``pt2canon.diff`` (the package :mod:`pt2canon.diff`, callable) builds on it.

Each accepts what :func:`load` does: archives, JSON, bytes, an in-memory
``ExportedProgram`` or FX graph (:mod:`pt2canon.fx`).

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
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pt2canon._gc import gc_paused
from pt2canon.errors import InputError, Pt2CanonError
from pt2canon.serde.archive import Artifact, Limits, Model, read_artifact, select_model

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.canon.hashing import HashResult
    from pt2canon.canon.program import CanonicalProgram

__all__ = ["canonicalize", "canonicalize_all", "canonicalize_model", "digest", "hash", "load"]


@gc_paused
def load(
    source: Any,
    *,
    limits: Limits | None = None,
    trust_pickle: bool = False,
    example_inputs: Sequence[Any] | None = None,
) -> Artifact:
    """Load a program from a path, bytes, an ``ExportedProgram`` or an FX graph.

    Parameters
    ----------
    source : str, os.PathLike, bytes, Artifact, ExportedProgram or torch.fx.GraphModule
        A ``.pt2`` archive, an older-format zip, a ``model.json``, their
        bytes, a program in memory (serialized with torch's own serializer;
        torch is imported only in that case), an FX ``GraphModule`` or
        ``Graph`` (:mod:`pt2canon.fx`), or a GraphPickler payload (a
        pickle: refused unless ``trust_pickle``).
    limits : Limits, optional
        Size bounds for untrusted archives.
    trust_pickle : bool
        Unpickle a GraphPickler payload (it runs the code it names) with
        torch's ``GraphPickler.loads``; without it a pickle is refused.
    example_inputs : sequence, optional
        For an FX graph: its inputs, one per placeholder (what a
        ``torch.compile`` backend receives); real tensors bound to
        parameters and buffers are hashed at level ``full``.

    Returns
    -------
    Artifact
    """
    from pt2canon.serde import archive

    lim = limits or archive.DEFAULT_LIMITS
    if isinstance(source, Artifact):
        return source
    if isinstance(source, (str, os.PathLike)):
        from pt2canon.fx.pickled import is_pickle, read_graph_pickle

        if not os.path.isdir(source) and is_pickle(archive.sniff(os.fspath(source), 2)[0]):
            return read_graph_pickle(source, trust_pickle=trust_pickle, limits=lim)  # type: ignore[no-any-return]
        return read_artifact(source, limits=lim)
    if isinstance(source, (bytes, bytearray, memoryview)):
        from pt2canon.fx.pickled import is_pickle, load_graph_pickle

        data = bytes(source)
        if is_pickle(data[:2]):
            return load_graph_pickle(data, trust_pickle=trust_pickle)  # type: ignore[no-any-return]
        return archive.read_bytes(data, limits=lim)
    if type(source).__name__ == "ExportedProgram":
        from pt2canon.serde.torch_io import from_exported_program

        return from_exported_program(source)
    fx = sys.modules.get("torch.fx")  # an FX graph exists only once torch is imported
    if fx is not None and isinstance(source, (fx.GraphModule, fx.Graph)):
        from pt2canon.fx.artifact import from_graph_module

        return from_graph_module(source, example_inputs=example_inputs)
    raise InputError(
        f"cannot load {type(source).__name__!r}: expected a path, bytes, a torch.export.ExportedProgram "
        "or a torch.fx.GraphModule"
    )


def _profile(keep_metadata: Iterable[str]) -> Any:
    from pt2canon.canon.program import DEFAULT_PROFILE, Profile

    keep = frozenset(keep_metadata)
    return Profile(name="custom", keep_metadata=keep) if keep else DEFAULT_PROFILE


def canonicalize_model(
    artifact: Artifact, model: Model, *, keep_metadata: Iterable[str] = (), keep_model: bool = True
) -> CanonicalProgram:
    """The canonical form of one model of a loaded artifact; errors name the artifact's file and member.

    ``keep_model=False`` frees the graph model before the canonical document
    is written (see :func:`pt2canon.canon.program.canonicalize_program`).
    """
    from pt2canon.canon.program import canonicalize_program

    profile = _profile(keep_metadata)
    try:
        return canonicalize_program(model.program, profile=profile, keep_model=keep_model)
    except Pt2CanonError as exc:
        raise exc.located(file=artifact.path, member=model.member) from None
    except RecursionError:
        raise InputError("graph is nested too deeply", file=artifact.path, member=model.member) from None


@gc_paused
def canonicalize_all(
    source: Any, *, keep_metadata: Iterable[str] = (), trust_pickle: bool = False, keep_model: bool = True
) -> dict[str, CanonicalProgram]:
    """Canonicalize every model of an artifact; returns ``{model name: CanonicalProgram}``.

    ``keep_model`` as for :func:`canonicalize_model`.
    """
    keep_metadata = tuple(keep_metadata)  # read once: every model keeps the same keys
    artifact = load(source, trust_pickle=trust_pickle)
    return {
        name: canonicalize_model(artifact, m, keep_metadata=keep_metadata, keep_model=keep_model)
        for name, m in sorted(artifact.models.items())
    }


@gc_paused
def canonicalize(
    source: Any, *, model: str | None = None, keep_metadata: Iterable[str] = (), trust_pickle: bool = False
) -> CanonicalProgram:
    """The canonical form of one program.

    Parameters
    ----------
    source : path, bytes, Artifact or ExportedProgram
        Anything :func:`load` accepts.
    model : str, optional
        Which model of a multi-model archive (default: the only one, or ``"model"``).
    keep_metadata : iterable of str
        Node metadata keys to keep (default: none; see :class:`pt2canon.canon.program.Profile`).
    trust_pickle : bool
        Let :func:`load` unpickle a GraphPickler payload.

    Returns
    -------
    CanonicalProgram
        ``.doc`` is the canonical ``ExportedProgram`` JSON.
    """
    artifact = load(source, trust_pickle=trust_pickle)
    return canonicalize_model(artifact, select_model(artifact, model), keep_metadata=keep_metadata)


@gc_paused
def digest(
    source: Any,
    *,
    level: str = "graph",
    include_sample_inputs: bool = False,
    include_versions: bool = False,
    keep_metadata: Iterable[str] = (),
    trust_pickle: bool = False,
    limits: Limits | None = None,
) -> HashResult:
    """The layered hash of an artifact, with the digest of every layer.

    See :mod:`pt2canon.canon.hashing` and ``docs/hashing.md`` for what each
    level includes; ``trust_pickle`` lets :func:`load` unpickle a
    GraphPickler payload; ``limits`` are :func:`load`'s (raise them for a
    trusted program over the default bounds; a loaded :class:`Artifact`
    was read under its own).

    Memory: an archive read from a path or bytes is this call's own, so the
    node metadata the hash leaves out is dropped as soon as it is read
    (:func:`pt2canon.canon.program.drop_unkept_metadata`), and no graph model
    is kept once the canonical order is known; a loaded :class:`Artifact`
    passed in is read, never changed. ``docs/memory.md`` gives the bound.
    """
    from pt2canon.canon.hashing import hash_layers

    keep_metadata = tuple(keep_metadata)  # read once: the metadata dropped here is what canonicalizing drops
    artifact = load(source, trust_pickle=trust_pickle, limits=limits)
    if isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        from pt2canon.canon.program import drop_unkept_metadata

        profile = _profile(keep_metadata)
        for m in artifact.models.values():
            drop_unkept_metadata(m.program, profile)
    # The hash reads only the canonical documents: no graph model is kept.
    canons = canonicalize_all(artifact, keep_metadata=keep_metadata, keep_model=False)
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
    except RecursionError:  # only with limits over the defaults: a kept value nests deeper than json can write
        raise InputError(
            "document is nested too deeply to hash: a value nests deeper than Python's recursion limit; "
            f"read it with the default Limits(max_depth={Limits().max_depth}) (on the command line: "
            "without --limit max_depth), which refuses it",
            file=artifact.path,
        ) from None


def hash(source: Any, *, level: str = "graph", **options: Any) -> str:
    """The hash of an artifact as ``"sha256:<64 hex>"``; options as for :func:`digest`."""
    return digest(source, level=level, **options).hash
