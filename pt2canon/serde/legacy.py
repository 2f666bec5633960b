"""The older archive format's state dict and constants, read per tensor: :class:`LegacyArtifact`.

torch <= 2.5 saved ``ep.state_dict`` as ``serialized_state_dict.pt`` (and
``ep.constants`` as ``serialized_constants.pt``) with ``torch.save``. Their
tensors are read without unpickling by :mod:`pt2canon.serde.torch_save`;
each becomes a :class:`~pt2canon.serde.archive.Payload` whose bytes are its
storage record, named ``serialized_state_dict.pt!archive/data/<key>``, with
the ``TensorMeta`` torch's current format writes for it (dtype, sizes,
strides, storage offset, device, ``requires_grad``). A current archive's
``data/weights/weight_N`` holds the same storage bytes, so the same program
hashes and diffs the same in both formats.

What the state dict's pickle holds besides plain tensors is an
:class:`~pt2canon.errors.UnsafeArchiveError` naming the member, never an
execution. A constants pickle holding anything but plain tensors (a custom
object, say) stays one blob, hashed as bytes. The state dict is read on
first use of ``Model.weights``, so ``--level graph`` never looks at it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pt2canon.errors import ArchiveError, Pt2CanonError, UnsafeArchiveError
from pt2canon.serde.artifact import Artifact, Payload
from pt2canon.serde.torch_save import NestedSource, read_tensor_records, relocated
from pt2canon.serde.zipsource import ZipSource

__all__ = ["LegacyArtifact", "legacy_artifact"]


# -- the artifact ----------------------------------------------------------------------


class _LazyPayloads(Mapping[str, Payload]):
    """Payloads computed on first use (the older format's state dict is read only when weights are)."""

    def __init__(self, load: Callable[[], Mapping[str, Payload]]) -> None:
        self._load: Callable[[], Mapping[str, Payload]] | None = load
        self._value: Mapping[str, Payload] = {}

    def _get(self) -> Mapping[str, Payload]:
        if self._load is not None:
            self._value, self._load = self._load(), None
        return self._value

    def __getitem__(self, fqn: str) -> Payload:
        return self._get()[fqn]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return "<not read yet>" if self._load is not None else repr(dict(self._value))


@dataclass
class LegacyArtifact(Artifact):
    r"""An older-format artifact whose state dict (and tensor constants) are read per tensor.

    Payload members name records inside the ``torch.save`` zips
    (``serialized_state_dict.pt!archive/data/0``); :meth:`member_size`,
    :meth:`read_member`, :meth:`iter_member` and :meth:`sha256_member`
    read them in place.

    Examples
    --------
    An older-format zip built in memory: the program, a version, and a
    state dict ``{"w": <float32 tensor [1.0, 2.0]>}`` as ``torch.save``
    writes it (a zip holding ``data.pkl``, here a minimal protocol-2
    pickle, and the storage record ``data/0``):

    >>> import io, json, struct, zipfile
    >>> from pt2canon.serde.archive import read_bytes
    >>> data_pkl = (b"\x80\x02}U\x01wctorch._utils\n_rebuild_tensor_v2\n((U\x07storagectorch\nFloatStorage\n"
    ...             b"U\x010U\x03cpuK\x02tQK\x00K\x02\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtRs.")
    >>> sd, old = io.BytesIO(), io.BytesIO()
    >>> with zipfile.ZipFile(sd, "w") as zf:
    ...     zf.writestr("archive/data.pkl", data_pkl)
    ...     zf.writestr("archive/data/0", struct.pack("<2f", 1.0, 2.0))
    >>> doc = {"graph_module": {"graph": {"inputs": [], "outputs": [], "nodes": []},
    ...                         "signature": {"input_specs": [], "output_specs": []}}}
    >>> with zipfile.ZipFile(old, "w") as zf:
    ...     zf.writestr("serialized_exported_program.json", json.dumps(doc))
    ...     zf.writestr("serialized_state_dict.pt", sd.getvalue())
    ...     zf.writestr("version", "1")
    >>> art = read_bytes(old.getvalue(), label="old.pt2")
    >>> type(art).__name__, art.format, art.info, art.model.weights
    ('LegacyArtifact', 'legacy', {'data_version': '1'}, <not read yet>)
    >>> w = art.model.weights["w"]
    >>> w.member, w.size, [d["as_int"] for d in w.tensor_meta["sizes"]]
    ('serialized_state_dict.pt!archive/data/0', 8, [2])
    >>> art.read_member(w.member) == struct.pack("<2f", 1.0, 2.0)
    True
    >>> art.close()
    """

    _nested: dict[str, NestedSource] = field(default_factory=dict, repr=False)

    def _locate(self, member: str) -> tuple[ZipSource, str, str | None]:
        if self._zip is None:
            raise ArchiveError("not an archive", file=self.path)
        outer, sep, inner = member.partition("!")
        if not sep or member in self._zip.infos or outer not in self._zip.infos:
            return self._zip, member, None
        if outer not in self._nested:
            try:
                self._nested[outer] = NestedSource(self._zip, outer)
            except Pt2CanonError as exc:
                raise relocated(exc, outer) from None
        return self._nested[outer], inner, outer

    def _call(self, member: str, fn: Callable[[ZipSource, str], Any]) -> Any:
        src, name, outer = self._locate(member)
        try:
            return fn(src, name)
        except Pt2CanonError as exc:
            raise (relocated(exc, outer) if outer else exc) from None

    def member_size(self, member: str) -> int:
        return int(self._call(member, lambda s, n: s.size(n)))

    def read_member(self, member: str, *, limit: int | None = None) -> bytes:
        return bytes(self._call(member, lambda s, n: s.read(n, limit=limit)))

    def iter_member(self, member: str, *, chunk: int = 1 << 20) -> Iterator[bytes]:
        src, name, outer = self._locate(member)
        try:
            yield from src.iter_chunks(name, chunk=chunk)
        except Pt2CanonError as exc:
            raise (relocated(exc, outer) if outer else exc) from None

    def sha256_member(self, member: str) -> str:
        return str(self._call(member, lambda s, n: s.sha256(n)))

    def payloads(self, member: str, kind: Literal["weight", "constant"]) -> dict[str, Payload]:
        """The tensors of the ``torch.save`` zip ``member`` as payloads (see :func:`read_tensor_records`)."""
        src, _, _ = self._locate(f"{member}!")
        records = read_tensor_records(src, member)
        prefix = "weight_" if kind == "weight" else "tensor_"
        return {
            fqn: Payload(
                fqn=fqn,
                kind=kind,
                path_name=f"{prefix}{r.record.rpartition('/')[2]}",
                member=f"{member}!{r.record}",
                size=src.size(r.record),
                is_param=r.is_param,
                use_pickle=False,
                tensor_meta=r.tensor_meta(),
            )
            for fqn, r in sorted(records.items())
        }

    def close(self) -> None:
        for nested in self._nested.values():
            nested.close()
        self._nested.clear()
        super().close()


def legacy_artifact(src: ZipSource, models: Mapping[str, Any], info: dict[str, str]) -> LegacyArtifact:
    r"""The older-format artifact over ``src``: ``.pt`` state dicts and constants become lazy per-tensor payloads.

    ``models`` are the :class:`~pt2canon.serde.archive.Model` objects read
    with whole-blob payloads; each ``.pt`` blob is replaced.

    Examples
    --------
    A model whose weights are one blob, ``serialized_state_dict.pt``, here
    the state dict of an empty module (its pickle builds ``{}``):

    >>> import io, zipfile
    >>> from pt2canon.serde.artifact import Model, Payload
    >>> from pt2canon.serde.layout import DEFAULT_LIMITS
    >>> sd, old = io.BytesIO(), io.BytesIO()
    >>> with zipfile.ZipFile(sd, "w") as zf:
    ...     zf.writestr("archive/data.pkl", b"\x80\x02}.")
    >>> with zipfile.ZipFile(old, "w") as zf:
    ...     zf.writestr("serialized_state_dict.pt", sd.getvalue())
    >>> src = ZipSource(old.getvalue(), None, "old.pt2", DEFAULT_LIMITS)
    >>> blob = Payload("<state_dict>", "blob", "serialized_state_dict.pt", "serialized_state_dict.pt",
    ...                src.size("serialized_state_dict.pt"), use_pickle=True)
    >>> art = legacy_artifact(src, {"model": Model("model", {}, weights={blob.fqn: blob})}, {})
    >>> art.format, art.model.weights  # the blob is read on first use
    ('legacy', <not read yet>)
    >>> len(art.model.weights), art.model.weights
    (0, {})
    >>> art.close()
    """
    import dataclasses

    art = LegacyArtifact(path=src.label, format="legacy", models={}, info=info, _zip=src)

    def per_tensor(blobs: Mapping[str, Payload], kind: Literal["weight", "constant"]) -> Mapping[str, Payload]:
        pt = [p for p in blobs.values() if p.kind == "blob" and p.member.endswith(".pt")]
        if not pt:
            return blobs
        (blob,) = pt

        def load() -> Mapping[str, Payload]:
            if kind == "constant":
                try:
                    return art.payloads(blob.member, kind)
                except UnsafeArchiveError:
                    return blobs  # custom objects and the like: one blob, hashed as bytes
            return art.payloads(blob.member, kind)

        return _LazyPayloads(load)

    for name, model in models.items():
        art.models[name] = dataclasses.replace(
            model, weights=per_tensor(model.weights, "weight"), constants=per_tensor(model.constants, "constant")
        )
    return art
