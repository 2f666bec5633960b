"""For the tests that compare a compiled part with its Python reference: sharing made comparable, graphs edited at random."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st
from json_paths import at, leaves

__all__ = ["ODD", "Shared", "edited_graph"]


class Shared:
    """Numbers each container by first appearance, so that two results' sharing of objects can be compared."""

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}
        self.keep: list[Any] = []  # ids stay unique while the results live

    def __call__(self, obj: Any) -> int:
        self.keep.append(obj)
        return self.seen.setdefault(id(obj), len(self.seen))


class _Dict(dict):  # type: ignore[type-arg]
    pass


#: What an unchecked graph can hold where a compiled loop looks: other JSON values, and what only a
#: Python caller hands over (tuples for lists, a dict subclass).
ODD = st.sampled_from([None, 0, 1, 2**70, "", "x", [], {}, (), _Dict(name="x"), {"name": None}, {"x": 1}])


@st.composite
def edited_graph(draw: st.DrawFn, graph: dict[str, Any], added: Sequence[str]) -> dict[str, Any]:
    """``graph`` with one to three values replaced, keys deleted or added (from ``added``), or value names swapped."""
    graph = copy.deepcopy(graph)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in leaves(graph) if p and p[0] in ("nodes", "outputs", "inputs")]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        cut = draw(st.integers(1, len(path)))  # the leaf itself, or a container above it
        holder, key = at(graph, path[: cut - 1]), path[cut - 1]
        what = draw(st.sampled_from(["replace", "delete", "rename", "add"]))
        if what == "add" and isinstance(holder, dict):  # an unknown key (a newer schema's field)
            holder[draw(st.sampled_from(added))] = copy.deepcopy(draw(ODD))
        elif what == "delete" and isinstance(holder, dict):
            del holder[key]
        elif what == "rename" and isinstance(holder.get(key) if isinstance(holder, dict) else None, str):
            holder[key] = draw(st.sampled_from(["x", "add", "getitem", "p_layer0_weight", "missing"]))
        else:
            holder[key] = copy.deepcopy(draw(ODD))
    return graph
