"""An FX graph as an :class:`~pt2canon.serde.archive.Artifact`: :func:`from_graph_module`.

The program document comes from :mod:`pt2canon.fx.convert`; weights and
constants stay the tensors in memory. :class:`FxArtifact` serves them where
an archive serves its members (``fx/weights/<fqn>``, ``fx/constants/<fqn>``),
so level ``full`` hashes their bytes (C-contiguous, as the dtype stores
them) like an archive's, without unpickling or copying anything that is
already contiguous on the CPU. Tensors that share memory (tied weights)
share a member, as ``torch.export.save`` writes them to one file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pt2canon.errors import InputError, UsageError
from pt2canon.fx.convert import Converted, convert_graph_module
from pt2canon.serde.archive import Artifact, Model, Payload

__all__ = ["FxArtifact", "from_graph_module"]

_CHUNK = 1 << 20


@dataclass
class FxArtifact(Artifact):
    """An artifact made from an FX graph in memory (``format="fx"``).

    Attributes
    ----------
    graph_module : torch.fx.GraphModule or torch.fx.Graph
        The graph it was made from (not copied; do not edit it while using this).
    dialect : str
        ``"dynamo"``, ``"traced"`` or ``"untyped"`` (see :class:`pt2canon.fx.convert.Converted`).
    """

    graph_module: Any = field(default=None, repr=False)
    dialect: str = "untyped"
    _tensors: dict[str, tuple[str, Any]] = field(default_factory=dict, repr=False)  # member -> (fqn, tensor)

    @property
    def members(self) -> list[str]:
        return sorted(self._tensors)

    def _tensor(self, member: str) -> tuple[str, Any]:
        try:
            return self._tensors[member]
        except KeyError:
            raise InputError("no such tensor in the graph's module", file=self.path, member=member) from None

    def member_size(self, member: str) -> int:
        return int(self._tensor(member)[1].nbytes)

    def _bytes(self, member: str) -> memoryview:
        import torch

        fqn, t = self._tensor(member)
        if _is_fake(t):
            raise UsageError(
                f"{fqn!r} is a {type(t).__name__} without data (a graph looked at after compilation, or an "
                "AOTAutograd graph), so its bytes cannot be read, as level='full' and writing an archive need: "
                "load the graph with example_inputs=... inside the backend (pt2canon.fx.recorder does), or hash at "
                "level='graph'",
                file=self.path,
            )
        t = t.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if not t.is_contiguous():
            t = t.contiguous()
        flat = t.reshape(-1)
        if flat.dtype != torch.uint8:
            flat = flat.view(torch.uint8)
        return memoryview(flat.numpy()).cast("B")

    def read_member(self, member: str, *, limit: int | None = None) -> bytes:
        return bytes(self._bytes(member))

    def iter_member(self, member: str, *, chunk: int = _CHUNK) -> Iterator[bytes]:
        view = self._bytes(member)
        for start in range(0, len(view), chunk):
            yield bytes(view[start : start + chunk])

    def sha256_member(self, member: str) -> str:
        return "sha256:" + hashlib.sha256(self._bytes(member)).hexdigest()

    def close(self) -> None:
        pass


def _is_fake(t: Any) -> bool:
    if t.device.type == "meta":
        return True
    try:
        from torch._subclasses.fake_tensor import is_fake
    except ImportError:  # pragma: no cover
        return False
    return bool(is_fake(t))


def _sharing_key(t: Any) -> Any:
    if _is_fake(t):
        return ("fake", id(t))
    try:
        storage = t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        return ("tensor", id(t))
    return (storage, t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype, t.device)


def _artifact(converted: Converted, gm: Any, label: str) -> FxArtifact:
    from pt2canon.fx.values import ValueWriter

    values = ValueWriter()
    members: dict[Any, str] = {}
    tensors: dict[str, tuple[str, Any]] = {}
    weights: dict[str, Payload] = {}
    constants: dict[str, Payload] = {}
    for fqn in sorted(converted.payloads):
        p = converted.payloads[fqn]
        t = p.tensor
        folder = "weights" if p.kind == "weight" else "constants"
        member = members.setdefault(_sharing_key(t), f"fx/{folder}/{fqn}")
        tensors.setdefault(member, (fqn, t))
        payload = Payload(
            fqn=fqn,
            kind="weight" if p.kind == "weight" else "constant",
            path_name=member.rsplit("/", 1)[1],
            member=member,
            size=int(t.nbytes),
            is_param=p.is_param,
            use_pickle=False,
            tensor_meta=values.tensor_meta(t),
        )
        (weights if p.kind == "weight" else constants)[fqn] = payload
    model = Model(
        name="model",
        program=converted.program,
        weights=MappingProxyType(weights),
        constants=MappingProxyType(constants),
    )
    return FxArtifact(
        path=label,
        format="fx",
        models={"model": model},
        info={"fx": converted.dialect},
        graph_module=gm,
        dialect=converted.dialect,
        _tensors=tensors,
    )


def from_graph_module(
    gm: Any, *, example_inputs: Sequence[Any] | None = None, label: str = "<GraphModule>"
) -> FxArtifact:
    """Read an in-memory FX graph as an artifact that hashes, diffs and lists like an archive.

    Parameters
    ----------
    gm : torch.fx.GraphModule or torch.fx.Graph
        A graph from a ``torch.compile`` backend (Dynamo), AOTAutograd,
        ``make_fx`` or ``torch.fx.symbolic_trace``.
    example_inputs : sequence, optional
        The graph's inputs, one per placeholder (what a backend receives);
        real tensors among them are the content of parameters and buffers
        at level ``full``.
    label : str
        ``Artifact.path``: what messages and diffs call the graph.

    Returns
    -------
    FxArtifact

    Raises
    ------
    InputError
        Naming the node, for what a program document cannot represent.
    """
    return _artifact(convert_graph_module(gm, example_inputs=example_inputs, label=label), gm, label)
