"""The programs of torch's own serializer tests, recreated for torch 2.13.

torch's ``test/export/test_serialize.py`` (read from the pytorch repository;
it is not installed with the wheel) exports a few dozen small programs, each
aimed at one corner of the format: constant and ``None`` inputs and outputs,
multi-output ops, symbolic shapes and runtime asserts, tensor constants
that are views, aliased weights, custom ops with optional and list
outputs, torchbind objects, higher-order ops, pre-dispatch graphs, extra
files. :func:`build` exports every one of them that torch 2.13 can export
and save; :data:`NOT_RECREATED` lists the others, with the reason.

Custom ops live in the ``pt2canon_sertest`` namespace (torch's tests use
``mylib``, defined in a scoped library that is gone when the test ends;
here they stay defined for the session so that archives load and run).
"""

from __future__ import annotations

import copy
import io
import math
import warnings
from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.export import Dim, ExportedProgram

__all__ = ["NOT_RECREATED", "SerializerProgram", "build", "load_torchbind", "program_names"]

_NS = "pt2canon_sertest"


@dataclass
class SerializerProgram:
    """One recreated program: the export, its example inputs and how torch's test saved it."""

    name: str
    ep: ExportedProgram
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    extra_files: dict[str, str] | None = None
    #: Compare outputs by shape and dtype only (meta tensors, float8).
    shapes_only: bool = False

    def save(self, path: Path) -> Path:
        torch.export.save(self.ep, path, extra_files=self.extra_files)
        return path


#: Programs of test_serialize.py not recreated here, and why.
NOT_RECREATED = {
    "test_export_with_extension_op_serialization": "the op is a Python object with a process-global extension "
    "handler; torch.export.save of it needs the handler and load needs it too (not a program torch can load)",
    "test_serialize_sym_float": "exports nothing (torch's own TODO says so)",
    "test_symint_list": "serializes one node with the serializer's internals; no program",
    "test_triton_hop / test_triton_constexpr_matching": "need CUDA and triton",
    "test_weight_sharing_gpu / test_device / test_save_load_cuda_tensor": "need CUDA (the CPU form of "
    "test_weight_sharing_gpu is recreated as weight_sharing_cpu)",
    "test_list_of_int_and_float_lists_custom_op": "torch 2.13 cannot serialize int[][]/float[][] arguments "
    "(SerializeError; the test is for a later torch)",
    "test_opaque_value_type_constant / test_opaque_reference_type_constant": "torch 2.13 has no "
    "torch._library.opaque_object.register_custom_class",
    "test_exportdb_supported": "the exportdb examples are in the test corpus (tests/corpus.py)",
    "test_forward_compatibility / test_error / test_version_error / test_deserialize_torch_artifact_dict": "test "
    "the reader on edited dataclasses or archives, not a program",
}


# --------------------------------------------------------------------------- custom ops


def _define_ops() -> None:
    if hasattr(torch.ops, _NS) and hasattr(getattr(torch.ops, _NS), "foo"):
        return
    lib = torch.library.Library(_NS, "DEF")
    _LIBS.append(lib)
    tags = (torch.Tag.pt2_compliant_tag,)
    lib.define("foo(Tensor a, Tensor b, Tensor? c) -> (Tensor, Tensor?)", tags=tags)
    lib.define("tensor_and_list(Tensor x) -> (Tensor, Tensor[])")
    lib.define("tensor_tensor_list(Tensor x, Tensor y) -> (Tensor, Tensor[])", tags=tags)
    for n, ret in (("foo1", "Tensor"), ("foo2", "(Tensor, Tensor)"), ("foo3", "()")):
        lib.define(f"{n}(Tensor(a!) x, Tensor[] y, Tensor(b!) z, SymInt w, Tensor n) -> {ret}", tags=tags)

    def foo(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        return a + b, (None if c is None else c + a + b)

    def tensor_and_list(x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return x * 2, [x.clone(), x + 1]

    def tensor_tensor_list(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return y.clone(), [x.clone()]

    def mutate(x: torch.Tensor, y: list[torch.Tensor], z: torch.Tensor, w: Any, n: torch.Tensor) -> None:
        x.add_(y[0] + w)
        z.add_(y[1] + n)

    def foo1(x: Any, y: Any, z: Any, w: Any, n: torch.Tensor) -> torch.Tensor:
        mutate(x, y, z, w, n)
        return n + n

    def foo2(x: Any, y: Any, z: Any, w: Any, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mutate(x, y, z, w, n)
        return n + n, n * n

    def foo3(x: Any, y: Any, z: Any, w: Any, n: torch.Tensor) -> None:
        mutate(x, y, z, w, n)

    for name, fn in (
        ("foo", foo),
        ("tensor_and_list", tensor_and_list),
        ("tensor_tensor_list", tensor_tensor_list),
        ("foo1", foo1),
        ("foo2", foo2),
        ("foo3", foo3),
    ):
        lib.impl(name, fn, "CompositeExplicitAutograd")
        torch.library.register_fake(f"{_NS}::{name}", fn, lib=lib)


_LIBS: list[Any] = []


def _op(name: str) -> Any:
    return getattr(getattr(torch.ops, _NS), name)


def load_torchbind() -> bool:
    """Load torch's torchbind test classes (``torch.classes._TorchScriptTesting``); ``False`` if absent."""
    if hasattr(torch.classes, "_TorchScriptTesting") and _TORCHBIND:
        return True
    lib = Path(torch.__file__).parent / "lib" / "libtorchbind_test.so"
    if not lib.exists():
        return False
    from torch.testing._internal import torchbind_impls

    torch.ops.load_library(str(lib))
    torchbind_impls.register_fake_operators()
    torchbind_impls.register_fake_classes()
    _TORCHBIND.append(True)
    return True


_TORCHBIND: list[bool] = []


# --------------------------------------------------------------------------- programs


def _export(m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None, **kw: Any) -> ExportedProgram:
    return torch.export.export(m, args, kwargs, **kw)


def _p(name: str, ep: ExportedProgram, args: tuple[Any, ...], **kw: Any) -> SerializerProgram:
    return SerializerProgram(name, ep, args, **kw)


class _Add(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x


class _Linear(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def predispatch_autograd_op() -> SerializerProgram:
    class Foo(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with torch.enable_grad():
                return x + x

    from torch.export._trace import _export as private_export

    inp = (torch.ones(10),)
    with torch.no_grad():
        ep = private_export(Foo(), inp, pre_dispatch=True)
    return _p("predispatch_autograd_op", ep, inp)


def example_inputs_preserved() -> SerializerProgram:
    class MyModule(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = nn.Parameter(torch.ones(2, 3))

        def forward(self, x: torch.Tensor, y: torch.Tensor, use_p: bool = False) -> torch.Tensor:
            out = x + y
            if use_p:
                out += self.p
            return out

    args = (torch.rand([2, 3]), torch.rand([2, 3]))
    ep = _export(MyModule().eval(), args, {"use_p": True}, strict=True)
    return _p("example_inputs_preserved", ep, args, kwargs={"use_p": True})


def metadata_run_decomp() -> SerializerProgram:
    class M(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.sin()

    args = (torch.randn(4, 4),)
    return _p("metadata_run_decomp", _export(M(), args, strict=True).run_decompositions({}), args)


class _LayerSplit(nn.Module):
    def __init__(self, extra: float | None = None) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.SiLU(), nn.SiLU(), nn.SiLU())
        self.extra = extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out_start, out_rest = self.layers[0], self.layers[1:]
        h = out_rest(out_start(x))
        return h if self.extra is None else h + self.extra


def metadata_layer_split() -> SerializerProgram:
    args = (torch.ones(10),)
    return _p("metadata_layer_split", _export(_LayerSplit(), args, strict=True), args)


def nested_layer_split() -> SerializerProgram:
    class Foo(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_module("a[(1)]", _LayerSplit(2.0))
            self.register_module("b[(2)]", _LayerSplit(2.0))
            self.register_buffer("c:[22]", torch.randn(1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = getattr(self, "b[(2)]")(getattr(self, "a[(1)]")(x))
            return h + getattr(self, "c:[22]")

    args = (torch.ones(10),)
    return _p("nested_layer_split", _export(Foo(), args, strict=True), args)


def param_mutation() -> SerializerProgram:
    class Foo(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.parameter = nn.Parameter(torch.ones(4, 4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                self.parameter.div_(2)
            return x + self.parameter

    args = (torch.rand(4, 4),)
    return _p("param_mutation", _export(Foo(), args).run_decompositions(), args)


def constant_outputs() -> SerializerProgram:
    class MyModule(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None, int]:
            return x + 1, None, 1024

    args = (torch.ones(10),)
    return _p("constant_outputs", _export(MyModule(), args, strict=True), args)


class _LayerNorm(nn.Module):
    def forward(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return nn.functional.layer_norm(x, x.size()[1:], weight=w, bias=b, eps=1e-5)


def multiple_returns_from_node() -> SerializerProgram:
    args = (torch.ones([8, 8], requires_grad=True), torch.ones([8]), torch.ones([8]))
    return _p("multiple_returns_from_node", _export(_LayerNorm(), args, strict=True).run_decompositions(), args)


def multi_return() -> SerializerProgram:
    args = (torch.ones([8, 8], requires_grad=True), torch.ones([8]), torch.ones([8]))
    return _p("multi_return", _export(_LayerNorm(), args, strict=True), args)


class _DynamicShapeSimple(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        d = (torch.matmul(a, b) + c) / 2
        e = d.view(d.shape[0] * d.shape[1])
        return torch.cat([e, e])


def serialize_sym_int() -> SerializerProgram:
    # Also test_serialize_infinite_sym_int: the same program (its ranges have no upper bound).
    args = (torch.randn(2, 4), torch.randn(4, 7), torch.randn(2, 7))
    d0, d1 = Dim("dim0_ac"), Dim("dim1_b")
    ds = {"a": {0: d0}, "b": {1: d1}, "c": {0: d0, 1: d1}}
    ep = _export(_DynamicShapeSimple(), args, dynamic_shapes=ds, strict=True).run_decompositions()
    return _p("serialize_sym_int", ep, args)


def dynamic() -> SerializerProgram:
    args = (torch.randn(2, 4), torch.randn(4, 7), torch.randn(2, 7))
    d0 = Dim("dim0_ac")
    ds = {"a": {0: d0}, "b": None, "c": {0: d0}}
    return _p("dynamic", _export(_DynamicShapeSimple(), args, dynamic_shapes=ds, strict=True), args)


def list_returns() -> SerializerProgram:
    class MyModule(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return torch.split(x, 2)

    args = (torch.arange(10.0).reshape(5, 2),)
    return _p("list_returns", _export(MyModule(), args, strict=True).run_decompositions(), args)


def nonfinite_inputs() -> SerializerProgram:
    class Module(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.ops.aten.add.Scalar(x, math.inf)
            x = torch.ops.aten.add.Scalar(x, -math.inf)
            return torch.ops.aten.add.Scalar(x, math.nan)

    args = (torch.randn(3, 2),)
    return _p("nonfinite_inputs", _export(Module(), args), args)


def multi_return_some_unused() -> SerializerProgram:
    class MyModule(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ops.aten.var_mean.correction(x, [1])[0]

    args = (torch.ones([8, 8], requires_grad=True),)
    return _p("multi_return_some_unused", _export(MyModule(), args, strict=True).run_decompositions(), args)


def multi_return_list_tensor_unused() -> SerializerProgram:
    class MyModule(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return _op("tensor_and_list")(x)[0]

    args = (torch.ones(3),)
    ep = _export(MyModule(), args, strict=True)
    ep.graph.eliminate_dead_code()
    ep.graph_module.recompile()
    return _p("multi_return_list_tensor_unused", ep, args)


def rational_ranges() -> SerializerProgram:
    import sympy
    from torch.fx.experimental.symbolic_shapes import ValueRanges

    args = (torch.randn(4),)
    ep = _export(_Add(), args, dynamic_shapes=({0: Dim("temp")},), strict=True)
    (sym,) = ep.range_constraints
    ep.range_constraints[sym] = ValueRanges(lower=sympy.Rational(10, 6), upper=sympy.Rational(10, 3))
    return _p("rational_ranges", ep, (torch.randn(3),))


def kwargs_default() -> SerializerProgram:
    class Foo(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            values = torch.randn(3, 2)
            return torch.searchsorted(x, values, side="right", right=True)

    args = (torch.sort(torch.randn(3, 4))[0],)
    return _p("kwargs_default", _export(Foo(), args, strict=True).run_decompositions(), args)


def canonicalize_example() -> SerializerProgram:
    class Module(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            a = y + x
            b = x + y
            return b + a

    args = (torch.randn(3, 2), torch.randn(3, 2))
    return _p("canonicalize", _export(Module(), args, strict=True), args)


def int_list() -> SerializerProgram:
    class M(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ops.aten.sum.dim_IntList(x, [])

    args = (torch.randn(3, 2),)
    return _p("int_list", _export(M(), args, strict=True), args)


def empty_constant() -> SerializerProgram:
    args = (torch.randn(1, 4),)
    return _p("empty_constant", _export(_Linear(4), args), args)


class _PlusConst(nn.Module):
    def __init__(self, const: torch.Tensor) -> None:
        super().__init__()
        self.const = const

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.const


def empty_state_dict() -> SerializerProgram:
    args = (torch.randn(4, 4),)
    return _p("empty_state_dict", _export(_PlusConst(torch.randn(4, 4)), args), args)


def preserve_aliasing() -> SerializerProgram:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear1 = nn.Linear(8, 8)
            self.linear2 = self.linear1
            self.register_buffer("buffer1", torch.randn(8, 8))
            self.register_buffer("buffer2", torch.randn(8, 8), persistent=False)
            self.const1 = torch.ones(8, 8)
            self.const2 = self.const1.diagonal()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear1(x) + self.linear2(x) + self.buffer1 + self.buffer2 + self.const1 + self.const2

    args = (torch.randn(1, 8),)
    return _p("preserve_aliasing", _export(M(), args), args)


def storage_offset() -> SerializerProgram:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.const = torch.arange(8)[:4]
            self.linear = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x) + self.const

    args = (torch.randn(1, 4),)
    return _p("storage_offset", _export(M(), args), args)


def tensor_slicing_1d() -> SerializerProgram:
    args = (torch.randn(4),)
    return _p("tensor_slicing_1d", _export(_PlusConst(torch.arange(8)[::2]), args), args)


def tensor_slicing_2d() -> SerializerProgram:
    args = (torch.randn(2, 2),)
    return _p("tensor_slicing_2d", _export(_PlusConst(torch.randn(4, 4)[:2, :2]), args), args)


def non_float_weight() -> SerializerProgram:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = nn.Parameter(torch.ones(2, 2, dtype=torch.int8), requires_grad=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.p

    args = (torch.randn(2, 2),)
    return _p("non_float_weight", _export(M(), args), args)


def weight_sharing_cpu() -> SerializerProgram:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c2 = torch.ones(2, 4)
            self.c1 = self.c2[0, :]
            self.linear = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x) + self.c1 + self.c2

    args = (torch.randn(2, 4),)
    return _p("weight_sharing_cpu", _export(M(), args), args)


def complex_constant() -> SerializerProgram:
    class M(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            s = torch.sin(x)
            return (1 + 1j) * s, 1j * s

    args = (torch.randn(2, 2),)
    return _p("complex_constant", _export(M(), args), args)


def fake_tensor_constant() -> SerializerProgram:
    class Foo(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.data * 2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch._export.config.patch(error_on_lifted_constant_tensors=False):
            ep = _export(Foo(), (torch.randn(2, 3),), dynamic_shapes={"x": {0: Dim("batch")}}, strict=False)
    return _p("fake_tensor_constant", ep, (torch.randn(2, 3),))


def optional_tuple() -> SerializerProgram:
    class M(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> Any:
            return _op("foo")(a, b, c)

    args = (torch.randn(3), torch.randn(3), torch.randn(3))
    return _p("optional_tuple", _export(M(), args, strict=True), args)


def unbacked_bindings() -> SerializerProgram:
    class M(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> Any:
            x += 2
            n = x.item()
            n = n * 2 + y.item()
            return n + 2

    args = (torch.tensor(4), torch.tensor(5))
    return _p("unbacked_bindings", _export(M(), args, strict=True).run_decompositions(), args)


def sym_bool_dynamic_shapes() -> SerializerProgram:
    class MyModule(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return x[:, -((y.shape[0] >> 1) << 1) :, :]

    args = (torch.ones(4, 5, 10), torch.ones(3))
    ds = {"x": {}, "y": {0: Dim("seqlen", max=4)}}
    return _p("sym_bool_dynamic_shapes", _export(MyModule(), args, dynamic_shapes=ds, strict=True), args)


def auto_functionalize() -> SerializerProgram:
    class M(nn.Module):
        def forward(self, x: Any, y: Any, z: Any, n: Any) -> Any:
            n = _op("foo1")(x, y, z, 2, n)
            _op("foo3")(x, y, z, 2, n)
            return _op("foo2")(x, y, z, 2, n)

    args = (torch.randn(3), (torch.randn(3), torch.randn(3)), torch.randn(3), torch.randn(3))
    return _p("auto_functionalize", _export(M(), copy.deepcopy(args), strict=True), args)


def hoo_symint_input() -> SerializerProgram:
    class Mod(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> Any:
            num = c.item()
            return torch.cond(
                pred=torch.tensor([True]),
                true_fn=lambda a, b: a + b + num,
                false_fn=lambda a, b: a - b - num,
                operands=(a, b),
            )

    args = (torch.ones(3, 3), torch.ones(3, 3), torch.tensor(2))
    return _p("hoo_symint_input", _export(Mod(), args, strict=True), args)


def none_input() -> SerializerProgram:
    class M(nn.Module):
        def forward(self, x: torch.Tensor, y: Any, z: torch.Tensor) -> torch.Tensor:
            return x + z

    args = (torch.ones(3, 3), None, torch.rand(3, 3))
    return _p("none_input", _export(M(), args), args)


def basic() -> SerializerProgram:
    class MyModule(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = x + x
            x = x * x
            x = x / x
            return x, x.clone()

    args = (torch.ones([8], requires_grad=True),)
    return _p("basic", _export(MyModule(), args, strict=True), args)


def sym_bool() -> SerializerProgram:
    class Module(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            assert x.size(0) in y
            return x + y

    args = (torch.ones(1), torch.ones(3))
    return _p("sym_bool", _export(Module(), args, strict=True), args)


def sym_bool_torch_check_equal() -> SerializerProgram:
    class Module(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x.nonzero()
            torch._check(y.size(0) == 2)
            return y

    args = (torch.Tensor([1, 0, 1, 0]),)
    return _p("sym_bool_torch_check_equal", _export(Module(), args, strict=True), args)


def sym_int_torch_check_equal() -> SerializerProgram:
    class Module(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x.nonzero()
            z = y.size(0)
            torch._check(z % 3 == 0)
            torch._check(z == 3)
            return y

    args = (torch.Tensor([1, 0, 1, 0, 1, 0]),)
    return _p("sym_int_torch_check_equal", _export(Module(), args, strict=True), args)


def shape() -> SerializerProgram:
    class Foo(nn.Module):
        def forward(self, x: torch.Tensor) -> Any:
            z, y = x.size()
            return z + y + x[0], z

    args = (torch.ones(2, 3),)
    d0, d1 = torch.export.dims("dim0_x", "dim1_x")
    return _p("shape", _export(Foo(), args, dynamic_shapes={"x": (d0, d1)}, strict=True), args)


def module() -> SerializerProgram:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear1 = nn.Linear(3, 3)
            self.relu = nn.ReLU()
            self.linear2 = nn.Linear(3, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.linear1(self.linear1(x))
            return self.linear2(nn.functional.relu(x))

    args = (torch.randn(3, 3),)
    return _p("module", _export(M(), args, strict=True), args)


def module_meta() -> SerializerProgram:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = nn.Parameter(torch.ones(3, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.p + x

    with torch.device("meta"):
        mod = M()
    args = (torch.randn(3, 3, device="meta"),)
    return _p("module_meta", _export(mod, args, strict=True), args, shapes_only=True)


_N1 = namedtuple("_N1", ["a", "b"])


class _N2(NamedTuple):
    a: torch.Tensor
    b: torch.Tensor


def pytree_namedtuple() -> SerializerProgram:
    import torch.utils._pytree as pytree

    class M(nn.Module):
        def forward(self, x: Any, y: Any) -> Any:
            return _N2(x.a + y.a, x.b * y.b)

    for cls in (_N1, _N2):
        if cls not in pytree.SUPPORTED_NODES:
            pytree._register_namedtuple(cls, serialized_type_name=f"pt2canon.tests.{cls.__name__}")
    args = (_N1(torch.randn(3), torch.randn(3)), _N1(torch.randn(3), torch.randn(3)))
    ep = _export(M(), args)
    ep.example_inputs = None  # type: ignore[assignment]  # the namedtuple classes do not pickle by reference
    return _p("pytree_namedtuple", ep, args)


def cond() -> SerializerProgram:
    class M(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.cond(x[0][0] > 4, lambda x, y: x + y, lambda x, y: x - y, [x, y])

    args = (torch.ones(4, 3), torch.zeros(4, 3))
    return _p("cond", _export(M(), args, strict=True), args)


def sym_float() -> SerializerProgram:
    class M(nn.Module):
        def forward(self, x: torch.Tensor) -> Any:
            return x.item() * 0.1

    args = (torch.tensor(1.0),)
    return _p("sym_float", _export(M(), args, strict=True), args)


def arg_from() -> SerializerProgram:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("compress_weight", torch.ones((10, 10)))
            self.register_buffer("compress_bias", torch.ones(10))

        def forward(self) -> None:
            nn.init.kaiming_uniform_(self.compress_weight, a=math.sqrt(5))
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(self.compress_weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.compress_bias, -bound, bound)

    with torch.no_grad():
        ep = _export(M(), (), strict=True)
    return _p("arg_from", ep, ())


def map_example() -> SerializerProgram:
    from functorch.experimental import control_flow

    class Module(nn.Module):
        def forward(self, xs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return control_flow.map(lambda x, y: x + y, xs, y)

    args = (torch.ones(3, 2, 2), torch.ones(2))
    return _p("map", _export(Module(), args, strict=True), args)


def positional_argument_with_default_value() -> SerializerProgram:
    class MyLinear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.randn(10, 10)
            self.bias = torch.randn(10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ops.aten.linear.default(x, self.weight, self.bias)

    args = (torch.randn(10, 10),)
    return _p("positional_argument_with_default_value", _export(MyLinear(), args, strict=True), args)


def tensor_tensor_list() -> SerializerProgram:
    class M(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            a, b = _op("tensor_tensor_list")(x, y)
            return a + b[0]

    args = (torch.rand(3, 2), torch.rand(3, 2))
    return _p("tensor_tensor_list", _export(M(), args, strict=True), args)


def list_of_optional_tensors() -> SerializerProgram:
    class MyModule(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
            indices = [None, None, torch.tensor([1, 3, 5, 7])]
            return torch.ops.aten.index.Tensor(x + y, indices) + z

    args = (torch.rand(8, 8, 8), torch.rand(8, 8, 8), torch.rand(8, 8, 4))
    return _p("list_of_optional_tensors", _export(MyModule(), args, strict=True), args)


def sym_ite() -> SerializerProgram:
    class Foo(nn.Module):
        def forward(self, x: torch.Tensor) -> Any:
            return torch.sym_ite(x.shape[0] == 5, x.shape[0], x.shape[1])

    args = (torch.ones(4, 5),)
    ds = {"x": {0: Dim("dim0"), 1: Dim("dim1")}}
    return _p("sym_ite", _export(Foo(), args, dynamic_shapes=ds, strict=True), args)


def multiple_getitem() -> SerializerProgram:
    class M(nn.Module):
        def forward(self, x: torch.Tensor) -> Any:
            a, b = torch.topk(x, 2)
            return a * 2, b

    ep = _export(M(), (torch.ones(3),), strict=True)
    for node in ep.graph.nodes:
        if node.op == "call_function" and node.target == torch.ops.aten.mul.Tensor:
            getitem_0 = node.args[0]
            with ep.graph.inserting_before(getitem_0):
                getitem_copy = ep.graph.node_copy(getitem_0)
                mul_node = ep.graph.call_function(torch.ops.aten.mul.Tensor, (getitem_copy, 2))
                mul_node.meta = copy.copy(getitem_copy.meta)
                node.args = (getitem_0, mul_node)
    return _p("multiple_getitem", ep, (torch.randn(3),))


def constraints() -> SerializerProgram:
    class Module(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            n = x.item()
            torch._check(n >= 0)
            return y.sum() + torch.ones(n, 5).sum()

    args = (torch.tensor(3), torch.randn(4, 5))
    return _p("constraints", _export(Module(), args, strict=True), args)


def get_attr() -> SerializerProgram:
    class Module(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + torch.tensor(3)

    args = (torch.tensor(3),)
    return _p("get_attr", _export(Module(), args, strict=True), args)


def get_attr_list() -> SerializerProgram:
    class Module(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x, torch.tensor([1, 1])])

    args = (torch.tensor([1, 1]),)
    return _p("get_attr_list", _export(Module(), args, strict=True), args)


def _torchbind_module(kind: str) -> nn.Module:
    class MyModule(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attr = torch.classes._TorchScriptTesting._Foo(10, 20)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            ops = torch.ops._TorchScriptTesting
            if kind == "tuple":
                a = ops.takes_foo_tuple_return(self.attr, x)
                y = a[0] + a[1]
            elif kind == "list":
                a = ops.takes_foo_list_return(self.attr, x)
                y = a[0] + a[1] + a[2]
            else:
                y = ops.takes_foo(self.attr, x)
            return x + ops.takes_foo(self.attr, y)

    return MyModule()


def custom_obj(kind: str) -> Callable[[], SerializerProgram]:
    def build() -> SerializerProgram:
        args = (torch.ones(2, 3),)
        name = "custom_obj" if kind == "plain" else f"custom_obj_{kind}_out"
        return _p(name, _export(_torchbind_module(kind), args, strict=False), args)

    return build


def export_no_inputs() -> SerializerProgram:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = torch.ones(3, 3)

        def forward(self) -> torch.Tensor:
            return self.p * self.p

    ep = _export(M(), (), strict=True)
    ep._example_inputs = None
    return _p("export_no_inputs", ep, ())


def serialize_dtypes(dtype: torch.dtype) -> Callable[[], SerializerProgram]:
    def build() -> SerializerProgram:
        class MyModule(nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return x.to(dtype)

        args = (torch.ones(2, 3),)
        name = f"serialize_dtypes_{str(dtype).removeprefix('torch.')}"
        return _p(name, _export(MyModule(), args, strict=False), args, shapes_only=True)

    return build


def save_buffer() -> SerializerProgram:
    class Module(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear((x + 1).t().relu())

    args = (torch.tensor([0.1, 0.1]),)
    return _p("save_buffer", _export(Module(), args, strict=True), args)


def save_file() -> SerializerProgram:
    class Foo(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * x

    args = (torch.randn(2, 2),)
    return _p("save_file", _export(Foo(), args, strict=True), args)


def save_path() -> SerializerProgram:
    class Foo(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return x + y

    args = (torch.tensor([6]), torch.tensor([7]))
    return _p("save_path", _export(Foo(), args, strict=True), args)


def save_extra() -> SerializerProgram:
    class Foo(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * x + x

    args = (torch.tensor([0.1, 0.1]),)
    return _p("save_extra", _export(Foo(), args, strict=True), args, extra_files={"extra.txt": "moo"})


def save_constants() -> SerializerProgram:
    class Foo(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.tensor(3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            list_tensor = [torch.tensor(3), torch.tensor(4)]
            return x + self.a + list_tensor[0] + list_tensor[1]

    args = (torch.tensor(1),)
    return _p("save_constants", _export(Foo(), args, strict=True), args)


def multiple_empty_tensors() -> SerializerProgram:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("int_buffer", torch.zeros([0], dtype=torch.uint8))
            self.register_buffer("int_buffer2", torch.zeros([0], dtype=torch.uint8))
            self.register_buffer("float_buffer", torch.zeros([0], dtype=torch.float32))

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return t + self.int_buffer + self.float_buffer + self.int_buffer2

    args = (torch.rand([0]),)
    return _p("multiple_empty_tensors", _export(M(), args), args)


def multiple_dtypes() -> SerializerProgram:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p_f32 = nn.Parameter(torch.randn(4, 4, dtype=torch.float32))
            self.p_f16 = nn.Parameter(torch.randn(4, 4, dtype=torch.float16), requires_grad=False)
            self.register_buffer("b_i8", torch.ones(4, 4, dtype=torch.int8))
            self.register_buffer("b_f64", torch.randn(4, 4, dtype=torch.float64))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.p_f32 + self.p_f16.float() + self.b_i8.float() + self.b_f64.float()

    args = (torch.randn(4, 4),)
    return _p("multiple_dtypes", _export(M(), args), args)


def requires_grad_preserved() -> SerializerProgram:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(8, 8))
            self.frozen = nn.Parameter(torch.randn(8, 8), requires_grad=False)
            self.register_buffer("buf", torch.randn(8, 8))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ self.w + self.frozen + self.buf

    args = (torch.randn(1, 8),)
    return _p("requires_grad_preserved", _export(M(), args), args)


def large_tensor() -> SerializerProgram:
    args = (torch.randn(1, 1024),)
    return _p("large_tensor", _export(_Linear(1024), args), args)


def from_node_metadata() -> SerializerProgram:
    args = (torch.randn(1, 1, 32, 32),)
    ep = _export(nn.Sequential(nn.Conv2d(1, 64, kernel_size=3, padding=1)), args, strict=True)
    return _p("from_node_metadata", _export(ep.module(), args, strict=True), args)


def custom_class_instance() -> SerializerProgram:
    custom = torch.classes._TorchScriptTesting._PickleTester([3, 4])
    ep = _export(_Add(), (torch.zeros(4, 4),), strict=True)
    for node in ep.graph.nodes:
        if node.op == "call_function" and node.target == torch.ops.aten.add.Tensor:
            with ep.graph.inserting_before(node):
                custom_node = ep.graph.call_function(torch.ops._TorchScriptTesting.take_an_instance.default, (custom,))
                custom_node.meta["val"] = torch.ones(4, 4)
                custom_node.meta["torch_fn"] = ("take_an_instance", "take_an_instance")
                node.args = (node.args[0], custom_node)
    return _p("custom_class_instance", ep, (torch.zeros(4, 4),))


def custom_tag_metadata() -> SerializerProgram:
    ep = _export(_Add(), (torch.zeros(4, 4),), strict=True)
    gm = copy.deepcopy(ep.graph_module)
    gm.meta["custom"] = {"f": "bar"}
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target == torch.ops.aten.add.Tensor:
            node.meta["custom"] = {"quantization_tag": "foo"}
    return _p("custom_tag_metadata", ep._update(gm, ep.graph_signature), (torch.zeros(4, 4),))


def custom_tag_metadata_decomp() -> SerializerProgram:
    ep = _export(_Linear(2), (torch.ones(2, 2),), strict=True)
    gm = copy.deepcopy(ep.graph_module)
    gm.meta["custom"] = {"f": "bar"}
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target == torch.ops.aten.linear.default:
            node.meta["custom"] = {"quantization_tag": "foo"}
    ep = ep._update(gm, ep.graph_signature).run_decompositions()
    return _p("custom_tag_metadata_decomp", ep, (torch.ones(2, 2),))


def unbacked_range() -> SerializerProgram:
    class Foo(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> Any:
            n = x.item()
            torch._check(n >= 0)
            torch._check(n < y.size(0))
            return torch.zeros(n), y[n]

    args = (torch.tensor([5]), torch.randn(10))
    ep = _export(Foo(), args, dynamic_shapes={"x": None, "y": (Dim.DYNAMIC,)})
    return _p("unbacked_range", ep, args)


def backed_size_oblivious() -> SerializerProgram:
    class Foo(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
            return x + y + z.item()

    args = (torch.randn(1), torch.randn(1), torch.tensor([5]))
    with torch.fx.experimental._config.patch(backed_size_oblivious=True):
        ep = _export(Foo(), args, dynamic_shapes={"x": (Dim.DYNAMIC,), "y": (Dim.DYNAMIC,), "z": None})
    return _p("backed_size_oblivious", ep, args)


def predispatch_jvp() -> SerializerProgram:
    class JVP(nn.Module):
        def foo(self, x: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return x - 0.1 * r + 0.1 * t

        def forward(self, x: Any, y: Any, r: Any, t: Any, z: Any, o: Any) -> Any:
            return torch.func.jvp(self.foo, (x, r, t), (y, z, o))

    args = (torch.rand(2, 4), torch.rand(2, 4), torch.rand(2, 1), torch.rand(2, 1), torch.zeros(2, 1), torch.ones(2, 1))
    return _p("predispatch_jvp", _export(JVP(), args, strict=False), args)


def predispatch_vmap() -> SerializerProgram:
    from torch.export._trace import _export as private_export

    class Vmap(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.vmap(lambda x, y: (x * y + 1).sum(dim=0))(x, y).sum(dim=0)

    args = (torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.1, 0.2, 0.3]))
    return _p("predispatch_vmap", private_export(Vmap(), args, pre_dispatch=True), args)


_BUILDERS: dict[str, Callable[[], SerializerProgram]] = {
    "predispatch_autograd_op": predispatch_autograd_op,
    "example_inputs_preserved": example_inputs_preserved,
    "metadata_run_decomp": metadata_run_decomp,
    "metadata_layer_split": metadata_layer_split,
    "nested_layer_split": nested_layer_split,
    "param_mutation": param_mutation,
    "constant_outputs": constant_outputs,
    "multiple_returns_from_node": multiple_returns_from_node,
    "serialize_sym_int": serialize_sym_int,
    "list_returns": list_returns,
    "nonfinite_inputs": nonfinite_inputs,
    "multi_return_some_unused": multi_return_some_unused,
    "multi_return_list_tensor_unused": multi_return_list_tensor_unused,
    "rational_ranges": rational_ranges,
    "kwargs_default": kwargs_default,
    "canonicalize": canonicalize_example,
    "int_list": int_list,
    "empty_constant": empty_constant,
    "empty_state_dict": empty_state_dict,
    "preserve_aliasing": preserve_aliasing,
    "storage_offset": storage_offset,
    "tensor_slicing_1d": tensor_slicing_1d,
    "tensor_slicing_2d": tensor_slicing_2d,
    "non_float_weight": non_float_weight,
    "weight_sharing_cpu": weight_sharing_cpu,
    "complex_constant": complex_constant,
    "fake_tensor_constant": fake_tensor_constant,
    "optional_tuple": optional_tuple,
    "unbacked_bindings": unbacked_bindings,
    "sym_bool_dynamic_shapes": sym_bool_dynamic_shapes,
    "auto_functionalize": auto_functionalize,
    "hoo_symint_input": hoo_symint_input,
    "none_input": none_input,
    "multi_return": multi_return,
    "basic": basic,
    "dynamic": dynamic,
    "sym_bool": sym_bool,
    "sym_bool_torch_check_equal": sym_bool_torch_check_equal,
    "sym_int_torch_check_equal": sym_int_torch_check_equal,
    "shape": shape,
    "module": module,
    "module_meta": module_meta,
    "pytree_namedtuple": pytree_namedtuple,
    "cond": cond,
    "sym_float": sym_float,
    "arg_from": arg_from,
    "map": map_example,
    "positional_argument_with_default_value": positional_argument_with_default_value,
    "tensor_tensor_list": tensor_tensor_list,
    "list_of_optional_tensors": list_of_optional_tensors,
    "sym_ite": sym_ite,
    "multiple_getitem": multiple_getitem,
    "constraints": constraints,
    "get_attr": get_attr,
    "get_attr_list": get_attr_list,
    "custom_obj": custom_obj("plain"),
    "custom_obj_tuple_out": custom_obj("tuple"),
    "custom_obj_list_out": custom_obj("list"),
    "export_no_inputs": export_no_inputs,
    **{
        f"serialize_dtypes_{str(d).removeprefix('torch.')}": serialize_dtypes(d)
        for d in (torch.float8_e5m2, torch.float8_e4m3fn, torch.float8_e8m0fnu, torch.uint32, torch.uint64)
    },
    "save_buffer": save_buffer,
    "save_file": save_file,
    "save_path": save_path,
    "save_extra": save_extra,
    "save_constants": save_constants,
    "multiple_empty_tensors": multiple_empty_tensors,
    "multiple_dtypes": multiple_dtypes,
    "requires_grad_preserved": requires_grad_preserved,
    "large_tensor": large_tensor,
    "from_node_metadata": from_node_metadata,
    "custom_class_instance": custom_class_instance,
    "custom_tag_metadata": custom_tag_metadata,
    "custom_tag_metadata_decomp": custom_tag_metadata_decomp,
    "unbacked_range": unbacked_range,
    "backed_size_oblivious": backed_size_oblivious,
    "predispatch_jvp": predispatch_jvp,
    "predispatch_vmap": predispatch_vmap,
}

_TORCHBIND_PROGRAMS = {"custom_obj", "custom_obj_tuple_out", "custom_obj_list_out", "custom_class_instance"}


def program_names() -> list[str]:
    """Every recreated program's name (torch's test name without ``test_``, shortened)."""
    return list(_BUILDERS)


def build(names: list[str] | None = None, *, seed: int = 0) -> tuple[dict[str, SerializerProgram], dict[str, str]]:
    """Export the programs; returns ``(programs, failures)`` with ``failures[name]`` the reason one did not export."""
    _define_ops()
    torchbind = load_torchbind()
    out: dict[str, SerializerProgram] = {}
    failures: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names or program_names():
            if name in _TORCHBIND_PROGRAMS and not torchbind:
                failures[name] = "torch's torchbind test library is not installed"
                continue
            torch.manual_seed(seed)
            try:
                prog = _BUILDERS[name]()
                buf = io.BytesIO()
                torch.export.save(prog.ep, buf, extra_files=prog.extra_files)
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [""])[0][:200]
                failures[name] = f"{type(exc).__name__}: {first}"
                continue
            out[name] = prog
    return out, failures
