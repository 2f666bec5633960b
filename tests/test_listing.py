"""The FX-like listing (``pt2canon.listing``) on real ``torch.export`` programs.

Expected text is derived from torch's own view of each program (the FX
graph of the ``ExportedProgram``: node targets, argument names, fake-tensor
shapes and dtypes; the module's state dict) rather than from the listing
code, and small programs are checked line for line.
"""

from __future__ import annotations

import dataclasses
import json
import operator
import re
from pathlib import Path
from typing import Any

import pytest
import sympy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.export import Dim

import pt2canon
from pt2canon.listing import (
    DTYPE_ABBRS,
    DTYPE_NAMES,
    LAYOUT_NAMES,
    MEMORY_FORMAT_NAMES,
    expr_to_str,
    format_argument,
    format_node,
    format_size,
    format_tensor_meta,
    generate_listing,
    listing_json,
    short_target,
    write_listing,
)

# -- models ---------------------------------------------------------------------------


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.out = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.lin(x)))


class Cond(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cond(x.sum() > 0, lambda x: x.sin(), lambda x: x.cos(), (x,))


class Dynamic(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = x.shape[0]
        grown = torch.cat([x, x[:1]])  # s + 1 rows
        zeros = x.new_zeros(2 * n + 1)  # sym-int arithmetic nodes
        return grown, zeros, x.t(), x[1]  # a transposed view (strides) and an offset view


class MultiOutput(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values, indices = torch.max(x, dim=1)
        first, _second = torch.split(x, 2, dim=1)
        return values, indices, first


class BufferMutation(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("count", torch.zeros(3))
        self.register_buffer("scratch", torch.ones(3), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.count.add_(1)
        return x + self.count + self.scratch


class Literals(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        padded = torch.nn.functional.pad(x, (1, 1), value=float("inf"))
        nans = torch.full((2,), float("nan"), dtype=torch.float16)
        clamped = torch.clamp(x, min=-float("inf"))
        return padded, nans, clamped, x.to(memory_format=torch.contiguous_format) * 1e-05


MODELS: dict[str, tuple[nn.Module, tuple[Any, ...], Any, bool]] = {
    # name: (module, args, dynamic_shapes, run_decompositions)
    "mlp": (MLP().eval(), (torch.randn(2, 4),), None, False),
    "cond": (Cond(), (torch.randn(3),), None, False),
    "dynamic": (Dynamic(), (torch.randn(4, 3),), {"x": {0: Dim("batch", min=2, max=64)}}, False),
    "multi_output": (MultiOutput(), (torch.randn(2, 3),), None, False),
    "buffer_mutation": (BufferMutation(), (torch.randn(3),), None, True),
    "literals": (Literals(), (torch.randn(2, 4),), None, False),
}


@dataclasses.dataclass
class Exported:
    ep: torch.export.ExportedProgram
    module: nn.Module
    path: Path
    artifact: Any

    @property
    def program(self) -> dict[str, Any]:
        return self.artifact.model.program

    def listing(self, **kw: Any) -> list[str]:
        return list(generate_listing(self.program, **kw))

    def graph_lines(self) -> list[str]:
        """The lines of the top-level ``graph:`` section (without the header)."""
        lines = self.listing()
        start = lines.index("graph:") + 1
        end = next((i for i in range(start, len(lines)) if not lines[i].startswith(" ")), len(lines))
        return lines[start:end]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Exported]:
    folder = tmp_path_factory.mktemp("listing")
    out = {}
    for name, (module, args, ds, decompose) in MODELS.items():
        torch.manual_seed(0)
        ep = torch.export.export(module, args, dynamic_shapes=ds)
        if decompose:
            ep = ep.run_decompositions()
        path = folder / f"{name}.pt2"
        torch.export.save(ep, path)
        out[name] = Exported(ep=ep, module=module, path=path, artifact=pt2canon.load(path))
    yield out
    for e in out.values():
        e.artifact.close()


# -- what torch says ------------------------------------------------------------------


def fx_target(target: Any) -> str:
    """The serialized target of an FX call_function node, as torch's serializer names it, shortened."""
    module = target.__module__
    if module.startswith("torch._ops"):
        module = module.replace("torch._ops", "torch.ops")
    return short_target(f"{module}.{target.__name__}")


def fx_meta(val: Any) -> str | None:
    """``f32[s77, 3]`` from a fake tensor, sizes printed by sympy's ``str``."""
    if isinstance(val, torch.Tensor):
        return f"{val.dtype.abbr}[{', '.join(str(s) for s in val.shape)}]"
    return None


def fx_calls(ep: torch.export.ExportedProgram) -> list[torch.fx.Node]:
    """The FX call_function nodes that serialize as nodes (``getitem`` is folded into its producer)."""
    return [n for n in ep.graph.nodes if n.op == "call_function" and n.target is not operator.getitem]


def fx_ref(arg: torch.fx.Node) -> str:
    return f"@{arg.target}" if arg.op == "get_attr" else f"%{arg.name}"


def strip_meta(meta: str) -> str:
    """``f32[3, 4]`` of ``f32[3, 4]{stride=[1, 3]}``."""
    return meta.split("{", 1)[0]


# -- whole listings, line for line ------------------------------------------------------


def test_mlp_listing_is_the_expected_text_line_for_line(exported: dict[str, Exported]) -> None:
    e = exported["mlp"]
    m = e.artifact.model
    lines = list(generate_listing(m.program, weights=m.weights, info=e.artifact.info, name="model"))
    info = " ".join(f"{k}={v}" for k, v in e.artifact.info.items())
    assert lines == [
        "model: model",
        f"torch: {torch.__version__}",
        "schema: {}.{}".format(*torch._export.serde.schema.SCHEMA_VERSION),
        f"opset: aten={m.program['opset_version']['aten']}",
        f"verifiers: {', '.join(m.program['verifiers'])}",
        f"archive: {info}",
        "inputs:",
        "    %p_lin_weight: parameter lin.weight  f32[3, 4]{requires_grad}",
        "    %p_lin_bias: parameter lin.bias  f32[3]{requires_grad}",
        "    %p_out_weight: parameter out.weight  f32[2, 3]{requires_grad}",
        "    %p_out_bias: parameter out.bias  f32[2]{requires_grad}",
        "    %x: user_input  f32[2, 4]",
        "outputs:",
        "    %linear_1: user_output  f32[2, 2]",
        "graph:",
        "    %linear = aten.linear.default(%x, %p_lin_weight, %p_lin_bias)  # f32[2, 3]",
        "    %relu = aten.relu.default(%linear)  # f32[2, 3]",
        "    %linear_1 = aten.linear.default(%relu, %p_out_weight, %p_out_bias)  # f32[2, 2]",
        "    return (%linear_1,)",
        "weights: 4 entries, 92 B",
        "    lin.weight: f32[3, 4]{requires_grad}  48 B",
        "    out.weight: f32[2, 3]{requires_grad}  24 B",
        "    lin.bias: f32[3]{requires_grad}  12 B",
        "    out.bias: f32[2]{requires_grad}  8 B",
    ]


def test_cond_subgraphs_are_listed_indented_below_the_cond_node(exported: dict[str, Exported]) -> None:
    assert exported["cond"].graph_lines() == [
        "    %sum_1 = aten.sum.default(%x)  # f32[]",
        "    %gt = aten.gt.Scalar(%sum_1, 0)  # b8[]",
        "    %getitem = higher_order.cond(%gt, @true_graph_0, @false_graph_0, [%x])  # f32[3]",
        "        @true_graph_0:",
        "            %x: input  f32[3]",
        "            %sin = aten.sin.default(%x)  # f32[3]",
        "            return (%sin,)",
        "        @false_graph_0:",
        "            %x: input  f32[3]",
        "            %cos = aten.cos.default(%x)  # f32[3]",
        "            return (%cos,)",
        "    return (%getitem,)",
    ]


def test_subgraph_nodes_match_the_fx_submodules_of_the_cond(exported: dict[str, Exported]) -> None:
    e = exported["cond"]
    lines = e.listing()
    for name in ("true_graph_0", "false_graph_0"):
        sub = getattr(e.ep.graph_module, name)
        header = lines.index(f"        @{name}:")
        for node in sub.graph.nodes:
            if node.op == "call_function":
                args = ", ".join(fx_ref(a) for a in node.args)
                line = f"            %{node.name} = {fx_target(node.target)}({args})  # {fx_meta(node.meta['val'])}"
                assert line in lines[header:], line


def test_dynamic_batch_sizes_print_as_readable_symbols(exported: dict[str, Exported]) -> None:
    e = exported["dynamic"]
    x = next(n for n in e.ep.graph.nodes if n.op == "placeholder")
    sym = str(x.meta["val"].shape[0])  # e.g. "s77", as torch names it
    assert re.fullmatch(r"s\d+", sym)
    lines = e.listing()
    assert f"    %x: user_input  f32[{sym}, 3]" in lines
    assert f"    %cat = aten.cat.default([%x, %slice_1])  # f32[{sym} + 1, 3]" in lines
    assert f"    %mul = _operator.mul(2, %sym_size_int_1)  # Sym(2*{sym})" in lines
    assert f"    %add = _operator.add(%mul, 1)  # Sym(2*{sym} + 1)" in lines
    assert f"    %new_zeros = aten.new_zeros.default(%x, [%add], pin_memory=False)  # f32[2*{sym} + 1]" in lines
    assert lines[lines.index("range_constraints:") + 1] == f"    {sym}: [2, 64]"
    assert not any("Symbol(" in line or "Integer(" in line for line in lines)


def test_views_show_their_strides_and_storage_offset(exported: dict[str, Exported]) -> None:
    lines = exported["dynamic"].listing()
    transposed = next(line for line in lines if "aten.t.default" in line)
    selected = next(line for line in lines if "aten.select.int" in line)
    assert transposed.endswith("{stride=[1, 3]}")
    assert selected.endswith("f32[3]{offset=3}")


def test_multi_output_ops_name_every_output_with_its_metadata(exported: dict[str, Exported]) -> None:
    lines = exported["multi_output"].graph_lines()
    assert "    %getitem, %getitem_1 = aten.max.dim(%x, 1)  # f32[2], i64[2]" in lines
    split = next(line for line in lines if "aten.split.Tensor" in line)
    assert re.fullmatch(
        r"    \[%getitem_\d+, %getitem_\d+\] = aten\.split\.Tensor\(%x, 2, 1\)"
        r"  # \[f32\[2, 2\]\{stride=\[3, 1\]\}, f32\[2, 1\]\{stride=\[3, 1\], offset=2\}\]",
        split,
    )


def test_buffer_mutations_are_listed_among_the_outputs(exported: dict[str, Exported]) -> None:
    e = exported["buffer_mutation"]
    lines = e.listing()
    outputs = lines[lines.index("outputs:") + 1 : lines.index("graph:")]
    mutated = [s for s in e.ep.graph_signature.output_specs if s.kind.name == "BUFFER_MUTATION"]
    assert [f"    %{s.arg.name}: buffer_mutation {s.target}  f32[3]" for s in mutated] == [
        line for line in outputs if "buffer_mutation" in line
    ]
    assert "    %b_scratch: buffer scratch [non-persistent]  f32[3]" in lines


def test_constant_arguments_print_as_python_literals(exported: dict[str, Exported]) -> None:
    lines = exported["literals"].graph_lines()
    text = "\n".join(lines)
    assert "aten.pad.default(%x, [1, 1], 'constant', inf)" in text
    assert "aten.clamp.default(%to, -inf)" in text or "aten.clamp.default(%x, -inf)" in text
    assert re.search(r"aten\.full\.default\(\[2\], nan, dtype=torch\.float16, .*\)  # f16\[2\]", text)
    assert "memory_format=torch.contiguous_format" in text
    assert ", 1e-05)" in text


# -- every node, derived from the FX graph ------------------------------------------------


def check_nodes_against_fx(ep: torch.export.ExportedProgram, lines: list[str]) -> None:
    graph_lines = [line.strip() for line in lines]
    calls = fx_calls(ep)
    cursor = 0
    for node in calls:
        target = fx_target(node.target)
        # one line per node, in the FX graph's order
        while cursor < len(graph_lines) and not (
            f" = {target}(" in graph_lines[cursor] or graph_lines[cursor].startswith(f"{target}(")
        ):
            cursor += 1
        assert cursor < len(graph_lines), f"no line for FX node {node.name} ({target})"
        line = graph_lines[cursor]
        cursor += 1
        refs = [
            fx_ref(a) for a in torch.utils._pytree.tree_leaves((node.args, node.kwargs)) if isinstance(a, torch.fx.Node)
        ]
        call = line.split(f"{target}(", 1)[1]
        for ref in refs:
            assert ref in call, f"{ref} missing from {line!r}"
        val = node.meta.get("val")
        if isinstance(val, torch.Tensor):
            assert line.startswith(f"%{node.name} = "), line
            assert strip_meta(line.rsplit("  # ", 1)[1]) == fx_meta(val), line


@pytest.mark.parametrize("name", list(MODELS))
def test_every_fx_call_node_has_a_line_with_its_target_arguments_and_shape(
    exported: dict[str, Exported], name: str
) -> None:
    e = exported[name]
    check_nodes_against_fx(e.ep, e.graph_lines())


def test_every_corpus_program_lists_each_fx_node_in_order(corpus_entry: Any) -> None:
    with pt2canon.load(corpus_entry.path) as art:
        lines = list(generate_listing(art.model.program))
    start = lines.index("graph:") + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith(" ")), len(lines))
    top = [line for line in lines[start:end] if line.startswith("    ") and not line.startswith("     ")]
    check_nodes_against_fx(corpus_entry.ep, top)
    assert not any(re.search(r"<(as_\w+|argument|list|sym|input|target): ", line) for line in lines)
    assert not any("Symbol(" in line or "Integer(" in line for line in lines)


def test_signature_lines_follow_torch_graph_signature(exported: dict[str, Exported]) -> None:
    e = exported["mlp"]
    lines = e.listing()
    inputs = lines[lines.index("inputs:") + 1 : lines.index("outputs:")]
    sig = e.ep.graph_signature
    assert len(inputs) == len(sig.input_specs)
    for line, spec in zip(inputs, sig.input_specs, strict=True):
        kind = spec.kind.name.lower()
        assert line.startswith(f"    %{spec.arg.name}: {kind}" + (f" {spec.target}" if spec.target else ""))


# -- weights summary -----------------------------------------------------------------------


def test_weights_summary_counts_every_weight_and_lists_the_largest_first(exported: dict[str, Exported]) -> None:
    e = exported["mlp"]
    m = e.artifact.model
    state = e.module.state_dict()
    total = sum(t.numel() * t.element_size() for t in state.values())
    lines = list(generate_listing(m.program, weights=m.weights, largest=2))
    i = lines.index(f"weights: {len(state)} entries, {format_size(total)}")
    ranked = sorted(state.items(), key=lambda kv: (-kv[1].numel() * kv[1].element_size(), kv[0]))
    for (fqn, t), line in zip(ranked[:2], lines[i + 1 : i + 3], strict=True):
        shape = ", ".join(map(str, t.shape))
        assert (
            line == f"    {fqn}: {t.dtype.abbr}[{shape}]{{requires_grad}}  {format_size(t.numel() * t.element_size())}"
        )
    rest = sum(t.numel() * t.element_size() for _, t in ranked[2:])
    assert lines[i + 3] == f"    ... {len(state) - 2} more ({format_size(rest)})"
    every = list(generate_listing(m.program, weights=m.weights, largest=None))
    assert len(every[every.index(lines[i]) + 1 :]) == len(state)  # largest=None: all listed, no "more" line


def test_weights_section_is_left_out_unless_weights_are_given(exported: dict[str, Exported]) -> None:
    assert not any(line.startswith("weights:") for line in exported["mlp"].listing())


def test_write_listing_writes_the_generated_lines(exported: dict[str, Exported], tmp_path: Path) -> None:
    e = exported["cond"]
    target = tmp_path / "listing.txt"
    with target.open("w") as fh:
        write_listing(e.program, fh, name="cond")
    assert target.read_text().splitlines() == list(generate_listing(e.program, name="cond"))


# -- the node line depends only on the node and value metadata -----------------------------


def test_node_line_ignores_node_name_metadata_and_position(exported: dict[str, Exported]) -> None:
    graph = exported["mlp"].program["graph_module"]["graph"]
    for node in graph["nodes"]:
        renamed = {**node, "name": "zzz", "metadata": {"stack_trace": "elsewhere.py:1"}}
        assert format_node(renamed, graph) == format_node(node, graph)
    only = {k: graph[k] for k in ("tensor_values", "sym_int_values", "sym_bool_values")}
    assert [format_node(n, only) for n in graph["nodes"]] == [format_node(n, graph) for n in graph["nodes"]]


def test_keyword_only_arguments_are_written_name_equals_value() -> None:
    node = {
        "target": "torch.ops.aten.ones.default",
        "inputs": [
            {"name": "size", "arg": {"as_ints": [2]}, "kind": 1},
            {"name": "dtype", "arg": {"as_scalar_type": 6}, "kind": 2},
            {"name": "device", "arg": {"as_device": {"type": "cuda", "index": 1}}, "kind": 2},
        ],
        "outputs": [],
    }
    assert format_node(node, {}) == "aten.ones.default([2], dtype=torch.float16, device=cuda:1)"


# -- arguments, dtypes, expressions -------------------------------------------------------------


def test_enum_names_match_torch_for_every_serialized_dtype_layout_and_memory_format() -> None:
    from torch._export.serde import serialize as ser

    for dtype, code in ser._TORCH_TO_SERIALIZE_DTYPE.items():
        assert DTYPE_NAMES[int(code)] == str(dtype)
        assert DTYPE_ABBRS[int(code)] == dtype.abbr
    for layout, code in ser._TORCH_TO_SERIALIZE_LAYOUT.items():
        assert LAYOUT_NAMES[int(code)] == str(layout)
    for fmt, code in ser._TORCH_TO_SERIALIZE_MEMORY_FORMAT.items():
        assert MEMORY_FORMAT_NAMES[int(code)] == str(fmt)


SAMPLE_ARGUMENTS = {
    "as_none": (True, "None"),
    "as_tensor": ({"name": "x"}, "%x"),
    "as_tensors": ([{"name": "a"}, {"name": "b"}], "[%a, %b]"),
    "as_int": (-3, "-3"),
    "as_ints": ([1, 2], "[1, 2]"),
    "as_float": ("NaN", "nan"),
    "as_floats": ([0.5, "-Infinity"], "[0.5, -inf]"),
    "as_string": ("it's", '"it\'s"'),
    "as_strings": (["a", "b"], "['a', 'b']"),
    "as_sym_int": ({"as_name": "s"}, "%s"),
    "as_sym_ints": ([{"as_name": "s"}, {"as_int": 4}], "[%s, 4]"),
    "as_scalar_type": (13, "torch.bfloat16"),
    "as_memory_format": (2, "torch.channels_last"),
    "as_layout": (1, "torch.sparse_coo"),
    "as_device": ({"type": "cpu", "index": None}, "cpu"),
    "as_bool": (False, "False"),
    "as_bools": ([True, False], "[True, False]"),
    "as_sym_bool": ({"as_name": "b"}, "%b"),
    "as_sym_bools": ([{"as_name": "b"}, {"as_bool": True}], "[%b, True]"),
    "as_graph": ({"name": "body_graph_0", "graph": {}}, "@body_graph_0"),
    "as_optional_tensors": ([{"as_tensor": {"name": "a"}}, {"as_none": True}], "[%a, None]"),
    "as_custom_obj": ({"name": "obj", "class_fqn": "__torch__.Foo"}, "%obj"),
    "as_operator": ("torch.ops.aten.add.Tensor", "aten.add.Tensor"),
    "as_sym_float": ({"as_float": "Infinity"}, "inf"),
    "as_sym_floats": ([{"as_name": "f"}, {"as_float": 2.5}], "[%f, 2.5]"),
    "as_optional_tensor": ({"as_none": True}, "None"),
    "as_complex": ({"real": 1.0, "imag": "NaN"}, "complex(1.0, nan)"),
    "as_nested_tensors": ([[{"name": "a"}], [{"name": "b"}, {"name": "c"}]], "[[%a], [%b, %c]]"),
    "as_int_lists": ([[1], [2, 3]], "[[1], [2, 3]]"),
    "as_string_to_argument": ({"k": {"as_tensor": {"name": "x"}}, "n": {"as_int": 1}}, "{'k': %x, 'n': 1}"),
    "as_float_lists": ([[1.0], ["Infinity"]], "[[1.0], [inf]]"),
    "as_token": ({"name": "tok"}, "%tok"),
}


def test_every_argument_union_tag_of_torch_schema_has_a_readable_form() -> None:
    from torch._export.serde.schema import Argument

    tags = {f.name for f in dataclasses.fields(Argument)}
    assert tags <= set(SAMPLE_ARGUMENTS), tags - set(SAMPLE_ARGUMENTS)
    for tag, (value, expected) in SAMPLE_ARGUMENTS.items():
        assert format_argument({tag: value}) == expected, tag


def test_unknown_argument_tags_print_their_json_rather_than_failing() -> None:
    assert format_argument({"as_hologram": {"x": [1]}}) == '<as_hologram: {"x":[1]}>'
    assert format_argument({}) == "<argument: {}>"


def test_tensor_meta_prints_only_non_default_properties() -> None:
    base = {
        "dtype": 7,
        "sizes": [{"as_int": 2}, {"as_int": 3}],
        "strides": [{"as_int": 3}, {"as_int": 1}],
        "requires_grad": False,
        "device": {"type": "cpu", "index": None},
        "storage_offset": {"as_int": 0},
        "layout": 7,
    }
    assert format_tensor_meta(base) == "f32[2, 3]"
    assert format_tensor_meta({**base, "layout": 1}) == "f32[2, 3]{layout=torch.sparse_coo}"
    assert format_tensor_meta({**base, "device": {"type": "cpu", "index": 0}}) == "f32[2, 3]{device=cpu:0}"
    assert format_tensor_meta({**base, "dtype": 99}) == "ScalarType(99)[2, 3]"
    assert format_tensor_meta(None) == "?"


def _sympy_exprs() -> st.SearchStrategy[sympy.Expr]:
    syms = [sympy.Symbol(n, positive=True, integer=True) for n in ("s0", "s1", "s17", "s77")] + [
        sympy.Symbol("u0", integer=True)
    ]
    leaves = st.one_of(st.sampled_from(syms), st.integers(-9, 9).map(sympy.Integer))

    def grow(children: st.SearchStrategy[sympy.Expr]) -> st.SearchStrategy[sympy.Expr]:
        return st.one_of(
            st.tuples(children, children).map(lambda p: p[0] + p[1]),
            st.tuples(children, children).map(lambda p: p[0] - p[1]),
            st.tuples(children, children).map(lambda p: p[0] * p[1]),
            st.tuples(children, st.sampled_from(syms)).map(lambda p: p[0] / p[1]),
            st.tuples(children, st.integers(-3, 3)).map(lambda p: p[0] ** p[1]),
            st.tuples(children, st.integers(1, 4), st.integers(2, 5)).map(lambda p: p[0] * sympy.Rational(p[1], p[2])),
        )

    return st.recursive(leaves, grow, max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(_sympy_exprs(), st.sampled_from([None, sympy.Lt, sympy.Le, sympy.Gt, sympy.Ge, sympy.Eq, sympy.Ne]))
def test_symbolic_expressions_read_as_sympy_prints_them(expr: sympy.Expr, relation: Any) -> None:
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        return
    if relation is not None:
        try:
            expr = relation(expr, sympy.Symbol("s1", positive=True, integer=True))
        except TypeError:
            return
    if expr in (sympy.true, sympy.false):
        return
    assert expr_to_str(sympy.srepr(expr)) == str(expr)


def test_symbolic_expressions_are_parsed_never_evaluated(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    def boom(*a: Any, **k: Any) -> None:
        raise AssertionError("evaluated")

    monkeypatch.setattr(builtins, "__import__", boom)
    hostile = "__import__('os').system('echo pwned')"
    assert expr_to_str(hostile) == hostile
    assert expr_to_str("Symbol('s0')(1)") == "Symbol('s0')(1)"


def test_unparsable_or_huge_expressions_fall_back_to_the_raw_text() -> None:
    deep = "Add(" * 5000 + "Integer(1)" + ")" * 5000
    assert expr_to_str(deep) == deep
    assert expr_to_str("Add(Symbol('s0'),") == "Add(Symbol('s0'),"
    assert expr_to_str("s0 + 1") == "s0 + 1"
    assert expr_to_str("Integer(" + "9" * 5000 + ")") == "Integer(" + "9" * 5000 + ")"


# -- JSON ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_listing_json_round_trips_and_matches_the_program(exported: dict[str, Exported], name: str) -> None:
    e = exported[name]
    doc = json.loads(json.dumps(listing_json(e.artifact), allow_nan=False))
    assert doc["listing_version"] == 1
    assert doc["format"] == "pt2"
    (model,) = doc["models"]
    graph = e.program["graph_module"]["graph"]
    assert len(model["nodes"]) == len(graph["nodes"]) == len(fx_calls(e.ep))
    assert [n["line"] for n in model["nodes"]] == [format_node(n, graph) for n in graph["nodes"]]
    assert len(model["signature"]["inputs"]) == len(e.ep.graph_signature.input_specs)
    assert len(model["signature"]["outputs"]) == len(e.ep.graph_signature.output_specs)
    assert model["versions"]["torch"] == torch.__version__
    for node, fx in zip(model["nodes"], fx_calls(e.ep), strict=True):
        assert node["op"] == fx_target(fx.target)
        if isinstance(fx.meta.get("val"), torch.Tensor):
            (out,) = node["outputs"]
            assert out["name"] == fx.name
            assert out["dtype"] == str(fx.meta["val"].dtype)
            assert [str(s) for s in out["shape"]] == [str(s) for s in fx.meta["val"].shape]


def test_listing_json_nests_subgraphs_in_their_node(exported: dict[str, Exported]) -> None:
    doc = listing_json(exported["cond"].artifact)
    (cond,) = [n for n in doc["models"][0]["nodes"] if n["op"] == "higher_order.cond"]
    assert [s["name"] for s in cond["subgraphs"]] == ["true_graph_0", "false_graph_0"]
    assert [n["op"] for s in cond["subgraphs"] for n in s["nodes"]] == ["aten.sin.default", "aten.cos.default"]
    assert cond["subgraphs"][0]["inputs"] == [{"value": "%x", "meta": "f32[3]"}]


def test_listing_json_weights_summary_matches_the_state_dict(exported: dict[str, Exported]) -> None:
    e = exported["mlp"]
    weights = listing_json(e.artifact)["models"][0]["weights"]
    state = e.module.state_dict()
    assert weights["count"] == len(state)
    assert weights["bytes"] == sum(t.numel() * t.element_size() for t in state.values())
    assert [w["fqn"] for w in weights["entries"]] == sorted(state)
    assert {w["fqn"]: w["shape"] for w in weights["entries"]} == {k: list(v.shape) for k, v in state.items()}
    assert listing_json(e.artifact, weights=False)["models"][0]["weights"] is None


def test_listing_json_range_constraints_use_readable_symbols(exported: dict[str, Exported]) -> None:
    e = exported["dynamic"]
    doc = listing_json(e.artifact)
    expected = {str(k): {"min": int(v.lower), "max": int(v.upper)} for k, v in e.ep.range_constraints.items()}
    assert doc["models"][0]["range_constraints"] == expected


def test_listing_json_refuses_an_unknown_model_name(exported: dict[str, Exported]) -> None:
    with pytest.raises(pt2canon.Pt2CanonError, match="model='nope': no model of that name"):
        listing_json(exported["mlp"].artifact, model="nope")
