"""Real FX graphs of torch 2.13 (Dynamo, AOTAutograd, make_fx, symbolic_trace) hash and diff as programs."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from captures import capture
from torch import nn

import pt2canon
from pt2canon.errors import InputError, UsageError
from pt2canon.serde.archive import Artifact


def step_a(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    h = torch.sin(x)
    g = torch.cos(w)
    out = h @ g
    return F.relu(out) + 1


def step_b(inp: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # step_a, renamed and reordered
    c = torch.cos(weight)
    s = torch.sin(inp)
    res = s @ c
    return F.relu(res) + 1


def step_c(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:  # step_a with one op changed
    h = torch.tanh(x)
    g = torch.cos(w)
    out = h @ g
    return F.relu(out) + 1


def _graph(art: Artifact) -> dict:
    return art.model.program["graph_module"]["graph"]


def _targets(art: Artifact) -> list[str]:
    return [n["target"] for n in _graph(art)["nodes"]]


@pytest.fixture(scope="module")
def steps() -> dict[str, list]:
    args = (torch.randn(3, 4), torch.randn(4, 5))
    return {name: capture(fn, *args) for name, fn in (("a", step_a), ("b", step_b), ("c", step_c))}


def test_the_same_function_compiled_with_renamed_locals_and_swapped_statements_hashes_equal(steps: dict) -> None:
    (a,), (b,) = steps["a"], steps["b"]
    # The two captures really differ: other value names, other node order.
    assert [n["name"] for n in _graph(a.artifact)["nodes"]] != [n["name"] for n in _graph(b.artifact)["nodes"]]
    assert _targets(a.artifact) != _targets(b.artifact)
    assert sorted(_targets(a.artifact)) == sorted(_targets(b.artifact))
    for level in ("structure", "graph", "full"):
        assert pt2canon.hash(a.artifact, level=level) == pt2canon.hash(b.artifact, level=level)
    assert pt2canon.diff(a.artifact, b.artifact).equal


def test_a_changed_op_changes_the_hash_and_the_diff_is_one_record(steps: dict) -> None:
    (a,), (c,) = steps["a"], steps["c"]
    assert pt2canon.hash(a.artifact) != pt2canon.hash(c.artifact)
    result = pt2canon.diff(a.artifact, c.artifact)
    assert len(result.changes) == 1, result.render("text")
    (change,) = result.changes
    assert change.kind == "node_changed"
    assert "torch.sin" in (change.a_line or "") and "torch.tanh" in (change.b_line or "")


def test_targets_are_named_by_module_and_qualified_name_never_by_address(steps: dict) -> None:
    (a,) = steps["a"]
    targets = set(_targets(a.artifact))
    assert {"torch.sin", "torch.cos", "_operator.matmul", "torch.nn.functional.relu", "_operator.add"} <= targets
    assert not any("0x" in t or "<" in t for t in targets)


def test_a_dynamo_graph_read_after_compilation_has_the_signature_it_had_inside_the_backend() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU())
    (cap,) = capture(model, torch.randn(3, 4))
    inside = cap.artifact.model.program["graph_module"]["signature"]["input_specs"]
    after = pt2canon.load(cap.gm).model.program["graph_module"]["signature"]["input_specs"]  # grapharg is gone now
    assert "grapharg" not in next(iter(cap.gm.graph.nodes)).meta
    assert inside == after
    by_kind: dict[str, list[str]] = {}
    for spec in inside:
        ((kind, body),) = spec.items()
        by_kind.setdefault(kind, []).append(body.get("parameter_name") or body.get("buffer_name") or "")
    assert sorted(by_kind) == ["buffer", "parameter", "user_input"]
    assert sorted(by_kind["parameter"]) == ["0.bias", "0.weight", "1.bias", "1.weight"]  # as in the state_dict
    assert sorted(by_kind["buffer"]) == ["1.num_batches_tracked", "1.running_mean", "1.running_var"]
    assert by_kind["user_input"] == [""]


def test_full_level_hashes_the_real_parameters_a_backend_is_handed_and_refuses_fake_ones() -> None:
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    (one,) = capture(model, torch.randn(3, 4))
    before = pt2canon.digest(one.artifact, level="full")  # the artifact reads the live tensors when it hashes
    with torch.no_grad():
        model.weight[0, 0] += 1.0
    (two,) = capture(model, torch.randn(3, 4))
    assert pt2canon.hash(one.artifact) == pt2canon.hash(two.artifact)
    full = [before, pt2canon.digest(two.artifact, level="full")]
    assert full[0].hash != full[1].hash
    assert full[0].layers["structure"] == full[1].layers["structure"]
    assert full[0].layers["weights"] != full[1].layers["weights"]
    with pytest.raises(UsageError, match=r"'(weight|bias)' is a FakeTensor without data"):
        pt2canon.hash(one.gm, level="full")  # after compilation: only the FakeTensor example values are left


def test_mark_dynamic_sizes_are_symbols_renamed_like_exported_ones() -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, x * 2]).sum(0)

    def g(batch: torch.Tensor) -> torch.Tensor:  # another argument name: Dynamo names the symbol after it
        return torch.cat([batch, batch * 2]).sum(0)

    (a,) = capture(f, torch.randn(5, 3), dynamic=[(0, 0)])
    (b,) = capture(g, torch.randn(7, 3), dynamic=[(0, 0)])
    ra, rb = (c.artifact.model.program["range_constraints"] for c in (a, b))
    assert len(ra) == 1 and ra.keys() != rb.keys()  # two different symbol names
    assert next(iter(ra.values())) == {"min_val": 2, "max_val": None}
    assert pt2canon.hash(a.artifact) == pt2canon.hash(b.artifact)
    canon = pt2canon.canonicalize(a.artifact).doc
    assert list(canon["range_constraints"]) == ["s0"]
    x_meta = next(m for m in canon["graph_module"]["graph"]["tensor_values"].values() if len(m["sizes"]) == 2)
    assert "as_expr" in x_meta["sizes"][0]
    (static,) = capture(f, torch.randn(5, 3))
    assert not static.artifact.model.program["range_constraints"]
    assert pt2canon.hash(static.artifact) != pt2canon.hash(a.artifact)


def _aot_graphs(model: nn.Module, x: torch.Tensor) -> dict[str, Artifact]:
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    torch._dynamo.reset()
    got: dict[str, object] = {}

    def keep(kind: str):  # type: ignore[no-untyped-def]
        def compiler(gm: torch.fx.GraphModule, example_inputs: list) -> object:
            got[kind] = pt2canon.load(gm, example_inputs=example_inputs)
            return make_boxed_func(gm.forward)

        return compiler

    out = torch.compile(model, backend=aot_autograd(fw_compiler=keep("forward"), bw_compiler=keep("backward")))(x)
    out.sum().backward()
    return got  # type: ignore[return-value]


def test_forward_and_backward_aot_graphs_of_a_small_mlp_are_aten_programs_with_stable_hashes() -> None:
    x = torch.randn(3, 4)
    graphs = []
    for seed in (0, 1):  # other weights, same program
        torch.manual_seed(seed)
        graphs.append(_aot_graphs(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), x))
    fw, bw = graphs[0]["forward"], graphs[0]["backward"]
    for art in (fw, bw):
        targets = _targets(art)
        assert targets and all(t.startswith("torch.ops.aten.") for t in targets), targets  # getitems folded
        graph = _graph(art)
        tensors = [n["outputs"][0]["as_tensor"]["name"] for n in graph["nodes"] if "as_tensor" in n["outputs"][0]]
        assert all(name in graph["tensor_values"] for name in tensors)
    assert "torch.ops.aten.threshold_backward.default" in _targets(bw)
    assert pt2canon.hash(fw) != pt2canon.hash(bw)
    assert pt2canon.hash(fw) == pt2canon.hash(graphs[1]["forward"])
    assert pt2canon.hash(bw) == pt2canon.hash(graphs[1]["backward"])


def test_an_aot_forward_graph_names_its_input_mutations_in_the_signature() -> None:
    graphs = _aot_graphs(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).train(), torch.randn(3, 4))
    specs = graphs["forward"].model.program["graph_module"]["signature"]["output_specs"]
    mutations = [s["user_input_mutation"] for s in specs if "user_input_mutation" in s]
    assert len(mutations) == 3  # running_mean, running_var, num_batches_tracked
    inputs = {a["as_tensor"]["name"] for a in _graph(graphs["forward"])["inputs"]}
    assert {m["user_input_name"] for m in mutations} <= inputs


def _split_max(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.sin(x)
    first, _ = torch.split(a, 2)
    values, indices = torch.max(y, 1)
    return first + values.sum(), indices


def _split_max_renamed(inp: torch.Tensor, other: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    v, i = torch.max(other, 1)
    s = torch.sin(inp)
    head, _ = torch.split(s, 2)
    return head + v.sum(), i


def test_make_fx_graphs_fold_getitems_into_multi_output_nodes_as_torch_export_does() -> None:
    from torch.fx.experimental.proxy_tensor import make_fx

    args = (torch.randn(4, 3), torch.randn(2, 5))
    gm = make_fx(_split_max, tracing_mode="symbolic")(*args)
    art = pt2canon.load(gm)
    graph = _graph(art)
    assert "_operator.getitem" not in _targets(art)
    split = next(n for n in graph["nodes"] if n["target"] == "torch.ops.aten.split.Tensor")
    assert list(split["outputs"][0]) == ["as_tensors"] and len(split["outputs"][0]["as_tensors"]) == 2
    maxed = next(n for n in graph["nodes"] if n["target"] == "torch.ops.aten.max.dim")
    assert [list(o) for o in maxed["outputs"]] == [["as_tensor"], ["as_tensor"]]
    assert art.model.program["range_constraints"]  # symbolic tracing: symbols with ranges

    class Module(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return _split_max(x, y)

    exported = pt2canon.load(torch.export.export(Module(), args))
    traced = pt2canon.load(make_fx(_split_max)(*args))
    assert sorted(_targets(traced)) == sorted(_targets(exported))  # the same ops, named alike
    renamed = pt2canon.load(make_fx(_split_max_renamed)(*args))
    assert _targets(renamed) != _targets(traced)
    assert pt2canon.hash(renamed) == pt2canon.hash(traced)


class Branches(nn.Module):
    def __init__(self, first: str = "left", inplace: bool = False, swap: bool = False) -> None:
        super().__init__()
        self.first = first
        self.swap = swap
        setattr(self, first, nn.Linear(4, 4))
        self.right = nn.Linear(4, 4)
        self.act = nn.ReLU(inplace=inplace)
        self.scale = nn.Parameter(torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.swap:
            b = self.right(x)
            a = getattr(self, self.first)(x)
        else:
            a = getattr(self, self.first)(x)
            b = self.right(x)
        return self.act(a + b).mul(self.scale)


def _traced(**kw: object) -> Artifact:
    torch.manual_seed(0)
    return pt2canon.load(torch.fx.symbolic_trace(Branches(**kw)))  # type: ignore[arg-type]


def test_symbolic_trace_graphs_name_module_calls_by_class_and_their_submodules_by_fqn() -> None:
    art = _traced()
    targets = _targets(art)
    assert targets.count("torch.nn.modules.linear.Linear") == 2
    assert {"torch.nn.modules.activation.ReLU", "call_method.mul", "_operator.add"} <= set(targets)
    specs = art.model.program["graph_module"]["signature"]["input_specs"]
    assert sorted(s["custom_obj"]["custom_obj_name"] for s in specs if "custom_obj" in s) == ["act", "left", "right"]
    assert [s["parameter"]["parameter_name"] for s in specs if "parameter" in s] == ["scale"]
    relu = next(n for n in _graph(art)["nodes"] if n["target"].endswith("ReLU"))
    assert {na["name"]: na["arg"] for na in relu["inputs"]}["inplace"] == {"as_bool": False}
    assert sorted(art.model.weights) == ["left.bias", "left.weight", "right.bias", "right.weight", "scale"]


def test_symbolic_trace_hashes_ignore_statement_order_and_put_submodule_names_in_the_signature_only() -> None:
    base = pt2canon.digest(_traced())
    assert pt2canon.digest(_traced(swap=True)).hash == base.hash
    renamed = pt2canon.digest(_traced(first="middle"))
    assert renamed.hash != base.hash
    assert {k for k in base.layers if base.layers[k] != renamed.layers[k]} == {"signature"}
    assert pt2canon.hash(_traced(inplace=True)) != base.hash


def test_an_opaque_python_object_as_a_constant_is_refused_naming_the_node() -> None:
    class Settings:
        pass

    graph = torch.fx.Graph()  # a GraphModule could not even generate code for it
    x = graph.placeholder("x")
    graph.output(graph.call_function(torch.add, (x, Settings())))
    with pytest.raises(InputError, match=r"node 'add'.*argument 'arg1'.*Settings object, which has no stable"):
        pt2canon.load(graph)


def _graph_calling(fn: object) -> torch.fx.Graph:
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    graph.output(graph.create_node("call_function", fn, (x,), {}, name="call"))  # type: ignore[arg-type]
    return graph


def test_local_functions_are_told_apart_by_their_code_and_never_by_their_address() -> None:
    def factory() -> tuple:
        return (lambda t: t * 2), (lambda t: t + 2)

    double, shift = factory()
    double_again, _ = factory()
    names = [_targets(pt2canon.load(_graph_calling(f)))[0] for f in (double, shift, double_again)]
    assert names[0] != names[1] and names[0] == names[2]
    assert names[0].startswith(f"{__name__}.") and "<lambda>#" in names[0]
    with pytest.raises(InputError, match=r"functools\.partial object"):
        pt2canon.load(_graph_calling(functools.partial(torch.add, other=1)))


def test_python_constants_without_a_schema_tag_get_stand_ins_that_tell_them_apart() -> None:
    def indexed(key: object) -> str:
        graph = torch.fx.Graph()
        x = graph.placeholder("x")
        graph.output(graph.call_function(lambda t, k: t[k], (x, key)))
        return pt2canon.hash(graph)

    keys = [(Ellipsis, slice(1, 2)), (Ellipsis, slice(1, 3)), (slice(1, 2), Ellipsis), {"a": 1}, {1: "a"}]
    assert len({indexed(k) for k in keys}) == len(keys)
    assert indexed((Ellipsis, slice(1, 2))) == indexed((Ellipsis, slice(1, 2)))


def _branchy(x: torch.Tensor) -> torch.Tensor:
    def positive(t: torch.Tensor) -> torch.Tensor:
        return t.sin() + 1

    def negative(t: torch.Tensor) -> torch.Tensor:
        return t.cos()

    return torch.cond(x.sum() > 0, positive, negative, (x,))


def _branchy_renamed(inp: torch.Tensor) -> torch.Tensor:
    def when_true(u: torch.Tensor) -> torch.Tensor:
        return u.sin() + 1

    def when_false(u: torch.Tensor) -> torch.Tensor:
        return u.cos()

    return torch.cond(inp.sum() > 0, when_true, when_false, (inp,))


def _branchy_swapped(x: torch.Tensor) -> torch.Tensor:
    def positive(t: torch.Tensor) -> torch.Tensor:
        return t.cos()

    def negative(t: torch.Tensor) -> torch.Tensor:
        return t.sin() + 1

    return torch.cond(x.sum() > 0, positive, negative, (x,))


def test_the_branches_of_a_higher_order_op_are_subgraph_arguments() -> None:
    (a,), (b,), (c,) = (capture(f, torch.randn(3)) for f in (_branchy, _branchy_renamed, _branchy_swapped))
    cond = next(n for n in _graph(a.artifact)["nodes"] if n["target"] == "torch.ops.higher_order.cond")
    branches = [na["arg"]["as_graph"]["graph"] for na in cond["inputs"] if "as_graph" in na["arg"]]
    assert len(branches) == 2
    assert [[n["target"] for n in g["nodes"]] for g in branches] == [
        ["call_method.sin", "_operator.add"],
        ["call_method.cos"],
    ]
    assert all(len(g["inputs"]) == 1 and "tensor_values" in g for g in branches)
    assert pt2canon.hash(a.artifact) == pt2canon.hash(b.artifact)
    assert pt2canon.hash(a.artifact) != pt2canon.hash(c.artifact)
