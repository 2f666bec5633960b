"""An FX graph as a serialized-``ExportedProgram`` document: :func:`convert_graph_module`.

The document has the shape ``torch.export.save`` writes (schema 8.x, see
``torch/_export/serde/schema.py``), so that canonicalization, hashing,
diffing and the listing work on FX graphs unchanged. Per FX node:

``placeholder``
    a graph input; its signature kind (user input, parameter, buffer,
    tensor constant) from :mod:`pt2canon.fx.inputs`; a Python scalar is a
    ``constant_input``;
``get_attr``
    a tensor attribute is a graph input (parameter, buffer or tensor
    constant by what the module holds, one input per FQN however many
    ``get_attr`` nodes read it; a ``GraphModule`` registers every plain
    tensor attribute as a buffer, except the ``_tensor_constant<N>`` FX
    lifts out of traced code, which are tensor constants); a ``GraphModule`` attribute passed to a
    higher-order op is an ``as_graph`` subgraph; a script object a custom
    object input; a Python constant is inlined where it is used;
``call_function`` / ``call_method`` / ``call_module``
    a node whose target is named by :mod:`pt2canon.fx.names`; a
    ``call_module`` reads its submodule as a custom-object input (class
    and FQN, placed by first use like a parameter) and carries the
    submodule's ``__constants__`` and ``training`` flag as keyword
    arguments; ``operator.getitem`` of a node returning a tuple or list is
    folded into that node's outputs, as ``torch.export`` does;
``output``
    the graph outputs (pytree leaves), all user outputs, except
    AOTAutograd's ``InputMutationAOTOutput`` outputs, which become
    parameter, buffer or user-input mutations.

The document's ``verifiers`` is ``[FX_DIALECT]``. Values take their metadata from ``node.meta["val"]`` (``make_fx``,
AOTAutograd) or ``node.meta["example_value"]`` (Dynamo): tensors get a
``TensorMeta``, symbolic ints, floats and bools their expression;
``range_constraints`` come from the ShapeEnv. A graph without metadata
(``torch.fx.symbolic_trace``) names every value as a tensor without a
``tensor_values`` entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pt2canon.errors import InputError
from pt2canon.fx.inputs import USER_INPUT, input_kind
from pt2canon.fx.names import KEYWORD, POSITIONAL, bind_arguments, callable_name, module_class_name
from pt2canon.fx.signature import Payload, Signature, custom_obj_meta
from pt2canon.fx.values import ValueWriter

__all__ = ["FX_DIALECT", "Converted", "Payload", "convert_graph_module"]

#: The ``verifiers`` entry of every converted document: its dialect and the version of these
#: conventions. It is part of the hash's structure layer, so FX documents never hash like
#: exported programs, and a change of convention changes their hashes.
FX_DIALECT = "pt2canon.fx/1"

_MISSING = object()


@dataclass
class Converted:
    """The result of :func:`convert_graph_module`.

    Attributes
    ----------
    program : dict
        The serialized-``ExportedProgram`` JSON document.
    payloads : dict
        FQN -> :class:`Payload` for every parameter, buffer and tensor constant.
    dialect : str
        ``"dynamo"`` (``example_value`` metadata), ``"traced"`` (``val``
        metadata: ``make_fx``, AOTAutograd) or ``"untyped"`` (none).
    """

    program: dict[str, Any]
    payloads: dict[str, Payload] = field(default_factory=dict)
    dialect: str = "untyped"


def _val(node: Any) -> Any:
    meta = node.meta
    v = meta.get("val", _MISSING)
    return meta.get("example_value", _MISSING) if v is _MISSING else v


def _resolve(root: Any, target: str, where: str) -> Any:
    if root is None:
        raise InputError(
            f"the graph has no owning module to read attribute {target!r} from; pass the GraphModule", where=where
        )
    obj = root
    for part in target.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InputError(f"the module has no attribute {target!r}", where=where) from None
    return obj


class _Graph:
    """Converts one FX graph (the top-level graph, or a subgraph of a higher-order op)."""

    def __init__(self, graph: Any, root: Any, values: ValueWriter, owner: Signature | None, where: str):
        import torch

        self.torch = torch
        self.graph = graph
        self.root = root
        self.values = values
        self.owner = owner  # the program, for the top-level graph only
        self.where = where
        self.inputs: list[dict[str, Any]] = []
        self.nodes: list[dict[str, Any]] = []
        self.outputs: list[dict[str, Any]] = []
        self.tables: dict[str, dict[str, Any]] = {
            "tensor_values": {},
            "sym_int_values": {},
            "sym_float_values": {},
            "sym_bool_values": {},
            "custom_obj_values": {},
        }
        self.refs: dict[Any, dict[str, Any]] = {}
        self.elements: dict[Any, list[dict[str, Any]]] = {}

    # -- values ------------------------------------------------------------------
    def ref(self, node: Any) -> dict[str, Any]:
        r = self.refs.get(node)
        if r is not None:
            return r
        elements = self.elements.get(node)
        if elements is not None:
            return self.values.sequence(elements)
        raise InputError(f"node {node.name!r} is used but defines no value", where=self.where)

    def define(self, name: str, val: Any, where: str) -> dict[str, Any]:
        """The ``Argument`` that defines value ``name`` with example value ``val``; fills the tables."""
        torch = self.torch
        if val is _MISSING or val is None:
            return {"as_tensor": {"name": name}}
        if isinstance(val, torch.Tensor):
            try:
                self.tables["tensor_values"][name] = self.values.tensor_meta(val)
            except Exception as exc:  # sparse or nested tensors have no strides
                raise InputError(
                    f"cannot describe the tensor metadata ({type(exc).__name__}: {exc})", where=where
                ) from None
            return {"as_tensor": {"name": name}}
        for cls, tag, literal, table in (
            ((torch.SymBool, bool), "as_sym_bool", "as_bool", "sym_bool_values"),
            ((torch.SymInt, int), "as_sym_int", "as_int", "sym_int_values"),
            ((torch.SymFloat, float), "as_sym_float", "as_float", "sym_float_values"),
        ):
            if isinstance(val, cls):
                self.tables[table][name] = self.values.sym(val, literal)
                return {tag: {"as_name": name}}
        script = getattr(torch, "ScriptObject", ())
        if isinstance(val, script) or type(val).__name__ == "FakeScriptObject":
            cls_fqn = _script_class(val)
            self.tables["custom_obj_values"][name] = custom_obj_meta(cls_fqn)
            return {"as_custom_obj": {"name": name, "class_fqn": cls_fqn}}
        raise InputError(
            f"value is a {type(val).__module__}.{type(val).__qualname__}, which a graph document cannot describe",
            where=where,
        )

    def _element_names(self, node: Any) -> dict[int, str]:
        names: dict[int, str] = {}
        for user in node.users:
            if _is_getitem(user) and user.args[0] is node and type(user.args[1]) is int:
                names.setdefault(user.args[1], user.name)
        return names

    def _outputs(self, node: Any, val: Any, where: str) -> list[dict[str, Any]]:
        """The node's ``outputs``; a tuple or list value is split into elements getitem users fold into."""
        torch = self.torch
        if val is _MISSING or val is None:
            if not node.users:
                return []
            val = _MISSING  # used, though its value is unknown (no metadata): a tensor without a meta entry
        if not isinstance(val, (list, tuple)):
            arg = self.define(node.name, val, where)
            self.refs[node] = arg
            return [arg]
        names = self._element_names(node)
        elements: list[dict[str, Any]] = []
        for i, v in enumerate(val):
            name = names.get(i, f"{node.name}.{i}")
            if v is None:
                elements.append({"as_none": True})
            elif isinstance(v, (list, tuple)):
                if not all(isinstance(t, torch.Tensor) for t in v):
                    raise InputError(
                        f"output {i} is a nested {type(v).__name__} of other values than tensors", where=where
                    )
                elements.append(
                    {"as_tensors": [self.define(f"{name}.{j}", t, where)["as_tensor"] for j, t in enumerate(v)]}
                )
            elif type(v) in (int, float, bool):  # a static size in a torch.Size
                elements.append(self.values.argument(v, self.ref, where))
            else:
                elements.append(self.define(name, v, where))
        self.elements[node] = elements
        if isinstance(val, list) and elements and all("as_tensor" in e for e in elements):
            return [{"as_tensors": [e["as_tensor"] for e in elements]}]  # "-> Tensor[]", as torch.export writes it
        return elements

    # -- nodes -------------------------------------------------------------------
    def convert(self, example_inputs: Sequence[Any] | None = None) -> dict[str, Any]:
        placeholders = 0
        for node in self.graph.nodes:
            where = f"{self.where}: node {node.name!r}"
            op = node.op
            if op == "placeholder":
                real = None
                if example_inputs is not None and placeholders < len(example_inputs):
                    real = example_inputs[placeholders]
                self._placeholder(node, real, where)
                placeholders += 1
            elif op == "get_attr":
                self._get_attr(node, where)
            elif op == "output":
                self._output(node, where)
            elif op in ("call_function", "call_method", "call_module"):
                self._call(node, where)
            else:
                raise InputError(f"unknown FX op {op!r}", where=where)
        graph: dict[str, Any] = {"inputs": self.inputs, "outputs": self.outputs, "nodes": self.nodes}
        graph.update({k: v for k, v in self.tables.items() if v})
        return graph

    def _placeholder(self, node: Any, real: Any, where: str) -> None:
        val = _val(node)
        torch = self.torch
        if type(val) in (int, float, bool, str) and self.owner is not None:
            arg = self.values.argument(val, self.ref, where)
            self.inputs.append(arg)
            self.refs[node] = arg
            self.owner.input_specs.append({"constant_input": {"name": node.name, "value": arg}})
            return
        arg = self.define(node.name, val, where)
        self.inputs.append(arg)
        self.refs[node] = arg
        if self.owner is None:
            return
        kind = USER_INPUT
        if isinstance(val, torch.Tensor):
            kind = input_kind(node, val, dynamo=self.owner.dialect == "dynamo")
        tensor = real if isinstance(real, torch.Tensor) else val
        self.owner.add_input(node, arg, kind, tensor)

    def _get_attr(self, node: Any, where: str) -> None:
        torch = self.torch
        target = str(node.target)
        obj = _resolve(self.root, target, where)
        if isinstance(obj, torch.fx.GraphModule):
            sub = _Graph(obj.graph, obj, self.values, None, f"{where} (subgraph {target!r})")
            self.refs[node] = {"as_graph": {"name": target, "graph": sub.convert()}}
            return
        if isinstance(obj, torch.nn.Module):
            raise InputError(f"attribute {target!r} is a {module_class_name(obj)} module, not a graph", where=where)
        if isinstance(obj, torch.Tensor) or type(obj).__name__ in ("ScriptObject", "FakeScriptObject"):
            if self.owner is None:
                raise InputError(
                    f"a subgraph reads attribute {target!r}; only the top-level graph may hold tensors "
                    "(lift it to an input of the higher-order op)",
                    where=where,
                )
            self.refs[node] = self.owner.attr_input(target, obj, where)
            return
        self.refs[node] = self.values.argument(obj, self.ref, where)

    def _call(self, node: Any, where: str) -> None:
        op = node.op
        target = node.target
        if _is_getitem(node) and type(node.args[1]) is int and node.args[0] in self.elements:
            elements = self.elements[node.args[0]]
            try:
                element = elements[node.args[1]]
            except IndexError:
                raise InputError(f"getitem index {node.args[1]} is out of range", where=where) from None
            if "as_tensors" in element:  # a list inside the tuple: its elements for the next getitem
                self.elements[node] = [{"as_tensor": t} for t in element["as_tensors"]]
            else:
                self.refs[node] = element
            return
        pre: list[tuple[str, Any, int]] = []
        post: list[tuple[str, Any, int]] = []
        if op == "call_function":
            name = callable_name(target, where=where)
            named = bind_arguments(target, node.args, node.kwargs)
        elif op == "call_method":
            name = f"call_method.{target}"
            named = bind_arguments(None, node.args, node.kwargs, method=True)
        else:
            module = _resolve(self.root, str(target), where)
            if self.owner is None:
                raise InputError(
                    f"a subgraph calls submodule {target!r}; pt2canon reads module calls in the top-level graph only",
                    where=where,
                )
            name = module_class_name(module)
            pre = [("self", self.owner.module_input(str(target), module), POSITIONAL)]
            named = bind_arguments(module.forward, node.args, node.kwargs)
            given = {n for n, _, _ in named}
            for key in sorted({*getattr(type(module), "__constants__", ()), "training"} - given):
                if hasattr(module, key):
                    post.append((key, getattr(module, key), KEYWORD))
        inputs = []
        for key, value, kind in pre:
            inputs.append({"name": key, "arg": value, "kind": kind})
        for key, value, kind in named:
            arg = self.values.argument(value, self.ref, f"{where} ({name}) argument {key!r}")
            inputs.append({"name": key, "arg": arg, "kind": kind})
        for key, value, kind in post:
            try:
                arg = self.values.argument(value, self.ref, where)
            except InputError:
                continue  # a setting with no stable form (a callable object): left out, documented
            inputs.append({"name": key, "arg": arg, "kind": kind})
        doc: dict[str, Any] = {
            "target": name,
            "inputs": inputs,
            "outputs": self._outputs(node, _val(node), where),
            "name": node.name,
        }
        trace = node.meta.get("stack_trace")
        doc["metadata"] = {"stack_trace": trace} if isinstance(trace, str) else {}
        self.nodes.append(doc)

    def _output(self, node: Any, where: str) -> None:
        from torch.utils._pytree import tree_leaves

        leaves = tree_leaves(node.args[0] if node.args else None)
        outs: list[dict[str, Any]] = []
        for leaf in leaves:
            if isinstance(leaf, self.torch.fx.Node) and leaf in self.elements and leaf not in self.refs:
                outs.extend(self.elements[leaf])
            else:
                outs.append(self.values.argument(leaf, self.ref, f"{where} output"))
        self.outputs = outs
        if self.owner is not None:
            descs = node.meta.get("desc")
            self.owner.output_specs = [
                self.owner.output_spec(a, descs[i] if isinstance(descs, list) and len(descs) == len(outs) else None)
                for i, a in enumerate(outs)
            ]


def _is_getitem(node: Any) -> bool:
    import operator

    return (
        node.op == "call_function"
        and node.target is operator.getitem
        and len(node.args) == 2
        and type(node.args[0]).__name__ == "Node"
    )


def _script_class(obj: Any) -> str:
    try:
        return str(obj._type().qualified_name())  # torch.ScriptObject
    except Exception:
        pass
    name = getattr(obj, "script_class_name", None)  # FakeScriptObject
    return str(name) if name else f"{type(obj).__module__}.{type(obj).__qualname__}"


def _dialect(graph: Any) -> str:
    for node in graph.nodes:
        meta = node.meta
        if "example_value" in meta:
            return "dynamo"
        if "val" in meta:
            return "traced"
    return "untyped"


def convert_graph_module(
    gm: Any, *, example_inputs: Sequence[Any] | None = None, label: str = "<GraphModule>"
) -> Converted:
    """Convert a ``torch.fx.GraphModule`` (or ``fx.Graph``) into a program document.

    Parameters
    ----------
    gm : torch.fx.GraphModule or torch.fx.Graph
        The graph; a bare ``Graph`` resolves ``get_attr`` and
        ``call_module`` through its ``owning_module``.
    example_inputs : sequence, optional
        The inputs the graph was captured with, one per placeholder (what a
        ``torch.compile`` backend receives): real tensors bound to
        parameter and buffer placeholders are hashed at level ``full``.
    label : str
        What error messages call the graph.

    Raises
    ------
    InputError
        Naming the node, for what a document cannot represent.
    """
    import torch

    root: Any
    if isinstance(gm, torch.fx.GraphModule):
        graph, root = gm.graph, gm
    elif isinstance(gm, torch.fx.Graph):
        graph, root = gm, gm.owning_module
    else:
        raise InputError(f"expected a torch.fx.GraphModule or torch.fx.Graph, got {type(gm).__name__}", file=label)
    values = ValueWriter()
    program = Signature(root, _dialect(graph))
    top = _Graph(graph, root, values, program, "graph")
    program.graph = top
    try:
        graph_doc = top.convert(example_inputs)
    except InputError as exc:
        raise exc.located(file=label) from None
    program.module_state()
    program.order_user_inputs(graph_doc["inputs"])
    from torch._export.serde.schema import SCHEMA_VERSION

    doc = {
        "graph_module": {
            "graph": graph_doc,
            "signature": {"input_specs": program.input_specs, "output_specs": program.output_specs},
            "module_call_graph": [],
            "metadata": {},
        },
        "opset_version": {},
        "range_constraints": values.range_constraints(),
        "schema_version": {"major": SCHEMA_VERSION[0], "minor": SCHEMA_VERSION[1]},
        "torch_version": torch.__version__,
        "verifiers": [FX_DIALECT],
    }
    return Converted(doc, program.payloads, program.dialect)
