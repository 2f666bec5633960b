"""What pt2canon reads: an :class:`Artifact` of named :class:`Model` programs and their :class:`Payload` tensors.

The data model of :mod:`pt2canon.serde.archive` (the reader) and
:mod:`pt2canon.serde.legacy` (older archives), apart from both, so that
each reader imports it and neither imports the other. Payloads stay in
the archive until they are read or hashed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from pt2canon.errors import InputError
from pt2canon.serde.members import BlockReader, MemberReader
from pt2canon.serde.zipsource import CHUNK, ZipSource

__all__ = ["Artifact", "Model", "Payload", "select_model"]


@dataclass(frozen=True)
class Payload:
    """One weight or constant of a model, left in the archive.

    Attributes
    ----------
    fqn : str
        Fully qualified name (``"encoder.layers.0.linear1.weight"``).
    kind : {"weight", "constant", "blob"}
        ``"blob"`` is a whole pickle kept as bytes: ``data/weights/<model>.pt``,
        or an older-format constants pickle holding more than plain tensors.
    path_name : str
        File name inside ``data/weights`` or ``data/constants``.
    member : str
        The archive member holding the bytes.
    size : int
        Size of the member in bytes.
    is_param, use_pickle : bool
        As in torch's ``PayloadMeta``; ``use_pickle`` payloads are hashed as
        bytes and never unpickled.
    tensor_meta : Mapping or None
        The serialized ``TensorMeta`` (dtype, sizes, strides, ...).

    Examples
    --------
    A model's weights are payloads; their bytes are read only when asked for:

    >>> from pt2canon.serde.archive import read_artifact
    >>> with read_artifact("examples/mlp_v1.pt2") as art:
    ...     p = art.model.weights["fc1.bias"]
    ...     p.kind, p.is_param, [d["as_int"] for d in p.tensor_meta["sizes"]], p.size
    ...     sum(len(b) for b in art.iter_payload(p, chunk=100))
    ('weight', True, [32], 128)
    128
    """

    fqn: str
    kind: Literal["weight", "constant", "blob"]
    path_name: str
    member: str
    size: int
    is_param: bool = False
    use_pickle: bool = False
    tensor_meta: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Model:
    """One exported program of an artifact.

    Attributes
    ----------
    name : str
        Model name (``"model"`` for ``torch.export.save``).
    program : dict
        The serialized ``ExportedProgram`` as plain JSON data. Treat it as
        read-only: pt2canon's functions return new documents.
    member : str or None
        The archive member the JSON came from.
    weights, constants : Mapping[str, Payload]
        Payloads keyed by FQN.
    sample_inputs : str or None
        Member holding the pickled sample inputs (never unpickled).

    Examples
    --------
    >>> from pt2canon.serde.archive import read_artifact
    >>> with read_artifact("examples/mlp_v1.pt2") as art:
    ...     m = art.model
    ...     m.name, m.member, m.sample_inputs, len(m.weights), len(m.constants)
    ...     [s for s in m.program["graph_module"]["signature"]["input_specs"] if "user_input" in s]
    ('model', 'mlp_v1/models/model.json', 'mlp_v1/data/sample_inputs/model.pt', 6, 0)
    [{'user_input': {'arg': {'as_tensor': {'name': 'x'}}}}]
    """

    name: str
    program: dict[str, Any]
    member: str | None = None
    weights: Mapping[str, Payload] = field(default_factory=lambda: MappingProxyType({}))
    constants: Mapping[str, Payload] = field(default_factory=lambda: MappingProxyType({}))
    sample_inputs: str | None = None


@dataclass
class Artifact:
    """An exported-program artifact: a ``.pt2`` archive, an older zip, or a JSON file.

    Use :func:`read_artifact` (or :func:`pt2canon.load`) to make one.

    Attributes
    ----------
    path : str
        The file it was read from, or ``"<ExportedProgram>"`` / ``"<bytes>"``.
    format : {"pt2", "legacy", "json", "fx"}
        Which container the program came in (``"fx"``: an FX graph in
        memory, :class:`pt2canon.fx.FxArtifact`).
    models : dict[str, Model]
        The programs, keyed by model name.
    root : str
        The archive's root folder (``""`` for JSON and the older format).
    info : dict[str, str]
        Small archive facts: ``archive_format``, ``archive_version``,
        ``byteorder``, ``data_version`` where present.
    extra_files : dict[str, str]
        The archive's extra files (``torch.export.save(..., extra_files=...)``):
        name under ``extra/`` (``extra_files/`` in the older format) -> archive member.

    Examples
    --------
    >>> from pt2canon.serde.archive import read_artifact
    >>> with read_artifact("examples/mlp_v1.pt2") as art:
    ...     art.format, art.root, list(art.models), art.info["byteorder"]
    ...     len(art.members), art.read_member("mlp_v1/archive_format")
    ('pt2', 'mlp_v1/', ['model'], 'little')
    (15, b'pt2')
    """

    path: str
    format: Literal["pt2", "legacy", "json", "fx"]
    models: dict[str, Model]
    root: str = ""
    info: dict[str, str] = field(default_factory=dict)
    extra_files: dict[str, str] = field(default_factory=dict)
    _zip: ZipSource | None = field(default=None, repr=False)

    @property
    def model(self) -> Model:
        """The only model, or the one named ``"model"`` (:func:`select_model` with no name)."""
        return select_model(self)

    @property
    def members(self) -> list[str]:
        """All archive member names (empty for JSON)."""
        return self._zip.names() if self._zip else []

    def member_size(self, member: str) -> int:
        """Declared size of an archive member."""
        if self._zip is None:
            raise InputError("not an archive", file=self.path)
        return self._zip.size(member)

    def read_member(self, member: str, *, limit: int | None = None) -> bytes:
        """Read a whole archive member as bytes (bounded by ``limit``)."""
        if self._zip is None:
            raise InputError("not an archive", file=self.path)
        return self._zip.read(member, limit=limit)

    def iter_member(self, member: str, *, chunk: int = CHUNK) -> Iterator[bytes]:
        """Yield an archive member's bytes in chunks of at most ``chunk`` bytes."""
        if self._zip is None:
            raise InputError("not an archive", file=self.path)
        return self._zip.iter_chunks(member, chunk=chunk)

    def sha256_member(self, member: str) -> str:
        """``sha256:<hex>`` of an archive member's bytes, streamed; safe to call from threads."""
        if self._zip is None:
            raise InputError("not an archive", file=self.path)
        return self._zip.sha256(member)

    def iter_payload(self, payload: Payload, *, chunk: int = CHUNK) -> Iterator[bytes]:
        """Yield a weight's or constant's bytes in chunks, never unpickling."""
        return self.iter_member(payload.member, chunk=chunk)

    def open_payload(self, payload: Payload) -> MemberReader | BlockReader:
        """A reader of a weight's or constant's bytes into the caller's buffers (``readinto``); close it.

        A stored archive member is read straight into the buffers given
        (:meth:`ZipSource.open_member <pt2canon.serde.zipsource.ZipSource.open_member>`),
        anything else through :meth:`iter_member` (also whatever a subclass
        serves itself: the older format's nested ``torch.save`` records, an
        FX graph's tensors); the CRC-32 is checked as the last byte is read.
        """
        if self._zip is not None and type(self).iter_member is Artifact.iter_member:
            return self._zip.open_member(payload.member)
        return BlockReader(self.iter_member(payload.member), self.member_size(payload.member))

    def close(self) -> None:
        """Close the underlying file, if any."""
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> Artifact:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def select_model(artifact: Artifact, name: str | None = None) -> Model:
    """The model ``name`` of ``artifact``; without a name, its only model or the one named ``"model"``.

    Every command and function that takes a model name (``--model``,
    ``model=``) picks it here, so the error is the same everywhere.

    Raises
    ------
    InputError
        If ``name`` names no model of the archive, or no name is given and
        the archive holds several models none of which is ``"model"``.

    Examples
    --------
    >>> art = Artifact(path="two.pt2", format="pt2", models={n: Model(n, {}) for n in ("dec", "enc")})
    >>> select_model(art, "enc").name
    'enc'
    >>> select_model(art, "decoder")
    Traceback (most recent call last):
    ...
    pt2canon.errors.InputError: two.pt2: model='decoder': no model of that name; the archive holds dec, enc
    >>> select_model(art)
    Traceback (most recent call last):
    ...
    pt2canon.errors.InputError: two.pt2: the archive holds 2 models (dec, enc); pick one by name (--model NAME)
    """
    models = artifact.models
    if name is None:
        if "model" in models:
            return models["model"]
        if len(models) == 1:
            return next(iter(models.values()))
        raise InputError(
            f"the archive holds {len(models)} models ({', '.join(sorted(models))}); pick one by name (--model NAME)",
            file=artifact.path,
        )
    if name not in models:
        raise InputError(
            f"model={name!r}: no model of that name; the archive holds {', '.join(sorted(models))}",
            file=artifact.path,
        )
    return models[name]
