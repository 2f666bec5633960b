"""Shape checks for the serialized ``ExportedProgram`` JSON (torch schema 8.x).

torch's ``torch/_export/serde/schema.py`` defines the schema; its serializer
writes a union as a one-key dict (``{"as_tensor": {"name": "x"}}``), enums
as ints and non-finite floats as the strings ``"Infinity"``, ``"-Infinity"``
and ``"NaN"``. These checks walk a parsed document once, before anything
else touches it, so that later stages can index it without guarding every
access. Unknown keys are tolerated (forward compatibility, as torch's own
reader does) and reported in one :class:`UnknownFieldsWarning`; an unknown
union tag or a newer schema major version is an error.

The union tags come from :mod:`pt2canon.serde.tags` (arguments) and
:mod:`pt2canon.serde.spec` (signature specs), which every stage reads.
"""

from __future__ import annotations

import warnings
from typing import Any

from pt2canon.errors import GraphError, SchemaError, UnsupportedVersionError
from pt2canon.serde.layout import DEFAULT_LIMITS, Limits
from pt2canon.serde.plain import (
    ARGUMENT_KEYS,
    ENABLED,
    NODE_KEYS,
    PLAIN_DEPTH,
    PLAIN_NODE_VALUES,
    PLAIN_RANK,
    TENSOR_META_KEYS,
    compiled,
    plain_argument,
    plain_call_entry,
    plain_node,
    plain_spec,
    plain_tensor_meta,
)
from pt2canon.serde.spec import INPUT_TAGS, NAME_FIELD, OUTPUT_TAGS, argument_value, spec_view
from pt2canon.serde.tags import ARGUMENT_TAGS
from pt2canon.serde.tags import LIST_TAGS as _LIST_TAGS

if ENABLED and compiled is not None:  # the same verdicts from C (pt2canon.serde.plain: compiled)
    plain_node, plain_argument, plain_tensor_meta = (
        compiled.plain_node,
        compiled.plain_argument,
        compiled.plain_tensor_meta,
    )

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

#: ``InputSpec`` / ``OutputSpec`` union tags.
INPUT_SPEC_TAGS = INPUT_TAGS
OUTPUT_SPEC_TAGS = OUTPUT_TAGS

_GRAPH_KEYS = frozenset(
    {
        "inputs", "outputs", "nodes", "tensor_values", "sym_int_values", "sym_bool_values",
        "is_single_tensor_return", "custom_obj_values", "sym_float_values",
    }
)  # fmt: skip
_PROGRAM_KEYS = frozenset(
    {
        "graph_module", "opset_version", "range_constraints", "schema_version", "verifiers", "torch_version",
        "guards_code",
    }
)  # fmt: skip
_GM_KEYS = frozenset({"graph", "signature", "module_call_graph", "metadata", "treespec_namedtuple_fields"})


class UnknownFieldsWarning(UserWarning):
    """The document has keys this schema version does not know; they were ignored.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_graph({"inputs": [], "outputs": [], "nodes": [], "future_field": 1})
    >>> [(w.category.__name__, str(w.message)) for w in caught]
    [('UnknownFieldsWarning', 'unknown fields ignored (written by a newer torch?): graph: future_field')]
    """


class _Checker:
    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.unknown: list[str] = []
        self.max_depth = limits.max_depth
        self.limits = limits
        # The fast checks (pt2canon.serde.plain) count nothing: they are used only where the
        # limits admit everything they accept.
        self.fast = limits.max_node_values >= PLAIN_NODE_VALUES and limits.max_tensor_rank >= PLAIN_RANK

    def plain_at(self, depth: int) -> bool:
        """May the fast checks decide for a part at nesting ``depth``?"""
        return self.fast and depth + PLAIN_DEPTH <= self.max_depth

    def shallow(self, obj: Any, depth: int, path: str) -> None:
        """Refuse ``obj`` (itself at nesting ``depth``) if it nests past ``max_depth``.

        Called on every value the checks do not walk themselves (metadata,
        unknown keys, opaque arguments), so no later stage meets deeper data.
        Walked level by level: no tuple per value.
        """
        if type(obj) is not dict and type(obj) is not list:
            return
        level = [obj]
        while level:
            if depth > self.max_depth:
                raise self.fail(
                    path,
                    f"data nested more than {self.max_depth} levels deep, over the limit max_depth={self.max_depth}",
                )
            below = []
            for x in level:
                for v in x.values() if type(x) is dict else x:
                    if type(v) is dict or type(v) is list:
                        below.append(v)
            level = below
            depth += 1

    def count_values(self, n: dict[str, Any], path: str) -> None:
        """Refuse a node taking and giving more than ``max_node_values`` values (list elements counted)."""
        limit = self.limits.max_node_values
        ins, outs = n.get("inputs"), n.get("outputs")
        args = [i.get("arg") if type(i) is dict else i for i in (ins if type(ins) is list else ())]
        args += outs if type(outs) is list else []
        count = 0
        for a in args:
            count += 1
            if type(a) is dict and len(a) == 1:
                v = next(iter(a.values()))
                if type(v) is list or (type(v) is dict and "as_string_to_argument" in a):
                    count += len(v)  # anything else is refused by the checks that follow
        if count > limit:
            raise self.fail(
                path,
                f"node takes and gives {count} values, over the limit max_node_values={limit} "
                "(raise it with Limits(max_node_values=...))",
            )

    def deeper(self, depth: int, path: str) -> None:
        if depth > self.max_depth:
            raise self.fail(
                path, f"data nested more than {self.max_depth} levels deep, over the limit max_depth={self.max_depth}"
            )

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

    def keys(self, obj: dict[str, Any], known: frozenset[str], path: str, depth: int) -> None:
        if len(obj) > len(known) or not known.issuperset(obj):
            extra = sorted(set(obj) - known)
            if extra:
                self.unknown.append(f"{path}: {', '.join(extra)}")
                for key in extra:
                    self.shallow(obj[key], depth + 1, f"{path}.{key}")

    def union(self, obj: Any, tags: frozenset[str] | tuple[str, ...], path: str, what: str) -> tuple[str, Any]:
        if not isinstance(obj, dict) or len(obj) != 1:
            raise self.fail(path, f"expected a one-key {what} union object, got {_kind(obj)}")
        ((tag, value),) = obj.items()
        if tag not in tags:
            raise self.fail(path, f"unknown {what} tag {tag!r}; this pt2canon reads schema {SUPPORTED_SCHEMA_MAJOR}.x")
        return tag, value

    # -- values ---------------------------------------------------------
    def sym(self, obj: Any, path: str, literal: str, depth: int) -> None:
        tag, value = self.union(obj, frozenset({"as_expr", literal}), path, "symbolic value")
        self.shallow(value, depth + 1, f"{path}.{tag}")
        if tag == "as_expr":
            value = self.dict_(value, f"{path}.as_expr")
            self.str_(self.req(value, "expr_str", f"{path}.as_expr"), f"{path}.as_expr.expr_str")

    def tensor_meta(self, obj: Any, path: str, depth: int) -> None:
        if self.plain_at(depth) and plain_tensor_meta(obj):
            return
        meta = self.dict_(obj, path)
        self.shallow(meta, depth, path)  # small: every field, known or not, within max_depth
        self.int_(self.req(meta, "dtype", path), f"{path}.dtype")
        for key in ("sizes", "strides"):
            dims = self.list_(self.req(meta, key, path), f"{path}.{key}")
            if len(dims) > self.limits.max_tensor_rank:
                raise self.fail(
                    f"{path}.{key}",
                    f"{len(dims)} dimensions, over the limit max_tensor_rank={self.limits.max_tensor_rank}",
                )
            for i, s in enumerate(dims):
                if type(s) is dict and len(s) == 1 and type(s.get("as_int")) is int:
                    continue  # fast path for the common static dimension
                self.sym(s, f"{path}.{key}[{i}]", "as_int", depth + 2)
        if "storage_offset" in meta:
            self.sym(meta["storage_offset"], f"{path}.storage_offset", "as_int", depth + 1)
        self.shallow(self.dict_(self.req(meta, "device", path), f"{path}.device"), depth + 1, f"{path}.device")
        self.keys(meta, TENSOR_META_KEYS, path, depth)

    # -- arguments ------------------------------------------------------
    def argument(self, obj: Any, path: str, depth: int) -> None:
        tag, v = self.union(obj, ARGUMENT_TAGS, path, "Argument")
        p = f"{path}.{tag}"
        if tag not in ("as_graph", "as_string_to_argument"):
            self.shallow(v, depth + 1, p)
        else:
            self.deeper(depth + 2, p)
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
            self.shallow(d.get("name"), depth + 2, f"{p}.name")
            self.graph(self.req(d, "graph", p), f"{p}.graph", depth + 2)
        elif tag == "as_string_to_argument":
            for k, a in self.dict_(v, p).items():
                self.argument(a, f"{p}[{k!r}]", depth + 2)
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
    def graph(self, obj: Any, path: str, depth: int) -> None:
        self.deeper(depth + 5, path)  # a graph's node arguments are five levels below it
        g = self.dict_(obj, path)
        # The fast checks first: a JSON path is built only for what they are unsure of.
        plain = self.plain_at(depth + 2)
        for key in ("inputs", "outputs"):
            for i, a in enumerate(self.list_(self.req(g, key, path), f"{path}.{key}")):
                if not (plain and plain_argument(a)):
                    self.argument(a, f"{path}.{key}[{i}]", depth + 2)
        for i, node in enumerate(self.list_(self.req(g, "nodes", path), f"{path}.nodes")):
            if not (plain and plain_node(node)):
                self.node(node, f"{path}.nodes[{i}]", depth + 2)
        for name, meta in self.dict_(g.get("tensor_values", {}), f"{path}.tensor_values").items():
            if not (plain and plain_tensor_meta(meta)):
                self.tensor_meta(meta, f"{path}.tensor_values[{name!r}]", depth + 2)
        for key, literal in (
            ("sym_int_values", "as_int"),
            ("sym_float_values", "as_float"),
            ("sym_bool_values", "as_bool"),
        ):
            for name, s in self.dict_(g.get(key, {}), f"{path}.{key}").items():
                self.sym(s, f"{path}.{key}[{name!r}]", literal, depth + 2)
        for name, c in self.dict_(g.get("custom_obj_values", {}), f"{path}.custom_obj_values").items():
            q = f"{path}.custom_obj_values[{name!r}]"
            self.dict_(c, q)
        for key, v in g.items():  # everything but the two big tables, whose checks bound themselves
            if key not in ("nodes", "tensor_values"):
                self.shallow(v, depth + 1, f"{path}.{key}")
        self.keys(g, _GRAPH_KEYS, path, depth)

    def node(self, obj: Any, path: str, depth: int) -> None:
        plain = self.plain_at(depth)
        if plain and plain_node(obj):
            return
        n = self.dict_(obj, path)
        self.str_(self.req(n, "target", path), f"{path}.target")
        self.count_values(n, path)
        for i, inp in enumerate(self.list_(self.req(n, "inputs", path), f"{path}.inputs")):
            q = f"{path}.inputs[{i}]"
            d = self.dict_(inp, q)
            self.str_(self.req(d, "name", q), f"{q}.name")
            self.argument(self.req(d, "arg", q), f"{q}.arg", depth + 3)
            self.shallow(d.get("kind"), depth + 3, f"{q}.kind")
            self.keys(d, ARGUMENT_KEYS, q, depth + 2)
        for i, out in enumerate(self.list_(self.req(n, "outputs", path), f"{path}.outputs")):
            if not (plain and plain_argument(out)):
                self.argument(out, f"{path}.outputs[{i}]", depth + 2)
        if "metadata" in n:
            self.shallow(self.dict_(n["metadata"], f"{path}.metadata"), depth + 1, f"{path}.metadata")
        name = n.get("name")
        if name is not None:
            self.str_(name, f"{path}.name")
        self.shallow(n.get("is_hop_single_tensor_return"), depth + 1, f"{path}.is_hop_single_tensor_return")
        self.keys(n, NODE_KEYS, path, depth)

    # -- program ----------------------------------------------------------
    def signature(self, obj: Any, path: str, depth: int) -> None:
        sig = self.dict_(obj, path)
        plain = self.plain_at(depth + 2)
        for key, tags in (("input_specs", INPUT_SPEC_TAGS), ("output_specs", OUTPUT_SPEC_TAGS)):
            for i, spec in enumerate(self.list_(self.req(sig, key, path), f"{path}.{key}")):
                if plain and plain_spec(spec, tags):
                    continue
                q = f"{path}.{key}[{i}]"
                self.shallow(spec, depth + 2, q)
                tag, v = self.union(spec, tags, q, "spec")
                d = self.dict_(v, f"{q}.{tag}")
                if tag == "constant_input":
                    self.str_(self.req(d, "name", f"{q}.{tag}"), f"{q}.{tag}.name")
                    continue
                arg = self.dict_(self.req(d, "arg", f"{q}.{tag}"), f"{q}.{tag}.arg")
                fqn_key = NAME_FIELD.get(tag)
                if fqn_key is not None and fqn_key in d:  # FQNs are sort keys: they must be strings
                    self.str_(d[fqn_key], f"{q}.{tag}.{fqn_key}")
                if tag in ("user_input", "user_output"):
                    self.argument(arg, f"{q}.{tag}.arg", depth + 4)
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
        self.graph(self.req(gm, "graph", "graph_module"), "graph_module.graph", 3)
        self.signature(self.req(gm, "signature", "graph_module"), "graph_module.signature", 3)
        _check_wiring(gm["graph"], gm["signature"])
        self.shallow(sv, 2, "schema_version")
        plain = self.plain_at(4)  # an entry is at level 4
        for i, entry in enumerate(self.list_(gm.get("module_call_graph", []), "graph_module.module_call_graph")):
            if plain and plain_call_entry(entry):
                continue
            q = f"graph_module.module_call_graph[{i}]"
            e = self.dict_(entry, q)
            self.shallow(e, 4, q)
            self.str_(self.req(e, "fqn", q), f"{q}.fqn")
            s = e.get("signature")
            if s is not None:
                s = self.dict_(s, f"{q}.signature")
                for key in ("inputs", "outputs"):
                    for j, a in enumerate(self.list_(s.get(key, []), f"{q}.signature.{key}")):
                        self.argument(a, f"{q}.signature.{key}[{j}]", 7)
        self.shallow(self.dict_(gm.get("metadata", {}), "graph_module.metadata"), 3, "graph_module.metadata")
        for name, rc in self.dict_(doc.get("range_constraints", {}), "range_constraints").items():
            r = self.dict_(rc, f"range_constraints[{name!r}]")
            self.shallow(r, 3, f"range_constraints[{name!r}]")
            for key in ("min_val", "max_val"):
                v = r.get(key)
                if v is not None and not isinstance(v, (int, float, str)):
                    raise self.fail(
                        f"range_constraints[{name!r}].{key}", f"expected an integer or null, got {_kind(v)}"
                    )
        self.shallow(self.dict_(doc.get("opset_version", {}), "opset_version"), 2, "opset_version")
        for key in ("verifiers", "guards_code"):  # lists of strings, sorted when canonicalized
            for i, item in enumerate(self.list_(doc.get(key, []), key)):
                self.str_(item, f"{key}[{i}]")
        for key, v in doc.items():  # everything but the graph module is small: bounded whole
            if key != "graph_module":
                self.shallow(v, 2, key)
        for key, v in gm.items():
            if key != "graph":
                self.shallow(v, 3, f"graph_module.{key}")
        self.keys(doc, _PROGRAM_KEYS, "$", 1)
        self.keys(gm, _GM_KEYS, "graph_module", 2)


def _check_wiring(graph: dict[str, Any], signature: dict[str, Any]) -> None:
    """Refuse a signature whose specs name other values than the graph inputs and outputs they stand for.

    torch keeps ``input_specs[i]`` for ``graph.inputs[i]`` and ``output_specs[j]``
    for ``graph.outputs[j]`` (``ExportedProgram`` verifies it); a spec naming a
    value the graph does not have there would be written into a canonical archive.
    """
    for key, side in (("input_specs", "inputs"), ("output_specs", "outputs")):
        values, specs = graph[side], signature[key]
        if len(specs) != len(values):
            continue  # the canonical form reports the count (pt2canon.canon.program)
        for i, spec in enumerate(specs):
            view = spec_view(spec)
            want = view.value
            if want is None:
                continue
            have = argument_value(values[i])
            if have != want:
                what = f"value {have!r}" if have is not None else "a constant"
                raise GraphError(
                    f"{view.tag} spec names value {want!r}, but graph {side[:-1]} {i} is {what}; "
                    f"the signature and the graph disagree",
                    where=f"graph_module.signature.{key}[{i}]",
                )


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


def check_program(doc: Any, *, limits: Limits = DEFAULT_LIMITS) -> None:
    """Check that ``doc`` has the shape of a serialized ``ExportedProgram``.

    Objects and arrays may nest at most ``limits.max_depth`` levels (the
    document itself is level 1), so that no later stage recurses past it; a
    node may take and give at most ``limits.max_node_values`` values and a
    tensor have at most ``limits.max_tensor_rank`` dimensions.

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
    c = _Checker(limits)
    try:
        c.program(doc)
    except RecursionError:
        raise SchemaError("document is nested too deeply") from None
    _warn(c)


def check_graph(graph: Any, path: str = "graph", *, limits: Limits = DEFAULT_LIMITS) -> None:
    """Check one serialized ``Graph`` (nodes, arguments, value tables).

    ``path`` is the graph's JSON path in messages. Keys the schema does not
    know are ignored with an :class:`UnknownFieldsWarning`.

    Raises
    ------
    SchemaError
        Naming the JSON path of the first problem.

    Examples
    --------
    >>> check_graph({"inputs": [{"as_tensor": {"name": "x"}}], "outputs": [{"as_tensor": {"name": "x"}}],
    ...              "nodes": []})
    >>> check_graph({"inputs": [{"as_tensor": {}}], "outputs": [], "nodes": []})
    Traceback (most recent call last):
    ...
    pt2canon.errors.SchemaError: graph.inputs[0].as_tensor: required key 'name' is missing
    >>> check_graph({"inputs": [], "outputs": [], "nodes": [{"target": 1, "inputs": [], "outputs": []}]},
    ...             "graph_module.graph")
    Traceback (most recent call last):
    ...
    pt2canon.errors.SchemaError: graph_module.graph.nodes[0].target: expected a string, got an integer
    """
    c = _Checker(limits)
    try:
        c.graph(graph, path, 1)
    except RecursionError:
        raise SchemaError("graph is nested too deeply", where=path) from None
    _warn(c)


def check_payload_config(doc: Any, *, limits: Limits = DEFAULT_LIMITS) -> None:
    """Check a ``*_weights_config.json`` / ``*_constants_config.json`` document.

    Raises
    ------
    SchemaError
        Naming the JSON path (``$`` is the document) of the first problem.

    Examples
    --------
    >>> check_payload_config({"config": {"fc1.weight": {"path_name": "weight_0", "is_param": True}}})
    >>> check_payload_config({"config": {"fc1.weight": {"path_name": 0}}})
    Traceback (most recent call last):
    ...
    pt2canon.errors.SchemaError: config['fc1.weight'].path_name: expected a string, got an integer
    >>> check_payload_config({"weights": {}})
    Traceback (most recent call last):
    ...
    pt2canon.errors.SchemaError: $: required key 'config' is missing
    """
    c = _Checker(limits)
    c.shallow(doc, 1, "$")
    cfg = c.dict_(c.req(c.dict_(doc, "$"), "config", "$"), "config")
    for fqn, meta in cfg.items():
        p = f"config[{fqn!r}]"
        m = c.dict_(meta, p)
        c.str_(c.req(m, "path_name", p), f"{p}.path_name")
        tm = m.get("tensor_meta")
        if tm is not None:
            c.tensor_meta(tm, f"{p}.tensor_meta", 4)
