"""Equivalence-preserving rewrites, FQN renamings and single semantic mutations of a program.

The public entry points are :func:`pt2canon.strategies.rewrites`,
:func:`~pt2canon.strategies.fqn_renames` and
:func:`~pt2canon.strategies.mutations`; this module holds the transforms
behind them. They work on any serialized ``ExportedProgram`` document, not
only on generated ones.

Which nodes may be reordered is decided conservatively and independently of
pt2canon's canonical order: ops are classified by the naming rules of
:mod:`pt2canon.canon.effects` (which the test suite checks against torch's
schemas), but the ordering rule is this module's own and keeps more order
than necessary: every node with a side effect keeps its place among the
others (a ``cond`` whose branches have one counts as one); the *alias class*
holds every tensor argument of a mutating op and grows through the outputs
of views, in-place ops, possibly-aliasing conversions and higher-order ops
that read a member; every node reading the class keeps its side of every
mutation.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pt2canon.canon.effects import effects_of_node, split_target
from pt2canon.serde.spec import FQN_FIELD, input_specs, output_specs

__all__ = ["MUTATION_LEVELS", "mutate", "mutation_sites", "rename_fqns", "rewrite"]

#: Hash levels whose digest must change for each kind of mutation.
MUTATION_LEVELS: Mapping[str, tuple[str, ...]] = {
    "target": ("structure", "graph"),
    "constant": ("structure", "graph"),
    "wiring": ("structure", "graph"),
    "shape": ("graph",),
    "dtype": ("graph",),
}

#: Conversions that return their input itself when there is nothing to convert.
_MAYBE_ALIAS = frozenset({"to", "contiguous", "type_as", "reshape_as", "view_as", "expand_as"})
_TABLES = ("tensor_values", "sym_int_values", "sym_float_values", "sym_bool_values", "custom_obj_values")


# -- reading a document ----------------------------------------------------------------


def _refs(obj: Any, out: list[str]) -> list[str]:
    """Value names an argument refers to (not inside subgraphs)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("name", "as_name") and isinstance(v, str):
                out.append(v)
            elif k != "graph":
                _refs(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _refs(v, out)
    return out


def _subgraphs(node: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for na in node["inputs"]:
        if "as_graph" in na["arg"]:
            yield na["arg"]["as_graph"]["graph"]


def _constants(node: Mapping[str, Any]) -> dict[str, Any]:
    return {na["name"]: na["arg"] for na in node["inputs"] if "as_tensor" not in na["arg"]}


def _has_effect(node: Mapping[str, Any]) -> bool:
    if effects_of_node(node["target"], _constants(node)).ordered:
        return True
    return any(_has_effect(n) for g in _subgraphs(node) for n in g["nodes"])


def _mutates(node: Mapping[str, Any]) -> bool:
    eff = effects_of_node(node["target"], _constants(node))
    return bool(eff.mutates) or (eff.effectful and not eff.random)


def _aliases(node: Mapping[str, Any]) -> bool:
    eff = effects_of_node(node["target"], _constants(node))
    ns, packet, _ = split_target(node["target"])
    return eff.view or bool(eff.mutates) or packet in _MAYBE_ALIAS or ns == "higher_order" or eff.effectful


# -- rewrites --------------------------------------------------------------------------


def _random_topo(nodes: list[dict[str, Any]], rnd: random.Random) -> list[dict[str, Any]]:
    produced: dict[str, int] = {}
    for i, n in enumerate(nodes):
        for v in _refs(n["outputs"], []):
            produced[v] = i
    used = [_refs([na["arg"] for na in n["inputs"]], []) for n in nodes]
    deps: list[set[int]] = [{produced[u] for u in us if u in produced} for us in used]
    last_ordered = None
    for i, n in enumerate(nodes):
        if _has_effect(n):
            if last_ordered is not None:
                deps[i].add(last_ordered)
            last_ordered = i
    alias: set[str] = set()
    for i, n in enumerate(nodes):
        if _mutates(n):
            alias.update(used[i])
    readers: list[int] = []
    for i, n in enumerate(nodes):
        if alias & set(used[i]):
            readers.append(i)
            if _aliases(n):
                alias.update(_refs(n["outputs"], []))
    for m in (i for i in readers if _mutates(nodes[i])):
        for r in readers:
            if r < m:
                deps[m].add(r)
            elif r > m:
                deps[r].add(m)
    placed: list[int] = []
    done: set[int] = set()
    while len(placed) < len(nodes):
        i = rnd.choice([i for i in range(len(nodes)) if i not in done and deps[i] <= done])
        placed.append(i)
        done.add(i)
    return [nodes[i] for i in placed]


def _shuffle_keys(obj: Any, rnd: random.Random) -> Any:
    if isinstance(obj, dict):
        items = list(obj.items())
        rnd.shuffle(items)
        return {k: _shuffle_keys(v, rnd) for k, v in items}
    if isinstance(obj, list):
        return [_shuffle_keys(v, rnd) for v in obj]
    return obj


def _collect_names(obj: Any, out: list[str]) -> list[str]:
    """Every value, node and subgraph name (a ``NamedArgument``'s name is the schema's, not a value's)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("name", "as_name", "user_input_name") and isinstance(v, str):
                if "arg" not in obj or k == "user_input_name":
                    out.append(v)
            elif k in _TABLES and isinstance(v, dict):
                out.extend(v)
                for m in v.values():
                    _collect_names(m, out)
            else:
                _collect_names(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _collect_names(v, out)
    return out


def _rename(doc: Any, mapping: Mapping[str, str], symbols: Mapping[str, str]) -> Any:
    word = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

    def fix_expr(s: str) -> str:
        return word.sub(lambda m: symbols.get(m.group(0), m.group(0)), s) if symbols else s

    def fix_message(s: str) -> str:
        # torch's assert messages name nodes quoted ("on node 'ge_1'") and symbols as words.
        s = re.sub(r"'([A-Za-z_][A-Za-z0-9_]*)'", lambda m: f"'{mapping.get(m.group(1), m.group(1))}'", s)
        return fix_expr(s)

    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            if "assert" in str(obj.get("target", "")) and isinstance(obj.get("inputs"), list):
                obj = {**obj, "inputs": [_message_arg(na, fix_message) for na in obj["inputs"]]}
            out: dict[str, Any] = {}
            for k, v in obj.items():
                if k in _TABLES and isinstance(v, dict):
                    out[k] = {mapping.get(n, n): walk(m) for n, m in v.items()}
                elif k == "range_constraints" and isinstance(v, dict):
                    out[k] = {symbols.get(n, n): walk(m) for n, m in v.items()}
                elif ((k in ("name", "as_name") and "arg" not in obj) or k == "user_input_name") and isinstance(v, str):
                    out[k] = mapping.get(v, v)
                elif k == "expr_str" and isinstance(v, str):
                    out[k] = fix_expr(v)
                else:
                    out[k] = walk(v)
            return out
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return walk(doc)


def _message_arg(na: Any, fix: Any) -> Any:
    if isinstance(na, dict) and isinstance(na.get("arg"), dict) and isinstance(na["arg"].get("as_string"), str):
        return {**na, "arg": {"as_string": fix(na["arg"]["as_string"])}}
    return na


def _noise(graph: dict[str, Any], rnd: random.Random) -> None:
    """Replace node metadata and example hints by noise, recursively."""
    for n in graph["nodes"]:
        for sub in _subgraphs(n):
            _noise(sub, rnd)
        n["metadata"] = {
            "stack_trace": f'File "other_{rnd.randint(0, 99)}.py", line {rnd.randint(1, 999)}',
            "nn_module_stack": rnd.choice(["a", "b,c"]),
        }
    for meta in graph.get("tensor_values", {}).values():
        for s in meta.get("sizes", []):
            if "as_expr" in s:
                s["as_expr"]["hint"] = rnd.choice([None, {"as_int": rnd.randint(2, 64)}])
    for s in graph.get("sym_int_values", {}).values():
        if "as_expr" in s:
            s["as_expr"]["hint"] = {"as_int": rnd.randint(2, 64)}


def _reorder(graph: dict[str, Any], rnd: random.Random) -> None:
    for n in graph["nodes"]:
        for sub in _subgraphs(n):
            _reorder(sub, rnd)
    graph["nodes"] = _random_topo(graph["nodes"], rnd)


def _move_state_inputs(gm: dict[str, Any], rnd: random.Random) -> None:
    """List parameters, buffers and other state inputs in another order (with their specs).

    Tokens, user inputs and constant inputs (the calling convention) keep their order.
    """
    g, sig = gm["graph"], gm["signature"]
    pairs = list(zip(g["inputs"], sig["input_specs"]))
    calling = ("user_input", "constant_input", "token")
    fixed = [p for p in pairs if any(k in p[1] for k in calling)]
    movable = [p for p in pairs if not any(k in p[1] for k in calling)]
    rnd.shuffle(movable)
    g["inputs"] = [p[0] for p in movable + fixed]
    sig["input_specs"] = [p[1] for p in movable + fixed]


def rewrite(
    doc: Mapping[str, Any],
    seed: int,
    *,
    reorder: bool = True,
    rename: bool = True,
    move_inputs: bool = True,
    noise: bool = True,
    shuffle_keys: bool = True,
) -> dict[str, Any]:
    """The rewrite of ``doc`` chosen by ``seed`` (see :func:`pt2canon.strategies.rewrites`)."""
    rnd = random.Random(seed)
    out: dict[str, Any] = copy.deepcopy(dict(doc))
    gm = out["graph_module"]
    if noise:
        _noise(gm["graph"], rnd)
    if reorder:
        _reorder(gm["graph"], rnd)
    if move_inputs:
        _move_state_inputs(gm, rnd)
    if rename:
        names = sorted(set(_collect_names(out, [])))
        fresh = rnd.sample(range(10_000, 99_999), len(names))
        mapping = {old: f"t{n}" for old, n in zip(names, fresh)}
        old_symbols = sorted(out.get("range_constraints", {}))
        numbers = rnd.sample(range(1000, 9999), len(old_symbols))
        # The letters say what kind of symbol it is (``s`` backed, ``u`` unbacked): keep them.
        symbols = {s: f"{re.sub(r'[0-9]+$', '', s) or 's'}{n}" for s, n in zip(old_symbols, numbers)}
        out = _rename(out, mapping, symbols)
    return _shuffle_keys(out, rnd) if shuffle_keys else out  # type: ignore[no-any-return]


# -- FQN renamings ---------------------------------------------------------------------

_FQN_FIELDS = ("parameter_name", "buffer_name")


def state_fqns(doc: Mapping[str, Any]) -> list[str]:
    """The parameter and buffer FQNs of a document's signature, sorted."""
    specs = input_specs(doc["graph_module"]["signature"])
    return sorted({s.fqn for s in specs if s.fqn is not None and FQN_FIELD[s.tag] in _FQN_FIELDS})


def rename_fqns(doc: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """``doc`` with its parameters and buffers renamed by ``mapping`` (in inputs and mutations)."""
    out: dict[str, Any] = copy.deepcopy(dict(doc))
    sig = out["graph_module"]["signature"]
    for spec in (*input_specs(sig), *output_specs(sig)):
        field = FQN_FIELD.get(spec.tag)
        if field in _FQN_FIELDS and isinstance(spec.body, dict) and field in spec.body:
            spec.body[field] = mapping.get(spec.body[field], spec.body[field])
    return out


# -- mutations -------------------------------------------------------------------------


def _aten_name(target: str) -> str | None:
    return target[len("torch.ops.aten.") :] if target.startswith("torch.ops.aten.") else None


def mutation_sites(doc: Mapping[str, Any], pools: Mapping[str, tuple[str, ...]]) -> list[tuple[str, Any]]:
    """Every ``(kind, where)`` a single mutation can change: a node index or a value name."""
    g = doc["graph_module"]["graph"]
    sites: list[tuple[str, Any]] = []
    for i, n in enumerate(g["nodes"]):
        name = _aten_name(n["target"])
        if name is not None and any(name in pool for pool in pools.values()):
            sites.append(("target", i))
        args = [na["arg"] for na in n["inputs"]]
        if any(isinstance(a.get("as_float"), (int, float)) or "as_ints" in a for a in args):
            sites.append(("constant", i))
        tensors = [a["as_tensor"]["name"] for a in args if "as_tensor" in a]
        if len(tensors) >= 2 and tensors[0] != tensors[1]:
            sites.append(("wiring", i))
    metas = [name for name, meta in g.get("tensor_values", {}).items() if "sizes" in meta and "dtype" in meta]
    sites += [("shape", name) for name in metas]
    sites += [("dtype", name) for name in metas]
    return sites


def mutate(
    doc: Mapping[str, Any], kind: str, where: Any, pools: Mapping[str, tuple[str, ...]], choice: int
) -> dict[str, Any]:
    """``doc`` with one change of ``kind`` at ``where``; ``choice`` picks the replacement op."""
    out: dict[str, Any] = copy.deepcopy(dict(doc))
    g = out["graph_module"]["graph"]
    if kind == "target":
        n = g["nodes"][where]
        name = _aten_name(n["target"])
        pool = next(p for p in pools.values() if name in p)
        others = [p for p in pool if p != name]
        n["target"] = "torch.ops.aten." + others[choice % len(others)]
    elif kind == "constant":
        for na in g["nodes"][where]["inputs"]:
            a = na["arg"]
            if isinstance(a.get("as_float"), (int, float)):
                a["as_float"] = a["as_float"] + 1.5
                break
            if "as_ints" in a:
                a["as_ints"] = [*a["as_ints"], 7]
                break
    elif kind == "wiring":
        ins = [na for na in g["nodes"][where]["inputs"] if "as_tensor" in na["arg"]]
        ins[0]["arg"], ins[1]["arg"] = ins[1]["arg"], ins[0]["arg"]
    elif kind == "shape":
        meta = g["tensor_values"][where]
        meta["sizes"] = [*meta["sizes"], {"as_int": 5}]
        meta["strides"] = [*meta.get("strides", []), {"as_int": 1}]
    elif kind == "dtype":
        meta = g["tensor_values"][where]
        meta["dtype"] = 6 if meta["dtype"] != 6 else 7
    return out
