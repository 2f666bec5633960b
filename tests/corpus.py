"""Real ``torch.export`` programs for the test suite, and helpers to save and run them.

:func:`build_corpus` exports every model below and saves each with
``torch.export.save``; ``tests/conftest.py`` builds it once per test session
(fixture ``corpus``). Entries:

``mlp``                 Linear -> ReLU -> Linear.
``conv_bn_train``       Conv2d + BatchNorm2d in train mode: running stats are mutated.
``transformer_layer``   ``nn.TransformerEncoderLayer`` (eval, batch_first).
``dynamic_batch``       a dynamic batch dimension (``torch.export.Dim``): symbolic sizes.
``cond``                ``torch.cond`` with two branches: subgraphs.
``multi_output_unused`` ``split``, ``max.dim`` and ``topk`` with outputs left unused.
``lifted_constant``     a plain tensor attribute, lifted to a tensor constant input.
``effects``             a buffer read, mutated in place (``add_``) and read again,
                        two ``torch.rand`` draws whose order matters, and
                        ``torch._check`` asserts relating a data-dependent
                        index to the dynamic batch size.
``aliased_weights``     weights and constants that share storage (tied weights, a
                        buffer that is a view of another at an offset, two
                        attributes naming one tensor): one file, several FQNs.
``exportdb_<name>``     every example of ``torch._export.db.examples`` that
                        exports and saves with this torch.

:func:`transformer_stack` builds larger graphs for benchmarks and large-graph
tests. With torch 2.13 and the defaults (d_model=64, seq=16, batch=2) the FX
graph has 284 nodes for 6 layers, 1,130 for 24 and 2,258 for 48; the
serialized program has 210, 840 and 1,680 op nodes (``graph.nodes``; FX
also counts placeholders, ``getitem`` and the output).
"""

from __future__ import annotations

import copy
import io
import os
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.export import Dim, ExportedProgram

__all__ = [
    "CORE_NAMES",
    "Corpus",
    "CorpusEntry",
    "assert_same",
    "build_corpus",
    "corpus_names",
    "ep_signature",
    "exportdb_names",
    "json_signature",
    "legacy_zip_bytes",
    "load",
    "member_bytes",
    "rewrite_zip",
    "run",
    "run_and_compare",
    "save",
    "transformer_stack",
]


@dataclass
class CorpusEntry:
    """One exported program of the corpus.

    Attributes
    ----------
    name : str
    module : nn.Module
        The eager module it was exported from.
    ep : ExportedProgram
        The export. Running ``ep.module()`` may mutate ``ep``'s buffers
        (``conv_bn_train``, ``effects``): run deep copies (:func:`run` does).
    args : tuple
        Example positional inputs.
    path : Path
        The program saved with ``torch.export.save``.
    kwargs : dict
        Example keyword inputs (a few exportdb examples take some).
    """

    name: str
    module: nn.Module
    ep: ExportedProgram
    args: tuple[Any, ...]
    path: Path
    kwargs: dict[str, Any] = field(default_factory=dict)


class Corpus(dict[str, CorpusEntry]):
    """``name -> CorpusEntry``; ``failures`` holds ``name -> reason`` for skipped exportdb examples."""

    failures: dict[str, str]
    seconds: float

    def __init__(self) -> None:
        super().__init__()
        self.failures = {}
        self.seconds = 0.0


# -- helpers ------------------------------------------------------------------------


def save(ep: ExportedProgram, path: str | os.PathLike[str]) -> Path:
    """Save ``ep`` with ``torch.export.save``; return the path."""
    path = Path(path)
    torch.export.save(ep, path)
    return path


def load(ep_or_path: ExportedProgram | str | os.PathLike[str] | bytes) -> ExportedProgram:
    """An ``ExportedProgram`` to run: a deep copy of one in memory, or a fresh ``torch.export.load``."""
    if isinstance(ep_or_path, ExportedProgram):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch's own deepcopy of its treespecs
            return copy.deepcopy(ep_or_path)
    if isinstance(ep_or_path, (bytes, bytearray)):
        return torch.export.load(io.BytesIO(bytes(ep_or_path)))
    return torch.export.load(os.fspath(ep_or_path))


def run(
    ep_or_path: ExportedProgram | str | os.PathLike[str] | bytes,
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None = None,
    *,
    seed: int = 0,
) -> tuple[Any, dict[str, torch.Tensor], tuple[Any, ...]]:
    """Run a program once on copies of its inputs, with a fixed seed.

    Returns ``(outputs, state_after, args_after)``: the outputs, the
    module's state dict after the call (mutated buffers show here) and the
    input copies after the call (mutated user inputs show here). Neither
    ``ep_or_path`` nor ``args`` is changed.
    """
    ep = load(ep_or_path)
    module = ep.module()
    args_copy = copy.deepcopy(tuple(args))
    kwargs_copy = copy.deepcopy(dict(kwargs or {}))
    torch.manual_seed(seed)
    with torch.no_grad():
        out = module(*args_copy, **kwargs_copy)
    state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    return out, state, args_copy


def _flat(obj: Any) -> list[Any]:
    return list(torch.utils._pytree.tree_leaves(obj))


def assert_same(expected: Any, actual: Any, what: str = "outputs") -> None:
    """Assert two pytrees hold the same structure and (close) values."""
    e, a = _flat(expected), _flat(actual)
    assert len(e) == len(a), f"{what}: {len(e)} leaves expected, got {len(a)}"
    for i, (x, y) in enumerate(zip(e, a, strict=True)):
        if isinstance(x, torch.Tensor):
            assert isinstance(y, torch.Tensor), f"{what}[{i}]: expected a tensor, got {type(y).__name__}"
            assert x.shape == y.shape and x.dtype == y.dtype, f"{what}[{i}]: {x.shape}/{x.dtype} vs {y.shape}/{y.dtype}"
            if x.dtype.is_floating_point or x.dtype.is_complex:
                assert torch.allclose(x, y, equal_nan=True), f"{what}[{i}] differs"
            else:
                assert torch.equal(x, y), f"{what}[{i}] differs"
        else:
            assert x == y, f"{what}[{i}]: {x!r} != {y!r}"


def run_and_compare(
    reference: ExportedProgram | str | os.PathLike[str] | bytes,
    candidate: ExportedProgram | str | os.PathLike[str] | bytes,
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None = None,
    *,
    seed: int = 0,
) -> Any:
    """Run both programs (same seed, copies of the inputs) and assert they agree.

    Outputs, the state after the call (buffers a train-mode module mutates)
    and mutated inputs must all be equal (``torch.allclose``). Returns the
    candidate's outputs.
    """
    out_r, state_r, args_r = run(reference, args, kwargs, seed=seed)
    out_c, state_c, args_c = run(candidate, args, kwargs, seed=seed)
    assert_same(out_r, out_c, "outputs")
    assert sorted(state_r) == sorted(state_c), f"state keys differ: {sorted(state_r)} vs {sorted(state_c)}"
    for k in state_r:
        assert_same(state_r[k], state_c[k], f"state[{k!r}]")
    assert_same(args_r, args_c, "inputs after the call")
    return out_c


def rewrite_zip(
    source: str | os.PathLike[str] | bytes,
    *,
    replace: dict[str, bytes] | None = None,
    drop: Iterable[str] = (),
    add: dict[str, bytes] | None = None,
    rename: Callable[[str], str] | None = None,
) -> bytes:
    """A copy of a zip with members replaced, dropped, added or renamed.

    ``replace`` and ``drop`` match members by name suffix (``"models/model.json"``
    matches whatever the root folder); ``add`` names full member names.
    """
    import zipfile

    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    replace = dict(replace or {})
    drop = tuple(drop)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            name = info.filename
            if drop and name.endswith(drop):
                continue
            body = next((v for k, v in replace.items() if name.endswith(k)), None)
            if body is None:
                body = src.read(name)
            dst.writestr(rename(name) if rename else name, body)
        for name, body in (add or {}).items():
            dst.writestr(name, body)
    return out.getvalue()


def member_bytes(source: str | os.PathLike[str] | bytes, suffix: str) -> bytes:
    """The bytes of the one zip member whose name ends with ``suffix``."""
    import zipfile

    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(suffix)]
        return zf.read(name)


_IN_KINDS = {
    "user_input": "USER_INPUT",
    "constant_input": "USER_INPUT",
    "parameter": "PARAMETER",
    "buffer": "BUFFER",
    "tensor_constant": "CONSTANT_TENSOR",
    "custom_obj": "CUSTOM_OBJ",
    "token": "TOKEN",
}
_OUT_KINDS = {
    "user_output": "USER_OUTPUT",
    "loss_output": "LOSS_OUTPUT",
    "buffer_mutation": "BUFFER_MUTATION",
    "parameter_mutation": "PARAMETER_MUTATION",
    "gradient_to_parameter": "GRADIENT_TO_PARAMETER",
    "gradient_to_user_input": "GRADIENT_TO_USER_INPUT",
    "user_input_mutation": "USER_INPUT_MUTATION",
    "token": "TOKEN",
}

Spec = tuple[str, "str | None", "str | None"]


def _json_arg_name(arg: dict[str, Any]) -> str | None:
    # An Argument union ({"as_tensor": {"name": n}}, {"as_sym_int": {"as_name": n}}, ...) or a
    # plain {"name": n}; None for constants.
    if "name" in arg and isinstance(arg["name"], str):
        return arg["name"]
    ((_tag, value),) = arg.items()
    if isinstance(value, dict):
        for key in ("name", "as_name"):
            if isinstance(value.get(key), str):
                return value[key]
    return None


def _json_spec(spec: dict[str, Any], kinds: dict[str, str]) -> Spec:
    ((tag, body),) = spec.items()
    if tag == "constant_input":
        return kinds[tag], body["name"], None
    target = next((v for k, v in body.items() if k.endswith("_name") and isinstance(v, str)), None)
    return kinds[tag], _json_arg_name(body["arg"]), target


def json_signature(program: dict[str, Any]) -> tuple[list[Spec], list[Spec]]:
    """``(inputs, outputs)`` of a serialized program: ``(KIND, value name, target FQN)`` each."""
    sig = program["graph_module"]["signature"]
    return (
        [_json_spec(s, _IN_KINDS) for s in sig["input_specs"]],
        [_json_spec(s, _OUT_KINDS) for s in sig["output_specs"]],
    )


def ep_signature(ep: ExportedProgram) -> tuple[list[Spec], list[Spec]]:
    """The same as :func:`json_signature`, read from torch's in-memory ``graph_signature``."""
    from torch.export.graph_signature import ConstantArgument

    def spec(s: Any, output: bool) -> Spec:
        name = None if output and isinstance(s.arg, ConstantArgument) else s.arg.name
        return s.kind.name, name, s.target

    sig = ep.graph_signature
    return [spec(s, False) for s in sig.input_specs], [spec(s, True) for s in sig.output_specs]


def legacy_zip_bytes(ep: ExportedProgram) -> bytes:
    """``ep`` in the zip format ``torch.export.save`` wrote up to torch 2.5."""
    import zipfile

    from torch._export.serde.schema import SCHEMA_VERSION
    from torch._export.serde.serialize import serialize

    art = serialize(ep)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("serialized_exported_program.json", art.exported_program)
        zf.writestr("serialized_state_dict.pt", art.state_dict)
        zf.writestr("serialized_constants.pt", art.constants)
        zf.writestr("serialized_example_inputs.pt", art.example_inputs)
        zf.writestr("version", ".".join(map(str, SCHEMA_VERSION)))
    return buf.getvalue()


# -- the models ------------------------------------------------------------------------


class MLP(nn.Module):
    def __init__(self, d_in: int = 8, d_hidden: int = 16, d_out: int = 4):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


class ConvBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class CondModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def true_fn(x: torch.Tensor) -> torch.Tensor:
            return self.lin(x).sin()

        def false_fn(x: torch.Tensor) -> torch.Tensor:
            return x.cos() - 1.0

        return torch.cond(x.sum() > 0, true_fn, false_fn, (x,))


class MultiOutputUnused(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, _b = torch.split(x, 2, dim=1)  # second half unused
        values, _indices = torch.max(x, dim=1)  # indices unused
        top, _ = torch.topk(x, 2, dim=1)  # indices unused
        return a.sum(dim=1) + values + top[:, 0]


class LiftedConstant(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.tensor([0.5, 2.0, -1.0, 3.0])  # a plain attribute: neither parameter nor buffer
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * self.scale


class Effects(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("count", torch.zeros(4))

    def forward(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        k = idx.item()
        torch._check(k >= 0)
        torch._check(k < x.shape[0])  # a shape assert: relates the index to the batch size
        before = x + self.count  # read
        self.count.add_(1.0)  # in-place update
        after = x * self.count  # read again: must see the update
        r1 = torch.rand(4)
        r2 = torch.rand(4)  # draw order matters: r1 and r2 are weighted differently
        return before + after + 2.0 * r1 + 3.0 * r2 + x[k]


class Aliased(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.b.weight = self.a.weight  # tied: one parameter, two FQNs
        self.register_buffer("full", torch.arange(8.0))
        self.register_buffer("upper", self.full[4:])  # a view at storage offset 4
        self.c1 = torch.tensor([1.0, -2.0, 3.0])
        self.c2 = self.c1  # one constant tensor, two attributes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(x) + self.upper + self.full[:4] + self.c1.sum() + self.c2.sum()


def _mlp() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any], Any]:
    return MLP().eval(), (torch.randn(3, 8),), {}, None


def _conv_bn_train() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any], Any]:
    return ConvBN().train(), (torch.randn(2, 3, 8, 8),), {}, None


def _transformer_layer() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any], Any]:
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True)
    return layer.eval(), (torch.randn(2, 10, 32),), {}, None


def _dynamic_batch() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any], Any]:
    batch = Dim("batch", min=2, max=1024)
    return MLP().eval(), (torch.randn(5, 8),), {}, {"x": {0: batch}}


def _cond() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any], Any]:
    return CondModel().eval(), (torch.randn(3, 4).abs(),), {}, None


def _multi_output_unused() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any], Any]:
    return MultiOutputUnused(), (torch.randn(3, 4),), {}, None


def _lifted_constant() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any], Any]:
    return LiftedConstant().eval(), (torch.randn(2, 4),), {}, None


def _effects() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any], Any]:
    batch = Dim("batch", min=2, max=64)
    return Effects(), (torch.randn(4, 4), torch.tensor(2)), {}, {"x": {0: batch}, "idx": None}


def _aliased_weights() -> tuple[nn.Module, tuple[Any, ...], dict[str, Any], Any]:
    return Aliased().eval(), (torch.randn(2, 4),), {}, None


_BUILDERS: dict[str, Callable[[], tuple[nn.Module, tuple[Any, ...], dict[str, Any], Any]]] = {
    "mlp": _mlp,
    "conv_bn_train": _conv_bn_train,
    "transformer_layer": _transformer_layer,
    "dynamic_batch": _dynamic_batch,
    "cond": _cond,
    "multi_output_unused": _multi_output_unused,
    "lifted_constant": _lifted_constant,
    "effects": _effects,
    "aliased_weights": _aliased_weights,
}

#: The hand-written entries (always built; a failure is an error, not a skip).
CORE_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def _exportdb() -> dict[str, Any]:
    from torch._export.db.examples import all_examples

    return dict(all_examples())


def exportdb_names() -> list[str]:
    """``exportdb_<name>`` for every example in torch's export database."""
    return [f"exportdb_{name}" for name in sorted(_exportdb())]


def corpus_names() -> list[str]:
    """Every name the corpus may hold (for test parametrization; failed exports are skipped)."""
    return [*CORE_NAMES, *exportdb_names()]


def _export_and_save(
    name: str,
    module: nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    dynamic_shapes: Any,
    folder: Path,
) -> CorpusEntry:
    ep = torch.export.export(module, args, kwargs or None, dynamic_shapes=dynamic_shapes)
    path = save(ep, folder / f"{name}.pt2")
    return CorpusEntry(name=name, module=module, ep=ep, args=args, path=path, kwargs=kwargs)


def build_corpus(folder: str | os.PathLike[str], *, names: Iterable[str] | None = None, seed: int = 0) -> Corpus:
    """Export and save the corpus into ``folder``.

    Hand-written entries must export; exportdb examples that fail to export
    or save are recorded in ``Corpus.failures`` instead.
    """
    with warnings.catch_warnings():
        # exportdb examples warn on purpose (constant predicates, attributes set in forward).
        warnings.simplefilter("ignore")
        return _build_corpus(Path(folder), names, seed)


def _build_corpus(folder: Path, names: Iterable[str] | None, seed: int) -> Corpus:
    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    wanted = set(names) if names is not None else None
    out = Corpus()
    for name, builder in _BUILDERS.items():
        if wanted is not None and name not in wanted:
            continue
        torch.manual_seed(seed)
        module, args, kwargs, ds = builder()
        out[name] = _export_and_save(name, module, args, kwargs, ds, folder)
    for ex_name, case in sorted(_exportdb().items()):
        name = f"exportdb_{ex_name}"
        if wanted is not None and name not in wanted:
            continue
        torch.manual_seed(seed)
        try:
            module = copy.deepcopy(case.model)
            args = copy.deepcopy(tuple(case.example_args))
            kwargs = copy.deepcopy(dict(case.example_kwargs or {}))
            out[name] = _export_and_save(name, module, args, kwargs, case.dynamic_shapes, folder)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            out.failures[name] = f"{type(exc).__name__}: {first}"
    out.seconds = time.perf_counter() - start
    return out


def transformer_stack(
    n_layers: int,
    *,
    d_model: int = 64,
    nhead: int = 4,
    seq: int = 16,
    batch: int = 2,
    dynamic: bool = False,
    seed: int = 0,
) -> tuple[nn.Module, ExportedProgram, tuple[torch.Tensor]]:
    """Export a stack of ``n_layers`` ``TransformerEncoderLayer`` (eval, batch_first).

    Returns ``(module, ep, args)``. ``dynamic=True`` makes the batch
    dimension symbolic. Sizes (torch 2.13, defaults): 6 / 24 / 48 layers
    give 284 / 1,130 / 2,258 FX nodes and 210 / 840 / 1,680 serialized op
    nodes.
    """
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(
        d_model=d_model, nhead=nhead, dim_feedforward=2 * d_model, dropout=0.0, batch_first=True
    )
    module = nn.TransformerEncoder(layer, num_layers=n_layers, enable_nested_tensor=False).eval()
    args = (torch.randn(batch, seq, d_model),)
    ds = {"src": {0: Dim("batch", min=1, max=1024)}} if dynamic else None
    ep = torch.export.export(module, args, dynamic_shapes=ds)
    return module, ep, args
