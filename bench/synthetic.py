"""Synthetic serialized programs of any size, for scaling benchmarks.

:func:`synthetic_program` builds an ``ExportedProgram`` JSON document shaped
like a deep network: ``n`` op nodes in blocks (matmul with a parameter, add
of a bias parameter, an activation, a residual add every few blocks, a
reduction feeding a broadcast), all with static tensor metadata. It is
deterministic for a given ``(n, seed)``.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["synthetic_program"]

_T = "torch.ops.aten."
_ACT = ["relu.default", "gelu.default", "sigmoid.default", "tanh.default"]


def _meta(*sizes: int) -> dict[str, Any]:
    strides, acc = [], 1
    for s in reversed(sizes):
        strides.append({"as_int": acc})
        acc *= s
    return {
        "dtype": 7,
        "sizes": [{"as_int": s} for s in sizes],
        "requires_grad": False,
        "device": {"type": "cpu", "index": None},
        "strides": list(reversed(strides)),
        "storage_offset": {"as_int": 0},
        "layout": 7,
    }


def synthetic_program(n: int, *, seed: int = 0, width: int = 64) -> dict[str, Any]:
    """A valid serialized program with about ``n`` op nodes."""
    rnd = random.Random(seed)
    tensor_values: dict[str, Any] = {}
    nodes: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = []
    in_specs: list[dict[str, Any]] = []

    def value(name: str, *sizes: int) -> str:
        tensor_values[name] = _meta(*sizes)
        return name

    def node(target: str, args: list[tuple[str, dict[str, Any]]], out: str) -> str:
        nodes.append(
            {
                "target": _T + target,
                "inputs": [{"name": k, "arg": a, "kind": 1} for k, a in args],
                "outputs": [{"as_tensor": {"name": out}}],
                "metadata": {
                    "stack_trace": f'File "model.py", line {len(nodes)}, in forward',
                    "nn_module_stack": f"L__self__,,M;L__self__block{len(nodes) // 4},block{len(nodes) // 4},Block",
                },
                "is_hop_single_tensor_return": None,
                "name": out,
            }
        )
        return out

    def t(name: str) -> dict[str, Any]:
        return {"as_tensor": {"name": name}}

    x = value("x", 8, width)
    inputs.append(t(x))
    in_specs.append({"user_input": {"arg": t(x)}})
    h, residual, i = x, x, 0
    params: list[str] = []
    while len(nodes) < n:
        w = value(f"p_block{i}_weight", width, width)
        b = value(f"p_block{i}_bias", width)
        params += [w, b]
        h = node("mm.default", [("self", t(h)), ("mat2", t(w))], value(f"mm_{i}", 8, width))
        h = node("add.Tensor", [("self", t(h)), ("other", t(b))], value(f"add_{i}", 8, width))
        h = node(rnd.choice(_ACT), [("self", t(h))], value(f"act_{i}", 8, width))
        if i % 3 == 2:
            h = node("add.Tensor", [("self", t(h)), ("other", t(residual))], value(f"res_{i}", 8, width))
            residual = h
        if i % 5 == 4:
            s = node(
                "sum.dim_IntList",
                [("self", t(h)), ("dim", {"as_ints": [-1]}), ("keepdim", {"as_bool": True})],
                value(f"sum_{i}", 8, 1),
            )
            h = node("div.Tensor", [("self", t(h)), ("other", t(s))], value(f"norm_{i}", 8, width))
        i += 1
    for p in params:
        inputs.insert(len(inputs) - 1, t(p))
        in_specs.insert(
            len(in_specs) - 1, {"parameter": {"arg": {"name": p}, "parameter_name": p[2:].replace("_", ".", 1)}}
        )
    return {
        "graph_module": {
            "graph": {
                "inputs": inputs,
                "outputs": [t(h)],
                "nodes": nodes,
                "tensor_values": tensor_values,
                "sym_int_values": {},
                "sym_bool_values": {},
                "is_single_tensor_return": False,
                "custom_obj_values": {},
                "sym_float_values": {},
            },
            "signature": {"input_specs": in_specs, "output_specs": [{"user_output": {"arg": t(h)}}]},
            "module_call_graph": [{"fqn": "", "signature": None}],
            "metadata": {},
            "treespec_namedtuple_fields": {},
        },
        "opset_version": {"aten": 10},
        "range_constraints": {},
        "schema_version": {"major": 8, "minor": 20},
        "verifiers": [],
        "torch_version": "2.13.0+cpu",
        "guards_code": [],
    }
