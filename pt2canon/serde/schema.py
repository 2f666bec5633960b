"""Shape checks for the serialized ``ExportedProgram`` JSON (torch schema 8.x).

torch's ``torch/_export/serde/schema.py`` defines the schema; its serializer
writes a union as a one-key dict (``{"as_tensor": {"name": "x"}}``), enums
as ints and non-finite floats as the strings ``"Infinity"``, ``"-Infinity"``
and ``"NaN"``. These checks walk a parsed document once, before anything
else touches it, so that later stages can index it without guarding every
access. Unknown keys are tolerated (forward compatibility, as torch's own
reader does) and reported in one :class:`UnknownFieldsWarning`; an unknown
union tag or a newer schema major version is an error.

The union tags are listed here once; :mod:`pt2canon.serde.graph` uses
:data:`REF_TAGS` to tell value references from constant arguments.
"""

from __future__ import annotations

import warnings
from typing import Any

from pt2canon.errors import SchemaError, UnsupportedVersionError

__all__ = [
    "ARGUMENT_TAGS",
    "INPUT_SPEC_TAGS",
    "OUTPUT_SPEC_TAGS",
    "SUPPORTED_SCHEMA_MAJOR",
    "UnknownFieldsWarning",
    "check_graph",
    "check_payload_config",
    "check_program",
]

#: The schema major version pt2canon reads (torch 2.13 writes 8.20).
SUPPORTED_SCHEMA_MAJOR = 8

#: ``Argument`` union tags (schema.py ``class Argument``).
ARGUMENT_TAGS = frozenset(
    {
        "as_none", "as_tensor", "as_tensors", "as_int", "as_ints", "as_float", "as_floats",
        "as_string", "as_strings", "as_sym_int", "as_sym_ints", "as_scalar_type",
        "as_memory_format", "as_layout", "as_device", "as_bool", "as_bools", "as_sym_bool",
        "as_sym_bools", "as_graph", "as_optional_tensors", "as_custom_obj", "as_operator",
        "as_sym_float", "as_sym_floats", "as_optional_tensor", "as_complex",
        "as_nested_tensors", "as_int_lists", "as_string_to_argument", "as_float_lists",
        "as_token",
    }
)  # fmt: skip

#: ``InputSpec`` union tags, in torch's canonical rank order.
INPUT_SPEC_TAGS = ("token", "parameter", "buffer", "tensor_constant", "custom_obj", "user_input", "constant_input")
#: ``OutputSpec`` union tags, in torch's canonical rank order.
OUTPUT_SPEC_TAGS = (
    "token", "parameter_mutation", "buffer_mutation", "user_input_mutation", "user_output",
    "loss_output", "gradient_to_parameter", "gradient_to_user_input",
)  # fmt: skip

_NODE_KEYS = frozenset({"target", "inputs", "outputs", "metadata", "is_hop_single_tensor_return", "name"})
_GRAPH_KEYS = frozenset(
    {
        "inputs", "outputs", "nodes", "tensor_values", "sym_int_values", "sym_bool_values",
        "is_single_tensor_return", "custom_obj_values", "sym_float_values",
    }
)  # fmt: skip
_TENSOR_META_KEYS = frozenset({"dtype", "sizes", "requires_grad", "device", "strides", "storage_offset", "layout"})
_PROGRAM_KEYS = frozenset(
    {
        "graph_module", "opset_version", "range_constraints", "schema_version", "verifiers", "torch_version",
        "guards_code",
    }
)  # fmt: skip
_GM_KEYS = frozenset({"graph", "signature", "module_call_graph", "metadata", "treespec_namedtuple_fields"})
_ARG_KEYS = frozenset({"name", "arg", "kind"})
#: The FQN field of each signature spec that names one (``InputToParameterSpec.parameter_name``, ...).
_SPEC_FQN_KEYS = {
    "parameter": "parameter_name", "buffer": "buffer_name", "tensor_constant": "tensor_constant_name",
    "custom_obj": "custom_obj_name", "buffer_mutation": "buffer_name", "parameter_mutation": "parameter_name",
    "gradient_to_parameter": "parameter_name", "gradient_to_user_input": "user_input_name",
    "user_input_mutation": "user_input_name",
}  # fmt: skip


class UnknownFieldsWarning(UserWarning):
    """The document has keys this schema version does not know; they were ignored."""


class _Checker:
    def __init__(self) -> None:
        self.unknown: list[str] = []

    def fail(self, path: str, msg: str) -> SchemaError:
        return SchemaError(msg, where=path)

    def dict_(self, obj: Any, path: str) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise self.fail(path, f"expected an object, got {_kind(obj)}")
        return obj

    def list_(self, obj: Any, path: str) -> list[Any]:
        if not isinstance(obj, list):
            raise self.fail(path, f"expected an array, got {_kind(obj)}")
        return obj

    def req(self, obj: dict[str, Any], key: str, path: str) -> Any:
        try:
            return obj[key]
        except KeyError:
            raise self.fail(path, f"required key {key!r} is missing") from None

    def str_(self, obj: Any, path: str) -> str:
        if not isinstance(obj, str):
            raise self.fail(path, f"expected a string, got {_kind(obj)}")
        return obj

    def int_(self, obj: Any, path: str) -> int:
        if not isinstance(obj, int) or isinstance(obj, bool):
            raise self.fail(path, f"expected an integer, got {_kind(obj)}")
        return obj

    def keys(self, obj: dict[str, Any], known: frozenset[str], path: str) -> None:
        if len(obj) > len(known) or not known.issuperset(obj):
            extra = sorted(set(obj) - known)
            if extra:
                self.unknown.append(f"{path}: {', '.join(extra)}")

    def union(self, obj: Any, tags: frozenset[str] | tuple[str, ...], path: str, what: str) -> tuple[str, Any]:
        if not isinstance(obj, dict) or len(obj) != 1:
            raise self.fail(path, f"expected a one-key {what} union object, got {_kind(obj)}")
        ((tag, value),) = obj.items()
        if tag not in tags:
            raise self.fail(path, f"unknown {what} tag {tag!r}; this pt2canon reads schema {SUPPORTED_SCHEMA_MAJOR}.x")
        return tag, value

    # -- values ---------------------------------------------------------
    def sym(self, obj: Any, path: str, literal: str) -> None:
        tag, value = self.union(obj, frozenset({"as_expr", literal}), path, "symbolic value")
        if tag == "as_expr":
            value = self.dict_(value, f"{path}.as_expr")
            self.str_(self.req(value, "expr_str", f"{path}.as_expr"), f"{path}.as_expr.expr_str")

    def tensor_meta(self, obj: Any, path: str) -> None:
        if _fast_tensor_meta(obj):
            return
        meta = self.dict_(obj, path)
        self.int_(self.req(meta, "dtype", path), f"{path}.dtype")
        for key in ("sizes", "strides"):
            for i, s in enumerate(self.list_(self.req(meta, key, path), f"{path}.{key}")):
                if type(s) is dict and len(s) == 1 and type(s.get("as_int")) is int:
                    continue  # fast path for the common static dimension
                self.sym(s, f"{path}.{key}[{i}]", "as_int")
        if "storage_offset" in meta:
            self.sym(meta["storage_offset"], f"{path}.storage_offset", "as_int")
        self.dict_(self.req(meta, "device", path), f"{path}.device")
        self.keys(meta, _TENSOR_META_KEYS, path)

    # -- arguments ------------------------------------------------------
    def argument(self, obj: Any, path: str) -> None:
        tag, v = self.union(obj, ARGUMENT_TAGS, path, "Argument")
        p = f"{path}.{tag}"
        if tag in ("as_tensor", "as_token"):
            self.str_(self.req(self.dict_(v, p), "name", p), f"{p}.name")
        elif tag == "as_custom_obj":
            d = self.dict_(v, p)
            self.str_(self.req(d, "name", p), f"{p}.name")
        elif tag == "as_tensors":
            for i, t in enumerate(self.list_(v, p)):
                self.str_(self.req(self.dict_(t, f"{p}[{i}]"), "name", f"{p}[{i}]"), f"{p}[{i}].name")
        elif tag == "as_nested_tensors":
            for i, row in enumerate(self.list_(v, p)):
                for j, t in enumerate(self.list_(row, f"{p}[{i}]")):
                    q = f"{p}[{i}][{j}]"
                    self.str_(self.req(self.dict_(t, q), "name", q), f"{q}.name")
        elif tag == "as_optional_tensor":
            self.optional_tensor(v, p)
        elif tag == "as_optional_tensors":
            for i, t in enumerate(self.list_(v, p)):
                self.optional_tensor(t, f"{p}[{i}]")
        elif tag in ("as_sym_int", "as_sym_float", "as_sym_bool"):
            self.sym_arg(v, p, tag)
        elif tag in ("as_sym_ints", "as_sym_floats", "as_sym_bools"):
            for i, s in enumerate(self.list_(v, p)):
                self.sym_arg(s, f"{p}[{i}]", tag[:-1])
        elif tag == "as_graph":
            d = self.dict_(v, p)
            self.str_(self.req(d, "name", p), f"{p}.name")
            self.graph(self.req(d, "graph", p), f"{p}.graph")
        elif tag == "as_string_to_argument":
            for k, a in self.dict_(v, p).items():
                self.argument(a, f"{p}[{k!r}]")
        elif tag in _LIST_TAGS:
            self.list_(v, p)
        elif tag == "as_string":
            self.str_(v, p)  # assert messages are re-written as text (symbol renaming)

    def optional_tensor(self, obj: Any, path: str) -> None:
        tag, v = self.union(obj, frozenset({"as_tensor", "as_none"}), path, "OptionalTensorArgument")
        if tag == "as_tensor":
            self.str_(
                self.req(self.dict_(v, f"{path}.as_tensor"), "name", f"{path}.as_tensor"), f"{path}.as_tensor.name"
            )

    def sym_arg(self, obj: Any, path: str, tag: str) -> None:
        literal = {"as_sym_int": "as_int", "as_sym_float": "as_float", "as_sym_bool": "as_bool"}[tag]
        t, v = self.union(obj, frozenset({"as_name", literal}), path, tag)
        if t == "as_name":
            self.str_(v, f"{path}.as_name")

    # -- graph ------------------------------------------------------------
    def graph(self, obj: Any, path: str) -> None:
        g = self.dict_(obj, path)
        for key in ("inputs", "outputs"):
            for i, a in enumerate(self.list_(self.req(g, key, path), f"{path}.{key}")):
                self.argument(a, f"{path}.{key}[{i}]")
        # The fast checks first: a JSON path is built only for what they are unsure of.
        for i, node in enumerate(self.list_(self.req(g, "nodes", path), f"{path}.nodes")):
            if not _fast_node(node):
                self.node(node, f"{path}.nodes[{i}]")
        for name, meta in self.dict_(g.get("tensor_values", {}), f"{path}.tensor_values").items():
            if not _fast_tensor_meta(meta):
                self.tensor_meta(meta, f"{path}.tensor_values[{name!r}]")
        for key, literal in (
            ("sym_int_values", "as_int"),
            ("sym_float_values", "as_float"),
            ("sym_bool_values", "as_bool"),
        ):
            for name, s in self.dict_(g.get(key, {}), f"{path}.{key}").items():
                self.sym(s, f"{path}.{key}[{name!r}]", literal)
        for name, c in self.dict_(g.get("custom_obj_values", {}), f"{path}.custom_obj_values").items():
            self.dict_(c, f"{path}.custom_obj_values[{name!r}]")
        self.keys(g, _GRAPH_KEYS, path)

    def node(self, obj: Any, path: str) -> None:
        if _fast_node(obj):
            return
        n = self.dict_(obj, path)
        self.str_(self.req(n, "target", path), f"{path}.target")
        for i, inp in enumerate(self.list_(self.req(n, "inputs", path), f"{path}.inputs")):
            q = f"{path}.inputs[{i}]"
            d = self.dict_(inp, q)
            self.str_(self.req(d, "name", q), f"{q}.name")
            self.argument(self.req(d, "arg", q), f"{q}.arg")
            self.keys(d, _ARG_KEYS, q)
        for i, out in enumerate(self.list_(self.req(n, "outputs", path), f"{path}.outputs")):
            if not _fast_argument(out):
                self.argument(out, f"{path}.outputs[{i}]")
        if "metadata" in n:
            self.dict_(n["metadata"], f"{path}.metadata")
        name = n.get("name")
        if name is not None:
            self.str_(name, f"{path}.name")
        self.keys(n, _NODE_KEYS, path)

    # -- program ----------------------------------------------------------
    def signature(self, obj: Any, path: str) -> None:
        sig = self.dict_(obj, path)
        for key, tags in (("input_specs", INPUT_SPEC_TAGS), ("output_specs", OUTPUT_SPEC_TAGS)):
            for i, spec in enumerate(self.list_(self.req(sig, key, path), f"{path}.{key}")):
                q = f"{path}.{key}[{i}]"
                tag, v = self.union(spec, tags, q, "spec")
                d = self.dict_(v, f"{q}.{tag}")
                if tag == "constant_input":
                    self.str_(self.req(d, "name", f"{q}.{tag}"), f"{q}.{tag}.name")
                    continue
                arg = self.dict_(self.req(d, "arg", f"{q}.{tag}"), f"{q}.{tag}.arg")
                fqn_key = _SPEC_FQN_KEYS.get(tag)
                if fqn_key is not None and fqn_key in d:  # FQNs are sort keys: they must be strings
                    self.str_(d[fqn_key], f"{q}.{tag}.{fqn_key}")
                if tag in ("user_input", "user_output"):
                    self.argument(arg, f"{q}.{tag}.arg")
                else:
                    self.str_(self.req(arg, "name", f"{q}.{tag}.arg"), f"{q}.{tag}.arg.name")

    def program(self, obj: Any) -> None:
        doc = self.dict_(obj, "$")
        sv = doc.get("schema_version")
        if sv is not None:
            sv = self.dict_(sv, "schema_version")
            major = self.int_(self.req(sv, "major", "schema_version"), "schema_version.major")
            if major > SUPPORTED_SCHEMA_MAJOR:
                raise UnsupportedVersionError(
                    f"schema_version.major={major} is newer than the {SUPPORTED_SCHEMA_MAJOR}.x this pt2canon "
                    "reads; upgrade pt2canon",
                    where="schema_version",
                )
        gm = self.dict_(self.req(doc, "graph_module", "$"), "graph_module")
        self.graph(self.req(gm, "graph", "graph_module"), "graph_module.graph")
        self.signature(self.req(gm, "signature", "graph_module"), "graph_module.signature")
        for i, entry in enumerate(self.list_(gm.get("module_call_graph", []), "graph_module.module_call_graph")):
            q = f"graph_module.module_call_graph[{i}]"
            e = self.dict_(entry, q)
            self.str_(self.req(e, "fqn", q), f"{q}.fqn")
            s = e.get("signature")
            if s is not None:
                s = self.dict_(s, f"{q}.signature")
                for key in ("inputs", "outputs"):
                    for j, a in enumerate(self.list_(s.get(key, []), f"{q}.signature.{key}")):
                        self.argument(a, f"{q}.signature.{key}[{j}]")
        self.dict_(gm.get("metadata", {}), "graph_module.metadata")
        for name, rc in self.dict_(doc.get("range_constraints", {}), "range_constraints").items():
            r = self.dict_(rc, f"range_constraints[{name!r}]")
            for key in ("min_val", "max_val"):
                v = r.get(key)
                if v is not None and not isinstance(v, (int, float, str)):
                    raise self.fail(
                        f"range_constraints[{name!r}].{key}", f"expected an integer or null, got {_kind(v)}"
                    )
        self.dict_(doc.get("opset_version", {}), "opset_version")
        for key in ("verifiers", "guards_code"):  # lists of strings, sorted when canonicalized
            for i, item in enumerate(self.list_(doc.get(key, []), key)):
                self.str_(item, f"{key}[{i}]")
        self.keys(doc, _PROGRAM_KEYS, "$")
        self.keys(gm, _GM_KEYS, "graph_module")


# Argument tags whose value _Checker.argument does not look into.
_OPAQUE_TAGS = frozenset(
    {
        "as_none",
        "as_int",
        "as_float",
        "as_bool",
        "as_scalar_type",
        "as_memory_format",
        "as_layout",
        "as_device",
        "as_operator",
        "as_complex",
    }
)


# Argument tags whose value _Checker.argument only checks to be a list.
_LIST_TAGS = frozenset({"as_ints", "as_floats", "as_strings", "as_bools", "as_int_lists", "as_float_lists"})


def _dims(seq: Any) -> bool:
    """True for a list of ``SymInt``: ``{"as_int": int}`` or ``{"as_expr": {"expr_str": str, ...}}``."""
    if type(seq) is not list:
        return False
    for s in seq:
        if type(s) is not dict or len(s) != 1:
            return False
        if type(s.get("as_int")) is not int:
            e = s.get("as_expr")  # a symbolic dimension
            if type(e) is not dict or type(e.get("expr_str")) is not str:
                return False
    return True


def _fast_tensor_meta(meta: Any) -> bool:
    """True for a ``TensorMeta`` of the common shape with exactly the known keys (what the full check accepts)."""
    if type(meta) is not dict or meta.keys() != _TENSOR_META_KEYS:
        return False
    return (
        type(meta["dtype"]) is int
        and type(meta["device"]) is dict
        and _dims(meta["sizes"])
        and _dims(meta["strides"])
        and _dims([meta["storage_offset"]])
    )


def _fast_node(n: Any) -> bool:
    """True when ``n`` is a node of the common shape that :meth:`_Checker.node` accepts without a warning.

    False means "not sure": the full check then runs and names the JSON path.
    """
    if type(n) is not dict or type(n.get("target")) is not str or not n.keys() <= _NODE_KEYS:
        return False
    ins, outs = n.get("inputs"), n.get("outputs")
    if type(ins) is not list or type(outs) is not list:
        return False
    for inp in ins:
        if (
            type(inp) is not dict
            or type(inp.get("name")) is not str
            or not inp.keys() <= _ARG_KEYS
            or not _fast_argument(inp.get("arg"))
        ):
            return False
    for o in outs:
        if not _fast_argument(o):
            return False
    md, name = n.get("metadata", _NO_METADATA), n.get("name")
    return type(md) is dict and (name is None or type(name) is str)


_NO_METADATA: dict[str, Any] = {}


def _fast_argument(arg: Any) -> bool:
    """True when ``arg`` is one of the common shapes that :meth:`_Checker.argument` accepts.

    False means "not sure": the full check then runs and names the JSON path.
    """
    if type(arg) is not dict or len(arg) != 1:
        return False
    t = arg.get("as_tensor")
    if t is not None:
        return type(t) is dict and type(t.get("name")) is str
    ((tag, value),) = arg.items()
    if tag in _OPAQUE_TAGS:
        return True
    if tag in _LIST_TAGS:
        return type(value) is list
    if tag == "as_sym_ints":  # sizes of a view with symbolic dimensions
        return type(value) is list and all(_fast_sym_int(s) for s in value)
    if tag == "as_sym_int":
        return _fast_sym_int(value)
    if tag == "as_string":
        return type(value) is str
    return False


def _fast_sym_int(s: Any) -> bool:
    return type(s) is dict and len(s) == 1 and (type(s.get("as_int")) is int or type(s.get("as_name")) is str)


def _kind(obj: Any) -> str:
    if obj is None:
        return "null"
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }.get(type(obj), type(obj).__name__)


def _warn(checker: _Checker) -> None:
    if checker.unknown:
        shown = "; ".join(checker.unknown[:5])
        more = f" (and {len(checker.unknown) - 5} more places)" if len(checker.unknown) > 5 else ""
        warnings.warn(
            f"unknown fields ignored (written by a newer torch?): {shown}{more}", UnknownFieldsWarning, stacklevel=4
        )


def check_program(doc: Any) -> None:
    """Check that ``doc`` has the shape of a serialized ``ExportedProgram``.

    Raises
    ------
    SchemaError
        Naming the JSON path of the first problem.
    UnsupportedVersionError
        If ``schema_version.major`` is newer than :data:`SUPPORTED_SCHEMA_MAJOR`.

    Examples
    --------
    >>> check_program({"graph_module": {"graph": {"inputs": [], "outputs": [], "nodes": 3}}})
    Traceback (most recent call last):
    ...
    pt2canon.errors.SchemaError: graph_module.graph.nodes: expected an array, got an integer
    """
    c = _Checker()
    try:
        c.program(doc)
    except RecursionError:
        raise SchemaError("document is nested too deeply") from None
    _warn(c)


def check_graph(graph: Any, path: str = "graph") -> None:
    """Check one serialized ``Graph`` (nodes, arguments, value tables)."""
    c = _Checker()
    c.graph(graph, path)
    _warn(c)


def check_payload_config(doc: Any) -> None:
    """Check a ``*_weights_config.json`` / ``*_constants_config.json`` document."""
    c = _Checker()
    cfg = c.dict_(c.req(c.dict_(doc, "$"), "config", "$"), "config")
    for fqn, meta in cfg.items():
        p = f"config[{fqn!r}]"
        m = c.dict_(meta, p)
        c.str_(c.req(m, "path_name", p), f"{p}.path_name")
        tm = m.get("tensor_meta")
        if tm is not None:
            c.tensor_meta(tm, f"{p}.tensor_meta")
