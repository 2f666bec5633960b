"""Deterministic, atomic output: JSON documents and ``.pt2`` archives.

Both writers write through :func:`pt2canon.serde.atomic.atomic_write`: a
reader sees the old file or the new one, never half of one, and on any
error the old file is left as it was.

:func:`write_archive` writes a ``.pt2`` archive that ``torch.export.load``
reads, and writes it the same way every time: members in sorted order, one
fixed root folder, fixed timestamps (1980-01-01) and permissions, no
compression, no random ``.data/serialization_id``, weight and constant files
renamed by sorted FQN. Writing the same input twice gives byte-identical
files. Like torch's own ``PyTorchFileWriter``, every member's data starts at
a multiple of 64 bytes (padding in the local header's extra field, id
``FB``), so that tensors can be mapped straight from the file. Weights,
constants and sample inputs are copied as bytes, in chunks, and never
unpickled.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import zipfile
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

from pt2canon import _json
from pt2canon.errors import ArchiveError, Pt2CanonError, UsageError
from pt2canon.serde.archive import Artifact, Model, Payload
from pt2canon.serde.atomic import atomic_write
from pt2canon.serde.layout import (
    ARCHIVE_FORMAT,
    ARCHIVE_VERSION,
    CONSTANT_PREFIXES,
    CONSTANTS_CONFIG,
    CONSTANTS_DIR,
    DATA_VERSION,
    EXTRA_DIR,
    LEGACY_CONSTANTS_BLOB,
    LEGACY_WEIGHTS_BLOB,
    MODEL_JSON,
    SAMPLE_INPUTS,
    WEIGHT_PREFIX,
    WEIGHTS_CONFIG,
    WEIGHTS_DIR,
)
from pt2canon.serde.spec import STATE_FQN_FIELD

__all__ = [
    "ALIGNMENT",
    "ARCHIVE_FORMAT",
    "ARCHIVE_VERSION",
    "DATA_VERSION",
    "write_archive",
    "write_json",
]

#: Data alignment of archive members (torch's ``kFieldAlignment``).
ALIGNMENT = 64

_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644  # a regular file, rw-r--r--
_PAD_ID = b"FB"  # the extra-field id torch's writer pads with
_CHUNK = 1 << 20


# -- JSON ---------------------------------------------------------------------


def _check_finite(doc: Any) -> None:
    # orjson (behind canonical_bytes) writes NaN and infinities as null without a
    # word; refuse them here (torch's schema spells them "NaN", "Infinity", ...).
    stack = [doc]
    while stack:
        obj = stack.pop()
        t = type(obj)
        if t is dict:
            stack.extend(obj.values())
        elif t is list or t is tuple:
            stack.extend(obj)
        elif isinstance(obj, float) and not math.isfinite(obj):
            raise ValueError(f"non-finite float {obj!r} has no JSON spelling")


def _json_bytes(doc: Any, *, indent: int | None, what: str, file: str) -> bytes:
    try:
        if indent is None:
            _check_finite(doc)
            return _json.canonical_bytes(doc)
        text = json.dumps(doc, sort_keys=True, indent=indent, ensure_ascii=False, allow_nan=False)
        return (text + "\n").encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise UsageError(f"cannot write {what} as JSON ({exc})", file=file) from None


def write_json(path: str | os.PathLike[str], doc: Any, *, indent: int | None = None) -> None:
    """Write ``doc`` as JSON with sorted keys, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file to (over)write.
    doc : Any
        JSON data (dicts, lists, strings, numbers, booleans, ``None``).
    indent : int, optional
        ``None`` (default) writes the compact canonical spelling of
        :func:`pt2canon._json.canonical_bytes` (no spaces, no trailing
        newline), so the file's bytes are exactly what pt2canon hashes; an
        integer writes indented JSON with a trailing newline, for people and
        golden files.

    Raises
    ------
    UsageError
        If ``doc`` is not JSON data (non-finite floats included) or the file
        cannot be written. The previous file, if any, is left untouched.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "doc.json")
    >>> write_json(p, {"b": 1, "a": [True, None]})
    >>> open(p, "rb").read()
    b'{"a":[true,null],"b":1}'
    """
    target = os.fspath(path)
    data = _json_bytes(doc, indent=indent, what="document", file=target)
    atomic_write(target, lambda fh: fh.write(data))


# -- archives -------------------------------------------------------------------


class _Member:
    """One archive member to write: its name, size and a source of bytes."""

    __slots__ = ("chunks", "name", "origin", "size")

    def __init__(
        self,
        name: str,
        size: int,
        chunks: Callable[[], Iterable[bytes]],
        origin: tuple[str, str] | None = None,
    ):
        self.name = name
        self.size = size
        self.chunks = chunks
        self.origin = origin  # (source file, source member) for copied members


def _bytes_member(name: str, data: bytes) -> _Member:
    return _Member(name, len(data), lambda: (data,))


def _check_root(root: str, file: str) -> None:
    if (
        not isinstance(root, str)
        or not root
        or root in (".", "..")
        or any(c in root for c in "/\\\x00:")
        or root != root.strip()
    ):
        raise UsageError(
            f"root folder {root!r} is not a plain folder name (no '/', '\\', ':', '..', or blanks)", file=file
        )


def _check_model_name(name: str, file: str) -> None:
    if not name or name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise UsageError(f"model name {name!r} cannot be written as an archive member", file=file)


def _constant_prefix(path_name: str) -> str:
    for prefix in CONSTANT_PREFIXES:
        if path_name.startswith(prefix):
            return prefix
    # A prefix this torch does not know: keep it (less its number) so that a
    # newer torch's files still reach a newer torch's loader under their kind.
    m = re.fullmatch(r"(.*?)\d*", path_name)
    stem = m.group(1) if m else path_name
    return stem or "constant_"


class _Renamer:
    """Assigns ``<prefix>N`` file names, one per source member, numbered per prefix."""

    def __init__(self) -> None:
        self.by_member: dict[str, str] = {}
        self.counters: dict[str, int] = {}

    def name(self, source_member: str, prefix: str) -> tuple[str, bool]:
        """The new name for ``source_member`` and whether it is new (to be written)."""
        known = self.by_member.get(source_member)
        if known is not None:
            return known, False
        n = self.counters.get(prefix, 0)
        self.counters[prefix] = n + 1
        new = f"{prefix}{n}"
        self.by_member[source_member] = new
        return new, True


def _payload_meta(p: Payload, path_name: str) -> dict[str, Any]:
    # torch's PayloadMeta: path_name, is_param, use_pickle, tensor_meta.
    return {
        "path_name": path_name,
        "is_param": p.is_param,
        "use_pickle": p.use_pickle,
        "tensor_meta": dict(p.tensor_meta) if p.tensor_meta is not None else None,
    }


def _required_state(program: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(kind, fqn)`` of every weight or constant the program's signature reads."""
    out: list[tuple[str, str]] = []
    try:
        specs = program["graph_module"]["signature"]["input_specs"]
    except (KeyError, TypeError):
        return out
    for spec in specs:
        if not isinstance(spec, dict) or len(spec) != 1:
            continue
        ((kind, body),) = spec.items()
        key = STATE_FQN_FIELD.get(kind)
        if key and isinstance(body, dict) and isinstance(body.get(key), str):
            out.append((kind, body[key]))
    return out


def _plan_archive(
    artifact: Artifact,
    programs: Mapping[str, dict[str, Any]] | None,
    root: str,
    file: str,
    sample_inputs: bool = True,
) -> list[_Member]:
    """Every member of the archive to write, sorted by name; nothing is read yet."""
    programs = dict(programs or {})
    unknown = sorted(set(programs) - set(artifact.models))
    if unknown:
        raise UsageError(
            f"programs given for model(s) {', '.join(map(repr, unknown))}, which the artifact "
            f"({artifact.path}) does not hold; it holds {', '.join(map(repr, sorted(artifact.models)))}",
            file=file,
        )
    pre = f"{root}/"
    members: dict[str, _Member] = {}

    def add(m: _Member) -> None:
        if m.name in members:  # pragma: no cover - names are built collision-free
            raise UsageError(f"two members would be named {m.name!r}", file=file)
        members[m.name] = m

    def copy_member(name: str, source: str, size: int) -> _Member:
        return _Member(name, size, lambda: artifact.iter_member(source, chunk=_CHUNK), (artifact.path, source))

    weights = _Renamer()
    constants = _Renamer()
    for name in sorted(artifact.models):
        _check_model_name(name, file)
        model: Model = artifact.models[name]
        program = programs.get(name, model.program)
        if not isinstance(program, dict):
            raise UsageError(f"program for model {name!r} is {type(program).__name__}, not a JSON object", file=file)
        where = f"model {name!r}"

        blobs: dict[str, Payload] = {}
        weight_payloads: dict[str, Payload] = {}
        constant_payloads: dict[str, Payload] = {}
        for table, out in ((model.weights, weight_payloads), (model.constants, constant_payloads)):
            for fqn, p in table.items():
                if p.kind == "blob":
                    # A whole pickled state dict / constants dict (the older format, or
                    # torch's legacy data/weights/<model>.pt): torch.export.load still
                    # reads it from data/{weights,constants}/<model>.pt.
                    blobs["constants" if fqn == "<constants>" else "weights"] = p
                else:
                    out[fqn] = p

        have = set(weight_payloads) | set(constant_payloads)
        if not blobs:
            missing = [(k, f) for k, f in _required_state(program) if f not in have]
            if missing:
                kind, fqn = missing[0]
                more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
                source = (
                    "a JSON document holds no weights" if artifact.format == "json" else "it is not in the artifact"
                )
                raise UsageError(
                    f"{where}: the program reads {kind} {fqn!r}{more}, but {source}; "
                    "write an archive from a .pt2 archive or an ExportedProgram instead",
                    file=file,
                )

        program_bytes = _json_bytes(program, indent=None, what=f"the program of {where}", file=file)
        add(_bytes_member(f"{pre}{MODEL_JSON.format(name)}", program_bytes))

        for kind, folder, payloads, renamer, config_name, blob_name in (
            ("weights", WEIGHTS_DIR, weight_payloads, weights, WEIGHTS_CONFIG, LEGACY_WEIGHTS_BLOB),
            ("constants", CONSTANTS_DIR, constant_payloads, constants, CONSTANTS_CONFIG, LEGACY_CONSTANTS_BLOB),
        ):
            blob = blobs.get(kind)
            if blob is not None:
                add(copy_member(f"{pre}{blob_name.format(name)}", blob.member, blob.size))
            if blob is not None and not payloads:
                continue
            config: dict[str, Any] = {}
            for fqn in sorted(payloads):
                p = payloads[fqn]
                prefix = WEIGHT_PREFIX if kind == "weights" else _constant_prefix(p.path_name)
                new, fresh = renamer.name(p.member, prefix)
                if fresh:
                    add(copy_member(f"{pre}{folder}{new}", p.member, p.size))
                config[fqn] = _payload_meta(p, new)
            add(_bytes_member(f"{pre}{config_name.format(name)}", _json.canonical_bytes({"config": config})))

        sample = f"{pre}{SAMPLE_INPUTS.format(name)}"
        if model.sample_inputs is not None and sample_inputs:
            add(copy_member(sample, model.sample_inputs, artifact.member_size(model.sample_inputs)))
        else:
            # torch.export.load reads this member unconditionally; empty means "no sample inputs".
            add(_bytes_member(sample, b""))

    for name, member in artifact.extra_files.items():
        add(copy_member(f"{pre}{EXTRA_DIR}{name}", member, artifact.member_size(member)))
    byteorder = artifact.info.get("byteorder") or "little"
    if byteorder not in ("little", "big"):
        byteorder = "little"
    add(_bytes_member(f"{pre}archive_format", ARCHIVE_FORMAT))
    add(_bytes_member(f"{pre}archive_version", ARCHIVE_VERSION))
    add(_bytes_member(f"{pre}byteorder", byteorder.encode("ascii")))
    add(_bytes_member(f"{pre}.data/version", DATA_VERSION))
    return [members[k] for k in sorted(members)]


def _write_member(zf: zipfile.ZipFile, fh: IO[bytes], m: _Member, file: str) -> None:
    info = zipfile.ZipInfo(m.name, date_time=_DATE_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # unix, whatever platform writes the file
    info.external_attr = _FILE_MODE << 16
    info.file_size = m.size
    zip64 = m.size * 1.05 > zipfile.ZIP64_LIMIT  # the rule ZipFile.open(mode="w") applies
    offset = zf.start_dir
    header = 30 + len(m.name.encode("utf-8")) + 4 + (20 if zip64 else 0)
    pad = (-(offset + header)) % ALIGNMENT
    info.extra = _PAD_ID + struct.pack("<H", pad) + b"Z" * pad
    written = 0
    with zf.open(info, "w", force_zip64=zip64) as dst:
        if fh.tell() % ALIGNMENT:  # pragma: no cover - guards the header arithmetic above
            raise AssertionError(f"member {m.name!r} data is not {ALIGNMENT}-byte aligned")
        for chunk in m.chunks():
            written += len(chunk)
            if written > m.size:
                break
            dst.write(chunk)
    if written != m.size:
        src_file, src_member = m.origin or (file, m.name)
        raise ArchiveError(
            f"member has {'more' if written > m.size else 'fewer'} bytes than the {m.size} it declares "
            f"(while writing {m.name!r} to {file})",
            file=src_file,
            member=src_member,
        )
    # The padding only matters in the local header (where the data offset is
    # computed from); torch's central directory carries no extra field either.
    info.extra = b""


def write_archive(
    path: str | os.PathLike[str],
    artifact: Artifact,
    programs: Mapping[str, dict[str, Any]] | None = None,
    *,
    root: str = "archive",
    sample_inputs: bool = True,
) -> None:
    """Write ``artifact``'s models as a deterministic ``.pt2`` archive, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The archive to (over)write.
    artifact : Artifact
        Where the models, weights, constants and sample inputs come from
        (:func:`pt2canon.serde.archive.read_artifact`). It must still be
        open: payloads are streamed from it.
    programs : Mapping[str, dict], optional
        Program JSON to write instead of a model's own, by model name (for
        example canonical programs). Models not named keep their program.
    root : str
        The archive's root folder (torch derives it from the file name;
        pt2canon fixes it so that the file name does not change the bytes).
    sample_inputs : bool
        Copy each model's sample inputs (the pickled example batch, as
        bytes). ``False`` writes the empty member ``torch.export.load``
        reads as "no sample inputs", so that two exports of one program
        with other example batches give the same bytes.

    Notes
    -----
    Each model ``<name>`` gets ``models/<name>.json``, its weight files
    ``data/weights/weight_N`` and constant files
    ``data/constants/{tensor_,custom_obj_,opaque_obj_}N`` (numbered in
    sorted-FQN order, across models in sorted name order; FQNs that shared a
    file still share one, so aliasing survives), the two payload configs
    pointing at the new names, and its sample inputs copied verbatim; the
    archive's extra files are copied verbatim under ``extra/``. An
    artifact of the older format (torch <= 2.5) is written in the current
    format with its pickled state dict and constants kept whole as
    ``data/weights/<name>.pt`` and ``data/constants/<name>.pt``, which
    ``torch.export.load`` still reads.

    Raises
    ------
    UsageError
        If a program reads a weight or constant the artifact lacks (a bare
        JSON document holds no weights), ``programs`` names an unknown
        model, ``root`` is not a plain folder name, or the file cannot be
        written.
    ArchiveError
        If a source member cannot be read.

    Examples
    --------
    Rewrite the bundled MLP under a fixed root, once with its sample inputs
    and once without, and read both back:

    >>> import os, tempfile
    >>> from pt2canon.serde.archive import read_artifact
    >>> tmp = tempfile.TemporaryDirectory()
    >>> a, b = os.path.join(tmp.name, "a.pt2"), os.path.join(tmp.name, "b.pt2")
    >>> with read_artifact("examples/mlp_v1.pt2") as art:
    ...     write_archive(a, art)
    ...     write_archive(b, art, sample_inputs=False)
    ...     with read_artifact(a) as back:
    ...         back.root, back.model.program == art.model.program, sorted(back.model.weights) == sorted(art.model.weights)
    ...         all(back.read_member(back.model.weights[fqn].member) == art.read_member(p.member)
    ...             for fqn, p in art.model.weights.items())
    ...         back.member_size(back.model.sample_inputs) == art.member_size(art.model.sample_inputs)
    ...     with read_artifact(b) as back:
    ...         back.member_size(back.model.sample_inputs)
    ('archive/', True, True)
    True
    True
    0
    >>> with read_artifact("examples/mlp_v1.pt2") as art:
    ...     write_archive("c.pt2", art, root="../x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pt2canon.errors.UsageError: c.pt2: root folder '../x' is not a plain folder name ...
    >>> tmp.cleanup()
    """
    target = os.fspath(path)
    _check_root(root, target)
    members = _plan_archive(artifact, programs, root, target, sample_inputs)

    def fill(fh: IO[bytes]) -> None:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for m in members:
                _write_member(zf, fh, m, target)

    try:
        atomic_write(target, fill)
    except Pt2CanonError as exc:
        raise exc.located(file=target) from None
