"""Read ``.pt2`` archives, the older zip format and bare ``model.json`` files.

An archive is untrusted input. This module never unpickles anything: weights,
constants and sample inputs stay in the zip as bytes and are read lazily, in
chunks, by :meth:`Artifact.iter_payload`. Member names with absolute paths or
``..`` are refused, and declared and actual decompressed sizes are bounded by
:class:`Limits`.

The layout of an archive (current and older formats) is described, once,
in :mod:`pt2canon.serde.layout`. The older format's state dict and
constants are read per tensor, without unpickling, by
:mod:`pt2canon.serde.legacy`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from pt2canon import _json
from pt2canon.errors import ArchiveError, GraphError, InputError, SchemaError, UnsafeArchiveError
from pt2canon.serde.layout import (
    CONSTANTS_CONFIG,
    CONSTANTS_DIR,
    DEFAULT_LIMITS,
    EXTRA_DIR,
    INFO_MEMBERS,
    LEGACY_BLOBS,
    LEGACY_CONSTANTS_BLOB,
    LEGACY_EXTRA_DIR,
    LEGACY_PROGRAM,
    LEGACY_VERSION,
    LEGACY_WEIGHTS_BLOB,
    MODEL_JSON,
    MODELS_DIR,
    SAMPLE_INPUTS,
    WEIGHTS_CONFIG,
    WEIGHTS_DIR,
    Limits,
    extra_files,
    find_roots,
    member_name_problem,
)
from pt2canon.serde.schema import check_payload_config, check_program
from pt2canon.serde.zipsource import ZipSource, open_regular

__all__ = [
    "Artifact",
    "Limits",
    "Model",
    "Payload",
    "read_artifact",
    "read_bytes",
    "select_model",
    "sniff",
]

_CHUNK = 1 << 20
# torch's legacy (non-zip) torch.save files start with the pickled magic number 0x1950A86A20F9469CFC6C.
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


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
    """

    name: str
    program: dict[str, Any]
    member: str | None = None
    weights: Mapping[str, Payload] = field(default_factory=lambda: MappingProxyType({}))
    constants: Mapping[str, Payload] = field(default_factory=lambda: MappingProxyType({}))
    sample_inputs: str | None = None


def check_member_name(name: str, label: str) -> None:
    """Refuse member names that could escape an extraction folder."""
    problem = member_name_problem(name)
    if problem:
        raise UnsafeArchiveError(f"member name {name!r} {problem[1]}; refusing the archive", file=label, member=name)


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

    def iter_member(self, member: str, *, chunk: int = _CHUNK) -> Iterator[bytes]:
        """Yield an archive member's bytes in chunks of at most ``chunk`` bytes."""
        if self._zip is None:
            raise InputError("not an archive", file=self.path)
        return self._zip.iter_chunks(member, chunk=chunk)

    def sha256_member(self, member: str) -> str:
        """``sha256:<hex>`` of an archive member's bytes, streamed; safe to call from threads."""
        if self._zip is None:
            raise InputError("not an archive", file=self.path)
        return self._zip.sha256(member)

    def iter_payload(self, payload: Payload, *, chunk: int = _CHUNK) -> Iterator[bytes]:
        """Yield a weight's or constant's bytes in chunks, never unpickling."""
        return self.iter_member(payload.member, chunk=chunk)

    def close(self) -> None:
        """Close the underlying file, if any."""
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> Artifact:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse_json(data: bytes, label: str, member: str | None) -> Any:
    try:
        return _json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchemaError(f"malformed JSON ({msg})", file=label, member=member) from None


def _program_from_json(data: bytes, label: str, member: str | None, limits: Limits) -> dict[str, Any]:
    doc = _parse_json(data, label, member)
    try:
        check_program(doc, limits=limits)
    except (SchemaError, GraphError) as exc:
        raise exc.located(file=label, member=member) from None
    return doc  # type: ignore[no-any-return]


def _payloads(
    src: ZipSource, root: str, config_member: str, folder: str, kind: Literal["weight", "constant"]
) -> Mapping[str, Payload]:
    if config_member not in src.infos:
        return MappingProxyType({})
    doc = _parse_json(src.read(config_member), src.label, config_member)
    try:
        check_payload_config(doc, limits=src.limits)
    except SchemaError as exc:
        raise exc.located(file=src.label, member=config_member) from None
    out: dict[str, Payload] = {}
    for fqn, meta in doc["config"].items():
        member = f"{root}{folder}{meta['path_name']}"
        check_member_name(member, src.label)
        if member not in src.infos:
            raise ArchiveError(
                f"{kind} {fqn!r} is stored in {member!r}, which the archive does not have",
                file=src.label,
                member=config_member,
            )
        out[fqn] = Payload(
            fqn=fqn,
            kind=kind,
            path_name=meta["path_name"],
            member=member,
            size=src.size(member),
            is_param=bool(meta.get("is_param", False)),
            use_pickle=bool(meta.get("use_pickle", False)),
            tensor_meta=meta.get("tensor_meta"),
        )
    return MappingProxyType(out)


def _find_root(src: ZipSource) -> str | None:
    """The root folder of a current-format archive, ``None`` if there is none."""
    roots = find_roots(src.infos)
    if len(roots) > 1:
        raise ArchiveError(
            f"archive has {len(roots)} root folders ({', '.join(sorted(repr(r) for r in roots))}); "
            "a .pt2 archive has exactly one",
            file=src.label,
        )
    return roots.pop() if roots else None


def _read_pt2(src: ZipSource, root: str) -> Artifact:
    model_members = sorted(
        n
        for n in src.infos
        if n.startswith(f"{root}{MODELS_DIR}") and n.endswith(".json") and n.count("/") == root.count("/") + 1
    )
    if not model_members:
        raise ArchiveError(f"archive has no model: no member {root}{MODEL_JSON.format('<name>')}", file=src.label)
    models: dict[str, Model] = {}
    for member in model_members:
        name = member[len(f"{root}{MODELS_DIR}") : -len(".json")]
        program = _program_from_json(src.read(member), src.label, member, src.limits)
        weights = _payloads(src, root, f"{root}{WEIGHTS_CONFIG.format(name)}", WEIGHTS_DIR, "weight")
        constants = _payloads(src, root, f"{root}{CONSTANTS_CONFIG.format(name)}", CONSTANTS_DIR, "constant")
        # torch <= 2.5 inside the current layout: whole pickled blobs.
        for blob_format, kind in ((LEGACY_WEIGHTS_BLOB, "state_dict"), (LEGACY_CONSTANTS_BLOB, "constants")):
            legacy = f"{root}{blob_format.format(name)}"
            if legacy in src.infos:
                blob = Payload(
                    fqn=f"<{kind}>",
                    kind="blob",
                    path_name=f"{name}.pt",
                    member=legacy,
                    size=src.size(legacy),
                    use_pickle=True,
                )
                if kind == "state_dict":
                    weights = MappingProxyType({**weights, blob.fqn: blob})
                else:
                    constants = MappingProxyType({**constants, blob.fqn: blob})
        sample = f"{root}{SAMPLE_INPUTS.format(name)}"
        models[name] = Model(
            name=name,
            program=program,
            member=member,
            weights=weights,
            constants=constants,
            sample_inputs=sample if sample in src.infos else None,
        )
    info = {}
    for key, member in INFO_MEMBERS.items():
        full = f"{root}{member}"
        if full in src.infos and src.size(full) <= 4096:
            info[key] = src.read(full).decode("utf-8", "replace").strip()
    return Artifact(
        path=src.label,
        format="pt2",
        models=models,
        root=root,
        info=info,
        extra_files=extra_files(src.infos, f"{root}{EXTRA_DIR}"),
        _zip=src,
    )


def _read_legacy(src: ZipSource) -> Artifact:
    program = _program_from_json(src.read(LEGACY_PROGRAM), src.label, LEGACY_PROGRAM, src.limits)
    weights: dict[str, Payload] = {}
    constants: dict[str, Payload] = {}
    sample = None
    for blob, candidates in LEGACY_BLOBS.items():
        for member in candidates:
            if member in src.infos:
                if blob == "example_inputs":
                    sample = member
                else:
                    p = Payload(
                        fqn=f"<{blob}>",
                        kind="blob",
                        path_name=member,
                        member=member,
                        size=src.size(member),
                        use_pickle=member.endswith(".pt"),
                    )
                    (weights if blob == "state_dict" else constants)[p.fqn] = p
                break
    info = {}
    if LEGACY_VERSION in src.infos and src.size(LEGACY_VERSION) <= 4096:
        info["data_version"] = src.read(LEGACY_VERSION).decode("utf-8", "replace").strip()
    model = Model(
        name="model",
        program=program,
        member=LEGACY_PROGRAM,
        weights=MappingProxyType(weights),
        constants=MappingProxyType(constants),
        sample_inputs=sample,
    )
    from pt2canon.serde.legacy import legacy_artifact  # the pickled state dict, read per tensor

    art = legacy_artifact(src, {"model": model}, info)
    art.extra_files = extra_files(src.infos, LEGACY_EXTRA_DIR)
    return art


def _not_a_program(src: ZipSource) -> InputError:
    """The error for a zip that holds no exported program; a torch.save or TorchScript file is named as such."""
    names = src.names()
    at_start = any(i.header_offset == 0 for i in src.infos.values())  # not a zip found inside another file
    if not at_start:
        names = []
    if any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in names) and any("/code/" in n for n in names):
        return InputError(
            "this is a TorchScript archive (torch.jit.save), not a torch.export archive; "
            "pt2canon reads what torch.export.save writes",
            file=src.label,
        )
    if any(n.count("/") == 1 and n.endswith("/data.pkl") for n in names):
        return InputError(
            "this is a torch.save file (a checkpoint or state dict), not a torch.export archive; "
            "pt2canon reads what torch.export.save writes",
            file=src.label,
        )
    return ArchiveError(
        "zip holds no exported program: neither <root>/models/<name>.json nor serialized_exported_program.json",
        file=src.label,
    )


def read_bytes(data: bytes, *, label: str = "<bytes>", limits: Limits = DEFAULT_LIMITS) -> Artifact:
    """Read an artifact from bytes in memory (a zip or a JSON document)."""
    return _read(data, None, label, limits)


def sniff(label: str, n: int, *, what: str = "an archive") -> tuple[bytes, int]:
    """The first ``n`` bytes and the size of a regular file, or the project's error naming it.

    FIFOs, devices and sockets are refused before anything is read from them.
    """
    with open_regular(label, what=what) as fh:
        try:
            head = fh.read(n)
            fh.seek(0, os.SEEK_END)
            return head, fh.tell()
        except OSError as exc:
            raise InputError(f"cannot read file ({exc.strerror or exc})", file=label) from None


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


def read_artifact(path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> Artifact:
    """Read a ``.pt2`` archive, an older-format zip or a ``model.json``.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read. Whether it is a zip or JSON is decided by its
        first bytes, not its name.
    limits : Limits
        Size bounds for untrusted input.

    Returns
    -------
    Artifact
        The models it holds; weights stay in the file and are read lazily.

    Raises
    ------
    InputError
        If the file is missing, is not an archive, or holds a broken program.
    """
    label = os.fspath(path)
    head, size = sniff(label, len(_TORCH_LEGACY_MAGIC), what="an archive or JSON file")
    if size == 0:
        raise InputError("file is empty; expected a .pt2 archive or a model JSON", file=label)
    if head.startswith(b"PK"):
        return _read(None, label, label, limits)
    if size > limits.max_json_bytes:
        raise UnsafeArchiveError(
            f"file has {size} bytes, over the limit max_json_bytes={limits.max_json_bytes}", file=label
        )
    with open_regular(label, what="an archive or JSON file") as fh:
        data = fh.read(limits.max_json_bytes + 1)
    if len(data) > limits.max_json_bytes:  # the file grew since it was measured
        raise UnsafeArchiveError(f"file is over the limit max_json_bytes={limits.max_json_bytes}", file=label)
    return _read(data, None, label, limits)


def _read(data: bytes | None, path: str | None, label: str, limits: Limits) -> Artifact:
    head = data[:4] if data is not None else b"PK"
    if not head.startswith(b"PK"):
        data = data or b""
        stripped = data.lstrip()[:1] if data[:1].isspace() else data[:1]  # no copy of the usual document
        if stripped not in (b"{", b"["):
            if data.startswith(_TORCH_LEGACY_MAGIC):
                raise InputError(
                    "this is a torch.save file (the legacy, non-zip format), not a torch.export archive; "
                    "pt2canon reads what torch.export.save writes",
                    file=label,
                )
            raise InputError("not a .pt2 archive (zip) nor a model JSON document", file=label)
        program = _program_from_json(data, label, None, limits)
        return Artifact(path=label, format="json", models={"model": Model(name="model", program=program)})
    src = ZipSource(data, path, label, limits)
    try:
        root = _find_root(src)
        if root is not None:
            return _read_pt2(src, root)
        if LEGACY_PROGRAM in src.infos:
            return _read_legacy(src)
        raise _not_a_program(src)
    except BaseException:
        src.close()
        raise
