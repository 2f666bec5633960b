"""Benchmarks of pt2canon on the FX graphs ``torch.compile`` captures, side by side with torch.

Run ``python bench/fx.py`` (``--quick`` for a smoke run on tiny inputs,
``--markdown BENCHMARKS.md`` to rewrite the report's FX section, kept
between ``<!-- fx:begin -->`` and ``<!-- fx:end -->`` at the end of the
file, where ``bench/run.py`` leaves it alone). Sections, each in a fresh
interpreter:

``capture``   a 48-layer transformer (``tests/corpus.py`` ``transformer_stack``):
              Dynamo's capture time (``torch.compile`` with a backend that
              only keeps the graph, first call) against pt2canon's
              ``load`` + ``hash`` of the captured graph, in the same process;
              three processes, medians;
``recorder``  the same compile with ``backend=pt2canon.fx.recorder(...,
              then="eager")`` against ``backend="eager"``, and a 2-layer
              stack compiled by Inductor with and without the recorder:
              each compile in its own process, in ABBA order, the time
              spent inside the recorder measured in the compile itself;
``cachekey``  equivalent variants of one function compiled by Inductor: how
              many distinct Inductor FX graph cache keys
              (``torch._inductor.codecache.compiled_fx_graph_hash``, recorded
              as Inductor computes them) and how many distinct pt2canon hashes
              (of the Dynamo graph the recorder sees, and of the very graph
              Inductor keys).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

BEGIN, END = "<!-- fx:begin -->", "<!-- fx:end -->"
SECTIONS = ("capture", "recorder", "cachekey")


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def _transformer(layers: int) -> tuple[Any, Any]:
    from corpus import transformer_stack

    module, _, args = transformer_stack(layers)
    return module, args[0]


def _warm_up() -> None:
    import torch

    torch._dynamo.reset()
    torch.compile(lambda x: torch.sin(x) + 1, backend="eager")(torch.randn(4))


def _capture_once(module: Any, x: Any) -> tuple[float, Any, list[Any]]:
    import torch

    torch._dynamo.reset()
    got: list[tuple[Any, list[Any]]] = []

    def keep(gm: Any, example_inputs: list[Any]) -> Any:
        got.append((gm, list(example_inputs)))
        return gm.forward

    t = time.perf_counter()
    torch.compile(module, backend=keep)(x)
    seconds = time.perf_counter() - t
    (gm, inputs), *_ = got
    return seconds, gm, inputs


def _one(kind: str, layers: int, quick: bool) -> dict[str, Any]:
    """One measurement in this (fresh) process: a capture and its hashing, or one compile."""
    import torch

    import pt2canon
    import pt2canon.fx

    module, x = _transformer(layers)
    _warm_up()
    if kind == "capture":
        seconds, gm, inputs = _capture_once(module, x)
        pt2canon.hash(pt2canon.load(gm, example_inputs=inputs))  # first call: imports
        hashes, converts = [], []
        for _ in range(1 if quick else 7):
            t = time.perf_counter()
            pt2canon.hash(pt2canon.load(gm, example_inputs=inputs))
            hashes.append(time.perf_counter() - t)
            t = time.perf_counter()
            art = pt2canon.load(gm, example_inputs=inputs)
            converts.append(time.perf_counter() - t)
        return {
            "capture": seconds,
            "hash": _median(hashes),
            "convert": _median(converts),
            "fx_nodes": len(gm.graph.nodes),
            "op_nodes": len(art.model.program["graph_module"]["graph"]["nodes"]),
        }
    recorded, then = kind.split("-")
    if then == "inductor":
        torch._inductor.config.fx_graph_cache = False  # every compile does the whole work
        torch._functorch.config.enable_autograd_cache = False
    spent: list[float] = []
    backend: Any = then
    with tempfile.TemporaryDirectory() as tmp:
        if recorded == "recorded":
            rec = pt2canon.fx.recorder(tmp, then=then)
            record = rec.record

            def timed(gm: Any, example_inputs: Any = None) -> Any:
                t = time.perf_counter()
                try:
                    return record(gm, example_inputs)
                finally:
                    spent.append(time.perf_counter() - t)

            rec.record = timed  # type: ignore[method-assign]
            backend = rec
        torch._dynamo.reset()
        t = time.perf_counter()
        torch.compile(module, backend=backend)(x)
        seconds = time.perf_counter() - t
    return {"compile": seconds, "recorder": sum(spent)}


def _fresh(kind: str, layers: int, quick: bool) -> dict[str, Any]:
    """:func:`_one` in a new interpreter, so that no measurement inherits another's caches or heap."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "one.json"
        cmd = [sys.executable, __file__, "--one", kind, "--layers", str(layers), "--section-out", str(out)]
        subprocess.run([*cmd, *(["--quick"] if quick else [])], check=True)
        return json.loads(out.read_text())  # type: ignore[no-any-return]


def bench_capture(quick: bool) -> dict[str, Any]:
    layers, repeat = (2, 1) if quick else (48, 3)
    runs = [_fresh("capture", layers, quick) for _ in range(repeat)]
    return {
        "layers": layers,
        "fx_nodes": runs[0]["fx_nodes"],
        "op_nodes": runs[0]["op_nodes"],
        "capture_seconds": _median([r["capture"] for r in runs]),
        "hash_seconds": _median([r["hash"] for r in runs]),
        "convert_seconds": _median([r["convert"] for r in runs]),
        "ratio": _median([r["hash"] / r["capture"] for r in runs]),  # side by side, per process
        "runs": runs,
    }


def bench_recorder(quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    plan = (("eager", 2 if quick else 48, 1 if quick else 3), ("inductor", 1 if quick else 2, 1 if quick else 2))
    for then, layers, pairs in plan:
        if then == "inductor":
            _fresh("plain-inductor", layers, quick)  # warm-up: Inductor's kernel caches on disk
        order = [("plain", "recorded") if i % 2 == 0 else ("recorded", "plain") for i in range(pairs)]  # ABBA
        runs: dict[str, list[dict[str, Any]]] = {"plain": [], "recorded": []}
        for pair in order:
            for which in pair:
                runs[which].append(_fresh(f"{which}-{then}", layers, quick))
        out[then] = {
            "layers": layers,
            "plain_seconds": _median([r["compile"] for r in runs["plain"]]),
            "recorded_seconds": _median([r["compile"] for r in runs["recorded"]]),
            "recorder_seconds": _median([r["recorder"] for r in runs["recorded"]]),
            "overhead": _median([r["recorder"] / r["compile"] for r in runs["recorded"]]),
            "runs": runs,
        }
    return out


VARIANTS = {
    "base": """
def step(x, w1, w2):
    a = torch.relu(x @ w1)
    b = torch.sigmoid(x @ w2)
    return a * b + a.sum()
""",
    "renamed locals": """
def step(x, w1, w2):
    left = torch.relu(x @ w1)
    right = torch.sigmoid(x @ w2)
    return left * right + left.sum()
""",
    "renamed arguments": """
def step(inp, wa, wb):
    a = torch.relu(inp @ wa)
    b = torch.sigmoid(inp @ wb)
    return a * b + a.sum()
""",
    "swapped statements": """
def step(x, w1, w2):
    b = torch.sigmoid(x @ w2)
    a = torch.relu(x @ w1)
    return a * b + a.sum()
""",
    "swapped activations": """
def step(x, w1, w2):
    u = x @ w1
    v = x @ w2
    b = torch.sigmoid(v)
    a = torch.relu(u)
    return a * b + a.sum()
""",
    "helper function": """
def branch(x, w, f):
    return f(x @ w)

def step(x, w1, w2):
    a = branch(x, w1, torch.relu)
    b = branch(x, w2, torch.sigmoid)
    return a * b + a.sum()
""",
    "function spelling": """
def step(x, w1, w2):
    a = torch.relu(torch.matmul(x, w1))
    b = torch.sigmoid(torch.matmul(x, w2))
    return torch.add(torch.mul(a, b), a.sum())
""",
}


def bench_cachekey(quick: bool) -> dict[str, Any]:
    import torch
    import torch._inductor.codecache as codecache

    import pt2canon
    import pt2canon.fx

    names = list(VARIANTS)[:2] if quick else list(VARIANTS)
    args = (torch.randn(8, 16), torch.randn(16, 16), torch.randn(16, 16))
    original = codecache.compiled_fx_graph_hash
    seen: list[tuple[str, str]] = []

    def recording_hash(gm: Any, example_inputs: Any, fx_kwargs: Any, inputs_to_check: Any) -> Any:
        key, lines = original(gm, example_inputs, fx_kwargs, inputs_to_check)
        seen.append((key, pt2canon.hash(pt2canon.load(gm))))
        return key, lines

    codecache.compiled_fx_graph_hash = recording_hash  # type: ignore[assignment]
    # AOTAutograd's own cache, keyed on the Dynamo graph, would skip Inductor (and its key) on a hit.
    torch._functorch.config.enable_autograd_cache = False
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in names:
                namespace: dict[str, Any] = {"torch": torch}
                exec(compile(VARIANTS[name], f"<variant {name}>", "exec"), namespace)  # our own source text
                torch._dynamo.reset()
                seen.clear()
                rec = pt2canon.fx.recorder(Path(tmp) / name.replace(" ", "_"), then="inductor")
                with torch.no_grad():
                    torch.compile(namespace["step"], backend=rec)(*args)
                (entry,) = rec.entries
                (key, inductor_graph_hash), *_ = seen
                rows.append(
                    {
                        "variant": name,
                        "inductor_key": key,
                        "dynamo_graph": entry["hash"],
                        "inductor_graph": inductor_graph_hash,
                    }
                )
    finally:
        codecache.compiled_fx_graph_hash = original  # type: ignore[assignment]
    base = rows[0]
    return {
        "rows": rows,
        "distinct": {k: len({r[k] for r in rows}) for k in ("inductor_key", "dynamo_graph", "inductor_graph")},
        "same_as_base": {
            k: sum(r[k] == base[k] for r in rows) for k in ("inductor_key", "dynamo_graph", "inductor_graph")
        },
    }


def run_section(section: str, quick: bool) -> Any:
    return {"capture": bench_capture, "recorder": bench_recorder, "cachekey": bench_cachekey}[section](quick)


def machine() -> dict[str, Any]:
    import os
    import platform

    import torch

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        BEGIN,
        "## FX graphs (`torch.compile`)",
        "",
        f"Command: `python bench/fx.py --markdown BENCHMARKS.md` (results also in `bench/results/fx.json`). "
        f"Machine: {m['cpus']} CPUs, Python {m['python']}, torch {m['torch']}. Each section runs in a fresh "
        "interpreter; figures are medians; timings are noisy (the machine is shared), ratios are measured side by side in one process.",
        "",
    ]
    c = results.get("capture")
    if c:
        lines += [
            f"### Hashing a captured graph vs capturing it ({c['layers']}-layer transformer)",
            "",
            f"Dynamo graph: {c['fx_nodes']:,} FX nodes, {c['op_nodes']:,} op nodes in the program document.",
            "",
            "| torch.compile capture (first call) | pt2canon load + hash | of which load (conversion) | hash / capture |",
            "|---:|---:|---:|---:|",
            f"| {c['capture_seconds']:.2f} s | {c['hash_seconds'] * 1000:.0f} ms | {c['convert_seconds'] * 1000:.0f} ms | **{c['ratio'] * 100:.2f}%** (target < 5%) |",
            "",
        ]
    r = results.get("recorder")
    if r:
        lines += [
            "### Recorder overhead",
            "",
            "| then | model | compile without | with recorder | time inside the recorder | inside / compile |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for then, row in r.items():
            lines.append(
                f"| {then} | transformer, {row['layers']} layers | {row['plain_seconds']:.2f} s | {row['recorded_seconds']:.2f} s | "
                f"{row['recorder_seconds'] * 1000:.0f} ms | {row['overhead'] * 100:.2f}% |"
            )
        lines += [
            "",
            "Whole-compile times differ run to run by more than the recorder's own time; the column *inside the recorder* is the measured cost.",
            "",
        ]
    k = results.get("cachekey")
    if k:
        lines += [
            "### Equivalent variants: Inductor's FX graph cache key vs pt2canon's hash",
            "",
            'Each variant computes the same function (`bench/fx.py` `VARIANTS`), compiled with `backend=pt2canon.fx.recorder(..., then="inductor")`. '
            "*Inductor key*: `compiled_fx_graph_hash` as Inductor computes it for the forward graph; *pt2canon, Dynamo graph*: the hash the recorder indexes; "
            "*pt2canon, Inductor's graph*: pt2canon's hash of the very graph Inductor keys (post-AOTAutograd, read outside a backend). "
            "A mark means the variant shares the base variant's key or hash.",
            "",
            "| variant | Inductor key | pt2canon, Dynamo graph | pt2canon, Inductor's graph |",
            "|---|:---:|:---:|:---:|",
        ]
        base = k["rows"][0]
        for row in k["rows"]:
            marks = [
                "same" if row[c] == base[c] else "differs" for c in ("inductor_key", "dynamo_graph", "inductor_graph")
            ]
            lines.append(f"| {row['variant']} | {' | '.join(marks)} |")
        s, d = k["same_as_base"], k["distinct"]
        n = len(k["rows"])
        lines += [
            f"| **sharing the base's** | **{s['inductor_key']} of {n}** | **{s['dynamo_graph']} of {n}** | **{s['inductor_graph']} of {n}** |",
            f"| distinct values | {d['inductor_key']} | {d['dynamo_graph']} | {d['inductor_graph']} |",
            "",
            "Why they differ where they do: Inductor's key pickles the graph it is handed, so any change of node order "
            "changes it; AOTAutograd renames nodes and inputs, so renamed locals and arguments do not. pt2canon's "
            "canonical order removes node order; its hash of the Dynamo graph also lists user inputs in the frame's "
            "argument order (Dynamo creates them in first-read order, which the statement swap changes), while the "
            "graph Inductor is handed no longer knows the frame, so there the input order stays part of the program "
            "(it is the calling convention). Spelling a call `torch.matmul` instead of `@` is another target in the "
            "Dynamo graph (pt2canon names Python callables as written), the same ATen op after AOTAutograd.",
            "",
        ]
    lines.append(END)
    return "\n".join(lines)


def write_markdown(results: dict[str, Any], path: Path) -> None:
    old = path.read_text() if path.exists() else ""
    block = markdown(results)
    if BEGIN in old and END in old:
        text = old[: old.index(BEGIN)] + block + old[old.index(END) + len(END) :]
    else:
        text = old.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text if text.endswith("\n") else text + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repetition (a smoke test)")
    parser.add_argument("--only", nargs="*", default=None, choices=SECTIONS, help="sections to run (default: all)")
    parser.add_argument("--markdown", type=Path, help="rewrite the FX section of this report (e.g. BENCHMARKS.md)")
    parser.add_argument("--section-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report-only", action="store_true", help="rewrite --markdown from the last results, no runs")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one measurement in this process (internal)
    parser.add_argument("--layers", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        args.section_out.write_text(json.dumps(_one(args.one, args.layers, args.quick)))
        return 0
    sections = [s for s in SECTIONS if s in (args.only or SECTIONS)]
    folder = HERE / "results"
    if args.report_only:
        write_markdown(json.loads((folder / ("fx-quick.json" if args.quick else "fx.json")).read_text()), args.markdown)
        return 0
    if args.section_out is not None:
        (section,) = sections
        args.section_out.write_text(json.dumps(run_section(section, args.quick)))
        return 0
    results: dict[str, Any] = {"machine": machine()}
    for section in sections:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.json"
            cmd = [
                sys.executable,
                __file__,
                "--only",
                section,
                "--section-out",
                str(out),
                *(["--quick"] if args.quick else []),
            ]
            subprocess.run(cmd, check=True)
            results[section] = json.loads(out.read_text())
    folder.mkdir(exist_ok=True)
    (folder / ("fx-quick.json" if args.quick else "fx.json")).write_text(json.dumps(results, indent=2, sort_keys=True))
    if args.markdown:
        write_markdown(results, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
