"""Signature records (``signature_changed``): inputs, outputs, module call graph, other parts.

Inputs are compared by alignment key (kind, FQN, persistence, constant
value, metadata), outputs by key, the module call graph with A's value
names translated to B's through the alignment (``forward_arg_names``
ignored, as by the hash).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pt2canon.canon.program import CanonicalProgram
from pt2canon.diff.align import Alignment, align_programs
from pt2canon.diff.fields import field_changes, field_summary
from pt2canon.diff.options import Options
from pt2canon.diff.records import Change, ChangeKind, GraphPath, Location
from pt2canon.diff.sides import GraphSide
from pt2canon.diff.symbols import renamed_metas
from pt2canon.listing import format_spec_line, spec_fields
from pt2canon.serde.spec import spec_view

__all__ = ["compare_inputs", "compare_module_call_graph", "compare_outputs", "keyed_outputs", "plain_changes"]


def _example_programs() -> tuple[CanonicalProgram, CanonicalProgram, Alignment]:
    """For the Examples: the bundled MLPs and their alignment (``mlp_v2`` adds a GELU after ``fc2``)."""
    from pt2canon.api import canonicalize

    a, b = canonicalize("examples/mlp_v1.pt2"), canonicalize("examples/mlp_v2.pt2")
    return a, b, align_programs(a, b)


def _spec_parts(spec: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    tag, body = spec_view(spec)
    return tag, dict(body)


def _spec_view(spec: Mapping[str, Any], meta: Any, opts: Options, template: Any = None) -> dict[str, Any]:
    tag, body = _spec_parts(spec)
    view: dict[str, Any] = {"kind": tag}
    for k, v in sorted(body.items()):
        if k in ("arg", "name"):
            continue  # value names: canonical positions, compared through the alignment
        if k.endswith("_name") and not opts.names:
            continue
        view[k] = v
    if tag == "buffer":
        view["persistent"] = body.get("persistent", True)
    if opts.meta and meta is not None:
        view["meta"] = opts.view_meta(meta)
    if template is not None:  # the graph input itself: a constant input's value as the graph holds it
        view["graph_input"] = template
    return view


def _input_template(side: GraphSide, j: int) -> Any:
    """The graph input's ``Argument`` with value names blanked (a constant input's value as it is)."""
    return side.attrs(side.n_ops + j).get("arg")


def _input_meta(side: GraphSide, j: int, symbols: Mapping[str, str] | None = None) -> Any:
    metas = renamed_metas(side, side.n_ops + j, symbols)
    return metas[0] if metas else None


def _input_item(side: GraphSide, j: int) -> str:
    spec = side.input_specs[j] if side.input_specs is not None else None
    if spec is None:
        return f"input {j}"
    tag, body = _spec_parts(spec)
    fqn = next((v for k, v in body.items() if k.endswith("_name") and isinstance(v, str)), None)
    if fqn is not None and tag != "user_input_mutation":
        return f"input {tag} {fqn}"
    key = side.input_keys[j]
    return f"input {tag} #{key[1]}" if isinstance(key[1], int) else f"input {tag}"


def compare_inputs(al: Alignment, opts: Options) -> list[Change]:
    """``signature_changed`` records of the top-level inputs (kind, FQN, flags, metadata).

    Examples
    --------
    The GELU ``mlp_v2`` adds changes no input (the same six parameters and ``x``):

    >>> a, b, al = _example_programs()
    >>> compare_inputs(al, Options())
    []
    """
    a, b = al.a, al.b
    out: list[Change] = []
    if a.input_specs is None or b.input_specs is None:
        return out
    for ja, jb in al.input_pairs():
        sa = a.input_specs[ja] if ja is not None else None
        sb = b.input_specs[jb] if jb is not None else None
        va = vb = None
        if ja is not None and jb is not None:
            va = _spec_view(a.input_specs[ja], _input_meta(a, ja, al.symbols), opts, _input_template(a, ja))
            vb = _spec_view(b.input_specs[jb], _input_meta(b, jb), opts, _input_template(b, jb))
            if va == vb:
                continue
        la = format_spec_line(spec_fields(sa), a.cg.doc) if sa is not None else None
        lb = format_spec_line(spec_fields(sb), b.cg.doc) if sb is not None else None
        xa = a.n_ops + ja if ja is not None else None
        xb = b.n_ops + jb if jb is not None else None
        item = _input_item(b, jb) if jb is not None else _input_item(a, ja) if ja is not None else "input"
        loc = Location(
            graph=al.graph,
            a=a.name(xa) if xa is not None else None,
            b=b.name(xb) if xb is not None else None,
            a_original=a.original_name(xa) if xa is not None else None,
            b_original=b.original_name(xb) if xb is not None else None,
            item=item,
        )
        if sa is None:
            out.append(Change("signature_changed", loc, f"{item} added", {"section": "inputs", "new": sb}, b_line=lb))
            continue
        if sb is None:
            out.append(Change("signature_changed", loc, f"{item} removed", {"section": "inputs", "old": sa}, a_line=la))
            continue
        summary, details = _spec_change("inputs", va, vb)
        out.append(Change("signature_changed", loc, f"{item}: {summary}", details, a_line=la, b_line=lb))
    return out


def _spec_change(section: str, view_a: Any, view_b: Any) -> tuple[str, dict[str, Any]]:
    """The summary and details of a changed signature entry; a changed FQN reads as a rename."""
    fields = field_changes(view_a, view_b)
    details: dict[str, Any] = {"section": section, "changes": fields}
    parts = []
    for f in fields:
        if f["path"].endswith("_name") and f["type"] == "values_changed":  # the FQN: the same tensor, renamed
            details["renamed"] = {"old": f["old"], "new": f["new"]}
            parts.append(f"renamed from {f['old']}")
        else:
            parts.append(field_summary(f))
    return "; ".join(parts), details


def compare_outputs(al: Alignment, opts: Options) -> list[Change]:
    """``signature_changed`` records of top-level outputs added, removed or of another kind.

    Examples
    --------
    Both MLPs return one user output (key ``("user", 0)``): no record.
    The value it returns is another one, but that is the output node's
    wiring, not the signature's (see :func:`keyed_outputs`).

    >>> a, b, al = _example_programs()
    >>> compare_outputs(al, Options())
    []
    """
    a, b = al.a, al.b
    out: list[Change] = []
    spa = keyed_outputs(a)
    spb = keyed_outputs(b)
    for key in [*spb, *(k for k in spa if k not in spb)]:
        ea, eb = spa.get(key), spb.get(key)
        la = format_spec_line(spec_fields(ea), a.cg.doc) if ea is not None else None
        lb = format_spec_line(spec_fields(eb), b.cg.doc) if eb is not None else None
        item = "output " + " ".join(str(k) for k in key)
        loc = Location(graph=al.graph, item=item)
        if ea is None:
            out.append(Change("signature_changed", loc, f"{item} added", {"section": "outputs", "new": eb}, b_line=lb))
        elif eb is None:
            out.append(
                Change("signature_changed", loc, f"{item} removed", {"section": "outputs", "old": ea}, a_line=la)
            )
        else:
            va, vb = _spec_view(ea, None, opts), _spec_view(eb, None, opts)
            if va != vb:
                summary, details = _spec_change("outputs", va, vb)
                out.append(Change("signature_changed", loc, f"{item}: {summary}", details, a_line=la, b_line=lb))
    return out


def keyed_outputs(side: GraphSide) -> dict[Any, dict[str, Any]]:
    """Alignment key -> canonical output spec, in canonical order.

    Examples
    --------
    ``mlp_v1`` defines twelve values (``v0`` .. ``v11``) and returns the
    last; ``mlp_v2``'s added GELU makes it ``v12``:

    >>> a, b, al = _example_programs()
    >>> keyed_outputs(al.a)
    {('user', 0): {'user_output': {'arg': {'as_tensor': {'name': 'v11'}}}}}
    >>> keyed_outputs(al.b)[("user", 0)]["user_output"]["arg"]
    {'as_tensor': {'name': 'v12'}}
    """
    return dict(zip(side.output_spec_keys or (), side.output_specs or ()))


def _value_map(al: Alignment) -> dict[str, str]:
    """A's canonical value names -> B's, through aligned producers."""
    a, b = al.a, al.b
    out: dict[str, str] = {}
    for x, y in enumerate(al.a_to_b):
        if y is None or x == a.out:
            continue
        va, vb = a.attrs(x)["values"], b.attrs(y)["values"]
        for i in range(min(len(va), len(vb))):
            out[a.cg.value_names.get(va[i].name, va[i].name)] = b.cg.value_names.get(vb[i].name, vb[i].name)
    return out


def _rename_refs(obj: Any, names: Mapping[str, str]) -> Any:
    if isinstance(obj, dict):
        return {
            k: (names.get(v, f"?{v}") if k in ("name", "as_name") and isinstance(v, str) else _rename_refs(v, names))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_rename_refs(v, names) for v in obj]
    return obj


def compare_module_call_graph(al: Alignment, ca: CanonicalProgram, cb: CanonicalProgram) -> list[Change]:
    """``signature_changed`` per module call graph entry (by FQN; ``forward_arg_names`` ignored, as by the hash).

    Examples
    --------
    Both MLPs call the modules ``fc1``, ``fc2`` and ``head``: no record.
    With a module ``act`` added to B's call graph (no preserved signature):

    >>> a, b, al = _example_programs()
    >>> compare_module_call_graph(al, a, b)
    []
    >>> import dataclasses
    >>> gm = b.doc["graph_module"]
    >>> calls = [*gm["module_call_graph"], {"fqn": "act", "signature": None}]
    >>> b2 = dataclasses.replace(b, doc={**b.doc, "graph_module": {**gm, "module_call_graph": calls}})
    >>> [(c.kind, c.summary) for c in compare_module_call_graph(al, a, b2)]
    [('signature_changed', 'module_call_graph: 1 module added (act)')]
    """

    def entries(c: CanonicalProgram) -> dict[str, Any]:
        out = {}
        for e in c.doc["graph_module"].get("module_call_graph", []):
            s = e.get("signature")
            if s is not None:
                s = {k: v for k, v in s.items() if k != "forward_arg_names"}
            out[e["fqn"]] = s
        return out

    ea, eb = entries(ca), entries(cb)
    if al.renames:  # modules shifted by an inserted block: compare each with its renamed self
        renamed: dict[str, Any] = {}
        for fqn, s in ea.items():
            renamed.setdefault(al.renames.module(fqn), s)
        ea = renamed
    if ea == eb and all(s is None or not (s.get("inputs") or s.get("outputs")) for s in ea.values()):
        return []
    names: dict[str, str] | None = None
    out: list[Change] = []
    # Modules without a preserved signature, added or removed: one record for all.
    added = [f for f in eb if f not in ea and eb[f] is None]
    removed = [f for f in ea if f not in eb and ea[f] is None]
    if added or removed:
        parts = []
        if added:
            parts.append(
                f"{len(added)} module{'s' if len(added) != 1 else ''} added ({', '.join(added[:5])}{', ...' if len(added) > 5 else ''})"
            )
        if removed:
            parts.append(
                f"{len(removed)} module{'s' if len(removed) != 1 else ''} removed ({', '.join(removed[:5])}{', ...' if len(removed) > 5 else ''})"
            )
        out.append(
            Change(
                "signature_changed",
                Location(graph=al.graph, item="module_call_graph"),
                "module_call_graph: " + "; ".join(parts),
                {"section": "module_call_graph", "added": added, "removed": removed},
            )
        )
    for fqn in [*eb, *(f for f in ea if f not in eb)]:
        item = f"module_call_graph[{fqn!r}]"
        loc = Location(graph=al.graph, item=item, module=fqn)
        if fqn not in ea:
            if eb[fqn] is not None:
                out.append(
                    Change("signature_changed", loc, f"{item} added", {"section": "module_call_graph", "new": eb[fqn]})
                )
            continue
        if fqn not in eb:
            if ea[fqn] is not None:
                out.append(
                    Change(
                        "signature_changed", loc, f"{item} removed", {"section": "module_call_graph", "old": ea[fqn]}
                    )
                )
            continue
        sa, sb = ea[fqn], eb[fqn]
        if sa is not None and (sa.get("inputs") or sa.get("outputs")):
            if names is None:
                names = _value_map(al)
            sa = _rename_refs(sa, names)
        if sa == sb:
            continue
        fields = field_changes(sa, sb)
        parts = []
        for f in fields:
            head = f["path"].split(".")[0].split("[")[0]
            if head not in parts:
                parts.append(head)
        out.append(
            Change(
                "signature_changed",
                loc,
                f"{item}: {', '.join(parts) or 'signature'} changed",
                {"section": "module_call_graph", "changes": fields},
            )
        )
    return out


def plain_changes(section: str, kind: ChangeKind, item: str, old: Any, new: Any, graph: GraphPath) -> list[Change]:
    """One ``kind`` record for a part compared as plain JSON (``verifiers``, ...), field by field; none if equal.

    Examples
    --------
    >>> from pt2canon.diff.records import TOP_GRAPH
    >>> (c,) = plain_changes("verifiers", "signature_changed", "verifiers", ["ATen"], ["ATen", "training"], TOP_GRAPH)
    >>> c.kind, c.summary, c.details["section"]
    ('signature_changed', "verifiers: [1]: added 'training'", 'verifiers')
    >>> plain_changes("verifiers", "signature_changed", "verifiers", ["ATen"], ["ATen"], TOP_GRAPH)
    []
    """
    if old == new:
        return []
    loc = Location(graph=graph, item=item)
    fields = field_changes(old, new)
    summary = "; ".join(field_summary(f) for f in fields) if fields else "changed"
    return [Change(kind, loc, f"{item}: {summary}", {"section": section, "changes": fields})]
