"""Variants of real serialized programs: renamed, reordered, with stale messages, or changed.

Each function takes a program document (``model.json``, parsed) and returns
a new one, never editing its argument:

:func:`rename_names`       every name the document holds renamed by a
                           mapping (values, nodes, subgraphs, constant
                           inputs, custom objects) and every shape symbol
                           by another; strings are left as written, so
                           torch's assert messages go stale, as after a
                           pass that renames nodes.
:func:`fresh_names`        random new names for :func:`rename_names`.
:func:`stale_messages`     assert messages quoting another node, or no node.
:func:`valid_orders`       other node orders valid under the data and
                           side-effect constraints.
:func:`mutations`          single semantic changes, each with the hash
                           layers it must change.

:func:`differences` lists the JSON paths where two documents differ.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterator
from typing import Any

import networkx as nx

from pt2canon.canon.messages import TORCH_ASSERT
from pt2canon.canon.program import ordering_edges
from pt2canon.serde.graph import from_networkx, to_networkx

__all__ = ["differences", "fresh_names", "mutations", "rename_names", "stale_messages", "valid_orders"]

_TABLES = ("tensor_values", "sym_int_values", "sym_float_values", "sym_bool_values", "custom_obj_values")
_NAME_KEYS = ("name", "as_name", "user_input_name")
_SYMBOL = re.compile(r"Symbol\('([A-Za-z_][A-Za-z0-9_]*)'")
_WORD = re.compile(r"(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_])")


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """JSON paths (``a.b[2].c``) where two documents differ, field by field.

    Examples
    --------
    >>> differences({"x": [1, {"y": 2}], "z": 3}, {"x": [1, {"y": 5}], "w": 3})
    ['w', 'x[1].y', 'z']
    """
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in sorted(set(a) | set(b)) for p in differences(a.get(k), b.get(k), f"{path}.{k}".lstrip("."))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


def _is_name(obj: dict[str, Any], key: str) -> bool:
    # A NamedArgument's "name" is the schema's argument name, not a value's.
    if key not in _NAME_KEYS or not isinstance(obj[key], str):
        return False
    return key == "user_input_name" or "arg" not in obj


def _walk_names(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in _TABLES:
                yield from v
                for m in v.values():
                    yield from _walk_names(m)
            elif _is_name(obj, k):
                yield v
            elif k not in ("metadata", "range_constraints"):
                yield from _walk_names(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk_names(v)


def _symbols(doc: dict[str, Any]) -> set[str]:
    out = set(doc.get("range_constraints") or {})

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k == "expr_str" and isinstance(v, str):
                    out.update(_SYMBOL.findall(v))
                elif k != "metadata":
                    walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    walk(doc)
    return out


def fresh_names(doc: dict[str, Any], rnd: random.Random) -> tuple[dict[str, str], dict[str, str]]:
    """``(names, symbols)``: a new name for every name and every shape symbol of ``doc``."""
    names = sorted(set(_walk_names(doc)) - {""})
    numbers = rnd.sample(range(10_000, 99_999), len(names))
    symbols = sorted(_symbols(doc))
    sym_numbers = rnd.sample(range(100, 999), len(symbols))
    prefix = re.compile(r"^(.*?)(\d*)$")
    return (
        {old: f"r{n}_{old[:3]}" for old, n in zip(names, numbers, strict=True)},
        {old: f"{prefix.match(old).group(1)}{n}" for old, n in zip(symbols, sym_numbers, strict=True)},  # type: ignore[union-attr]
    )


def rename_names(
    doc: dict[str, Any], names: dict[str, str], symbols: dict[str, str], *, message_symbols: bool = True
) -> dict[str, Any]:
    """``doc`` with every name renamed by ``names`` and every symbol by ``symbols``.

    Strings keep the names they quote (torch's assert messages go stale);
    with ``message_symbols`` the symbols they quote follow (a consistent
    symbol renaming), else they go stale too.
    """

    def expr(text: str) -> str:
        return _SYMBOL.sub(lambda m: f"Symbol('{symbols.get(m.group(1), m.group(1))}'", text)

    def message(text: str) -> str:
        return _WORD.sub(lambda m: symbols.get(m.group(1), m.group(1)), text) if TORCH_ASSERT.fullmatch(text) else text

    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                if k in _TABLES:
                    out[k] = {names.get(n, n): walk(m) for n, m in v.items()}
                elif k == "range_constraints":
                    out[k] = {symbols.get(n, n): v[n] for n in v}
                elif _is_name(obj, k):
                    out[k] = names.get(v, v)
                elif k == "expr_str" and isinstance(v, str):
                    out[k] = expr(v)
                elif k == "as_string" and isinstance(v, str) and message_symbols:
                    out[k] = message(v)
                elif k == "metadata":
                    out[k] = v
                else:
                    out[k] = walk(v)
            return out
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return walk(doc)  # type: ignore[no-any-return]


def stale_messages(doc: dict[str, Any], rnd: random.Random) -> dict[str, Any] | None:
    """``doc`` with each torch assert message quoting another node or a name no node has; ``None`` if none."""
    doc = copy.deepcopy(doc)
    edits = 0

    def visit(graph: dict[str, Any]) -> None:
        nonlocal edits
        node_names = [n["name"] for n in graph["nodes"] if n.get("name")]
        for node in graph["nodes"]:
            for na in node["inputs"]:
                if "as_graph" in na["arg"]:
                    visit(na["arg"]["as_graph"]["graph"])
                text = na["arg"].get("as_string")
                m = TORCH_ASSERT.fullmatch(text) if isinstance(text, str) else None
                if m is not None:
                    others = [n for n in node_names if n != m.group("node")]
                    quoted = rnd.choice(others) if others and rnd.random() < 0.5 else "no_such_node_7"
                    na["arg"] = {"as_string": text[: m.start("node")] + quoted + text[m.end("node") :]}
                    edits += 1

    visit(doc["graph_module"]["graph"])
    return doc if edits else None


def valid_orders(doc: dict[str, Any], rnd: random.Random, count: int) -> list[dict[str, Any]]:
    """``count`` reorderings of the top-level graph's nodes, at random within the data and side-effect constraints."""
    G = to_networkx(doc["graph_module"]["graph"])
    extra = ordering_edges(G)
    D = nx.DiGraph()
    D.add_nodes_from(G)
    D.add_edges_from((u, v) for u, v in G.edges())
    D.add_edges_from((p, v) for v, ps in extra.items() for p in ps)
    out = []
    for _ in range(count):
        keys = {n: rnd.random() for n in D}
        order = [n for n in nx.lexicographical_topological_sort(D, key=keys.__getitem__) if G.nodes[n]["kind"] == "op"]
        out.append({**doc, "graph_module": {**doc["graph_module"], "graph": from_networkx(G, order=order)}})
    return out


#: Hash layers each kind of mutation must change.
MUTATION_LAYERS = {
    "constant": {"structure"},
    "wiring": {"structure"},
    "target": {"structure"},
    "dtype": {"tensors"},
    "fqn": {"signature"},
    "range": {"constraints"},
}

_SWAPS = {
    "add.Tensor": "sub.Tensor",
    "sub.Tensor": "add.Tensor",
    "mul.Tensor": "div.Tensor",
    "div.Tensor": "mul.Tensor",
    "sin.default": "cos.default",
    "cos.default": "sin.default",
    "relu.default": "sigmoid.default",
}


def mutations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Single semantic changes of ``doc`` that it admits: ``[(kind, changed document)]`` (see :data:`MUTATION_LAYERS`)."""
    out: list[tuple[str, dict[str, Any]]] = []
    graph = doc["graph_module"]["graph"]
    for i, node in enumerate(graph["nodes"]):
        for j, na in enumerate(node["inputs"]):
            arg = na["arg"]
            (tag, value), *_ = arg.items()
            new: Any = None
            if tag == "as_int" and isinstance(value, int):
                new = {"as_int": value + 3}
            elif tag == "as_float" and isinstance(value, float):
                new = {"as_float": value + 0.5}
            elif tag == "as_ints" and value:
                new = {"as_ints": [*value[:-1], value[-1] + 1]}
            if new is not None:
                changed = copy.deepcopy(doc)
                changed["graph_module"]["graph"]["nodes"][i]["inputs"][j]["arg"] = new
                out.append(("constant", changed))
                break
        if any(k == "constant" for k, _ in out):
            break
    for i, node in enumerate(graph["nodes"]):
        short = node["target"].removeprefix("torch.ops.aten.")
        swap = _SWAPS.get(short)
        if swap and swap != short:
            changed = copy.deepcopy(doc)
            changed["graph_module"]["graph"]["nodes"][i]["target"] = "torch.ops.aten." + swap
            out.append(("target", changed))
            break
    for i, node in enumerate(graph["nodes"]):
        lists = [
            j for j, na in enumerate(node["inputs"]) if len({t["name"] for t in na["arg"].get("as_tensors", ())}) > 1
        ]
        if lists:
            changed = copy.deepcopy(doc)
            arg = changed["graph_module"]["graph"]["nodes"][i]["inputs"][lists[0]]["arg"]
            arg["as_tensors"] = arg["as_tensors"][::-1]
            out.append(("wiring", changed))
            break
    for name, meta in graph.get("tensor_values", {}).items():
        if meta.get("dtype") in (6, 7):  # float32 <-> float64
            changed = copy.deepcopy(doc)
            changed["graph_module"]["graph"]["tensor_values"][name]["dtype"] = 13 - meta["dtype"]
            out.append(("dtype", changed))
            break
    for k, spec in enumerate(doc["graph_module"]["signature"]["input_specs"]):
        body = spec.get("parameter") or spec.get("buffer")
        if body is not None:
            changed = copy.deepcopy(doc)
            b = next(iter(changed["graph_module"]["signature"]["input_specs"][k].values()))
            key = "parameter_name" if "parameter" in spec else "buffer_name"
            old = b[key]
            b[key] = old + "_renamed"
            for o in changed["graph_module"]["signature"]["output_specs"]:
                ob = next(iter(o.values()))
                if ob.get(key) == old:
                    ob[key] = b[key]
            out.append(("fqn", changed))
            break
    in_graph = _symbols({"graph_module": {"graph": graph}})
    for sym, r in (doc.get("range_constraints") or {}).items():
        if sym in in_graph:
            changed = copy.deepcopy(doc)
            top = r.get("max_val")
            changed["range_constraints"][sym]["max_val"] = 1000 if top is None else top + 1
            out.append(("range", changed))
            break
    return out
