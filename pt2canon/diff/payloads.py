"""Weight and constant records (``weight_changed``), from the content digests of
:func:`pt2canon.canon.hashing.payload_digests` (``full`` level unless ``ignore_weights``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pt2canon.diff.fields import jsonable
from pt2canon.diff.records import TOP_GRAPH, Change, GraphPath, Location
from pt2canon.listing import format_tensor_meta

__all__ = ["compare_payloads"]


def compare_payloads(
    section: str, da: Mapping[str, Any], db: Mapping[str, Any], graph: GraphPath = TOP_GRAPH
) -> list[Change]:
    """``weight_changed`` per FQN of ``weights``/``constants`` digests (:func:`payload_digests`)."""
    out: list[Change] = []
    word = "weight" if section == "weights" else "constant"
    for fqn in sorted(set(da) | set(db)):
        a, b = da.get(fqn), db.get(fqn)
        if a == b:
            continue
        loc = Location(graph=graph, item=f"{word} {fqn}", module=fqn.rpartition(".")[0] if "." in fqn else None)
        details: dict[str, Any] = {"section": section, "fqn": fqn}
        if a is not None:
            details["old"] = jsonable(a)
        if b is not None:
            details["new"] = jsonable(b)
        if a is None:
            summary = f"{word} {fqn} added ({_payload_text(b)})"
        elif b is None:
            summary = f"{word} {fqn} removed ({_payload_text(a)})"
        else:
            parts = []
            if a["tensor_meta"] != b["tensor_meta"]:
                parts.append(f"{_payload_text(a)} -> {_payload_text(b)}")
            if a["sha256"] != b["sha256"]:
                parts.append(f"content {a['sha256'][7:19]}… -> {b['sha256'][7:19]}…")
            for k in ("is_param", "use_pickle", "shares"):
                if a.get(k) != b.get(k):
                    parts.append(f"{k}: {a.get(k)} -> {b.get(k)}")
            summary = f"{word} {fqn}: " + "; ".join(parts or ["changed"])
        out.append(Change("weight_changed", loc, summary, details))
    return out


def _payload_text(p: Mapping[str, Any] | None) -> str:
    if p is None:
        return "-"
    meta = p.get("tensor_meta")
    return (
        format_tensor_meta(meta)
        if isinstance(meta, Mapping)
        else ("pickle" if p.get("use_pickle") else f"{p.get('size')} B")
    )
