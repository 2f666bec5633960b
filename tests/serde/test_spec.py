"""Signature specs: the views agree with torch's own ``ExportGraphSignature`` on real exports."""

from __future__ import annotations

import io
import json
from typing import get_args, get_type_hints

import pytest
import torch
from corpus import member_bytes

from pt2canon.serde.spec import (
    FQN_FIELD,
    INPUT_RANK,
    INPUT_TAGS,
    OUTPUT_RANK,
    OUTPUT_TAGS,
    STATE_FQN_FIELD,
    TARGET_FIELD,
    input_specs,
    output_specs,
)

# torch's InputKind / OutputKind names -> the serialized union tags.
_IN = {"PARAMETER": "parameter", "BUFFER": "buffer", "CONSTANT_TENSOR": "tensor_constant",
       "CUSTOM_OBJ": "custom_obj", "TOKEN": "token", "USER_INPUT": "user_input"}  # fmt: skip
_OUT = {"USER_OUTPUT": "user_output", "BUFFER_MUTATION": "buffer_mutation",
        "USER_INPUT_MUTATION": "user_input_mutation", "PARAMETER_MUTATION": "parameter_mutation",
        "TOKEN": "token", "LOSS_OUTPUT": "loss_output"}  # fmt: skip


class _Stateful(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)
        self.register_buffer("count", torch.zeros(3))
        self.register_buffer("scratch", torch.ones(3), persistent=False)
        self.const = torch.arange(3.0)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.count.add_(1)
        y.mul_(2)
        return self.lin(x) + self.scratch + self.const + y


def _exported() -> tuple[torch.export.ExportedProgram, dict]:
    # Decomposed (functional): the in-place updates become mutation outputs.
    ep = torch.export.export(_Stateful(), (torch.randn(2, 3), torch.randn(2, 3))).run_decompositions()
    buf = io.BytesIO()
    torch.export.save(ep, buf)
    doc = json.loads(member_bytes(buf.getvalue(), "models/model.json"))
    return ep, doc["graph_module"]["signature"]


def test_input_views_name_the_kind_fqn_and_value_torch_gives_each_input() -> None:
    ep, sig = _exported()
    views = input_specs(sig)
    theirs = ep.graph_signature.input_specs
    assert [v.tag for v in views] == [_IN[s.kind.name] for s in theirs]
    assert [v.value for v in views] == [s.arg.name for s in theirs]
    assert [v.fqn for v in views] == [s.target for s in theirs]  # None for user inputs, as torch's target
    assert {v.tag for v in views} >= {"parameter", "buffer", "tensor_constant", "user_input"}


def test_output_views_name_the_input_each_mutation_updates_as_torch_does() -> None:
    ep, sig = _exported()
    views = output_specs(sig)
    theirs = ep.graph_signature.output_specs
    assert [v.tag for v in views] == [_OUT[s.kind.name] for s in theirs]
    assert [v.value for v in views] == [s.arg.name for s in theirs]
    assert [v.target for v in views] == [s.target for s in theirs]
    assert {"buffer_mutation", "user_input_mutation", "user_output"} <= {v.tag for v in views}


def test_torchs_own_canonical_order_sorts_inputs_and_outputs_by_the_rank_tables() -> None:
    ep, _ = _exported()
    # torch's canonicalize() lays out inputs and outputs by kind; its result is sorted by rank.
    from torch._export.serde.serialize import ExportedProgramSerializer, canonicalize

    canon = canonicalize(ExportedProgramSerializer().serialize(ep).exported_program)
    spec_json = json.loads(json.dumps(_to_json(canon.graph_module.signature)))
    for views in (input_specs(spec_json), output_specs(spec_json)):
        ranks = [v.rank for v in views]
        assert ranks == sorted(ranks)


def _to_json(obj: object) -> object:
    from torch._export.serde.serialize import _dataclass_to_dict

    return _dataclass_to_dict(obj)


@pytest.mark.parametrize("tag", [*INPUT_TAGS, *OUTPUT_TAGS])
def test_every_tag_of_torchs_schema_has_a_rank(tag: str) -> None:
    assert tag in INPUT_RANK or tag in OUTPUT_RANK


def test_the_fqn_and_target_tables_name_fields_of_torchs_spec_dataclasses() -> None:
    from torch._export.serde import schema

    # A union member is Annotated[<body dataclass>, field id].
    bodies = {**get_type_hints(schema.InputSpec, include_extras=True)}  # and the union's private "_type"
    bodies |= get_type_hints(schema.OutputSpec, include_extras=True)
    bodies = {k: v for k, v in bodies.items() if not k.startswith("_")}
    assert set(bodies) == {*INPUT_TAGS, *OUTPUT_TAGS}
    for tag, field in {**STATE_FQN_FIELD, **FQN_FIELD, **TARGET_FIELD}.items():
        body = get_args(bodies[tag])[0]
        assert field in body.__dataclass_fields__, (tag, field)
