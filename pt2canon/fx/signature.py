"""The signature of a converted FX graph: which inputs are parameters, buffers, constants, modules.

:class:`Signature` collects the ``GraphSignature`` JSON of the top-level
graph while :mod:`pt2canon.fx.convert` walks it: one input spec per
placeholder (kinds from :mod:`pt2canon.fx.inputs`), one input per FQN for
``get_attr`` tensors and ``call_module`` submodules, user inputs in the
frame's argument order inside a Dynamo backend, and the output specs
(user outputs, AOTAutograd's input mutations). It also keeps every tensor
the program holds as a :class:`Payload`.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

from pt2canon.fx.inputs import USER_INPUT, InputKind, dynamo_frame_code, frame_argument_positions, user_input_key
from pt2canon.fx.names import module_class_name

__all__ = ["Payload", "Signature", "custom_obj_meta"]

# FX names the tensors it lifts out of traced code ``_tensor_constant0``, ... and registers them as
# buffers of the GraphModule; they are constants of the program, as torch.export makes them.
_LIFTED_CONSTANT = re.compile(r"^_tensor_constant\d+$")


@dataclass
class Payload:
    """A tensor the program holds (a weight or constant), kept in memory."""

    tensor: Any
    kind: str  # "weight" or "constant"
    is_param: bool = False


def custom_obj_meta(class_fqn: str) -> dict[str, str]:
    """The ``custom_obj_values`` entry of a value of class ``class_fqn``.

    The schema's ``CustomObjArgument``; its ``name`` is left empty: a value's
    metadata says what it is (its class), and canonicalization renames the
    table's keys, not this field.
    """
    return {"name": "", "class_fqn": class_fqn}


class Signature:
    """The signature and payloads of the top-level graph, filled while :mod:`pt2canon.fx.convert` walks it.

    Attributes
    ----------
    input_specs, output_specs : list of dict
        The ``GraphSignature`` JSON, one spec per graph input and output.
    payloads : dict
        FQN -> :class:`Payload` of every parameter, buffer and tensor constant.
    graph : object
        The converter of the top-level graph (it defines the inputs this adds).
    """

    def __init__(self, root: Any, dialect: str):
        import torch

        self.torch = torch
        self.root = root
        self.dialect = dialect
        self.input_specs: list[dict[str, Any]] = []
        self.output_specs: list[dict[str, Any]] = []
        self.payloads: dict[str, Payload] = {}
        self.graph: Any = None
        self._attrs: dict[str, dict[str, Any]] = {}
        self._buffers: dict[str, bool] | None = None
        self._descs: dict[Any, tuple[str, str | None, str]] = {}  # AOT input desc -> (kind, fqn, value name)
        code = dynamo_frame_code() if dialect == "dynamo" else None
        self._positions = frame_argument_positions(code) if code is not None else None
        self._user_keys: dict[int, tuple[int, int, str] | None] = {}  # input position -> frame order key

    def add_input(self, node: Any, arg: dict[str, Any], kind: InputKind, tensor: Any) -> None:
        name = node.name
        if kind.kind == "user_input" or "as_tensor" not in arg:
            if self._positions is not None:
                self._user_keys[len(self.input_specs)] = user_input_key(
                    node, self._positions, symbol="as_tensor" not in arg
                )
            self.input_specs.append({"user_input": {"arg": arg}})
            kind = USER_INPUT
        elif kind.kind == "parameter":
            self.input_specs.append({"parameter": {"arg": {"name": name}, "parameter_name": kind.fqn}})
        elif kind.kind == "buffer":
            self.input_specs.append({"buffer": {"arg": {"name": name}, "buffer_name": kind.fqn, "persistent": True}})
        else:
            self.input_specs.append({"tensor_constant": {"arg": {"name": name}, "tensor_constant_name": kind.fqn}})
        if kind.fqn is not None and tensor is not None:
            self.payloads.setdefault(
                kind.fqn,
                Payload(tensor, "constant" if kind.kind == "tensor_constant" else "weight", kind.kind == "parameter"),
            )
        desc = node.meta.get("desc")
        if desc is not None:
            with contextlib.suppress(TypeError):
                self._descs[desc] = (kind.kind, kind.fqn, name)

    def order_user_inputs(self, inputs: list[dict[str, Any]]) -> None:
        """List Dynamo user inputs in the frame's argument order (see :mod:`pt2canon.fx.inputs`), in place."""
        keys = self._user_keys
        if not keys or any(k is None for k in keys.values()):
            return
        slots = sorted(keys)
        order = sorted(slots, key=lambda i: keys[i])  # type: ignore[arg-type,return-value]
        moved = [(inputs[i], self.input_specs[i]) for i in order]
        for slot, (arg, spec) in zip(slots, moved):
            inputs[slot], self.input_specs[slot] = arg, spec

    def _buffer_table(self) -> dict[str, bool]:
        if self._buffers is None:
            table: dict[str, bool] = {}
            if self.root is not None:
                for mod_name, mod in self.root.named_modules(remove_duplicate=False):
                    for b in mod._buffers:
                        fqn = f"{mod_name}.{b}" if mod_name else b
                        table[fqn] = b not in mod._non_persistent_buffers_set
            self._buffers = table
        return self._buffers

    def attr_input(self, target: str, obj: Any, where: str) -> dict[str, Any]:
        """The graph input (created on first use) for a tensor or script-object attribute."""
        arg = self._attrs.get(target)
        if arg is not None:
            return arg
        assert self.graph is not None
        name = f"attr:{target}"
        arg = self.graph.define(name, obj, where)
        self.graph.inputs.append(arg)
        torch = self.torch
        if "as_custom_obj" in arg:
            self.input_specs.append({"custom_obj": {"arg": arg["as_custom_obj"], "custom_obj_name": target}})
        elif isinstance(obj, torch.nn.Parameter):
            self.input_specs.append({"parameter": {"arg": {"name": name}, "parameter_name": target}})
            self.payloads.setdefault(target, Payload(obj, "weight", True))
        elif target in self._buffer_table() and not _LIFTED_CONSTANT.match(target.rsplit(".", 1)[-1]):
            persistent = self._buffer_table()[target]
            self.input_specs.append(
                {"buffer": {"arg": {"name": name}, "buffer_name": target, "persistent": persistent}}
            )
            self.payloads.setdefault(target, Payload(obj, "weight"))
        else:
            self.input_specs.append({"tensor_constant": {"arg": {"name": name}, "tensor_constant_name": target}})
            self.payloads.setdefault(target, Payload(obj, "constant"))
        self._attrs[target] = arg
        return arg

    def module_input(self, target: str, module: Any) -> dict[str, Any]:
        """The custom-object graph input standing for submodule ``target`` (created on first use)."""
        arg = self._attrs.get(target)
        if arg is None:
            assert self.graph is not None
            name = f"module:{target}"
            cls = module_class_name(module)
            self.graph.tables["custom_obj_values"][name] = custom_obj_meta(cls)
            arg = {"as_custom_obj": {"name": name, "class_fqn": cls}}
            self.graph.inputs.append(arg)
            self.input_specs.append({"custom_obj": {"arg": arg["as_custom_obj"], "custom_obj_name": target}})
            self._attrs[target] = arg
        return arg

    def output_spec(self, arg: dict[str, Any], desc: Any) -> dict[str, Any]:
        """A user output, or the mutation an AOTAutograd ``InputMutationAOTOutput`` says it is."""
        if desc is not None and type(desc).__name__ == "InputMutationAOTOutput" and "as_tensor" in arg:
            try:
                known = self._descs.get(desc.mutated_input)
            except TypeError:
                known = None
            if known is not None:
                kind, fqn, name = known
                out = {"name": arg["as_tensor"]["name"]}
                if kind == "parameter":
                    return {"parameter_mutation": {"arg": out, "parameter_name": fqn}}
                if kind == "buffer":
                    return {"buffer_mutation": {"arg": out, "buffer_name": fqn}}
                if kind == "user_input":
                    return {"user_input_mutation": {"arg": out, "user_input_name": name}}
        return {"user_output": {"arg": arg}}

    def module_state(self) -> None:
        """Every parameter and buffer of the root module is a weight (``call_module`` reads them)."""
        if self.root is None:
            return
        torch = self.torch
        for fqn, p in self.root.named_parameters(remove_duplicate=False):
            self.payloads.setdefault(fqn, Payload(p, "weight", True))
        for fqn, b in self.root.named_buffers(remove_duplicate=False):
            if isinstance(b, torch.Tensor):
                self.payloads.setdefault(fqn, Payload(b, "weight"))
