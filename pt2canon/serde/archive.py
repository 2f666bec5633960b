"""Read ``.pt2`` archives, the older zip format and bare ``model.json`` files.

An archive is untrusted input. This module never unpickles anything: weights,
constants and sample inputs stay in the zip as bytes and are read lazily, in
chunks, by :meth:`Artifact.iter_payload`. Member names with absolute paths or
``..`` are refused, and declared and actual decompressed sizes are bounded by
:class:`Limits`.

Layout of a current archive (``torch.export.save``, torch >= 2.6)::

    <root>/archive_format                       b"pt2"
    <root>/models/<model>.json                  one per model
    <root>/data/weights/<model>_weights_config.json   FQN -> weight_N
    <root>/data/weights/weight_N                raw tensor storage
    <root>/data/constants/<model>_constants_config.json
    <root>/data/constants/tensor_N ...
    <root>/data/sample_inputs/<model>.pt        a pickle (never loaded)
    <root>/extra/<name>                         torch.export.save(..., extra_files=...)

The older format (torch <= 2.5) holds ``serialized_exported_program.json``,
``serialized_state_dict.pt``, ``serialized_constants.pt``,
``serialized_example_inputs.pt`` and ``version`` at the top of the zip; its
state dict and constants are read per tensor, without unpickling, by
:mod:`pt2canon.serde.legacy`.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import IO, Any, Literal

from pt2canon import _json
from pt2canon.errors import ArchiveError, InputError, SchemaError, UnsafeArchiveError
from pt2canon.serde.schema import check_payload_config, check_program

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

_LEGACY_PROGRAM = "serialized_exported_program.json"
_LEGACY_BLOBS = {
    "state_dict": ("serialized_state_dict.pt", "serialized_state_dict.json"),
    "constants": ("serialized_constants.pt", "serialized_constants.json"),
    "example_inputs": ("serialized_example_inputs.pt",),
}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile archive from exhausting memory or time.

    Parameters
    ----------
    max_json_bytes : int
        Largest JSON member (``model.json``, configs) read into memory.
    max_member_bytes : int
        Largest declared size of any one member (weights are streamed, but a
        member declared larger than this is refused).
    max_total_bytes : int
        Largest sum of declared member sizes.
    max_members : int
        Most members in one archive.
    max_ratio : int
        Largest compression ratio of a compressed member (zip bombs); torch
        writes members uncompressed, so a high ratio means a crafted file.
    """

    max_json_bytes: int = 1 << 30
    max_member_bytes: int = 64 << 30
    max_total_bytes: int = 256 << 30
    max_members: int = 200_000
    max_ratio: int = 200


DEFAULT_LIMITS = Limits()


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


class _ZipSource:
    """A zip file opened once, with safety checks and chunked member reads."""

    def __init__(self, data: bytes | None, path: str | None, label: str, limits: Limits):
        self.label = label
        self.path = path
        self.limits = limits
        self._data = data
        fileobj = self._open_private()
        self._fileobj = fileobj
        try:
            self.zip = zipfile.ZipFile(fileobj)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error) as exc:
            fileobj.close()
            raise ArchiveError(f"not a readable zip archive ({exc})", file=label) from None
        except Exception as exc:  # zipfile raises assorted errors on hostile input
            fileobj.close()
            raise ArchiveError(f"not a readable zip archive ({type(exc).__name__}: {exc})", file=label) from None
        self.infos: dict[str, zipfile.ZipInfo] = {}
        try:
            self._check(infos)
        except BaseException:
            self.zip.close()
            fileobj.close()
            raise

    def _check(self, infos: list[zipfile.ZipInfo]) -> None:
        lim = self.limits
        if len(infos) > lim.max_members:
            raise UnsafeArchiveError(
                f"archive has {len(infos)} members, over the limit max_members={lim.max_members}",
                file=self.label,
            )
        total = 0
        for info in infos:
            name = info.filename
            check_member_name(name, self.label)
            if name in self.infos:
                raise UnsafeArchiveError("member name appears twice in the archive", file=self.label, member=name)
            if info.file_size > lim.max_member_bytes:
                raise UnsafeArchiveError(
                    f"member declares {info.file_size} bytes, over the limit max_member_bytes={lim.max_member_bytes}",
                    file=self.label,
                    member=name,
                )
            if info.compress_type != zipfile.ZIP_STORED and info.file_size > lim.max_ratio * max(info.compress_size, 1):
                raise UnsafeArchiveError(
                    f"member expands {info.file_size} bytes from {info.compress_size}, over the compression "
                    f"ratio limit max_ratio={lim.max_ratio} (a zip bomb?)",
                    file=self.label,
                    member=name,
                )
            total += info.file_size
            self.infos[name] = info
        if total > lim.max_total_bytes:
            raise UnsafeArchiveError(
                f"members declare {total} bytes in all, over the limit max_total_bytes={lim.max_total_bytes}",
                file=self.label,
            )
        # Members whose data overlap (several names for one stretch of bytes) multiply the work
        # of reading a file without growing it; zipfile's own check is skipped by stored reads.
        prev: zipfile.ZipInfo | None = None
        for info in sorted(infos, key=lambda i: i.header_offset):
            if prev is not None and info.header_offset < prev.header_offset + 30 + prev.compress_size:
                raise UnsafeArchiveError(
                    f"member overlaps the data of member {prev.filename!r} (a zip bomb?)",
                    file=self.label,
                    member=info.filename,
                )
            prev = info

    def names(self) -> list[str]:
        return list(self.infos)

    def size(self, name: str) -> int:
        return self.infos[name].file_size

    def read(self, name: str, *, limit: int | None = None) -> bytes:
        """Read a whole member, refusing more than ``limit`` bytes."""
        limit = self.limits.max_json_bytes if limit is None else limit
        info = self.infos.get(name)
        if info is None:
            raise ArchiveError("member is missing from the archive", file=self.label, member=name)
        if info.file_size > limit:
            raise UnsafeArchiveError(
                f"member declares {info.file_size} bytes, over the limit of {limit} for members read whole",
                file=self.label,
                member=name,
            )
        return b"".join(self.iter_chunks(name, limit=limit))

    def iter_chunks(self, name: str, *, chunk: int = _CHUNK, limit: int | None = None) -> Iterator[bytes]:
        """Yield a member's bytes in chunks; stored members are read at their offset."""
        info = self.infos.get(name)
        if info is None:
            raise ArchiveError("member is missing from the archive", file=self.label, member=name)
        limit = self.limits.max_member_bytes if limit is None else limit
        if info.compress_type == zipfile.ZIP_STORED and info.flag_bits & 0x1 == 0:
            yield from self._iter_stored(info, chunk)
            return
        try:
            with self.zip.open(info) as fh:
                seen = 0
                while True:
                    block = fh.read(chunk)
                    if not block:
                        break
                    seen += len(block)
                    if seen > min(limit, info.file_size):
                        raise UnsafeArchiveError(
                            f"member expands past its declared size {info.file_size} (limit {limit})",
                            file=self.label,
                            member=name,
                        )
                    yield block
        except UnsafeArchiveError:
            raise
        except Exception as exc:  # zlib.error, BadZipFile, EOFError, NotImplementedError, ...
            raise ArchiveError(
                f"cannot decompress member ({type(exc).__name__}: {exc})", file=self.label, member=name
            ) from None

    def _data_start(self, fh: IO[bytes], info: zipfile.ZipInfo) -> int:
        fh.seek(info.header_offset)
        header = fh.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise ArchiveError("member's local header is missing or corrupt", file=self.label, member=info.filename)
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        return info.header_offset + 30 + name_len + extra_len

    def _open_private(self) -> IO[bytes]:
        # Each reader gets its own handle, so members can be read from
        # several threads (hashing) or in alternation without seeking races.
        if self.path is not None:
            return open(self.path, "rb")
        return io.BytesIO(self._data or b"")

    def _iter_stored(self, info: zipfile.ZipInfo, chunk: int) -> Iterator[bytes]:
        # Read the local header to find where the data starts, then read the
        # bytes straight from the file: no decompressor, no CRC pass, no copy.
        try:
            with self._open_private() as fh:
                start = self._data_start(fh, info)
                fh.seek(start)
                done = 0
                while done < info.file_size:
                    block = fh.read(min(chunk, info.file_size - done))
                    if not block:
                        raise ArchiveError(
                            f"member is truncated: {info.file_size - done} of {info.file_size} bytes missing",
                            file=self.label,
                            member=info.filename,
                        )
                    done += len(block)
                    yield block
        except (OSError, ValueError, OverflowError) as exc:  # a corrupt offset: negative or past 2**63
            raise ArchiveError(f"cannot read member ({exc})", file=self.label, member=info.filename) from None

    def sha256(self, name: str, *, chunk: int = 4 << 20) -> str:
        """``sha256:<hex>`` of a member's bytes, streamed with a fixed buffer (thread-safe)."""
        info = self.infos.get(name)
        if info is None:
            raise ArchiveError("member is missing from the archive", file=self.label, member=name)
        h = hashlib.sha256()
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            for block in self.iter_chunks(name, chunk=chunk):
                h.update(block)
            return "sha256:" + h.hexdigest()
        buf = bytearray(min(chunk, max(info.file_size, 1)))
        view = memoryview(buf)
        try:
            with self._open_private() as fh:
                fh.seek(self._data_start(fh, info))
                remaining = info.file_size
                while remaining:
                    n = fh.readinto(view[: min(len(buf), remaining)])  # type: ignore[attr-defined]
                    if not n:
                        raise ArchiveError(
                            f"member is truncated: {remaining} of {info.file_size} bytes missing",
                            file=self.label,
                            member=name,
                        )
                    h.update(view[:n])
                    remaining -= n
        except (OSError, ValueError, OverflowError) as exc:  # a corrupt offset: negative or past 2**63
            raise ArchiveError(f"cannot read member ({exc})", file=self.label, member=name) from None
        return "sha256:" + h.hexdigest()

    def close(self) -> None:
        self.zip.close()
        self._fileobj.close()


def check_member_name(name: str, label: str) -> None:
    """Refuse member names that could escape an extraction folder."""
    bad = None
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        bad = "is an absolute path"
    elif "\\" in name:
        bad = "contains a backslash"
    elif ".." in name.split("/"):
        bad = "contains a '..' component"
    elif "\x00" in name:
        bad = "contains a NUL byte"
    if bad:
        raise UnsafeArchiveError(f"member name {name!r} {bad}; refusing the archive", file=label, member=name)


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
    _zip: _ZipSource | None = field(default=None, repr=False)

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


def _program_from_json(data: bytes, label: str, member: str | None) -> dict[str, Any]:
    doc = _parse_json(data, label, member)
    try:
        check_program(doc)
    except SchemaError as exc:
        raise exc.located(file=label, member=member) from None
    return doc  # type: ignore[no-any-return]


def _payloads(
    src: _ZipSource, root: str, config_member: str, folder: str, kind: Literal["weight", "constant"]
) -> Mapping[str, Payload]:
    if config_member not in src.infos:
        return MappingProxyType({})
    doc = _parse_json(src.read(config_member), src.label, config_member)
    try:
        check_payload_config(doc)
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


def _find_root(src: _ZipSource) -> str | None:
    """The root folder of a current-format archive, ``None`` if there is none."""
    roots = set()
    for name in src.infos:
        parts = name.split("/")
        if parts[-1] == "archive_format" and len(parts) <= 2:
            roots.add(parts[0] + "/" if len(parts) == 2 else "")
        elif len(parts) == 3 and parts[1] == "models" and parts[2].endswith(".json"):
            roots.add(parts[0] + "/")
        elif len(parts) == 2 and parts[0] == "models" and parts[1].endswith(".json"):
            roots.add("")
    if len(roots) > 1:
        raise ArchiveError(
            f"archive has {len(roots)} root folders ({', '.join(sorted(repr(r) for r in roots))}); "
            "a .pt2 archive has exactly one",
            file=src.label,
        )
    return roots.pop() if roots else None


def _read_pt2(src: _ZipSource, root: str) -> Artifact:
    model_members = sorted(
        n
        for n in src.infos
        if n.startswith(f"{root}models/") and n.endswith(".json") and n.count("/") == root.count("/") + 1
    )
    if not model_members:
        raise ArchiveError(f"archive has no model: no member {root}models/<name>.json", file=src.label)
    models: dict[str, Model] = {}
    for member in model_members:
        name = member[len(f"{root}models/") : -len(".json")]
        program = _program_from_json(src.read(member), src.label, member)
        weights = _payloads(src, root, f"{root}data/weights/{name}_weights_config.json", "data/weights/", "weight")
        constants = _payloads(
            src, root, f"{root}data/constants/{name}_constants_config.json", "data/constants/", "constant"
        )
        # torch <= 2.5 inside the current layout: whole pickled blobs.
        for folder, kind in (("data/weights/", "state_dict"), ("data/constants/", "constants")):
            legacy = f"{root}{folder}{name}.pt"
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
        sample = f"{root}data/sample_inputs/{name}.pt"
        models[name] = Model(
            name=name,
            program=program,
            member=member,
            weights=weights,
            constants=constants,
            sample_inputs=sample if sample in src.infos else None,
        )
    info = {}
    for key, member in (
        ("archive_format", "archive_format"),
        ("archive_version", "archive_version"),
        ("byteorder", "byteorder"),
        ("data_version", ".data/version"),
    ):
        full = f"{root}{member}"
        if full in src.infos and src.size(full) <= 4096:
            info[key] = src.read(full).decode("utf-8", "replace").strip()
    extra = {n[len(f"{root}extra/") :]: n for n in src.infos if n.startswith(f"{root}extra/") and not n.endswith("/")}
    return Artifact(
        path=src.label,
        format="pt2",
        models=models,
        root=root,
        info=info,
        extra_files=dict(sorted(extra.items())),
        _zip=src,
    )


def _read_legacy(src: _ZipSource) -> Artifact:
    program = _program_from_json(src.read(_LEGACY_PROGRAM), src.label, _LEGACY_PROGRAM)
    weights: dict[str, Payload] = {}
    constants: dict[str, Payload] = {}
    sample = None
    for blob, candidates in _LEGACY_BLOBS.items():
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
    if "version" in src.infos and src.size("version") <= 4096:
        info["data_version"] = src.read("version").decode("utf-8", "replace").strip()
    model = Model(
        name="model",
        program=program,
        member=_LEGACY_PROGRAM,
        weights=MappingProxyType(weights),
        constants=MappingProxyType(constants),
        sample_inputs=sample,
    )
    from pt2canon.serde.legacy import legacy_artifact  # the pickled state dict, read per tensor

    art = legacy_artifact(src, {"model": model}, info)
    # torch <= 2.5 wrote extra files at the top: extra_files/<name>.
    extra = {n[len("extra_files/") :]: n for n in src.infos if n.startswith("extra_files/") and not n.endswith("/")}
    art.extra_files = dict(sorted(extra.items()))
    return art


def read_bytes(data: bytes, *, label: str = "<bytes>", limits: Limits = DEFAULT_LIMITS) -> Artifact:
    """Read an artifact from bytes in memory (a zip or a JSON document)."""
    return _read(data, None, label, limits)


def sniff(label: str, n: int, *, what: str = "an archive") -> tuple[bytes, int]:
    """The first ``n`` bytes and the size of a file, or the project's error naming it."""
    try:
        with open(label, "rb") as fh:
            head = fh.read(n)
            fh.seek(0, os.SEEK_END)
            return head, fh.tell()
    except FileNotFoundError:
        raise InputError("no such file", file=label) from None
    except IsADirectoryError:
        raise InputError(f"is a directory, not {what}", file=label) from None
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
    head, size = sniff(label, 4, what="an archive or JSON file")
    if size == 0:
        raise InputError("file is empty; expected a .pt2 archive or a model JSON", file=label)
    if head.startswith(b"PK"):
        return _read(None, label, label, limits)
    if size > limits.max_json_bytes:
        raise UnsafeArchiveError(
            f"file has {size} bytes, over the limit max_json_bytes={limits.max_json_bytes}", file=label
        )
    with open(label, "rb") as fh:
        data = fh.read()
    return _read(data, None, label, limits)


def _read(data: bytes | None, path: str | None, label: str, limits: Limits) -> Artifact:
    head = data[:4] if data is not None else b"PK"
    if not head.startswith(b"PK"):
        data = data or b""
        stripped = data.lstrip()[:1] if data[:1].isspace() else data[:1]  # no copy of the usual document
        if stripped not in (b"{", b"["):
            raise InputError("not a .pt2 archive (zip) nor a model JSON document", file=label)
        program = _program_from_json(data, label, None)
        return Artifact(path=label, format="json", models={"model": Model(name="model", program=program)})
    src = _ZipSource(data, path, label, limits)
    try:
        root = _find_root(src)
        if root is not None:
            return _read_pt2(src, root)
        if _LEGACY_PROGRAM in src.infos:
            return _read_legacy(src)
        raise ArchiveError(
            "zip holds no exported program: neither <root>/models/<name>.json nor serialized_exported_program.json",
            file=label,
        )
    except BaseException:
        src.close()
        raise
