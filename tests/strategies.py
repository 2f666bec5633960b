"""hypothesis strategies: random valid serialized programs and equivalent rewrites.

:func:`programs` draws an ``ExportedProgram`` JSON document built the way
torch's serializer writes one: graph inputs for parameters, a buffer and
user inputs; op nodes drawn from :data:`OPS` (single and multi-output ops,
tensor lists, optional tensors, sym ints by name, constant arguments of
every kind, ops with no tensor inputs, an in-place op on the buffer,
random ops, ``cond`` with two subgraphs); values used more than once;
tensor metadata with static and symbolic sizes (sympy ``srepr`` strings).

:func:`rewrites` draws an *equivalent* document: another valid topological
order (side-effecting nodes keep their relative order), every value, node,
subgraph and symbol renamed, parameters and buffers listed in another
order, JSON keys shuffled, metadata and example hints replaced by noise.

:func:`mutations` draws a *semantic* change and says which hash levels
must see it.
"""

from __future__ import annotations

import copy
import random
import re
from typing import Any

from hypothesis import strategies as st

T = "torch.ops.aten."

#: name -> (target, number of tensor inputs, constant-argument factory, outputs)
UNARY = ["relu.default", "sin.default", "neg.default", "exp.default"]
BINARY = ["add.Tensor", "sub.Tensor", "mul.Tensor", "div.Tensor"]
NULLARY = ["zeros.default", "ones.default"]


def _tensor(name: str) -> dict[str, Any]:
    return {"as_tensor": {"name": name}}


def _sym(name: str) -> str:
    return f"Symbol('{name}', integer=True, positive=True)"


def _meta(sizes: list[Any], dtype: int = 7) -> dict[str, Any]:
    strides = []
    acc: Any = 1
    for s in reversed(sizes):
        strides.append({"as_int": acc} if isinstance(acc, int) else {"as_expr": {"expr_str": acc, "hint": None}})
        if isinstance(acc, int) and "as_int" in s:
            acc = acc * s["as_int"]  # symbolic sizes keep the last static stride
    return {
        "dtype": dtype,
        "sizes": sizes,
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


class _Gen:
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
        self.syms: list[str] = []
        self.n = 0

    def fresh(self, base: str) -> str:
        self.n += 1
        return f"{self.prefix}{base}_{self.n}"

    def new_tensor(self, base: str) -> str:
        name = self.fresh(base)
        self.tensor_values[name] = _meta(self.draw(_shape(self.symbols)), self.draw(st.sampled_from([6, 7, 7, 7])))
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

    def op(self, allow_cond: bool) -> None:
        d = self.draw
        choices = [
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
        ]
        if allow_cond and self.depth == 0:
            choices.append("cond")
        kind = d(st.sampled_from(choices))
        if kind == "unary":
            x = self.pick()
            y = self.new_tensor("u")
            self.node(T + d(st.sampled_from(UNARY)), [("self", _tensor(x), 1)], [_tensor(y)], y)
        elif kind == "binary":
            a, b = self.pick(), self.pick()
            y = self.new_tensor("b")
            self.node(
                T + d(st.sampled_from(BINARY)), [("self", _tensor(a), 1), ("other", _tensor(b), 1)], [_tensor(y)], y
            )
        elif kind == "scalar":
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
            self.node(T + "mul.Scalar", [("self", _tensor(x), 1), ("other", other, 1)], [_tensor(y)], y)
        elif kind == "nullary":
            y = self.new_tensor("z")
            size = {"as_ints": d(st.lists(st.integers(1, 4), min_size=1, max_size=2))}
            self.node(
                T + d(st.sampled_from(NULLARY)),
                [
                    ("size", size, 1),
                    ("device", {"as_device": {"type": "cpu", "index": None}}, 2),
                    ("pin_memory", {"as_bool": False}, 2),
                ],
                [_tensor(y)],
                y,
            )
        elif kind == "sum":
            x = self.pick()
            y = self.new_tensor("sum")
            self.node(
                T + "sum.dim_IntList",
                [
                    ("self", _tensor(x), 1),
                    ("dim", {"as_ints": d(st.lists(st.integers(0, 1), max_size=2))}, 1),
                    ("keepdim", {"as_bool": d(st.booleans())}, 1),
                ],
                [_tensor(y)],
                y,
            )
        elif kind == "split":
            x = self.pick()
            n = d(st.integers(2, 3))
            outs = [self.new_tensor("sp") for _ in range(n)]
            self.node(
                T + "split_with_sizes.default",
                [("self", _tensor(x), 1), ("split_sizes", {"as_ints": [1] * n}, 1), ("dim", {"as_int": 0}, 1)],
                [{"as_tensors": [{"name": o} for o in outs]}],
                self.fresh("split"),
            )
        elif kind == "max":
            x = self.pick()
            v, i = self.new_tensor("mx"), self.new_tensor("ix")
            self.node(
                T + "max.dim",
                [("self", _tensor(x), 1), ("dim", {"as_int": 0}, 1)],
                [_tensor(v), _tensor(i)],
                self.fresh("max"),
            )
        elif kind == "cat":
            xs = [self.pick() for _ in range(d(st.integers(1, 3)))]
            y = self.new_tensor("cat")
            self.node(
                T + "cat.default",
                [("tensors", {"as_tensors": [{"name": x} for x in xs]}, 1), ("dim", {"as_int": 0}, 1)],
                [_tensor(y)],
                y,
            )
        elif kind == "index":
            x = self.pick()
            idx = [d(st.sampled_from([{"as_none": True}, {"as_tensor": {"name": self.pick()}}])) for _ in range(2)]
            y = self.new_tensor("idx")
            self.node(
                T + "index.Tensor",
                [("self", _tensor(x), 1), ("indices", {"as_optional_tensors": idx}, 1)],
                [_tensor(y)],
                y,
            )
        elif kind == "symsize":
            x = self.pick()
            s = self.fresh("sym_size")
            self.sym_int_values[s] = d(
                st.sampled_from(
                    [{"as_int": 4}] + [{"as_expr": {"expr_str": _sym(v), "hint": {"as_int": 8}}} for v in self.symbols]
                )
            )
            self.syms.append(s)
            self.node(
                T + "sym_size.int",
                [("self", _tensor(x), 1), ("dim", {"as_int": 0}, 1)],
                [{"as_sym_int": {"as_name": s}}],
                s,
            )
            x2 = self.pick()
            y = self.new_tensor("view")
            size = [{"as_name": s}, {"as_int": -1}]
            self.node(
                T + "view.default", [("self", _tensor(x2), 1), ("size", {"as_sym_ints": size}, 1)], [_tensor(y)], y
            )
        elif kind == "clamp":
            x = self.pick()
            y = self.new_tensor("clamp")
            self.node(
                T + "clamp.default",
                [
                    ("self", _tensor(x), 1),
                    ("min", d(st.sampled_from([{"as_none": True}, {"as_float": -1.0}])), 1),
                    ("max", {"as_float": d(st.sampled_from([1.0, 2.5]))}, 1),
                ],
                [_tensor(y)],
                y,
            )
        elif kind == "to":
            x = self.pick()
            y = self.new_tensor("to")
            self.node(
                T + "to.dtype",
                [("self", _tensor(x), 1), ("dtype", {"as_scalar_type": d(st.sampled_from([6, 7]))}, 1)],
                [_tensor(y)],
                y,
            )
        elif kind == "div_mode":
            a, b = self.pick(), self.pick()
            y = self.new_tensor("divm")
            self.node(
                T + "div.Tensor_mode",
                [
                    ("self", _tensor(a), 1),
                    ("other", _tensor(b), 1),
                    ("rounding_mode", {"as_string": d(st.sampled_from(["floor", "trunc"]))}, 2),
                ],
                [_tensor(y)],
                y,
            )
        elif kind == "misc":
            # A made-up op carrying constant arguments of the remaining kinds.
            x = self.pick()
            y = self.new_tensor("misc")
            consts = [
                ("floats", {"as_floats": d(st.lists(st.floats(-2, 2, allow_nan=False, width=32), max_size=3))}),
                ("strings", {"as_strings": d(st.lists(st.sampled_from(["a", "b", "é"]), max_size=2))}),
                ("bools", {"as_bools": d(st.lists(st.booleans(), max_size=2))}),
                ("memory_format", {"as_memory_format": d(st.integers(0, 3))}),
                ("layout", {"as_layout": d(st.sampled_from([0, 7]))}),
                ("complex", {"as_complex": {"real": d(st.sampled_from([0.0, 1.5])), "imag": -1.0}}),
                ("int_lists", {"as_int_lists": [[1, 2], [d(st.integers(0, 3))]]}),
                (
                    "optional",
                    {
                        "as_optional_tensor": d(
                            st.sampled_from([{"as_none": True}, {"as_tensor": {"name": self.pick()}}])
                        )
                    },
                ),
            ]
            self.node(
                T + "_pt2canon_test_misc.default",
                [("self", _tensor(x), 1), *[(n, a, 2) for n, a in consts]],
                [_tensor(y)],
                y,
            )
        elif kind == "cond":
            pred = self.pick()
            ops = [self.pick() for _ in range(d(st.integers(1, 2)))]
            branches = []
            for b in ("true", "false"):
                sub = _Gen(d, self.symbols, f"{b}_", self.depth + 1)
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


@st.composite
def programs(draw: Any, *, max_nodes: int = 14, effects: bool = True, cond: bool = True) -> dict[str, Any]:
    """A random valid serialized ExportedProgram document."""
    symbols = draw(st.lists(st.sampled_from(["s77", "s54", "s12", "u3"]), max_size=2, unique=True))
    g = _Gen(draw, symbols, "", 0)
    n_params = draw(st.integers(0, 3))
    params = [g.new_tensor("p") for _ in range(n_params)]
    buf = g.new_tensor("b_buf")
    users = [g.new_tensor("x") for _ in range(draw(st.integers(1, 3)))]
    mutated = None
    n_ops = draw(st.integers(1, max_nodes))
    for _ in range(n_ops):
        if effects and draw(st.integers(0, 9)) == 0:
            # reads and an in-place update of the buffer, or a random draw
            if draw(st.booleans()):
                y = g.new_tensor("add_")
                g.node(T + "add_.Tensor", [("self", _tensor(buf), 1), ("other", {"as_int": 1}, 1)], [_tensor(y)], y)
                mutated = y
            else:
                y = g.new_tensor("rand")
                g.node(
                    T + "rand.default",
                    [("size", {"as_ints": [3]}, 1), ("device", {"as_device": {"type": "cpu", "index": None}}, 2)],
                    [_tensor(y)],
                    y,
                )
        else:
            g.op(cond)
    n_out = draw(st.integers(1, 3))
    outs = [g.values[-1]] + [draw(st.sampled_from(g.values)) for _ in range(n_out - 1)]
    in_specs = [{"parameter": {"arg": {"name": p}, "parameter_name": f"layer{i}.weight"}} for i, p in enumerate(params)]
    in_specs.append({"buffer": {"arg": {"name": buf}, "buffer_name": "buf", "persistent": True}})
    in_specs += [{"user_input": {"arg": _tensor(u)}} for u in users]
    out_specs = [{"user_output": {"arg": _tensor(o)}} for o in outs]
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


# --------------------------------------------------------------------------- rewrites

_ORDERED = ("add_.Tensor", "rand.default")


def _refs_of(obj: Any, out: list[str]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("name", "as_name") and isinstance(v, str):
                out.append(v)
            elif k != "graph":
                _refs_of(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _refs_of(v, out)


def _random_topo(nodes: list[dict[str, Any]], defined: set[str], rnd: random.Random) -> list[dict[str, Any]]:
    produced: dict[str, int] = {}
    for i, n in enumerate(nodes):
        names: list[str] = []
        _refs_of(n["outputs"], names)
        for v in names:
            produced[v] = i
    deps: list[set[int]] = []
    last_ordered = None
    for i, n in enumerate(nodes):
        used: list[str] = []
        _refs_of([na["arg"] for na in n["inputs"]], used)
        ds = {produced[u] for u in used if u in produced}
        if any(n["target"].endswith(t) for t in _ORDERED):
            if last_ordered is not None:
                ds.add(last_ordered)
            last_ordered = i
        deps.append(ds)
    # Conservative alias rule: the buffer's alias class holds the outputs of
    # in-place ops and of views (view, split) of class members; every node
    # reading the class keeps its order relative to every in-place op.
    alias: set[str] = set()
    for n in nodes:
        if n["target"].endswith("add_.Tensor"):
            alias.add(n["inputs"][0]["arg"]["as_tensor"]["name"])
    readers: list[int] = []
    for i, n in enumerate(nodes):
        used_i: list[str] = []
        _refs_of([na["arg"] for na in n["inputs"]], used_i)
        if alias & set(used_i):
            readers.append(i)
            if n["target"].endswith(("add_.Tensor", "view.default", "split_with_sizes.default")):
                outs: list[str] = []
                _refs_of(n["outputs"], outs)
                alias.update(outs)
    mutators = [i for i in readers if nodes[i]["target"].endswith("add_.Tensor")]
    for m in mutators:
        for r in readers:
            if r < m:
                deps[m].add(r)
            elif r > m:
                deps[r].add(m)
    placed: list[int] = []
    done: set[int] = set()
    while len(placed) < len(nodes):
        ready = [i for i in range(len(nodes)) if i not in done and deps[i] <= done]
        i = rnd.choice(ready)
        placed.append(i)
        done.add(i)
    return [nodes[i] for i in placed]


def _shuffle_keys(obj: Any, rnd: random.Random) -> Any:
    if isinstance(obj, dict):
        items = list(obj.items())
        rnd.shuffle(items)
        return {k: _shuffle_keys(v, rnd) for k, v in items}
    if isinstance(obj, list):
        return [_shuffle_keys(v, rnd) for v in obj]
    return obj


def _rename_everything(doc: Any, mapping: dict[str, str], symbols: dict[str, str]) -> Any:
    sym_re = re.compile(r"Symbol\('([A-Za-z_][A-Za-z0-9_]*)'")

    def fix_str(s: str) -> str:
        return sym_re.sub(lambda m: f"Symbol('{symbols.get(m.group(1), m.group(1))}'", s)

    def walk(obj: Any, key: str | None = None) -> Any:
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                if k in ("tensor_values", "sym_int_values", "sym_float_values", "sym_bool_values", "custom_obj_values"):
                    out[k] = {mapping.get(n, n): walk(m) for n, m in v.items()}
                elif k == "range_constraints":
                    out[k] = {symbols.get(n, n): walk(m) for n, m in v.items()}
                elif k in ("name", "as_name") and isinstance(v, str) and "arg" not in obj:
                    out[k] = mapping.get(v, v)
                elif k == "expr_str":
                    out[k] = fix_str(v)
                else:
                    out[k] = walk(v, k)
            return out
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return walk(doc)


@st.composite
def rewrites(draw: Any, doc: dict[str, Any]) -> dict[str, Any]:
    """An equivalent document: reordered, renamed, reshuffled, with noisy metadata."""
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    doc = copy.deepcopy(doc)

    def reorder(graph: dict[str, Any]) -> None:
        for n in graph["nodes"]:
            for na in n["inputs"]:
                if "as_graph" in na["arg"]:
                    reorder(na["arg"]["as_graph"]["graph"])
            n["metadata"] = {
                "stack_trace": f'File "other_{rnd.randint(0, 99)}.py", line {rnd.randint(1, 999)}',
                "nn_module_stack": rnd.choice(["a", "b,c"]),
            }
        graph["nodes"] = _random_topo(graph["nodes"], set(), rnd)
        for meta in graph["tensor_values"].values():
            for s in meta["sizes"]:
                if "as_expr" in s:
                    s["as_expr"]["hint"] = rnd.choice([None, {"as_int": rnd.randint(2, 64)}])
        for s in graph["sym_int_values"].values():
            if "as_expr" in s:
                s["as_expr"]["hint"] = {"as_int": rnd.randint(2, 64)}

    gm = doc["graph_module"]
    reorder(gm["graph"])
    # Parameters and buffers may come in another order (with their specs).
    g, specs = gm["graph"], gm["signature"]["input_specs"]
    pairs = list(zip(g["inputs"], specs))
    fixed = [p for p in pairs if "user_input" in p[1]]
    movable = [p for p in pairs if "user_input" not in p[1]]
    rnd.shuffle(movable)
    pairs = movable + fixed
    g["inputs"] = [p[0] for p in pairs]
    gm["signature"]["input_specs"] = [p[1] for p in pairs]
    # Rename every value, node and subgraph name, and every symbol.
    names: list[str] = []
    _collect_names(doc, names)
    fresh = rnd.sample(range(10_000, 99_999), len(set(names)))
    mapping = {old: f"t{n}" for old, n in zip(sorted(set(names)), fresh)}
    syms = set(doc.get("range_constraints", {}))
    sym_map = {
        s: re.match(r"[a-z]+", s).group(0) + str(rnd.randint(100, 999) * 10 + i) for i, s in enumerate(sorted(syms))
    }  # type: ignore[union-attr]
    doc = _rename_everything(doc, mapping, sym_map)
    return _shuffle_keys(doc, rnd)  # type: ignore[no-any-return]


@st.composite
def fqn_renames(draw: Any, doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The document with its parameters and buffers renamed (new FQNs, any sort order); and the renaming.

    Not an equivalent program (the signature names other state), but one
    whose structure and tensor metadata are the same.
    """
    doc = copy.deepcopy(doc)
    sig = doc["graph_module"]["signature"]
    fields = ("parameter_name", "buffer_name")
    old = sorted({b[f] for spec in sig["input_specs"] for b in spec.values() for f in fields if f in b})
    new = draw(
        st.lists(
            st.text("abcxyz._", min_size=1, max_size=6).filter(lambda t: t[0] not in "._"),
            min_size=len(old),
            max_size=len(old),
            unique=True,
        )
    )
    mapping = dict(zip(old, new))
    for spec in (*sig["input_specs"], *sig["output_specs"]):
        for body in spec.values():
            for f in fields:
                if f in body:
                    body[f] = mapping[body[f]]
    return doc, mapping


def _collect_names(obj: Any, out: list[str]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("name", "as_name") and isinstance(v, str):
                if "arg" not in obj:  # a NamedArgument's name is the schema's, not a value's
                    out.append(v)
            elif k in ("tensor_values", "sym_int_values"):
                out.extend(v)
                for m in v.values():
                    _collect_names(m, out)
            else:
                _collect_names(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _collect_names(v, out)


# --------------------------------------------------------------------------- mutations

#: Levels whose hash must change for each kind of mutation.
MUTATION_LEVELS = {
    "target": ("structure", "graph"),
    "constant": ("structure", "graph"),
    "wiring": ("structure", "graph"),
    "shape": ("graph",),
    "dtype": ("graph",),
}


@st.composite
def mutations(draw: Any, doc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A single semantic change to ``doc``: ``(kind, mutated document)``."""
    doc = copy.deepcopy(doc)
    g = doc["graph_module"]["graph"]
    nodes = g["nodes"]
    options = []
    for i, n in enumerate(nodes):
        t = n["target"][len(T) :] if n["target"].startswith(T) else n["target"]
        if t in UNARY or t in BINARY:
            options.append(("target", i))
        if any("as_float" in na["arg"] and not isinstance(na["arg"]["as_float"], str) for na in n["inputs"]) or any(
            "as_ints" in na["arg"] for na in n["inputs"]
        ):
            options.append(("constant", i))
        tensors = [na["arg"]["as_tensor"]["name"] for na in n["inputs"] if "as_tensor" in na["arg"]]
        if len(tensors) >= 2 and tensors[0] != tensors[1]:
            options.append(("wiring", i))
    options += [("shape", name) for name in g["tensor_values"]]
    options += [("dtype", name) for name in g["tensor_values"]]
    kind, where = draw(st.sampled_from(options))
    if kind == "target":
        n = nodes[where]
        t = n["target"][len(T) :]
        pool = UNARY if t in UNARY else BINARY
        n["target"] = T + draw(st.sampled_from([p for p in pool if p != t]))
    elif kind == "constant":
        for na in nodes[where]["inputs"]:
            a = na["arg"]
            if "as_float" in a and not isinstance(a["as_float"], str):
                a["as_float"] = a["as_float"] + 1.5
                break
            if "as_ints" in a:
                a["as_ints"] = [*a["as_ints"], 7]
                break
    elif kind == "wiring":
        ins = [na for na in nodes[where]["inputs"] if "as_tensor" in na["arg"]]
        ins[0]["arg"], ins[1]["arg"] = ins[1]["arg"], ins[0]["arg"]
    elif kind == "shape":
        meta = g["tensor_values"][where]
        meta["sizes"] = [*meta["sizes"], {"as_int": 5}]
        meta["strides"] = [*meta["strides"], {"as_int": 1}]
    elif kind == "dtype":
        meta = g["tensor_values"][where]
        meta["dtype"] = 6 if meta["dtype"] != 6 else 7
    return kind, doc
