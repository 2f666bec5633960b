"""An FX graph as an artifact: weights and constants hashed by content from the tensors in memory."""

from __future__ import annotations

import copy

import torch
from torch import nn

import pt2canon
from pt2canon.canon.hashing import payload_digests
from pt2canon.serde.archive import Artifact


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.encode = nn.Linear(4, 4)
        self.decode = nn.Linear(4, 4)
        self.decode.weight = self.encode.weight  # tied weights
        self.register_buffer("offset", torch.arange(4.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x)) + self.offset


def test_weights_are_hashed_by_content_and_match_what_torch_export_save_writes() -> None:
    module = Tied().eval()
    fx = pt2canon.load(torch.fx.symbolic_trace(module))
    exported = pt2canon.load(torch.export.export(module, (torch.randn(2, 4),)))
    ours = payload_digests(fx, fx.model.weights)
    theirs = payload_digests(exported, exported.model.weights)
    for fqn in ("encode.weight", "encode.bias", "decode.bias", "offset"):
        assert ours[fqn]["sha256"] == theirs[fqn]["sha256"], fqn  # the same bytes torch.export.save writes
        assert ours[fqn]["tensor_meta"] == theirs[fqn]["tensor_meta"], fqn


def test_tied_weights_share_one_member_and_constants_are_kept_apart() -> None:
    fx = pt2canon.load(torch.fx.symbolic_trace(Tied()))
    weights = fx.model.weights
    assert weights["decode.weight"].member == weights["encode.weight"].member
    assert payload_digests(fx, weights)["encode.weight"]["shares"] == "decode.weight"
    assert not fx.model.constants
    member = weights["offset"].member
    assert b"".join(fx.iter_member(member, chunk=3)) == fx.read_member(member) == torch.arange(4.0).numpy().tobytes()
    assert fx.member_size(member) == 16 and member in fx.members


def test_tensors_fx_lifts_out_of_traced_code_are_constants_hashed_by_content() -> None:
    from torch.fx.experimental.proxy_tensor import make_fx

    def traced(table: torch.Tensor) -> Artifact:
        return pt2canon.load(make_fx(lambda x: x + table)(torch.randn(4)))

    a, b = traced(torch.linspace(0, 1, 4)), traced(torch.linspace(0, 2, 4))
    assert list(a.model.constants) == ["_tensor_constant0"] and not a.model.weights
    specs = a.model.program["graph_module"]["signature"]["input_specs"]
    assert [s["tensor_constant"]["tensor_constant_name"] for s in specs if "tensor_constant" in s] == [
        "_tensor_constant0"
    ]
    assert pt2canon.hash(a) == pt2canon.hash(b)
    da, db = pt2canon.digest(a, level="full"), pt2canon.digest(b, level="full")
    assert da.layers["constants"] != db.layers["constants"] and da.layers["weights"] == db.layers["weights"]


def test_the_full_level_sees_a_changed_weight_the_graph_level_does_not() -> None:
    module = Tied()
    other = copy.deepcopy(module)
    with torch.no_grad():
        other.encode.bias[0] += 1
    a, b = (pt2canon.load(torch.fx.symbolic_trace(m)) for m in (module, other))
    assert pt2canon.hash(a) == pt2canon.hash(b)
    da, db = pt2canon.digest(a, level="full"), pt2canon.digest(b, level="full")
    assert da.hash != db.hash and da.layers["constants"] == db.layers["constants"]
    (change,) = pt2canon.diff(a, b, level="full").changes
    assert change.kind == "weight_changed" and "encode.bias" in change.summary


def test_a_non_contiguous_bfloat16_tensor_is_hashed_as_its_contiguous_bytes() -> None:
    class Holder(nn.Module):
        def __init__(self, t: torch.Tensor) -> None:
            super().__init__()
            self.t = t

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.t

    base = torch.arange(6, dtype=torch.bfloat16).reshape(2, 3)
    a = pt2canon.load(torch.fx.symbolic_trace(Holder(base.t())))  # a transposed view
    b = pt2canon.load(torch.fx.symbolic_trace(Holder(base.t().contiguous())))
    pa, pb = a.model.weights["t"], b.model.weights["t"]  # a GraphModule holds tensor attributes as buffers
    assert pa.tensor_meta != pb.tensor_meta  # the strides differ
    assert a.read_member(pa.member) == b.read_member(pb.member)
    assert len(a.read_member(pa.member)) == 12
