"""Field-level differences of two JSON-like values, with deepdiff (:func:`field_changes`).

deepdiff runs only on pairs already known to differ, never on a whole
document, never with ``max_diffs``, and nothing is pickled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pt2canon.listing import format_argument, format_tensor_meta

__all__ = ["field_changes", "field_summary", "jsonable"]


def jsonable(x: Any) -> Any:
    """``x`` as JSON data: mapping keys as strings, tuples as lists, anything else not JSON as its ``repr``.

    Examples
    --------
    >>> jsonable({1: (2, 3), "tags": {"a"}, "none": None})
    {'1': [2, 3], 'tags': "{'a'}", 'none': None}
    """
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return repr(x)


def _path_text(path: list[Any]) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out


def field_changes(old: Any, new: Any) -> list[dict[str, Any]]:
    """Field-level differences of two JSON-like values, with deepdiff.

    Returns ``[{"path": "args.p.as_float", "type": "values_changed",
    "old": 0.1, "new": 0.2}]`` sorted by path; ``old`` is absent for added
    items, ``new`` for removed ones. ``threshold_to_diff_deeper=0`` keeps
    deepdiff from reporting a whole dict as replaced.

    Examples
    --------
    A constant argument changed and one added:

    >>> old = {"target": "aten.dropout.default", "args": {"p": {"as_float": 0.1}}}
    >>> new = {"target": "aten.dropout.default", "args": {"p": {"as_float": 0.2}, "train": {"as_bool": False}}}
    >>> for f in field_changes(old, new):
    ...     print(f)
    {'path': 'args.p.as_float', 'type': 'values_changed', 'old': 0.1, 'new': 0.2}
    {'path': 'args.train', 'type': 'dictionary_item_added', 'new': {'as_bool': False}}

    List items are located by index; a removed item has no ``new``:

    >>> field_changes({"verifiers": ["a", "b"]}, {"verifiers": ["a"]})
    [{'path': 'verifiers[1]', 'type': 'iterable_item_removed', 'old': 'b'}]
    >>> field_changes({"x": 1}, {"x": 1})
    []
    """
    from deepdiff import DeepDiff
    from deepdiff.helper import notpresent

    dd = DeepDiff(old, new, threshold_to_diff_deeper=0, view="tree")
    out: list[dict[str, Any]] = []
    for kind, items in dd.items():
        for item in items:
            entry: dict[str, Any] = {"path": _path_text(item.path(output_format="list")), "type": kind}
            if item.t1 is not notpresent:
                entry["old"] = jsonable(item.t1)
            if item.t2 is not notpresent:
                entry["new"] = jsonable(item.t2)
            out.append(entry)
    out.sort(key=lambda e: (e["path"], e["type"]))
    return out


def field_summary(f: Mapping[str, Any]) -> str:
    """One entry of :func:`field_changes` as one line: tensor metadata and arguments as the listing prints them.

    Examples
    --------
    >>> field_summary({"path": "args.p", "type": "values_changed", "old": {"as_float": 0.1}, "new": {"as_float": 0.2}})
    'args.p: 0.1 -> 0.2'
    >>> field_summary({"path": "meta.0", "type": "values_changed",
    ...                "old": {"dtype": 7, "sizes": [{"as_int": 2}]}, "new": {"dtype": 6, "sizes": [{"as_int": 2}]}})
    'meta.0: f32[2] -> f16[2]'
    >>> [field_summary(f) for f in field_changes(["a", "b"], ["a"])]
    ["[1]: removed 'b'"]
    """

    def text(v: Any) -> str:
        if isinstance(v, Mapping) and "sizes" in v:
            return format_tensor_meta(v)
        if isinstance(v, Mapping) and len(v) == 1:
            return format_argument(v)
        return repr(v) if isinstance(v, str) else str(v)

    if "old" in f and "new" in f:
        return f"{f['path']}: {text(f['old'])} -> {text(f['new'])}"
    if "new" in f:
        return f"{f['path']}: added {text(f['new'])}"
    return f"{f['path']}: removed {text(f.get('old'))}"
