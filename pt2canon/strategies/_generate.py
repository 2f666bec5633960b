"""Random valid serialized programs, built the way torch's serializer writes them.

The public entry point is :func:`pt2canon.strategies.programs`; this module
holds the generator behind it. A program has graph inputs for parameters, a
buffer and user inputs; op nodes drawn from a fixed menu (single and
multi-output ops, tensor lists, optional tensors, sym ints by name, constant
arguments of every kind, ops with no tensor inputs, an in-place op on the
buffer, random ops, ``cond`` with two subgraphs); values used more than once;
tensor metadata with static and symbolic sizes (sympy ``srepr`` strings, as
torch writes them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

__all__ = ["ATEN", "BINARY", "NULLARY", "UNARY", "draw_program", "tensor_meta"]

#: Prefix of every ATen target.
ATEN = "torch.ops.aten."
#: Interchangeable pure ops (a mutation swaps one for another of its group).
UNARY = ("relu.default", "sin.default", "neg.default", "exp.default")
BINARY = ("add.Tensor", "sub.Tensor", "mul.Tensor", "div.Tensor")
NULLARY = ("zeros.default", "ones.default")

_SYMBOLS = ("s77", "s54", "s12", "u3")
_KINDS = (
    "unary",
    "binary",
    "binary",
    "scalar",
    "nullary",
    "sum",
    "split",
    "max",
    "cat",
    "index",
    "symsize",
    "clamp",
    "to",
    "div_mode",
)


def _tensor(name: str) -> dict[str, Any]:
    return {"as_tensor": {"name": name}}


def _sym(name: str) -> str:
    return f"Symbol('{name}', integer=True, positive=True)"


def tensor_meta(sizes: Sequence[int | dict[str, Any]], *, dtype: int = 7) -> dict[str, Any]:
    """A serialized ``TensorMeta``: contiguous strides, CPU, strided layout.

    ``sizes`` are ints or serialized ``SymInt`` dicts (``{"as_int": 3}``,
    ``{"as_expr": ...}``); a symbolic size keeps the last static stride.
    ``dtype`` is torch's ``ScalarType`` number (7 is ``float32``).
    """
    sym_sizes = [{"as_int": s} if isinstance(s, int) else s for s in sizes]
    strides = []
    acc: Any = 1
    for s in reversed(sym_sizes):
        strides.append({"as_int": acc} if isinstance(acc, int) else {"as_expr": {"expr_str": acc, "hint": None}})
        if isinstance(acc, int) and "as_int" in s:
            acc = acc * s["as_int"]
    return {
        "dtype": dtype,
        "sizes": sym_sizes,
        "requires_grad": False,
        "device": {"type": "cpu", "index": None},
        "strides": list(reversed(strides)),
        "storage_offset": {"as_int": 0},
        "layout": 7,
    }


@st.composite
def _shape(draw: Any, symbols: list[str]) -> list[dict[str, Any]]:
    rank = draw(st.integers(1, 3))
    out = []
    for _ in range(rank):
        kind = draw(st.sampled_from(["int", "int", "sym", "expr"])) if symbols else "int"
        if kind == "int":
            out.append({"as_int": draw(st.integers(1, 8))})
        elif kind == "sym":
            s = draw(st.sampled_from(symbols))
            out.append({"as_expr": {"expr_str": _sym(s), "hint": {"as_int": draw(st.integers(2, 64))}}})
        else:
            a, b = draw(st.sampled_from(symbols)), draw(st.sampled_from(symbols))
            k = draw(st.integers(2, 4))
            expr = (
                f"Add(Mul(Integer({k}), {_sym(a)}), {_sym(b)})"
                if a != b
                else f"Add(Mul(Integer({k}), {_sym(a)}), Integer(1))"
            )
            out.append({"as_expr": {"expr_str": expr, "hint": None}})
    return out


class _Graph:
    """Builds one graph; ``values`` are the tensor values defined so far."""

    def __init__(self, draw: Any, symbols: list[str], prefix: str, depth: int):
        self.draw = draw
        self.symbols = symbols
        self.prefix = prefix
        self.depth = depth
        self.nodes: list[dict[str, Any]] = []
        self.tensor_values: dict[str, Any] = {}
        self.sym_int_values: dict[str, Any] = {}
        self.values: list[str] = []
        self.n = 0

    def fresh(self, base: str) -> str:
        self.n += 1
        return f"{self.prefix}{base}_{self.n}"

    def new_tensor(self, base: str) -> str:
        name = self.fresh(base)
        self.tensor_values[name] = tensor_meta(
            self.draw(_shape(self.symbols)), dtype=self.draw(st.sampled_from([6, 7, 7, 7]))
        )
        self.values.append(name)
        return name

    def pick(self) -> str:
        return self.draw(st.sampled_from(self.values))

    def node(
        self, target: str, inputs: list[tuple[str, dict[str, Any], int]], outputs: list[dict[str, Any]], name: str
    ) -> None:
        self.nodes.append(
            {
                "target": target,
                "inputs": [{"name": n, "arg": a, "kind": k} for n, a, k in inputs],
                "outputs": outputs,
                "metadata": {"stack_trace": f'File "model.py", line {self.draw(st.integers(1, 500))}, in forward'},
                "is_hop_single_tensor_return": None,
                "name": name,
            }
        )

    def one_output(self, base: str, target: str, inputs: list[tuple[str, dict[str, Any], int]]) -> None:
        y = self.new_tensor(base)
        self.node(ATEN + target, inputs, [_tensor(y)], y)

    def op(self, allow_cond: bool) -> None:
        d = self.draw
        kinds = [*_KINDS, "cond"] if allow_cond and self.depth == 0 else list(_KINDS)
        kind = d(st.sampled_from(kinds))
        getattr(self, f"_op_{kind}")()

    def _op_unary(self) -> None:
        x = self.pick()
        self.one_output("u", self.draw(st.sampled_from(UNARY)), [("self", _tensor(x), 1)])

    def _op_binary(self) -> None:
        a, b = self.pick(), self.pick()
        self.one_output("b", self.draw(st.sampled_from(BINARY)), [("self", _tensor(a), 1), ("other", _tensor(b), 1)])

    def _op_scalar(self) -> None:
        d = self.draw
        x = self.pick()
        y = self.new_tensor("s")
        other = d(
            st.sampled_from(
                [
                    {"as_float": d(st.floats(-4, 4, allow_nan=False, width=32))},
                    {"as_int": d(st.integers(-3, 3))},
                    {"as_float": "Infinity"},
                ]
            )
        )
        self.node(ATEN + "mul.Scalar", [("self", _tensor(x), 1), ("other", other, 1)], [_tensor(y)], y)

    def _op_nullary(self) -> None:
        d = self.draw
        y = self.new_tensor("z")
        size = {"as_ints": d(st.lists(st.integers(1, 4), min_size=1, max_size=2))}
        self.node(
            ATEN + d(st.sampled_from(NULLARY)),
            [
                ("size", size, 1),
                ("device", {"as_device": {"type": "cpu", "index": None}}, 2),
                ("pin_memory", {"as_bool": False}, 2),
            ],
            [_tensor(y)],
            y,
        )

    def _op_sum(self) -> None:
        d = self.draw
        x = self.pick()
        self.one_output(
            "sum",
            "sum.dim_IntList",
            [
                ("self", _tensor(x), 1),
                ("dim", {"as_ints": d(st.lists(st.integers(0, 1), max_size=2))}, 1),
                ("keepdim", {"as_bool": d(st.booleans())}, 1),
            ],
        )

    def _op_split(self) -> None:
        x = self.pick()
        n = self.draw(st.integers(2, 3))
        outs = [self.new_tensor("sp") for _ in range(n)]
        self.node(
            ATEN + "split_with_sizes.default",
            [("self", _tensor(x), 1), ("split_sizes", {"as_ints": [1] * n}, 1), ("dim", {"as_int": 0}, 1)],
            [{"as_tensors": [{"name": o} for o in outs]}],
            self.fresh("split"),
        )

    def _op_max(self) -> None:
        x = self.pick()
        v, i = self.new_tensor("mx"), self.new_tensor("ix")
        self.node(
            ATEN + "max.dim",
            [("self", _tensor(x), 1), ("dim", {"as_int": 0}, 1)],
            [_tensor(v), _tensor(i)],
            self.fresh("max"),
        )

    def _op_cat(self) -> None:
        xs = [self.pick() for _ in range(self.draw(st.integers(1, 3)))]
        self.one_output(
            "cat", "cat.default", [("tensors", {"as_tensors": [{"name": x} for x in xs]}, 1), ("dim", {"as_int": 0}, 1)]
        )

    def _op_index(self) -> None:
        x = self.pick()
        idx = [self.draw(st.sampled_from([{"as_none": True}, {"as_tensor": {"name": self.pick()}}])) for _ in range(2)]
        self.one_output("idx", "index.Tensor", [("self", _tensor(x), 1), ("indices", {"as_optional_tensors": idx}, 1)])

    def _op_symsize(self) -> None:
        d = self.draw
        x = self.pick()
        s = self.fresh("sym_size")
        self.sym_int_values[s] = d(
            st.sampled_from(
                [{"as_int": 4}] + [{"as_expr": {"expr_str": _sym(v), "hint": {"as_int": 8}}} for v in self.symbols]
            )
        )
        self.node(
            ATEN + "sym_size.int",
            [("self", _tensor(x), 1), ("dim", {"as_int": 0}, 1)],
            [{"as_sym_int": {"as_name": s}}],
            s,
        )
        x2 = self.pick()
        size = [{"as_name": s}, {"as_int": -1}]
        self.one_output("view", "view.default", [("self", _tensor(x2), 1), ("size", {"as_sym_ints": size}, 1)])

    def _op_clamp(self) -> None:
        d = self.draw
        x = self.pick()
        self.one_output(
            "clamp",
            "clamp.default",
            [
                ("self", _tensor(x), 1),
                ("min", d(st.sampled_from([{"as_none": True}, {"as_float": -1.0}])), 1),
                ("max", {"as_float": d(st.sampled_from([1.0, 2.5]))}, 1),
            ],
        )

    def _op_to(self) -> None:
        x = self.pick()
        self.one_output(
            "to",
            "to.dtype",
            [("self", _tensor(x), 1), ("dtype", {"as_scalar_type": self.draw(st.sampled_from([6, 7]))}, 1)],
        )

    def _op_div_mode(self) -> None:
        a, b = self.pick(), self.pick()
        self.one_output(
            "divm",
            "div.Tensor_mode",
            [
                ("self", _tensor(a), 1),
                ("other", _tensor(b), 1),
                ("rounding_mode", {"as_string": self.draw(st.sampled_from(["floor", "trunc"]))}, 2),
            ],
        )

    def _op_cond(self) -> None:
        d = self.draw
        pred = self.pick()
        ops = [self.pick() for _ in range(d(st.integers(1, 2)))]
        branches = []
        for b in ("true", "false"):
            sub = _Graph(d, self.symbols, f"{b}_", self.depth + 1)
            ins = [sub.new_tensor("arg") for _ in ops]
            for _ in range(d(st.integers(1, 3))):
                sub.op(False)
            out = sub.values[-1]
            branches.append({"name": f"{b}_graph_{self.n}", "graph": sub.graph(ins, [out])})
        y = self.new_tensor("cond")
        self.node(
            "torch.ops.higher_order.cond",
            [
                ("", _tensor(pred), 1),
                ("", {"as_graph": branches[0]}, 1),
                ("", {"as_graph": branches[1]}, 1),
                ("", {"as_tensors": [{"name": o} for o in ops]}, 1),
            ],
            [_tensor(y)],
            self.fresh("cond"),
        )

    def effect(self, buf: str) -> str | None:
        """Reads and an in-place update of the buffer (returned), or a random draw."""
        if self.draw(st.booleans()):
            y = self.new_tensor("add_")
            self.node(ATEN + "add_.Tensor", [("self", _tensor(buf), 1), ("other", {"as_int": 1}, 1)], [_tensor(y)], y)
            return y
        self.one_output(
            "rand",
            "rand.default",
            [("size", {"as_ints": [3]}, 1), ("device", {"as_device": {"type": "cpu", "index": None}}, 2)],
        )
        return None

    def graph(self, inputs: list[str], outputs: list[str]) -> dict[str, Any]:
        return {
            "inputs": [_tensor(i) for i in inputs],
            "outputs": [_tensor(o) for o in outputs],
            "nodes": self.nodes,
            "tensor_values": self.tensor_values,
            "sym_int_values": self.sym_int_values,
            "sym_bool_values": {},
            "is_single_tensor_return": False,
            "custom_obj_values": {},
            "sym_float_values": {},
        }


def draw_program(
    draw: Any, *, min_nodes: int, max_nodes: int, max_parameters: int, effects: bool, cond: bool, symbolic: bool
) -> dict[str, Any]:
    """Draw one program document (the body of :func:`pt2canon.strategies.programs`)."""
    symbols = draw(st.lists(st.sampled_from(_SYMBOLS), max_size=2, unique=True)) if symbolic else []
    g = _Graph(draw, symbols, "", 0)
    params = [g.new_tensor("p") for _ in range(draw(st.integers(0, max_parameters)))]
    buf = g.new_tensor("b_buf")
    users = [g.new_tensor("x") for _ in range(draw(st.integers(1, 3)))]
    mutated = None
    for _ in range(draw(st.integers(min_nodes, max_nodes))):
        if effects and draw(st.integers(0, 9)) == 0:
            mutated = g.effect(buf) or mutated
        else:
            g.op(cond)
    n_out = draw(st.integers(1, 3))
    outs = [g.values[-1]] + [draw(st.sampled_from(g.values)) for _ in range(n_out - 1)]
    in_specs: list[dict[str, Any]] = [
        {"parameter": {"arg": {"name": p}, "parameter_name": f"layer{i}.weight"}} for i, p in enumerate(params)
    ]
    in_specs.append({"buffer": {"arg": {"name": buf}, "buffer_name": "buf", "persistent": True}})
    in_specs += [{"user_input": {"arg": _tensor(u)}} for u in users]
    out_specs: list[dict[str, Any]] = [{"user_output": {"arg": _tensor(o)}} for o in outs]
    outputs = list(outs)
    if mutated is not None:
        out_specs.insert(0, {"buffer_mutation": {"arg": {"name": mutated}, "buffer_name": "buf"}})
        outputs.insert(0, mutated)
    graph = g.graph([*params, buf, *users], outputs)
    return {
        "graph_module": {
            "graph": graph,
            "signature": {"input_specs": in_specs, "output_specs": out_specs},
            "module_call_graph": [
                {
                    "fqn": "",
                    "signature": {
                        "inputs": [_tensor(u) for u in users],
                        "outputs": [_tensor(o) for o in outs],
                        "in_spec": "[]",
                        "out_spec": "[]",
                        "forward_arg_names": [f"arg{i}" for i in range(len(users))],
                    },
                }
            ],
            "metadata": {},
            "treespec_namedtuple_fields": {},
        },
        "opset_version": {"aten": 10},
        "range_constraints": {s: {"min_val": 2, "max_val": 64} for s in symbols},
        "schema_version": {"major": 8, "minor": 20},
        "verifiers": [],
        "torch_version": "2.13.0+cpu",
        "guards_code": [],
    }
