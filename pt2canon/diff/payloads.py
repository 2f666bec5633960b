"""Weight and constant records (``weight_changed``), from the content digests of
:func:`pt2canon.canon.hashing.payload_digests` (``full`` level unless ``ignore_weights``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pt2canon.diff.fields import jsonable
from pt2canon.diff.records import TOP_GRAPH, Change, GraphPath, Location
from pt2canon.listing import format_tensor_meta

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.diff.tensors import TensorDiff

__all__ = ["compare_extra_files", "compare_payloads", "content_change", "pair_payloads"]


def pair_payloads(
    da: Mapping[str, Any], db: Mapping[str, Any], fqns: Mapping[str, str] | None = None
) -> list[tuple[str | None, str | None]]:
    """``(A's FQN, B's FQN)`` of the payloads of one kind: renamed ones by ``fqns``, the rest by name.

    ``fqns`` maps A's FQN to B's for the tensors the alignment paired
    (:attr:`pt2canon.diff.align.Alignment.fqns`); a payload whose FQN is
    paired with another one is not compared with B's payload of its old
    name, unless both are tied weights (stored in one file with another
    FQN) that hold the same bytes and metadata: their reads switched
    names, each name still holds the tensor. In B's
    FQN order, then A's payloads that B has no counterpart of.

    Examples
    --------
    >>> def p(digest): return {"sha256": digest, "tensor_meta": None}
    >>> a, b = {"1.w": p("x"), "2.w": p("y")}, {"1.w": p("z"), "2.w": p("x"), "3.w": p("y")}
    >>> pair_payloads(a, b, {"1.w": "2.w", "2.w": "3.w"})  # a block inserted at 1: the others shift
    [(None, '1.w'), ('1.w', '2.w'), ('2.w', '3.w')]
    """
    fqns = _renames(da, db, fqns)
    back = {b: a for a, b in fqns.items() if a in da}
    out: list[tuple[str | None, str | None]] = []
    used: set[str] = set()
    for fb in sorted(db):
        fa = back.get(fb)
        if fa is None and fb in da and fqns.get(fb, fb) == fb:
            fa = fb
        if fa is not None:
            used.add(fa)
        out.append((fa, fb))
    out += [(fa, None) for fa in sorted(da) if fa not in used]
    return out


def _renames(da: Mapping[str, Any], db: Mapping[str, Any], fqns: Mapping[str, str] | None) -> dict[str, str]:
    """``fqns`` less the tied payloads that B holds unchanged under the same name."""
    tied = _tied(da) & _tied(db)
    return {a: b for a, b in (fqns or {}).items() if a != b and not (a in tied and _same_tensor(da.get(a), db.get(a)))}


def _tied(digests: Mapping[str, Any]) -> set[str]:
    """The FQNs stored in one file with another FQN (tied weights)."""
    owners = {d["shares"] for d in digests.values() if d.get("shares") is not None}
    return owners | {f for f, d in digests.items() if d.get("shares") is not None}


def _same_tensor(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    return a is not None and b is not None and a["sha256"] == b["sha256"] and a["tensor_meta"] == b["tensor_meta"]


def compare_payloads(
    section: str,
    da: Mapping[str, Any],
    db: Mapping[str, Any],
    graph: GraphPath = TOP_GRAPH,
    fqns: Mapping[str, str] | None = None,
    numeric: Callable[[str, str], TensorDiff | None] | None = None,
) -> list[Change]:
    """``weight_changed`` per pair of ``weights``/``constants`` digests (:func:`payload_digests`).

    Payloads are paired by :func:`pair_payloads`; a renamed payload with
    the same bytes and metadata is no record (its rename is the
    signature's), and ``shares`` (the FQN a payload's file belongs to
    first) is compared in B's names. For a payload whose bytes changed and
    whose dtype and shape did not, ``numeric(A's FQN, B's FQN)``
    (:func:`pt2canon.diff.tensors.compare_tensors`) says by how much:
    ``details["numeric"]`` holds its figures, and with a tolerance
    ``details["within_tolerance"]`` says whether the record counts.

    Examples
    --------
    Digests as :func:`~pt2canon.canon.hashing.payload_digests` gives them
    (only the fields compared here; ``sha256`` is the content digest):

    >>> def p(digit, n=4):  # a float32 weight of n elements
    ...     meta = {"dtype": 7, "sizes": [{"as_int": n}], "strides": [{"as_int": 1}]}
    ...     return {"sha256": "sha256:" + digit * 64, "tensor_meta": meta, "is_param": True}
    >>> a = {"fc.weight": p("1"), "fc.bias": p("2"), "old.bias": p("3")}
    >>> b = {"fc.weight": p("4"), "fc.bias": p("2", 8), "new.bias": p("5")}
    >>> for c in compare_payloads("weights", a, b):
    ...     print(c.kind, "|", c.summary)
    weight_changed | weight fc.bias: f32[4] -> f32[8]
    weight_changed | weight fc.weight: content 111111111111… -> 444444444444…
    weight_changed | weight new.bias added (f32[4])
    weight_changed | weight old.bias removed (f32[4])

    A weight the alignment renamed (``fqns``) with the same bytes is no
    record; with other bytes, one record names both:

    >>> compare_payloads("weights", {"blocks.1.w": p("1")}, {"blocks.2.w": p("1")}, fqns={"blocks.1.w": "blocks.2.w"})
    []
    >>> [c.summary for c in compare_payloads("weights", {"blocks.1.w": p("1")}, {"blocks.2.w": p("2")},
    ...                                      fqns={"blocks.1.w": "blocks.2.w"})]
    ['weight blocks.2.w: renamed from blocks.1.w; content 111111111111… -> 222222222222…']

    With ``numeric``, a weight whose bytes changed but not its dtype or
    shape is said in numbers (here a stand-in for :func:`~pt2canon.diff.tensors.compare_tensors`):

    >>> from pt2canon.diff.tensors import TensorDiff
    >>> def numeric(fa, fb):
    ...     return TensorDiff(numel=4, differing=1, mismatched=1, max_abs_diff=0.5, max_abs_at=[2],
    ...                       max_rel_diff=0.125, max_rel_at=[2])
    >>> (c,) = compare_payloads("weights", {"fc.weight": p("1")}, {"fc.weight": p("4")}, numeric=numeric)
    >>> c.summary, c.details["numeric"]["differing"]
    ('weight fc.weight: 1 of 4 elements differ, max abs 0.5 at [2], max rel 0.125 at [2]', 1)
    """
    fqns = _renames(da, db, fqns)
    out: list[Change] = []
    word = "weight" if section == "weights" else "constant"
    for fa, fb in pair_payloads(da, db, fqns):
        a = da.get(fa) if fa is not None else None
        b = db.get(fb) if fb is not None else None
        if a is not None and a.get("shares") is not None:
            a = {**a, "shares": fqns.get(a["shares"], a["shares"])}
        if a == b:
            continue
        fqn = fb if fb is not None else fa
        assert fqn is not None
        loc = Location(graph=graph, item=f"{word} {fqn}", module=fqn.rpartition(".")[0] if "." in fqn else None)
        details: dict[str, Any] = {"section": section, "fqn": fqn}
        if fa is not None and fb is not None and fa != fb:
            details["renamed"] = {"old": fa, "new": fb}
        if a is not None:
            details["old"] = jsonable(a)
        if b is not None:
            details["new"] = jsonable(b)
        if a is None:
            summary = f"{word} {fqn} added ({_payload_text(b)})"
        elif b is None:
            summary = f"{word} {fqn} removed ({_payload_text(a)})"
        else:
            parts = [f"renamed from {fa}"] if fa != fb else []
            if a["tensor_meta"] != b["tensor_meta"]:
                parts.append(f"{_payload_text(a)} -> {_payload_text(b)}")
            figures = None
            if a["sha256"] != b["sha256"]:
                if numeric is not None and a["tensor_meta"] == b["tensor_meta"] and fa is not None and fb is not None:
                    figures = numeric(fa, fb)
                if figures is not None and figures.compared:
                    parts.append(figures.summary())
                    details["numeric"] = figures.to_json()
                    if figures.atol or figures.rtol or figures.equal_nan:
                        details["within_tolerance"] = figures.within_tolerance
                else:
                    parts.append(content_change(a["sha256"], b["sha256"]))
                    if figures is not None:
                        parts.append(figures.summary())
            for k in ("is_param", "use_pickle", "shares"):
                if a.get(k) != b.get(k):
                    parts.append(f"{k}: {a.get(k)} -> {b.get(k)}")
            summary = f"{word} {fqn}: " + "; ".join(parts or ["changed"])
        out.append(Change("weight_changed", loc, summary, details))
    return out


def compare_extra_files(da: Mapping[str, Any], db: Mapping[str, Any], graph: GraphPath = TOP_GRAPH) -> list[Change]:
    """``weight_changed`` per extra file (``extra/<name>``) of :func:`extra_file_digests` that differs.

    Examples
    --------
    >>> a = {"notes.txt": {"sha256": "sha256:" + "1" * 64, "size": 3}}
    >>> b = {"notes.txt": {"sha256": "sha256:" + "2" * 64, "size": 3}, "new.bin": {"sha256": "sha256:" + "3" * 64, "size": 9}}
    >>> [c.summary for c in compare_extra_files(a, b)]
    ['extra file new.bin added (9 B)', 'extra file notes.txt: content 111111111111… -> 222222222222…']
    """
    out: list[Change] = []
    for name in sorted(set(da) | set(db)):
        a, b = da.get(name), db.get(name)
        if a == b:
            continue
        if a is None or b is None:
            how, size = ("added", b["size"]) if a is None else ("removed", a["size"])  # type: ignore[index]
            summary = f"extra file {name} {how} ({size} B)"
        else:
            summary = f"extra file {name}: {content_change(a['sha256'], b['sha256'])}"
        details = {"section": "extra_files", "name": name, **({"old": a} if a else {}), **({"new": b} if b else {})}
        out.append(Change("weight_changed", Location(graph=graph, item=f"extra file {name}"), summary, details))
    return out


def content_change(a: str, b: str) -> str:
    """Two ``sha256:`` digests as a record says them: the first 12 hex digits of each.

    Examples
    --------
    >>> content_change("sha256:" + "ab" * 32, "sha256:" + "cd" * 32)
    'content abababababab… -> cdcdcdcdcdcd…'
    """
    return f"content {a[7:19]}… -> {b[7:19]}…"


def _payload_text(p: Mapping[str, Any] | None) -> str:
    if p is None:
        return "-"
    meta = p.get("tensor_meta")
    return (
        format_tensor_meta(meta)
        if isinstance(meta, Mapping)
        else ("pickle" if p.get("use_pickle") else f"{p.get('size')} B")
    )
