"""Property tests over generated FX graphs (hypothesis): node order and names never change the hash, ops do."""

from __future__ import annotations

import operator
import random
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pt2canon
from pt2canon._json import canonical_bytes
from pt2canon.serde.schema import check_program

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# (FX op, target, arity, constant arguments): pure ops of every FX form on 3x3 float tensors.
OPS: list[tuple[str, Any, int, tuple[Any, ...]]] = [
    ("call_function", torch.sin, 1, ()),
    ("call_function", torch.relu, 1, ()),
    ("call_function", torch.ops.aten.tanh.default, 1, ()),
    ("call_function", torch.add, 2, ()),
    ("call_function", operator.mul, 2, ()),
    ("call_function", torch.ops.aten.sub.Tensor, 2, ()),
    ("call_function", torch.mm, 2, ()),
    ("call_method", "exp", 1, ()),
    ("call_method", "neg", 1, ()),
    ("call_method", "add", 2, ()),
    ("call_function", operator.add, 1, (2.0,)),
    ("call_function", torch.mul, 1, (0.5,)),
]


@dataclass
class Spec:
    """A DAG of ops: ``nodes[k] = (op index, input ids)``; ids below ``n_inputs`` are graph inputs."""

    n_inputs: int
    nodes: list[tuple[int, tuple[int, ...]]]

    def outputs(self) -> list[int]:
        used = {i for _, ins in self.nodes for i in ins}
        return [self.n_inputs + k for k in range(len(self.nodes)) if self.n_inputs + k not in used]


@st.composite
def specs(draw: Any) -> Spec:
    n_inputs = draw(st.integers(1, 3))
    nodes = []
    for k in range(draw(st.integers(1, 9))):
        op = draw(st.integers(0, len(OPS) - 1))
        ins = tuple(draw(st.integers(0, n_inputs + k - 1)) for _ in range(OPS[op][2]))
        nodes.append((op, ins))
    return Spec(n_inputs, nodes)


def build(spec: Spec, rnd: random.Random | None = None, *, typed: bool = False) -> torch.fx.GraphModule:
    """The graph of ``spec``; with ``rnd``, in a random topological order and with random node names."""
    graph = torch.fx.Graph()
    values: dict[int, torch.fx.Node] = {}
    for i in range(spec.n_inputs):
        values[i] = graph.placeholder(f"in{i}_{rnd.randrange(10**6)}" if rnd else f"x{i}")
    pending = list(range(len(spec.nodes)))
    while pending:
        ready = [k for k in pending if all(i in values for i in spec.nodes[k][1])]
        k = rnd.choice(ready) if rnd else ready[0]
        pending.remove(k)
        op, ins = spec.nodes[k]
        kind, target, _, consts = OPS[op]
        name = f"n_{rnd.randrange(10**6)}_{k}" if rnd else f"op{k}"
        args = tuple(values[i] for i in ins) + consts
        values[spec.n_inputs + k] = graph.create_node(kind, target, args, {}, name=name)
    outs = [values[i] for i in spec.outputs()]
    graph.output(tuple(outs))
    gm = torch.fx.GraphModule(torch.nn.Module(), graph)
    if typed:
        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.fx.passes.fake_tensor_prop import FakeTensorProp

        mode = FakeTensorMode()
        FakeTensorProp(gm, mode).propagate(*[mode.from_tensor(torch.empty(3, 3)) for _ in range(spec.n_inputs)])
    return gm


def _canonical(gm: torch.fx.GraphModule) -> bytes:
    return canonical_bytes(pt2canon.canonicalize(gm).doc)


@SETTINGS
@given(specs(), st.randoms(use_true_random=False), st.booleans())
def test_a_generated_fx_graph_reordered_and_renamed_has_the_same_canonical_form_and_hash(
    spec: Spec, rnd: random.Random, typed: bool
) -> None:
    base, shuffled = build(spec, typed=typed), build(spec, rnd, typed=typed)
    doc = pt2canon.load(base).model.program
    check_program(doc)
    assert [n.name for n in shuffled.graph.nodes] != [n.name for n in base.graph.nodes]
    assert _canonical(base) == _canonical(shuffled)
    for level in ("structure", "graph"):
        assert pt2canon.hash(base, level=level) == pt2canon.hash(shuffled, level=level)


@SETTINGS
@given(specs(), st.data())
def test_changing_one_op_of_a_generated_fx_graph_changes_its_hash(spec: Spec, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, len(spec.nodes) - 1))
    op, ins = spec.nodes[k]
    arity = OPS[op][2]
    other = data.draw(st.sampled_from([j for j, o in enumerate(OPS) if o[2] == arity and j != op]))
    changed = Spec(spec.n_inputs, [*spec.nodes[:k], (other, ins), *spec.nodes[k + 1 :]])
    assert pt2canon.hash(build(spec), level="structure") != pt2canon.hash(build(changed), level="structure")
