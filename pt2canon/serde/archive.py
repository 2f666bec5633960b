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
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

from pt2canon import _json
from pt2canon.errors import ArchiveError, GraphError, InputError, SchemaError, UnsafeArchiveError
from pt2canon.serde.artifact import Artifact, Model, Payload, select_model
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

# torch's legacy (non-zip) torch.save files start with the pickled magic number 0x1950A86A20F9469CFC6C.
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def check_member_name(name: str, label: str) -> None:
    """Refuse member names that could escape an extraction folder."""
    problem = member_name_problem(name)
    if problem:
        raise UnsafeArchiveError(f"member name {name!r} {problem[1]}; refusing the archive", file=label, member=name)


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
    """Read an artifact from bytes in memory (a zip or a JSON document).

    Examples
    --------
    A model JSON document, and a ``.pt2`` zip built in memory with one
    model and one extra file:

    >>> import io, json, zipfile
    >>> doc = {"graph_module": {"graph": {"inputs": [], "outputs": [], "nodes": []},
    ...                         "signature": {"input_specs": [], "output_specs": []}}}
    >>> art = read_bytes(json.dumps(doc).encode())
    >>> art.format, list(art.models), art.model.program == doc
    ('json', ['model'], True)
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as zf:
    ...     zf.writestr("m/archive_format", "pt2")
    ...     zf.writestr("m/models/model.json", json.dumps(doc))
    ...     zf.writestr("m/extra/notes.txt", "hello")
    >>> with read_bytes(buf.getvalue(), label="tiny.pt2") as art:
    ...     art.format, art.root, art.model.member, art.extra_files, art.read_member("m/extra/notes.txt")
    ('pt2', 'm/', 'm/models/model.json', {'notes.txt': 'm/extra/notes.txt'}, b'hello')

    A ``torch.save`` checkpoint (a zip with ``<root>/data.pkl``) is named
    as such, and is not unpickled:

    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as zf:
    ...     zf.writestr("ckpt/data.pkl", b"")
    ...     zf.writestr("ckpt/data/0", b"")
    >>> read_bytes(buf.getvalue(), label="ckpt.pt")
    Traceback (most recent call last):
    ...
    pt2canon.errors.InputError: ckpt.pt: this is a torch.save file (a checkpoint or state dict), not a torch.export archive; pt2canon reads what torch.export.save writes
    >>> read_bytes(b"hello", label="notes.txt")
    Traceback (most recent call last):
    ...
    pt2canon.errors.InputError: notes.txt: not a .pt2 archive (zip) nor a model JSON document
    """
    return _read(data, None, label, limits)


def sniff(label: str, n: int, *, what: str = "an archive") -> tuple[bytes, int]:
    """The first ``n`` bytes and the size of a regular file, or the project's error naming it.

    FIFOs, devices and sockets are refused before anything is read from them.

    Examples
    --------
    >>> import os
    >>> head, size = sniff("examples/mlp_v1.pt2", 2)
    >>> head, size == os.path.getsize("examples/mlp_v1.pt2")
    (b'PK', True)
    >>> sniff("examples", 2)
    Traceback (most recent call last):
    ...
    pt2canon.errors.InputError: examples: is a directory, not an archive
    """
    with open_regular(label, what=what) as fh:
        try:
            head = fh.read(n)
            fh.seek(0, os.SEEK_END)
            return head, fh.tell()
        except OSError as exc:
            raise InputError(f"cannot read file ({exc.strerror or exc})", file=label) from None


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

    Examples
    --------
    ``fc1.bias`` of the bundled MLP holds 32 ``float32`` values, 128 bytes:

    >>> with read_artifact("examples/mlp_v1.pt2") as art:
    ...     art.format, art.root, list(art.models), art.info["archive_format"]
    ...     m = art.model
    ...     sorted(m.weights), m.weights["fc1.bias"].size
    ('pt2', 'mlp_v1/', ['model'], 'pt2')
    (['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight', 'head.bias', 'head.weight'], 128)
    >>> read_artifact("examples/no_such.pt2")
    Traceback (most recent call last):
    ...
    pt2canon.errors.InputError: examples/no_such.pt2: no such file
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
        data = fh.read(limits.max_json_bytes + 1)  # more: the file grew since it was measured (refused by _read)
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
        if len(data) > limits.max_json_bytes:
            raise UnsafeArchiveError(
                f"JSON document is over the limit max_json_bytes={limits.max_json_bytes}", file=label
            )
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
