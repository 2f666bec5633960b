"""Signature specs: their tags, the field naming their FQN, their rank and the value they name, once.

torch's ``GraphSignature`` (``torch/_export/serde/schema.py``) lists an
``InputSpec`` per graph input and an ``OutputSpec`` per graph output; each
is a one-key union, ``{"parameter": {"arg": {"name": "p_w"},
"parameter_name": "w"}}``. Which field of a body names a module state (its
FQN), which graph input an output updates, and the order in which torch
lays out inputs and outputs are facts of the schema; this module states
them, and every stage that reads a signature (schema checks, the canonical
form, the writer, the diff, the listing, the drawing) reads them here.

:class:`Spec`
    A typed view of one spec: ``tag``, ``body``, ``fqn``, ``target``,
    ``value`` (the graph value it names) and ``rank``.
:func:`spec_view`, :func:`input_specs`, :func:`output_specs`
    Views of one spec, or of a signature's inputs or outputs.
:data:`STATE_FQN_FIELD`, :data:`FQN_FIELD`, :data:`TARGET_FIELD`, :data:`NAME_FIELD`
    Tag -> body field naming a module state loaded from a weight or
    constant file / any FQN / the graph input an output updates / any of
    these (a string).
:data:`INPUT_RANK`, :data:`OUTPUT_RANK`
    The order of the kinds of inputs and outputs in torch's canonical form
    (``torch._export.serde.serialize.canonicalize``): tokens, parameters,
    buffers, constants, then user inputs.

Examples
--------
>>> s = spec_view({"buffer": {"arg": {"name": "b_run"}, "buffer_name": "bn.run", "persistent": True}})
>>> s.tag, s.fqn, s.value, s.rank
('buffer', 'bn.run', 'b_run', 2)
>>> m = spec_view({"user_input_mutation": {"arg": {"name": "add"}, "user_input_name": "x"}})
>>> m.fqn, m.target, m.value
(None, 'x', 'add')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

__all__ = [
    "FQN_FIELD",
    "INPUT_RANK",
    "INPUT_TAGS",
    "NAME_FIELD",
    "OUTPUT_RANK",
    "OUTPUT_TAGS",
    "STATE_FQN_FIELD",
    "TARGET_FIELD",
    "Spec",
    "argument_value",
    "input_specs",
    "output_specs",
    "spec_view",
]

#: ``InputSpec`` union tags, in schema order.
INPUT_TAGS = ("token", "parameter", "buffer", "tensor_constant", "custom_obj", "user_input", "constant_input")
#: ``OutputSpec`` union tags, in schema order.
OUTPUT_TAGS = (
    "user_output", "loss_output", "buffer_mutation", "gradient_to_parameter", "gradient_to_user_input",
    "user_input_mutation", "token", "parameter_mutation",
)  # fmt: skip

#: Input tags whose value is module state stored in a weight or constant file, and the field naming its FQN.
STATE_FQN_FIELD: Mapping[str, str] = {
    "parameter": "parameter_name",
    "buffer": "buffer_name",
    "tensor_constant": "tensor_constant_name",
    "custom_obj": "custom_obj_name",
}
#: Output tags that update a graph input, and the field naming it (an FQN, or a user input's value name).
TARGET_FIELD: Mapping[str, str] = {
    "parameter_mutation": "parameter_name",
    "buffer_mutation": "buffer_name",
    "gradient_to_parameter": "parameter_name",
    "user_input_mutation": "user_input_name",
    "gradient_to_user_input": "user_input_name",
}
#: Every tag whose body names a module state by FQN, and that field.
FQN_FIELD: Mapping[str, str] = {
    **STATE_FQN_FIELD,
    **{tag: f for tag, f in TARGET_FIELD.items() if f != "user_input_name"},
}
#: Every tag whose body names a module state or an updated input, and that field: a string (a sort key).
NAME_FIELD: Mapping[str, str] = {**FQN_FIELD, **TARGET_FIELD}

#: Rank of each input kind in torch's canonical input order. User and constant inputs share
#: one rank: they keep their positions (the calling convention).
INPUT_RANK: Mapping[str, int] = {
    "token": 0, "parameter": 1, "buffer": 2, "tensor_constant": 3, "custom_obj": 4,
    "user_input": 5, "constant_input": 5,
}  # fmt: skip
#: Rank of each output kind in torch's canonical output order (user and loss outputs keep their positions).
OUTPUT_RANK: Mapping[str, int] = {
    "token": 0, "parameter_mutation": 1, "buffer_mutation": 2, "user_input_mutation": 3, "user_output": 4,
    "loss_output": 4, "gradient_to_parameter": 5, "gradient_to_user_input": 6,
}  # fmt: skip

_LAST = 7
_SYM_TAGS = frozenset({"as_sym_int", "as_sym_float", "as_sym_bool"})
#: Tags whose ``arg`` is an ``Argument`` union rather than a bare ``{"name": ...}``.
_UNION_ARG = frozenset({"user_input", "user_output"})


def argument_value(arg: Any) -> str | None:
    """The graph value an ``Argument`` union names (tensor, symbol, object or token); ``None`` for a constant.

    Examples
    --------
    >>> argument_value({"as_tensor": {"name": "x"}}), argument_value({"as_sym_int": {"as_name": "s"}})
    ('x', 's')
    >>> argument_value({"as_int": 3}) is None
    True
    """
    if type(arg) is not dict or len(arg) != 1:
        return None
    ((tag, v),) = arg.items()
    if type(v) is not dict:
        return None
    name = v.get("as_name") if tag in _SYM_TAGS else v.get("name")
    return name if type(name) is str else None


class Spec(NamedTuple):
    """A typed view of one input or output spec: its union ``tag`` and ``body``.

    The other fields are derived from the tables of this module; a field
    the spec does not have is ``None``.

    Examples
    --------
    Made by :func:`spec_view`, :func:`input_specs` and :func:`output_specs`:

    >>> s = spec_view({"parameter_mutation": {"arg": {"name": "add_1"}, "parameter_name": "fc.weight"}})
    >>> s.tag, s.fqn, s.target, s.value, s.rank
    ('parameter_mutation', 'fc.weight', 'fc.weight', 'add_1', 1)
    >>> spec_view({"constant_input": {"name": "scale", "value": {"as_float": 0.5}}}).value is None
    True
    """

    tag: str
    body: Mapping[str, Any]

    @property
    def fqn(self) -> str | None:
        """The module state it names (``parameter_name``, ``buffer_name``, ...), if any."""
        field = FQN_FIELD.get(self.tag)
        return self.body.get(field) if field else None

    @property
    def target(self) -> str | None:
        """For an output that updates an input: that input's FQN or user-input value name."""
        field = TARGET_FIELD.get(self.tag)
        return self.body.get(field) if field else None

    @property
    def value(self) -> str | None:
        """The graph value it stands for; ``None`` for a constant input or output, which names none."""
        if self.tag == "constant_input":
            return None
        arg = self.body.get("arg")
        if self.tag in _UNION_ARG:
            return argument_value(arg)
        name = arg.get("name") if type(arg) is dict else None
        return name if type(name) is str else None

    @property
    def rank(self) -> int:
        """Its kind's rank in torch's canonical order (:data:`INPUT_RANK` or :data:`OUTPUT_RANK`; unknown: last)."""
        return INPUT_RANK.get(self.tag, OUTPUT_RANK.get(self.tag, _LAST))


def spec_view(spec: Mapping[str, Any]) -> Spec:
    """The :class:`Spec` view of a one-key spec dict (a malformed spec gives tag ``"?"`` and an empty body).

    Examples
    --------
    >>> spec_view({"parameter": {"arg": {"name": "p_w"}, "parameter_name": "w"}}).fqn
    'w'
    >>> spec_view({}).tag
    '?'
    """
    if (type(spec) is dict or isinstance(spec, Mapping)) and len(spec) == 1:  # a parsed dict without the ABC check
        ((tag, body),) = spec.items()
        return Spec(str(tag), body if type(body) is dict or isinstance(body, Mapping) else {})
    return Spec("?", {})


def input_specs(signature: Mapping[str, Any]) -> list[Spec]:
    """Views of a graph signature's ``input_specs``, in order.

    Examples
    --------
    >>> sig = {"input_specs": [{"parameter": {"arg": {"name": "p_fc_weight"}, "parameter_name": "fc.weight"}},
    ...                        {"user_input": {"arg": {"as_tensor": {"name": "x"}}}}],
    ...        "output_specs": []}
    >>> [(s.tag, s.value, s.fqn) for s in input_specs(sig)]
    [('parameter', 'p_fc_weight', 'fc.weight'), ('user_input', 'x', None)]
    >>> input_specs({})  # no specs: no views
    []
    """
    return [spec_view(s) for s in _specs(signature, "input_specs")]


def output_specs(signature: Mapping[str, Any]) -> list[Spec]:
    """Views of a graph signature's ``output_specs``, in order.

    Examples
    --------
    >>> sig = {"input_specs": [],
    ...        "output_specs": [{"buffer_mutation": {"arg": {"name": "add"}, "buffer_name": "bn.num_batches"}},
    ...                         {"user_output": {"arg": {"as_tensor": {"name": "relu"}}}}]}
    >>> [(s.tag, s.value, s.target) for s in output_specs(sig)]
    [('buffer_mutation', 'add', 'bn.num_batches'), ('user_output', 'relu', None)]
    """
    return [spec_view(s) for s in _specs(signature, "output_specs")]


def _specs(signature: Mapping[str, Any], key: str) -> Iterable[Mapping[str, Any]]:
    specs = signature.get(key) if isinstance(signature, Mapping) else None
    return specs if isinstance(specs, list) else []
