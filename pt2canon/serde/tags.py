"""The ``Argument`` union of torch's schema: its tags, which of them refer to values, and the references.

torch's serializer writes an ``Argument`` as a one-key dict whose key is the
union tag (``{"as_tensor": {"name": "x"}}``, ``{"as_int": 3}``). The
tables of this module say, once, for every stage (the schema checks, the
graph model, the canonical form, the listing, the diff): which tags exist
(:data:`ARGUMENT_TAGS`), which refer to graph values and of what kind
(:data:`REF_KINDS`), which graph table holds each kind's metadata
(:data:`VALUE_TABLES`), and which are plain constants (:data:`CONSTANT_TAGS`,
:data:`LIST_TAGS`). :func:`iter_refs` yields the value references of one
argument. The tags of signature specs are in :mod:`pt2canon.serde.spec`.

Examples
--------
>>> sorted(t for t, k in REF_KINDS.items() if k == "sym_int")
['as_sym_int', 'as_sym_ints']
>>> [name for _, _, name, _ in iter_refs({"as_optional_tensors": [{"as_tensor": {"name": "a"}}, {"as_none": True}]})]
['a']
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["ARGUMENT_TAGS", "CONSTANT_TAGS", "LIST_TAGS", "REF_KINDS", "VALUE_TABLES", "Path", "iter_refs"]

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

#: Tags of a scalar constant: the value holds no reference and no list.
CONSTANT_TAGS = frozenset(
    {
        "as_none", "as_int", "as_float", "as_bool", "as_scalar_type", "as_memory_format",
        "as_layout", "as_device", "as_operator", "as_complex",
    }
)  # fmt: skip
#: Tags of a list of constants.
LIST_TAGS = frozenset({"as_ints", "as_floats", "as_strings", "as_bools", "as_int_lists", "as_float_lists"})

#: Value kind of each reference-carrying union tag.
REF_KINDS = {
    "as_tensor": "tensor",
    "as_tensors": "tensor",
    "as_optional_tensor": "tensor",
    "as_optional_tensors": "tensor",
    "as_nested_tensors": "tensor",
    "as_sym_int": "sym_int",
    "as_sym_ints": "sym_int",
    "as_sym_float": "sym_float",
    "as_sym_floats": "sym_float",
    "as_sym_bool": "sym_bool",
    "as_sym_bools": "sym_bool",
    "as_custom_obj": "custom_obj",
    "as_token": "token",
    "as_string_to_argument": "",
}

#: Graph-level table holding each value kind's metadata (tokens have none).
VALUE_TABLES = {
    "tensor": "tensor_values",
    "sym_int": "sym_int_values",
    "sym_float": "sym_float_values",
    "sym_bool": "sym_bool_values",
    "custom_obj": "custom_obj_values",
}
#: Where a reference stands inside an argument (``("as_tensors", 2)``).
Path = tuple[Any, ...]


def iter_refs(arg: dict[str, Any]) -> Iterator[tuple[Path, str, str, str]]:
    """Yield ``(path, field, name, kind)`` for each value reference in an ``Argument``.

    ``path`` leads from the argument to the dict holding the name under
    ``field`` (``"name"`` or ``"as_name"``).

    Examples
    --------
    >>> list(iter_refs({"as_tensors": [{"name": "a"}, {"name": "b"}]}))
    [(('as_tensors', 0), 'name', 'a', 'tensor'), (('as_tensors', 1), 'name', 'b', 'tensor')]
    >>> list(iter_refs({"as_sym_ints": [{"as_int": 3}, {"as_name": "s"}]}))
    [(('as_sym_ints', 1), 'as_name', 's', 'sym_int')]
    >>> list(iter_refs({"as_int": 3}))
    []
    """
    for tag, v in arg.items():
        kind = REF_KINDS.get(tag)
        if kind is None:
            return
        if tag in ("as_tensor", "as_custom_obj", "as_token"):
            yield (tag,), "name", v["name"], kind
        elif tag == "as_tensors":
            for i, t in enumerate(v):
                yield (tag, i), "name", t["name"], kind
        elif tag == "as_optional_tensor":
            if "as_tensor" in v:
                yield (tag, "as_tensor"), "name", v["as_tensor"]["name"], kind
        elif tag == "as_optional_tensors":
            for i, t in enumerate(v):
                if "as_tensor" in t:
                    yield (tag, i, "as_tensor"), "name", t["as_tensor"]["name"], kind
        elif tag == "as_nested_tensors":
            for i, row in enumerate(v):
                for j, t in enumerate(row):
                    yield (tag, i, j), "name", t["name"], kind
        elif tag in ("as_sym_int", "as_sym_float", "as_sym_bool"):
            if "as_name" in v:
                yield (tag,), "as_name", v["as_name"], kind
        elif tag in ("as_sym_ints", "as_sym_floats", "as_sym_bools"):
            for i, s in enumerate(v):
                if "as_name" in s:
                    yield (tag, i), "as_name", s["as_name"], kind
        elif tag == "as_string_to_argument":
            for key, sub in v.items():
                for path, fld, name, k in iter_refs(sub):
                    yield (tag, key, *path), fld, name, k
