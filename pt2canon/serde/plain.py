"""The schema checks' fast path: is this node, argument, tensor metadata, spec or call entry of the common shape?

:mod:`pt2canon.serde.schema` walks every part of a document and names the
JSON path of what is wrong; that walk is most of the checks' cost. Nearly
every node torch writes has one of a few plain shapes (tensor references,
scalar constants, static or symbolic sizes, string metadata), as have the
signature's specs of module state (parameters, buffers, constants, tokens,
their mutations) and the submodules' call-graph entries. These predicates
accept exactly those shapes, faster: ``True`` means the full check would
accept the part without a warning, ``False`` means "not sure", and the
full check then runs on it. They count nothing against the limits; the
checker uses them only where the limits admit all they accept
(:data:`PLAIN_NODE_VALUES`, :data:`PLAIN_RANK`, :data:`PLAIN_DEPTH`). The
verdict is the same with and without them (``tests/serde/test_plain.py``:
real documents with nodes, tensor metadata, graph inputs, specs and
call-graph entries edited, values replaced and keys deleted or added,
checked both ways under default and lowered limits).

Where the optional C extension ``pt2canon.serde._plain`` was built (``pip
install`` compiles it with the machine's C compiler and goes on without it
where there is none), the checks call its transliteration of
:func:`plain_node`, :func:`plain_argument` and :func:`plain_tensor_meta`
instead (:data:`compiled`), four to eight times faster on a real export. These
Python functions stay the reference: the compiled ones give their answer on
every part of real documents, edited ones and generated values
(``tests/serde/test_plain_compiled.py``), and take their key and tag sets
from this module. ``PT2CANON_COMPILED=0`` in the environment turns the
compiled parts off (the verdicts are the same; only the time differs). An
editable install builds the extension once: after editing ``_plain.c``,
``pip install -e .`` again.
"""

from __future__ import annotations

from collections.abc import Container
from types import ModuleType
from typing import Any

from pt2canon._compiled import enabled
from pt2canon.serde.spec import NAME_FIELD
from pt2canon.serde.tags import CONSTANT_TAGS, LIST_TAGS

__all__ = [
    "ARGUMENT_KEYS",
    "AVAILABLE",
    "ENABLED",
    "NODE_KEYS",
    "PLAIN_DEPTH",
    "PLAIN_NODE_VALUES",
    "PLAIN_RANK",
    "TENSOR_META_KEYS",
    "compiled",
    "plain_argument",
    "plain_call_entry",
    "plain_node",
    "plain_spec",
    "plain_tensor_meta",
]

#: The keys of a ``Node``, a ``NamedArgument`` and a ``TensorMeta`` in schema 8.x.
NODE_KEYS = frozenset({"target", "inputs", "outputs", "metadata", "is_hop_single_tensor_return", "name"})
ARGUMENT_KEYS = frozenset({"name", "arg", "kind"})
TENSOR_META_KEYS = frozenset({"dtype", "sizes", "requires_grad", "device", "strides", "storage_offset", "layout"})

_FAST_VALUES = 64  # longer lists take the full check

# The predicates count nothing against the limits. What they accept is bounded instead, and a
# checker whose limits are lower than these bounds does not use them.
#: The most values a node that :func:`plain_node` accepts takes and gives, counted as the full check counts them.
PLAIN_NODE_VALUES = _FAST_VALUES * (_FAST_VALUES + 1)
#: The most dimensions of a tensor that :func:`plain_tensor_meta` accepts.
PLAIN_RANK = _FAST_VALUES
#: The most levels of objects and arrays below any part a predicate accepts (the part itself not counted).
PLAIN_DEPTH = 5
_SCALARS = frozenset({str, int, float, bool, type(None)})  # a set: one hash probe per test
_OPAQUE_TAGS = CONSTANT_TAGS
_LIST_TAGS = LIST_TAGS
# Specs whose argument is an Argument union or that have none: the full check.
_NOT_PLAIN_SPECS = frozenset({"constant_input", "user_input", "user_output"})


def _dim(s: Any) -> bool:
    """True for one ``SymInt``: ``{"as_int": int}`` or ``{"as_expr": {"expr_str": str, ...}}``."""
    if type(s) is not dict or len(s) != 1:
        return False
    if type(s.get("as_int")) is int:
        return True
    e = s.get("as_expr")  # a symbolic dimension
    return type(e) is dict and type(e.get("expr_str")) is str and _flat(e)


def _flat(d: dict[str, Any]) -> bool:
    """True when every value of ``d`` is a scalar or a dict of scalars (``SymExpr.hint``, a device)."""
    for v in d.values():
        t = type(v)
        if t is dict:
            for x in v.values():
                if type(x) not in _SCALARS:
                    return False
        elif t not in _SCALARS:
            return False
    return True


def plain_tensor_meta(meta: Any) -> bool:
    """True for a ``TensorMeta`` of the common shape with exactly the known keys (what the full check accepts).

    The sizes, the strides and the storage offset are each a ``SymInt``
    (:func:`_dim`), with the static ``{"as_int": int}`` tested inline.

    Examples
    --------
    >>> meta = {"dtype": 7, "sizes": [{"as_int": 2}], "strides": [{"as_int": 1}], "storage_offset": {"as_int": 0},
    ...         "layout": 3, "device": {"type": "cpu", "index": None}, "requires_grad": False}
    >>> plain_tensor_meta(meta), plain_tensor_meta({**meta, "sizes": [{"as_int": "2"}]})
    (True, False)
    """
    if type(meta) is not dict or meta.keys() != TENSOR_META_KEYS:
        return False
    sizes, strides, device = meta["sizes"], meta["strides"], meta["device"]
    if (
        type(meta["dtype"]) is not int
        or type(device) is not dict
        or type(meta["requires_grad"]) not in _SCALARS
        or type(meta["layout"]) not in _SCALARS
        or type(sizes) is not list
        or type(strides) is not list
        or len(sizes) > _FAST_VALUES
        or len(strides) > _FAST_VALUES
        or not _flat(device)
    ):
        return False
    for s in sizes:
        if not (type(s) is dict and len(s) == 1 and type(s.get("as_int")) is int) and not _dim(s):
            return False
    for s in strides:
        if not (type(s) is dict and len(s) == 1 and type(s.get("as_int")) is int) and not _dim(s):
            return False
    s = meta["storage_offset"]
    return (type(s) is dict and len(s) == 1 and type(s.get("as_int")) is int) or _dim(s)


def plain_node(n: Any) -> bool:
    """True when ``n`` is a node of the common shape that the full check (:func:`pt2canon.serde.schema.check_graph`) accepts without a warning.

    False means "not sure": the full check then runs and names the JSON path.
    The commonest argument, a plain ``as_tensor`` reference, is checked inline.

    Examples
    --------
    >>> node = {"target": "torch.ops.aten.relu.default", "metadata": {"stack_trace": "..."},
    ...         "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}, "kind": 1}],
    ...         "outputs": [{"as_tensor": {"name": "relu"}}]}
    >>> plain_node(node), plain_node({**node, "metadata": {"seq_nr": 3}})  # torch writes metadata as strings
    (True, False)
    """
    if type(n) is not dict or type(n.get("target")) is not str or not n.keys() <= NODE_KEYS:
        return False
    ins, outs = n.get("inputs"), n.get("outputs")
    if type(ins) is not list or type(outs) is not list or len(ins) + len(outs) > _FAST_VALUES:
        return False
    for inp in ins:
        if type(inp) is not dict or type(inp.get("name")) is not str:
            return False
        arg = inp.get("arg")
        if arg is None:
            return False
        # Keys within ARGUMENT_KEYS: with "name" and "arg" there, a third key can only be "kind".
        kind = inp.get("kind", _ABSENT)
        if kind is _ABSENT:
            if len(inp) != 2:
                return False
        elif len(inp) != 3 or type(kind) not in _SCALARS:
            return False
        t = arg.get("as_tensor") if type(arg) is dict and len(arg) == 1 else None
        if t is not None:
            if type(t) is not dict or len(t) != 1 or type(t.get("name")) is not str:
                return False
        elif not plain_argument(arg):
            return False
    for o in outs:
        t = o.get("as_tensor") if type(o) is dict and len(o) == 1 else None
        if t is not None:
            if type(t) is not dict or len(t) != 1 or type(t.get("name")) is not str:
                return False
        elif not plain_argument(o):
            return False
    md, name = n.get("metadata", _NO_METADATA), n.get("name")
    if type(md) is not dict:
        return False
    for v in md.values():
        if type(v) is not str:  # torch writes metadata as strings
            return False
    return (name is None or type(name) is str) and type(n.get("is_hop_single_tensor_return")) in _SCALARS


_NO_METADATA: dict[str, Any] = {}
_ABSENT = object()


def plain_argument(arg: Any) -> bool:
    """True when ``arg`` is one of the common shapes that the full check accepts.

    False means "not sure": the full check then runs and names the JSON path.

    Examples
    --------
    >>> plain_argument({"as_ints": [1, 2]}), plain_argument({"as_sym_int": {"as_name": "s0"}})
    (True, True)
    >>> plain_argument({"as_graph": {"name": "true_graph_0", "graph": {}}})  # a subgraph: the full check
    False
    """
    if type(arg) is not dict or len(arg) != 1:
        return False
    t = arg.get("as_tensor")
    if t is not None:
        return type(t) is dict and len(t) == 1 and type(t.get("name")) is str
    ((tag, value),) = arg.items()
    if tag in _OPAQUE_TAGS:
        return type(value) in _SCALARS or (type(value) is dict and _flat(value))
    if tag in _LIST_TAGS:
        if type(value) is not list or len(value) > _FAST_VALUES:
            return False
        for x in value:  # a loop, not all(...): no generator per list
            if type(x) not in _SCALARS:
                if type(x) is not list:
                    return False
                for y in x:
                    if type(y) not in _SCALARS:
                        return False
        return True
    if tag == "as_sym_ints":  # sizes of a view with symbolic dimensions
        return type(value) is list and len(value) <= _FAST_VALUES and all(_fast_sym_int(s) for s in value)
    if tag == "as_sym_int":
        return _fast_sym_int(value)
    if tag == "as_string":
        return type(value) is str
    return False


def _fast_sym_int(s: Any) -> bool:
    return type(s) is dict and len(s) == 1 and (type(s.get("as_int")) is int or type(s.get("as_name")) is str)


def plain_spec(spec: Any, tags: Container[str]) -> bool:
    """True for a signature spec of the common shape (a parameter, a buffer mutation, ...) that the full check accepts.

    ``tags`` are the spec union's tags (input or output specs). The spec's
    argument is ``{"name": str}``, its name field (:data:`~pt2canon.serde.spec.NAME_FIELD`:
    an FQN or an updated input's name), if there, a string, and every other
    field a scalar or an object of scalars; user inputs and outputs and
    constant inputs take the full check.

    Examples
    --------
    >>> from pt2canon.serde.spec import INPUT_TAGS
    >>> spec = {"parameter": {"arg": {"name": "p_fc_weight"}, "parameter_name": "fc.weight"}}
    >>> plain_spec(spec, INPUT_TAGS), plain_spec({"parameter": {"arg": {"name": "p"}, "parameter_name": 3}}, INPUT_TAGS)
    (True, False)
    """
    if type(spec) is not dict or len(spec) != 1:
        return False
    ((tag, d),) = spec.items()
    if tag not in tags or tag in _NOT_PLAIN_SPECS or type(d) is not dict:
        return False
    arg = d.get("arg")
    if type(arg) is not dict or type(arg.get("name")) is not str or not _flat(d):
        return False
    fqn_key = NAME_FIELD.get(tag)
    return fqn_key is None or fqn_key not in d or type(d[fqn_key]) is str


def plain_call_entry(entry: Any) -> bool:
    """True for a ``module_call_graph`` entry of a submodule: ``{"fqn": str, "signature": null}``.

    Examples
    --------
    >>> plain_call_entry({"fqn": "layers.0", "signature": None}), plain_call_entry({"fqn": "", "signature": {}})
    (True, False)
    """
    return (
        type(entry) is dict and len(entry) == 2 and entry.get("signature", 0) is None and type(entry.get("fqn")) is str
    )


#: The compiled :func:`plain_node`, :func:`plain_argument` and :func:`plain_tensor_meta`
#: (``pt2canon/serde/_plain.c``, functions of those names), or None where it was not built.
compiled: ModuleType | None
try:
    from pt2canon.serde import _plain
except ImportError:  # not built (no C compiler at install time): the checks call the functions above
    compiled = None
else:  # the sets and the bound are this module's, handed over once (not written in the C source)
    _plain.configure(_OPAQUE_TAGS, _LIST_TAGS, NODE_KEYS, TENSOR_META_KEYS, _FAST_VALUES)
    compiled = _plain

#: Whether the compiled extension was built and imports.
AVAILABLE: bool = compiled is not None
#: Whether :mod:`pt2canon.serde.schema` calls it: available, and ``PT2CANON_COMPILED`` is not ``0``.
ENABLED: bool = enabled(AVAILABLE)
