"""Programs made of 1,000 symmetric duplicates: pt2canon's exact order, side by side with torch.

Run ``python bench/symmetric.py`` (``--markdown FILE`` appends the table).
Each family has about 1,000 op nodes that colour refinement alone cannot
order (or that are interchangeable twins); for each, the table gives
pt2canon's load + canonicalize + hash time (median of 5), whether the
canonical labelling (BLISS through igraph) was needed, how many distinct
hashes pt2canon gives over 5 random reorderings and renamings of the same
program (1 is right), and torch's ``_bytes_to_dataclass`` + ``canonicalize``
time and number of distinct canonical programs over the same 5 variants.

Families:

``dead twins``           1,000 identical ``neg(x)``, unused;
``mutation twins``       1,000 ``add(buffer_i, 1)`` each updating its own buffer
                         (the ``num_batches_tracked`` pattern of batch norms);
``one ring``             250 ``neg(x)``, 250 ``relu(x)`` and 500 ``add`` joining them in
                         one bipartite cycle, adds dead;
``125 rings``            the same made of 125 cycles of two (many isomorphic components);
``rings into buffers``   one ring whose adds update 500 buffers of two shapes.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

T = "torch.ops.aten."


def _meta(rows: int = 2) -> dict[str, Any]:
    return {
        "dtype": 7,
        "sizes": [{"as_int": rows}, {"as_int": 3}],
        "requires_grad": False,
        "device": {"type": "cpu", "index": None},
        "strides": [{"as_int": 3}, {"as_int": 1}],
        "storage_offset": {"as_int": 0},
        "layout": 7,
    }


def _t(name: str) -> dict[str, Any]:
    return {"as_tensor": {"name": name}}


def _program(
    nodes: list[tuple[str, list[tuple[str, dict[str, Any]]], str]],
    *,
    buffers: dict[str, int] | None = None,
    mutations: list[tuple[str, str]] = (),  # type: ignore[assignment]
    outputs: list[str] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    buffers = buffers or {}
    rows = {out: buffers[b] for out, b in mutations}
    values = {b: _meta(r) for b, r in buffers.items()} | {"x": _meta()}
    values |= {out: _meta(rows.get(out, 2)) for _, _, out in nodes}
    graph_nodes = [
        {
            "target": T + target,
            "inputs": [{"name": n, "arg": a, "kind": 1} for n, a in args],
            "outputs": [_t(out)],
            "metadata": {},
            "name": out,
        }
        for target, args, out in nodes
    ]
    outs = [*(out for out, _ in mutations), *outputs] or ["x"]
    out_specs = [{"buffer_mutation": {"arg": {"name": o}, "buffer_name": b}} for o, b in mutations]
    out_specs += [{"user_output": {"arg": _t(o)}} for o in (outputs or ([] if mutations else ["x"]))]
    return {
        "graph_module": {
            "graph": {
                "inputs": [*(_t(b) for b in buffers), _t("x")],
                "outputs": [_t(o) for o in outs],
                "nodes": graph_nodes,
                "tensor_values": values,
                "sym_int_values": {},
                "sym_bool_values": {},
                "sym_float_values": {},
                "custom_obj_values": {},
                "is_single_tensor_return": False,
            },
            "signature": {
                "input_specs": [
                    *({"buffer": {"arg": {"name": b}, "buffer_name": b, "persistent": True}} for b in buffers),
                    {"user_input": {"arg": _t("x")}},
                ],
                "output_specs": out_specs,
            },
            "module_call_graph": [],
            "metadata": {},
        },
        "opset_version": {"aten": 10},
        "range_constraints": {},
        "schema_version": {"major": 8, "minor": 20},
        "verifiers": [],
        "torch_version": "2.13.0+cpu",
        "guards_code": [],
    }


def _rings(cycles: list[int]) -> list[tuple[str, list[tuple[str, dict[str, Any]]], str]]:
    nodes: list[tuple[str, list[tuple[str, dict[str, Any]]], str]] = []
    adds = []
    for c, k in enumerate(cycles):
        negs, relus = [f"neg{c}_{i}" for i in range(k)], [f"relu{c}_{i}" for i in range(k)]
        nodes += [("neg.default", [("self", _t("x"))], n) for n in negs]
        nodes += [("relu.default", [("self", _t("x"))], r) for r in relus]
        for i in range(k):
            adds.append(("add.Tensor", [("self", _t(negs[i])), ("other", _t(relus[i]))], f"a{c}_{i}"))
            adds.append(("add.Tensor", [("self", _t(negs[(i + 1) % k])), ("other", _t(relus[i]))], f"b{c}_{i}"))
    return nodes + adds


def families() -> dict[str, dict[str, Any]]:
    ring = _rings([250])
    ring_adds = [out for target, _, out in ring if target == "add.Tensor"]
    return {
        "dead twins": _program([("neg.default", [("self", _t("x"))], f"n{i}") for i in range(1000)]),
        "mutation twins": _program(
            [("add.Tensor", [("self", _t(f"buf{i}")), ("other", {"as_int": 1})], f"n{i}") for i in range(1000)],
            buffers={f"buf{i}": 2 for i in range(1000)},
            mutations=[(f"n{i}", f"buf{i}") for i in range(1000)],
        ),
        "one ring": _program(ring),
        "125 rings": _program(_rings([2] * 125)),
        "rings into buffers": _program(
            ring,
            buffers={f"buf{i}": 2 + 2 * (i % 2) for i in range(len(ring_adds))},
            mutations=[(a, f"buf{i}") for i, a in enumerate(ring_adds)],
        ),
    }


def variant(doc: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    """The same program: nodes in another order (all are independent of each other's order
    within their layer), every value and node renamed, buffers and mutations listed in another order."""
    doc = copy.deepcopy(doc)
    gm = doc["graph_module"]
    g = gm["graph"]
    first = [n for n in g["nodes"] if not n["target"].endswith("add.Tensor") or "buf" in json.dumps(n["inputs"])]
    second = [n for n in g["nodes"] if n not in first]
    rnd.shuffle(first)
    rnd.shuffle(second)
    g["nodes"] = first + second
    nb = len(g["inputs"]) - 1
    perm = rnd.sample(range(nb), nb)
    g["inputs"][:nb] = [g["inputs"][i] for i in perm]
    gm["signature"]["input_specs"][:nb] = [gm["signature"]["input_specs"][i] for i in perm]
    nm = sum("buffer_mutation" in s for s in gm["signature"]["output_specs"])
    perm = rnd.sample(range(nm), nm)
    g["outputs"][:nm] = [g["outputs"][i] for i in perm]
    gm["signature"]["output_specs"][:nm] = [gm["signature"]["output_specs"][i] for i in perm]
    names = [v for v in g["tensor_values"] if not v.startswith("buf")]
    fresh = [f"v{i}" for i in range(len(names))]
    rnd.shuffle(fresh)
    mapping = dict(zip(names, fresh))
    text = json.dumps(doc)
    for old, new in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f'"{old}"', f'"{new}"')
    return json.loads(text)


def _median(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _torch_canonical(data: bytes) -> str:
    from torch._export.serde.schema import ExportedProgram
    from torch._export.serde.serialize import _bytes_to_dataclass, _dataclass_to_dict, canonicalize

    ep = canonicalize(_bytes_to_dataclass(ExportedProgram, data))
    return json.dumps(_dataclass_to_dict(ep), sort_keys=True)


def measure(name: str, doc: dict[str, Any], repeat: int = 5) -> dict[str, Any]:
    import pt2canon
    from pt2canon.canon import arrange

    calls = []
    labelling = arrange.canonical_labelling
    arrange.canonical_labelling = lambda *a: calls.append(1) or labelling(*a)  # type: ignore[assignment]
    rnd = random.Random(0)
    datas = [json.dumps(v).encode() for v in [doc, *(variant(doc, rnd) for _ in range(4))]]
    row: dict[str, Any] = {"program": name, "op nodes": len(doc["graph_module"]["graph"]["nodes"])}
    row["pt2canon s"] = _median(lambda: pt2canon.hash(datas[0]), repeat)
    row["labelling"] = bool(calls)
    row["pt2canon distinct"] = len({pt2canon.hash(d) for d in datas})
    try:
        row["torch s"] = _median(lambda: _torch_canonical(datas[0]), max(1, repeat // 2))
        row["torch distinct"] = len({_torch_canonical(d) for d in datas})
    except Exception as exc:  # torch's deserializer may reject a synthetic program: say so
        row["torch s"], row["torch distinct"] = None, f"{type(exc).__name__}"
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, help="append the table to this file")
    args = parser.parse_args(argv)
    lines = [
        "| program | op nodes | pt2canon | BLISS used | distinct hashes (5 variants) | torch | torch distinct |",
        "|---|---:|---:|:---:|---:|---:|---:|",
    ]
    for name, doc in families().items():
        r = measure(name, doc)
        torch_s = f"{r['torch s']:.3f} s" if r["torch s"] is not None else "-"
        lines.append(
            f"| {name} | {r['op nodes']:,} | {r['pt2canon s']:.3f} s | {'yes' if r['labelling'] else 'no'} "
            f"| {r['pt2canon distinct']} | {torch_s} | {r['torch distinct']} |"
        )
        print(lines[-1], flush=True)
    if args.markdown:
        with args.markdown.open("a") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
