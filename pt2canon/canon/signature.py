"""The graph signature in canonical form: input kinds, mutation bindings, output order, renamed specs.

:class:`InputClass`, :func:`input_classes`
    How each graph input is placed: by kind and position, or (named by an
    FQN) by first use.
:func:`mutation_bindings`, :func:`output_slots`
    Which input each mutation or gradient output updates, and the key of
    each output position, as structure for the canonical order.
:func:`rank_outputs`
    Output positions in canonical order.
:func:`rename_arg`, :func:`rename_spec`
    An argument or a spec with its value names renamed.

Every function reads the spec tables of :mod:`pt2canon.serde.spec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import networkx as nx

from pt2canon._json import canonical_bytes
from pt2canon.serde.graph import (
    REF_KINDS,
    iter_refs,
    set_at,
)
from pt2canon.serde.model import in_uses
from pt2canon.serde.spec import INPUT_RANK, OUTPUT_RANK, STATE_FQN_FIELD, TARGET_FIELD, spec_view

__all__ = [
    "InputClass",
    "input_classes",
    "mutation_bindings",
    "output_slots",
    "rank_outputs",
    "rename_arg",
    "rename_spec",
]

_PARAM = {"parameter": {"arg": {"name": "p_w"}, "parameter_name": "w"}}
_USER = {"user_input": {"arg": {"as_tensor": {"name": "x"}}}}


class InputClass(NamedTuple):
    """How one graph input is placed in canonical order (made by :func:`input_classes`).

    Examples
    --------
    >>> c = input_classes([{"buffer": {"arg": {"name": "b_n"}, "buffer_name": "bn.n", "persistent": False}}], 1)[0]
    >>> c.kind, c.rank, c.fqn, c.deferred  # a non-persistent buffer, placed by its first use
    ('buffer/False', 2, 'bn.n', True)
    """

    kind: str  # the spec tag, with a buffer's persistence
    rank: int  # of the kind, in torch's order
    fqn: str
    deferred: bool  # placed by first use (named by an FQN)


def input_classes(specs: list[dict[str, Any]] | None, n: int) -> list[InputClass]:
    """The class of each of ``n`` graph inputs, from the signature's ``specs`` (``None``: a subgraph's).

    Examples
    --------
    >>> [tuple(c) for c in input_classes([_PARAM, _USER], 2)]
    [('parameter', 1, 'w', True), ('user_input', 5, '', False)]
    >>> input_classes(None, 1)  # a subgraph's inputs are positional
    [InputClass(kind='input', rank=0, fqn='', deferred=False)]
    """
    if specs is None:  # a subgraph: positional inputs
        return [InputClass("input", 0, "", False)] * n
    out = []
    for spec in specs:
        s = spec_view(spec)
        tag, body = s.tag, s.body
        fqn_key = STATE_FQN_FIELD.get(tag)
        kind = f"buffer/{body.get('persistent')}" if tag == "buffer" else tag
        out.append(InputClass(kind, INPUT_RANK[tag], body.get(fqn_key, "") if fqn_key else "", fqn_key is not None))
    return out


def mutation_bindings(
    G: nx.MultiDiGraph, output_specs: list[dict[str, Any]] | None, input_specs: list[dict[str, Any]] | None
) -> dict[int, list[tuple[int, bytes]]]:
    """Which graph input each mutation or gradient output updates, as labelled edges.

    Returns ``{producer node: [(input node, label)]}``: the node whose value
    is the ``k``-th graph output updates input ``t`` (found by FQN or by
    user-input name); the label is the spec tag and which of the producer's
    values it is. This relation is structure: a buffer mutated by one value
    or by another is another program, whatever the buffers are named.

    Examples
    --------
    A graph of one input (node 0), one op (node 1) and the output node
    (node 2) whose only output is a mutation of the buffer the input is:

    >>> from pt2canon.serde.graph import to_networkx
    >>> b = {"as_tensor": {"name": "b"}}
    >>> graph = {"inputs": [b], "outputs": [{"as_tensor": {"name": "add"}}],
    ...          "nodes": [{"target": "torch.ops.aten.add.Tensor", "inputs": [
    ...              {"name": "self", "arg": b, "kind": 1}, {"name": "other", "arg": b, "kind": 1}],
    ...              "outputs": [{"as_tensor": {"name": "add"}}], "metadata": {}}],
    ...          "tensor_values": {}, "sym_int_values": {}, "sym_bool_values": {}, "sym_float_values": {},
    ...          "custom_obj_values": {}, "is_single_tensor_return": False}
    >>> mutation_bindings(to_networkx(graph),
    ...                   [{"buffer_mutation": {"arg": {"name": "add"}, "buffer_name": "bn.n"}}],
    ...                   [{"buffer": {"arg": {"name": "b"}, "buffer_name": "bn.n", "persistent": True}}])
    {1: [(0, b'["buffer_mutation",0]')]}
    """
    if output_specs is None or input_specs is None:
        return {}
    by_name: dict[tuple[str, str], int] = {}
    for i, spec in enumerate(input_specs):
        s = spec_view(spec)
        tag, body = s.tag, s.body
        fqn_key = STATE_FQN_FIELD.get(tag)
        if fqn_key is not None:
            by_name.setdefault((fqn_key, body.get(fqn_key, "")), i)
        arg = body.get("arg")
        if tag == "user_input" and isinstance(arg, dict):
            for _, _, name, _ in iter_refs(arg):
                by_name.setdefault(("user_input_name", name), i)
    producers: dict[int, tuple[int, int]] = {}
    for u, keyed in in_uses(G)[G.graph["output"]].items():
        for key, d in keyed.items():
            producers[key[0]] = (u, d["out"])
    out: dict[int, list[tuple[int, bytes]]] = {}
    for i, spec in enumerate(output_specs):
        s = spec_view(spec)
        tag, body = s.tag, s.body
        field_name = TARGET_FIELD.get(tag)
        if field_name is None or i not in producers:
            continue
        target = by_name.get((field_name, body.get(field_name, "")))
        if target is None:
            continue
        u, k = producers[i]
        out.setdefault(u, []).append((target, canonical_bytes([tag, k])))
    return out


def output_slots(
    output_specs: list[dict[str, Any]] | None, input_specs: list[dict[str, Any]] | None, input_rank: Mapping[int, int]
) -> dict[int, Any] | None:
    """The key of each graph output position in the order's digests (``None``: the positions themselves).

    User outputs, loss outputs and tokens are positional (the k-th of their
    kind); a user-input mutation or gradient is keyed by its user input's
    position; mutations of and gradients to parameters and buffers share one
    key per kind: which state they update is told by the values they read,
    and their order in the document means nothing.

    Examples
    --------
    >>> outs = [{"user_output": {"arg": {"as_tensor": {"name": "y"}}}},
    ...         {"user_input_mutation": {"arg": {"name": "add"}, "user_input_name": "x"}},
    ...         {"parameter_mutation": {"arg": {"name": "mul"}, "parameter_name": "w"}}]
    >>> output_slots(outs, [_PARAM, _USER], {1: 0})
    {0: ('user', 0), 1: ('user_input_mutation', 0), 2: ('parameter_mutation',)}
    """
    if output_specs is None or input_specs is None:
        return None
    user_input: dict[str, int] = {}
    for i, spec in enumerate(input_specs):
        arg = spec.get("user_input", {}).get("arg")
        if isinstance(arg, dict):
            for _, _, name, _ in iter_refs(arg):
                user_input.setdefault(name, input_rank.get(i, -1))
    counts: dict[str, int] = {}
    slots: dict[int, tuple[Any, ...]] = {}
    for i, spec in enumerate(output_specs):
        s = spec_view(spec)
        tag, body = s.tag, s.body
        if tag in ("parameter_mutation", "buffer_mutation", "gradient_to_parameter"):
            slots[i] = (tag,)
        elif tag in ("user_input_mutation", "gradient_to_user_input"):
            slots[i] = (tag, user_input.get(body.get("user_input_name", ""), -1))
        else:
            group = "user" if tag in ("user_output", "loss_output") else tag
            slots[i] = (group, counts.get(group, 0))
            counts[group] = counts.get(group, 0) + 1
    return slots


def rank_outputs(specs: list[dict[str, Any]], input_specs: list[dict[str, Any]], input_order: list[int]) -> list[int]:
    """Output positions in canonical order: by kind, then mutations and gradients by their input's position.

    The input a mutation or gradient output refers to is found by FQN
    (``buffer_name``, ``parameter_name``) or by value name
    (``user_input_name``); user outputs keep their positions.

    Examples
    --------
    A user output first, then the mutation of the parameter: torch puts mutations first.

    >>> outs = [{"user_output": {"arg": {"as_tensor": {"name": "y"}}}},
    ...         {"parameter_mutation": {"arg": {"name": "mul"}, "parameter_name": "w"}}]
    >>> rank_outputs(outs, [_PARAM, _USER], [0, 1])
    [1, 0]
    """
    position = {i: k for k, i in enumerate(input_order)}
    by_target: dict[tuple[str, str], int] = {}
    for i, spec in enumerate(input_specs):
        s = spec_view(spec)
        tag, body = s.tag, s.body
        if tag in STATE_FQN_FIELD:
            by_target.setdefault((tag, body.get(STATE_FQN_FIELD[tag], "")), position[i])
        arg = body.get("arg")
        if tag == "user_input" and isinstance(arg, dict):
            for _, _, name, _ in iter_refs(arg):
                by_target.setdefault(("value", name), position[i])

    def key(i: int) -> tuple[int, int, str, int]:
        s = spec_view(specs[i])
        tag, body = s.tag, s.body
        if tag in ("parameter_mutation", "gradient_to_parameter"):
            target = ("parameter", body.get("parameter_name", ""))
        elif tag == "buffer_mutation":
            target = ("buffer", body.get("buffer_name", ""))
        elif tag in ("user_input_mutation", "gradient_to_user_input"):
            target = ("value", body.get("user_input_name", ""))
        else:
            return (OUTPUT_RANK[tag], -1, "", i)
        pos = by_target.get(target)
        if pos is None:  # refers to no input: after the others, by name
            return (OUTPUT_RANK[tag], len(position), target[1], i)
        return (OUTPUT_RANK[tag], pos, "", i)

    return sorted(range(len(specs)), key=key)


def rename_arg(arg: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """``arg`` with the value names it refers to renamed (names ``names`` lacks are kept); ``arg`` itself if none.

    Examples
    --------
    >>> rename_arg({"as_tensors": [{"name": "a"}, {"name": "b"}]}, {"a": "v0"})
    {'as_tensors': [{'name': 'v0'}, {'name': 'b'}]}
    >>> c = {"as_int": 3}
    >>> rename_arg(c, {"a": "v0"}) is c
    True
    """
    if len(arg) == 1:
        tag = next(iter(arg))
        if tag not in REF_KINDS:
            return arg  # a constant
        if tag == "as_tensor" and len(arg[tag]) == 1:
            name = arg[tag]["name"]
            return {"as_tensor": {"name": names.get(name, name)}}
    refs = list(iter_refs(arg))
    if not refs:
        return arg
    return set_at(arg, [(path, fld, names.get(name, name)) for path, fld, name, _ in refs])


def rename_spec(spec: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``spec`` with the value names it refers to renamed.

    Examples
    --------
    >>> rename_spec(_PARAM, {"p_w": "v0"})
    {'parameter': {'arg': {'name': 'v0'}, 'parameter_name': 'w'}}
    """
    s = spec_view(spec)
    tag, body = s.tag, s.body
    body = dict(body)
    if tag == "constant_input":
        body["name"] = names.get(body["name"], body["name"])
    if "user_input_name" in body:  # user_input_mutation, gradient_to_user_input (their arg too, below)
        body["user_input_name"] = names.get(body["user_input_name"], body["user_input_name"])
    if "arg" in body:
        a = body["arg"]
        if tag in ("user_input", "user_output"):
            body["arg"] = rename_arg(a, names)
        else:
            body["arg"] = {**a, "name": names.get(a["name"], a["name"])}
    return {tag: body}
