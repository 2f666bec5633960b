"""The graph signature in canonical form: input kinds, mutation bindings, output order, renamed specs."""

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
from pt2canon.serde.spec import INPUT_RANK, OUTPUT_RANK, STATE_FQN_FIELD, TARGET_FIELD


class _InputKind(NamedTuple):
    kind: str  # the spec tag, with a buffer's persistence
    rank: int  # of the kind, in torch's order
    fqn: str
    deferred: bool  # placed by first use (named by an FQN)


def _input_kinds(specs: list[dict[str, Any]] | None, n: int) -> list[_InputKind]:
    if specs is None:  # a subgraph: positional inputs
        return [_InputKind("input", 0, "", False)] * n
    out = []
    for spec in specs:
        ((tag, body),) = spec.items()
        fqn_key = STATE_FQN_FIELD.get(tag)
        kind = f"buffer/{body.get('persistent')}" if tag == "buffer" else tag
        out.append(_InputKind(kind, INPUT_RANK[tag], body.get(fqn_key, "") if fqn_key else "", fqn_key is not None))
    return out


def _bindings(
    G: nx.MultiDiGraph, output_specs: list[dict[str, Any]] | None, input_specs: list[dict[str, Any]] | None
) -> dict[int, list[tuple[int, bytes]]]:
    """Which graph input each mutation or gradient output updates, as labelled edges.

    Returns ``{producer node: [(input node, label)]}``: the node whose value
    is the ``k``-th graph output updates input ``t`` (found by FQN or by
    user-input name); the label is the spec tag and which of the producer's
    values it is. This relation is structure: a buffer mutated by one value
    or by another is another program, whatever the buffers are named.
    """
    if output_specs is None or input_specs is None:
        return {}
    by_name: dict[tuple[str, str], int] = {}
    for i, spec in enumerate(input_specs):
        ((tag, body),) = spec.items()
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
        ((tag, body),) = spec.items()
        field_name = TARGET_FIELD.get(tag)
        if field_name is None or i not in producers:
            continue
        target = by_name.get((field_name, body.get(field_name, "")))
        if target is None:
            continue
        u, k = producers[i]
        out.setdefault(u, []).append((target, canonical_bytes([tag, k])))
    return out


def _output_slots(
    output_specs: list[dict[str, Any]] | None, input_specs: list[dict[str, Any]] | None, input_rank: Mapping[int, int]
) -> dict[int, Any] | None:
    """The key of each graph output position in the order's digests (``None``: the positions themselves).

    User outputs, loss outputs and tokens are positional (the k-th of their
    kind); a user-input mutation or gradient is keyed by its user input's
    position; mutations of and gradients to parameters and buffers share one
    key per kind: which state they update is told by the values they read,
    and their order in the document means nothing.
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
        ((tag, body),) = spec.items()
        if tag in ("parameter_mutation", "buffer_mutation", "gradient_to_parameter"):
            slots[i] = (tag,)
        elif tag in ("user_input_mutation", "gradient_to_user_input"):
            slots[i] = (tag, user_input.get(body.get("user_input_name", ""), -1))
        else:
            group = "user" if tag in ("user_output", "loss_output") else tag
            slots[i] = (group, counts.get(group, 0))
            counts[group] = counts.get(group, 0) + 1
    return slots


def _rank_outputs(specs: list[dict[str, Any]], input_specs: list[dict[str, Any]], input_order: list[int]) -> list[int]:
    """Output positions in canonical order: by kind, then mutations and gradients by their input's position.

    The input a mutation or gradient output refers to is found by FQN
    (``buffer_name``, ``parameter_name``) or by value name
    (``user_input_name``); user outputs keep their positions.
    """
    position = {i: k for k, i in enumerate(input_order)}
    by_target: dict[tuple[str, str], int] = {}
    for i, spec in enumerate(input_specs):
        ((tag, body),) = spec.items()
        if tag in STATE_FQN_FIELD:
            by_target.setdefault((tag, body.get(STATE_FQN_FIELD[tag], "")), position[i])
        arg = body.get("arg")
        if tag == "user_input" and isinstance(arg, dict):
            for _, _, name, _ in iter_refs(arg):
                by_target.setdefault(("value", name), position[i])

    def key(i: int) -> tuple[int, int, str, int]:
        ((tag, body),) = specs[i].items()
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


def _rename_arg(arg: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """``arg`` with the value names it refers to renamed (names ``names`` lacks are kept); ``arg`` itself if none."""
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


def _rename_spec(spec: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    ((tag, body),) = spec.items()
    body = dict(body)
    if tag == "constant_input":
        body["name"] = names.get(body["name"], body["name"])
    if "user_input_name" in body:  # user_input_mutation, gradient_to_user_input (their arg too, below)
        body["user_input_name"] = names.get(body["user_input_name"], body["user_input_name"])
    if "arg" in body:
        a = body["arg"]
        if tag in ("user_input", "user_output"):
            body["arg"] = _rename_arg(a, names)
        else:
            body["arg"] = {**a, "name": names.get(a["name"], a["name"])}
    return {tag: body}
