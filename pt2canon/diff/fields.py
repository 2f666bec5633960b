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
