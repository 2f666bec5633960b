"""Which ops have side effects: mutation, random draws, asserts and other effects.

Canonical reordering may only move nodes whose relative order does not
matter. This module classifies an op target (``"torch.ops.aten.add_.Tensor"``)
into an :class:`OpEffects` record, from torch's op schemas when torch is
importable (:func:`effects_from_schema`) and from naming rules otherwise
(:func:`effects_from_name`). pt2canon itself uses the naming rules, so that
hashing never imports torch; the test suite checks that both agree on every
op of its corpus.

Naming rules
    * in place: the overload packet ends in ``_`` (``add_``, ``copy_``,
      ``__iadd__``), not a dunder such as ``__and__``: the first argument
      (``self``; every tensor of a ``_foreach_*_`` list) is mutated;
    * ``out=`` variants: overload ``out`` or ``*_out``: the keyword-only
      tensor arguments are mutated;
    * :data:`MUTATING_ARGS`: ops that mutate without saying so in their name
      (``batch_norm`` updates ``running_mean``/``running_var`` in training;
      :func:`effects_of_node` reads a node's ``training=False`` and drops
      that update, as in every eval-mode export);
    * :data:`RANDOM_OPS`: ops whose order defines the random stream;
    * :data:`EFFECTFUL_OPS`: asserts, prints, effect tokens;
    * :data:`VIEW_OPS`: ops whose output aliases their first input;
    * ops outside :data:`KNOWN_NAMESPACES` (custom ops) are treated as
      effectful: without their schema nothing else is safe;
    * the functions of ``torch._functorch.predispatch`` a pre-dispatch graph
      calls (``_vmap_increment_nesting``, ``_add_batch_dim``, ``_make_dual``)
      are effectful: they enter and leave functorch levels, and the ops that
      wrap or unwrap tensors for a level must stay inside it.

Python-level targets of FX graphs (:mod:`pt2canon.fx`: ``torch.nn.functional.dropout``,
``call_method.add_``, ``_operator.setitem``, ``torch.nn.modules.dropout.Dropout``) follow
the same rules, with the last dotted component as the op name
(:func:`split_target`), plus :data:`FX_INPLACE_OPERATORS` (``x[i] = v``, ``x += y``),
:data:`FX_EFFECTFUL_OPS` (grad mode, autocast, checks) and
:data:`FX_TRAINING_OPS`; :func:`effects_of_node` reads their ``inplace=True`` and
``training=False`` arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "EFFECTFUL_OPS",
    "FX_EFFECTFUL_OPS",
    "FX_INPLACE_OPERATORS",
    "FX_TRAINING_OPS",
    "KNOWN_NAMESPACES",
    "MUTATING_ARGS",
    "RANDOM_OPS",
    "TRAINING_FLAG_OPS",
    "VIEW_OPS",
    "OpEffects",
    "effects_from_name",
    "effects_from_schema",
    "effects_of_node",
    "needs_node_args",
    "split_target",
]


@dataclass(frozen=True)
class OpEffects:
    """What an op does besides computing its outputs.

    Attributes
    ----------
    mutates : frozenset of str
        Names of the arguments it writes to; ``"*"`` means every tensor argument.
    random : bool
        Draws from the random number generator.
    effectful : bool
        Has another observable effect (assert, print, unknown custom op).
    view : bool
        Its outputs alias its first tensor argument.

    Examples
    --------
    >>> OpEffects().ordered, OpEffects(random=True).ordered, OpEffects(view=True).ordered
    (False, True, False)
    >>> add_ = effects_from_name("torch.ops.aten.add_.Tensor")  # x.add_(y) returns x itself: a view
    >>> add_ == OpEffects(mutates=frozenset({"self"}), view=True), add_.ordered
    (True, True)
    >>> effects_from_name("torch.ops.aten.transpose.int") == OpEffects(view=True)
    True
    """

    mutates: frozenset[str] = frozenset()
    random: bool = False
    effectful: bool = False
    view: bool = False

    @property
    def ordered(self) -> bool:
        """True when the node must keep its place among the other ordered nodes."""
        return bool(self.mutates) or self.random or self.effectful


PURE = OpEffects()

#: Namespaces whose ops follow the naming rules. Others are custom ops.
KNOWN_NAMESPACES = frozenset(
    {
        "aten", "prims", "higher_order", "_operator", "operator", "builtins", "math", "torch",
        "quantized_decomposed", "call_method",
    }
)  # fmt: skip

#: Ops that mutate arguments without a trailing ``_`` in their name.
MUTATING_ARGS: dict[str, frozenset[str]] = {
    "batch_norm": frozenset({"running_mean", "running_var"}),
    "native_batch_norm": frozenset({"running_mean", "running_var"}),
    "_native_batch_norm_legit": frozenset({"running_mean", "running_var"}),
    "_batch_norm_with_update": frozenset({"running_mean", "running_var"}),
    "_batch_norm_impl_index": frozenset({"running_mean", "running_var"}),
    "cudnn_batch_norm": frozenset({"running_mean", "running_var"}),
    "miopen_batch_norm": frozenset({"running_mean", "running_var"}),
    "instance_norm": frozenset({"running_mean", "running_var"}),
    "_fused_moving_avg_obs_fq_helper": frozenset(
        {"observer_on", "fake_quant_on", "running_min", "running_max", "scale", "zero_point"}
    ),
}

#: Batch-norm ops that update their running statistics only when their ``training`` argument is true.
TRAINING_FLAG_OPS = frozenset(
    {
        "batch_norm",
        "native_batch_norm",
        "_native_batch_norm_legit",
        "_batch_norm_impl_index",
        "cudnn_batch_norm",
        "miopen_batch_norm",
    }
)


def effects_of_node(target: str, constant_args: dict[str, object]) -> OpEffects:
    """:func:`effects_from_name`, refined by a node's constant arguments.

    A batch norm called with ``training=False`` (every eval-mode export)
    reads its running statistics without updating them. Python-level
    targets of FX graphs (anything not under ``torch.ops``) also read
    ``inplace=True`` (every tensor argument is written, as by
    ``F.relu(x, inplace=True)`` or ``nn.ReLU(inplace=True)``) and, for
    :data:`FX_TRAINING_OPS`, ``training=False`` (no random draw, no state
    update: ``F.dropout(x, training=False)``, an eval-mode ``nn.Dropout``).

    Examples
    --------
    >>> effects_of_node("torch.ops.aten.batch_norm.default", {"training": {"as_bool": False}}).mutates
    frozenset()
    >>> sorted(effects_of_node("torch.ops.aten.batch_norm.default", {"training": {"as_bool": True}}).mutates)
    ['running_mean', 'running_var']
    >>> sorted(effects_of_node("torch.ops.aten.native_batch_norm.out", {"training": {"as_bool": False}}).mutates)
    ['<out>']
    >>> effects_of_node("torch.nn.functional.relu", {"inplace": {"as_bool": True}}).mutates
    frozenset({'*'})
    >>> effects_of_node("torch.nn.functional.dropout", {"training": {"as_bool": False}}).ordered
    False
    """
    eff = effects_from_name(target)
    packet = split_target(target)[1]
    if eff.mutates and packet in TRAINING_FLAG_OPS and constant_args.get("training") == {"as_bool": False}:
        # Only the running statistics are spared: an ``out=`` overload still writes its outputs.
        eff = OpEffects(
            mutates=eff.mutates - MUTATING_ARGS[packet], random=eff.random, effectful=eff.effectful, view=eff.view
        )
    if target.startswith("torch.ops."):
        return eff
    if packet in FX_TRAINING_OPS and constant_args.get("training", constant_args.get("train")) == {"as_bool": False}:
        eff = OpEffects(mutates=eff.mutates, view=eff.view)
    if constant_args.get("inplace") == {"as_bool": True}:
        eff = OpEffects(mutates=eff.mutates | {"*"}, random=eff.random, effectful=eff.effectful, view=True)
    return eff


def needs_node_args(target: str) -> bool:
    """Whether :func:`effects_of_node` can say more about ``target`` than :func:`effects_from_name`.

    True for the batch norms of :data:`TRAINING_FLAG_OPS` and for every
    Python-level (FX) target, whose ``inplace``/``training`` arguments matter.

    Examples
    --------
    >>> needs_node_args("torch.ops.aten.add.Tensor"), needs_node_args("torch.nn.functional.relu")
    (False, True)
    """
    return _needs_node_args(target)


@lru_cache(maxsize=4096)
def _needs_node_args(target: str) -> bool:
    if not target.startswith("torch.ops."):
        return True
    return bool(effects_from_name(target).mutates) and split_target(target)[1] in TRAINING_FLAG_OPS


#: Ops whose relative order defines the random stream: torch 2.13's ops tagged
#: ``nondeterministic_seeded`` (attention and RNN ops draw for their dropout),
#: plus the in-place samplers.
RANDOM_OPS = frozenset(
    {
        "rand", "rand_like", "randn", "randn_like", "randint", "randint_like", "randperm",
        "bernoulli", "normal", "multinomial", "poisson", "binomial", "_standard_gamma",
        "_sample_dirichlet", "dropout", "native_dropout", "feature_dropout", "alpha_dropout",
        "feature_alpha_dropout", "_fused_dropout", "rrelu", "rrelu_with_noise", "uniform",
        "exponential", "geometric", "cauchy", "log_normal", "random", "_fused_rrelu_with_noise",
        "seed", "manual_seed", "run_and_save_rng_state", "run_with_rng_state",
        "rrelu_with_noise_functional", "scaled_dot_product_attention",
        "_scaled_dot_product_attention_math", "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_fused_attention_overrideable",
        "_scaled_dot_product_attention_math_for_mps", "_efficient_attention_forward",
        "_flash_attention_forward", "_flash_attention_forward_no_dropout_inplace", "lstm", "gru",
        "rnn_relu", "rnn_tanh", "_cudnn_rnn", "miopen_rnn",
    }
)  # fmt: skip

#: Ops with an observable effect other than mutation or randomness.
EFFECTFUL_OPS = frozenset(
    {
        "_assert_async", "_assert_scalar", "_assert_tensor_metadata", "_functional_assert_async",
        "_functional_assert_scalar", "sym_constrain_range", "sym_constrain_range_for_size",
        "_print", "_make_dep_token", "with_effects", "_functional_sym_constrain_range",
        "_functional_sym_constrain_range_for_size", "record_stream", "set_", "resize_",
        "_resize_output_", "to_copy_", "print",
    }
)  # fmt: skip


#: The module of the functions pre-dispatch graphs call to enter and leave functorch levels.
_PREDISPATCH = "torch._functorch.predispatch."


#: Ops whose outputs alias (are views of) their first tensor argument.
VIEW_OPS = frozenset(
    {
        "view", "_unsafe_view", "reshape", "_reshape_alias", "alias", "as_strided", "detach",
        "t", "transpose", "permute", "expand", "expand_as", "unsqueeze", "squeeze", "select",
        "slice", "narrow", "split", "split_with_sizes", "unsafe_split", "chunk", "unbind",
        "diagonal", "movedim", "moveaxis", "view_as", "unfold", "flatten", "unflatten", "real",
        "imag", "view_as_real", "view_as_complex", "indices", "values", "crow_indices",
        "col_indices", "swapaxes", "swapdims", "tensor_split", "hsplit", "vsplit", "dsplit",
        "lift_fresh", "getitem", "_conj", "_neg_view", "conj", "positive", "T", "mT", "H", "mH",
        "adjoint", "matrix_H", "align_as", "refine_names", "rename", "as_strided_", "numpy_T",
        "_indices", "_values", "ccol_indices", "row_indices", "split_copy",
    }
)  # fmt: skip


#: Python operators of FX graphs that write their first argument (``x[i] = v``, ``x += y``).
FX_INPLACE_OPERATORS = frozenset(
    {
        "setitem", "delitem", "iadd", "isub", "imul", "imatmul", "itruediv", "ifloordiv", "imod",
        "ipow", "ilshift", "irshift", "iand", "ior", "ixor", "iconcat",
    }
)  # fmt: skip

#: Python-level calls of FX graphs with an effect their name does not show: grad mode and
#: autocast switches, checks, RNG state (they keep their relative order).
FX_EFFECTFUL_OPS = frozenset(
    {
        "_set_grad_enabled", "set_grad_enabled", "_enter_autocast", "_exit_autocast", "_assert",
        "_check", "_check_is_size", "_check_with", "_check_value", "_check_index", "set_rng_state",
        "_record_function_enter", "_record_function_exit", "_record_function_enter_new",
    }
)  # fmt: skip

#: Python functions and ``torch.nn`` module classes (FX graphs) that draw random numbers or
#: update state only in training; ``training=False`` makes them pure (:func:`effects_of_node`).
FX_TRAINING_OPS = frozenset(
    {
        "dropout", "alpha_dropout", "feature_alpha_dropout", "dropout1d", "dropout2d", "dropout3d",
        "rrelu", "multi_head_attention_forward", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
        "AlphaDropout", "FeatureAlphaDropout", "RReLU", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
        "SyncBatchNorm", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "InstanceNorm1d",
        "InstanceNorm2d", "InstanceNorm3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d",
        "LazyInstanceNorm3d", "MultiheadAttention", "RNN", "LSTM", "GRU", "Transformer",
        "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer", "TransformerDecoderLayer",
    }
)  # fmt: skip


def split_target(target: str) -> tuple[str, str, str]:
    """Split ``"torch.ops.aten.add_.Tensor"`` into ``("aten", "add_", "Tensor")``.

    A Python-level name of three or more parts (FX graphs: functions,
    methods, module classes) splits into its first part and its last:
    ``"torch.nn.functional.dropout"`` -> ``("torch", "dropout", "")``.

    Examples
    --------
    >>> split_target("torch.ops.aten.add_.Tensor")
    ('aten', 'add_', 'Tensor')
    >>> split_target("torch.ops.higher_order.cond")
    ('higher_order', 'cond', '')
    >>> split_target("_operator.getitem")
    ('_operator', 'getitem', '')
    >>> split_target("torch.nn.modules.dropout.Dropout")
    ('torch', 'Dropout', '')
    """
    parts = target.split(".")
    if parts[:2] == ["torch", "ops"]:
        parts = parts[2:]
    elif len(parts) >= 3:
        return parts[0], parts[-1], ""
    if len(parts) >= 3:
        return parts[0], parts[1], ".".join(parts[2:])
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return "", target, ""


def _is_inplace_name(packet: str) -> bool:
    if packet.startswith("__") and packet.endswith("__"):
        return packet.startswith("__i") and packet not in ("__index__", "__init__", "__iter__", "__invert__")
    return packet.endswith("_") and not packet.endswith("__")


@lru_cache(maxsize=4096)
def effects_from_name(target: str) -> OpEffects:
    """Classify an op by its name alone (no torch import).

    Examples
    --------
    >>> effects_from_name("torch.ops.aten.add_.Tensor").mutates
    frozenset({'self'})
    >>> effects_from_name("torch.ops.aten.add.Tensor").ordered
    False
    >>> effects_from_name("torch.ops.aten.rand.default").random
    True
    >>> effects_from_name("torch.ops.aten.view.default").view
    True
    >>> effects_from_name("torch.ops.mylib.custom.default").effectful
    True
    >>> effects_from_name("torch._functorch.predispatch._add_batch_dim").effectful
    True
    """
    if target.startswith(_PREDISPATCH):
        return OpEffects(effectful=True)
    ns, packet, overload = split_target(target)
    if ns not in KNOWN_NAMESPACES:
        return OpEffects(effectful=True)
    base = packet.rstrip("_") if _is_inplace_name(packet) else packet
    mutates: frozenset[str] = frozenset()
    if _is_inplace_name(packet) or (ns in ("_operator", "operator") and packet in FX_INPLACE_OPERATORS):
        mutates = frozenset({"*"}) if packet.startswith("_foreach_") else frozenset({"self"})
    elif overload == "out" or overload.endswith("_out") or overload.startswith("out"):
        mutates = frozenset({"<out>"})
    if packet in MUTATING_ARGS:
        mutates = mutates | MUTATING_ARGS[packet]
    python_level = not target.startswith("torch.ops.")
    random = base in RANDOM_OPS or packet in RANDOM_OPS or (python_level and packet in FX_TRAINING_OPS)
    effectful = packet in EFFECTFUL_OPS or base in EFFECTFUL_OPS or (python_level and packet in FX_EFFECTFUL_OPS)
    view = packet in VIEW_OPS or (bool(mutates) and "self" in mutates)
    return OpEffects(mutates=mutates, random=random, effectful=effectful, view=view)


@lru_cache(maxsize=4096)
def effects_from_schema(target: str) -> OpEffects | None:
    """Classify an op from torch's schema and tags; ``None`` when torch has no such op.

    Mutation comes from argument alias annotations (``Tensor(a!)``), views
    from return alias annotations, randomness from the
    ``nondeterministic_seeded`` tag; ops tagged ``maybe_aliasing_or_mutating``
    take their mutated arguments from :data:`MUTATING_ARGS`. Imports torch.
    """
    import torch

    ns, packet, overload = split_target(target)
    if ns == "higher_order":
        return effects_from_name(target)
    try:
        op = getattr(getattr(getattr(torch.ops, ns), packet), overload or "default")
        schema = op._schema
    except (AttributeError, RuntimeError):
        return None
    mutates = set()
    for a in schema.arguments:
        if a.alias_info is not None and a.alias_info.is_write:
            mutates.add("<out>" if a.kwarg_only and ("out" in overload) else a.name)
    if packet.startswith("_foreach_") and mutates:
        mutates = {"*"}
    tags = set(op.tags)
    if torch.Tag.maybe_aliasing_or_mutating in tags and packet in MUTATING_ARGS:
        mutates |= MUTATING_ARGS[packet]
    view = any(r.alias_info is not None and not r.alias_info.is_write for r in schema.returns) or "self" in mutates
    random = torch.Tag.nondeterministic_seeded in tags or packet.rstrip("_") in RANDOM_OPS
    effectful = packet in EFFECTFUL_OPS or packet.rstrip("_") in EFFECTFUL_OPS
    return OpEffects(mutates=frozenset(mutates), random=bool(random), effectful=effectful, view=view)
