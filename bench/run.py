"""pt2canon benchmarks, side by side with torch on the same bytes.

Run ``python bench/run.py`` (add ``--quick`` for a smoke run on tiny inputs,
``--markdown BENCHMARKS.md`` to rewrite the report). Sections:

``canon``     load + canonicalize + hash of transformer exports (6/24/48/96
              layers; 48 layers with a dynamic batch; a training-mode
              conv/batch-norm/dropout stack; an eval-mode ResNet-like
              net) against torch's
              ``_bytes_to_dataclass`` + ``canonicalize`` on the same
              ``model.json`` bytes, and against the floor (``json.loads`` +
              sha256 of the bytes);
``scaling``   synthetic programs of 1k, 10k, 100k nodes: time and the fitted
              exponent of time ~ nodes**k, plotted to ``bench/scaling.png``;
``diff``      ``pt2canon.diff`` of two 48-layer exports differing in one op,
              loading included;
``cold``      ``pt2canon hash`` as a fresh process on a 48-layer archive;
``full``      ``pt2canon hash --level full`` on an archive with ~1 GiB of
              weights against ``sha256sum`` of the same file, with peak memory.

Each section runs in a fresh interpreter (so that none inherits another's
heap). Each figure is the median of several runs; ratios compare medians
measured side by side in the same process on the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def model_json(path: Path) -> bytes:
    with zipfile.ZipFile(path) as z:
        (name,) = [n for n in z.namelist() if n.endswith("/models/model.json")]
        return z.read(name)


def export_transformer(layers: int, folder: Path, **kw: Any) -> Path:
    import torch
    from corpus import transformer_stack

    path = folder / f"transformer{layers}{'_'.join(f'{k}{v}' for k, v in kw.items())}.pt2"
    if not path.exists():
        _, ep, _ = transformer_stack(layers, **kw)
        torch.export.save(ep, path)
    return path


def export_conv_train(blocks: int, folder: Path) -> Path:
    """A training-mode conv/batch-norm/dropout stack: in-place running-stat updates and random ops."""
    import torch
    from torch import nn

    path = folder / f"conv_train{blocks}.pt2"
    if not path.exists():
        torch.manual_seed(0)
        block = lambda: nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.1))  # noqa: E731
        module = nn.Sequential(*[block() for _ in range(blocks)]).train()
        torch.export.save(torch.export.export(module, (torch.randn(2, 8, 8, 8),)), path)
    return path


def export_resnet_like(blocks: int, folder: Path) -> Path:
    """An eval-mode residual conv net: many parameters and buffers per op, batch norms that only read."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
            self.c2, self.b2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x + self.b2(self.c2(torch.relu(self.b1(self.c1(x))))))

    path = folder / f"resnet_like{blocks}.pt2"
    if not path.exists():
        torch.manual_seed(0)
        module = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), *[Block(16) for _ in range(blocks)], nn.AdaptiveAvgPool2d(1), nn.Flatten()
        ).eval()
        torch.export.save(torch.export.export(module, (torch.randn(2, 3, 16, 16),)), path)
    return path


def canon_programs(folder: Path, quick: bool) -> list[tuple[str, int, Callable[[], Path]]]:
    """``(label, transformer layers or 0, export function)`` of the programs the ``canon`` section measures."""
    if quick:
        return [("transformer, 2 layers", 2, lambda: export_transformer(2, folder))]
    progs: list[tuple[str, int, Callable[[], Path]]] = [
        (f"transformer, {n} layers", n, lambda n=n: export_transformer(n, folder)) for n in (6, 24, 48, 96)
    ]
    progs.append(("transformer, 48 layers, dynamic batch", 0, lambda: export_transformer(48, folder, dynamic=True)))
    progs.append(("conv+BN+dropout, training mode, 100 blocks", 0, lambda: export_conv_train(100, folder)))
    progs.append(("ResNet-like, eval mode, 150 blocks", 0, lambda: export_resnet_like(150, folder)))
    return progs


def bench_canon(folder: Path, quick: bool, repeat: int) -> list[dict[str, Any]]:
    from torch._export.serde import schema
    from torch._export.serde.serialize import _bytes_to_dataclass, canonicalize

    import pt2canon
    from pt2canon._gc import gc_paused

    rows = []
    for label, layers, export in canon_programs(folder, quick):
        data = model_json(export())
        nodes = len(json.loads(data)["graph_module"]["graph"]["nodes"])
        pt2canon.hash(data)  # warm up: first use imports networkx (and sympy for symbolic shapes)
        ours = median_time(lambda data=data: pt2canon.hash(data), repeat)
        # The floor with the collector paused, as pt2canon runs (collections would only add to it).
        floor = median_time(gc_paused(lambda data=data: hashlib.sha256(data).hexdigest() and json.loads(data)), repeat)
        theirs = median_time(
            lambda data=data: canonicalize(_bytes_to_dataclass(schema.ExportedProgram, data)), max(1, repeat // 3)
        )
        rows.append(
            {
                "program": label,
                "layers": layers,
                "op_nodes": nodes,
                "bytes": len(data),
                "pt2canon_s": ours,
                "torch_s": theirs,
                "floor_s": floor,
                "speedup_vs_torch": theirs / ours,
                "ratio_to_floor": ours / floor,
            }
        )
        print(
            f"canon {label:<44} {nodes:>5} nodes: pt2canon {ours * 1e3:7.1f} ms  torch {theirs * 1e3:8.1f} ms  "
            f"x{theirs / ours:5.1f}  floor {floor * 1e3:5.1f} ms ({ours / floor:.1f}x floor)",
            flush=True,
        )
    return rows


def bench_scaling(sizes: list[int], repeat: int, plot: Path | None) -> dict[str, Any]:
    import numpy as np
    from synthetic import synthetic_program

    import pt2canon
    from pt2canon._json import canonical_bytes

    rows = []
    for n in sizes:
        data = canonical_bytes(synthetic_program(n))
        if not rows:
            pt2canon.hash(data)  # warm up
        t = median_time(lambda data=data: pt2canon.hash(data), repeat)
        rows.append({"nodes": n, "bytes": len(data), "seconds": t})
        print(f"scaling {n:>7} nodes: {t:.3f} s", flush=True)
    k = (
        float(np.polyfit(np.log([r["nodes"] for r in rows]), np.log([r["seconds"] for r in rows]), 1)[0])
        if len(rows) > 1
        else float("nan")
    )
    print(f"scaling exponent: {k:.2f}", flush=True)
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        xs = [r["nodes"] for r in rows]
        ax.loglog(xs, [r["seconds"] for r in rows], "o-", label="pt2canon hash (load+canonicalize+hash)")
        ax.loglog(xs, [rows[0]["seconds"] * x / xs[0] for x in xs], "--", color="grey", label="linear")
        ax.set_xlabel("op nodes")
        ax.set_ylabel("seconds")
        ax.set_title(f"Scaling on synthetic programs (exponent {k:.2f})")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(plot, dpi=120)
        plt.close(fig)
    return {"rows": rows, "exponent": k}


def bench_diff(folder: Path, layers: int, repeat: int) -> dict[str, Any]:
    import torch
    from corpus import transformer_stack

    import pt2canon

    a = export_transformer(layers, folder)
    b = folder / f"transformer{layers}_changed.pt2"
    if not b.exists():
        module, _, args = transformer_stack(layers)
        layer = module.layers[layers // 2]
        layer.activation = torch.nn.functional.gelu  # one op changes: relu -> gelu
        torch.export.save(torch.export.export(module, args), b)
    result = pt2canon.diff(str(a), str(b))
    t = median_time(lambda: pt2canon.diff(str(a), str(b)), repeat)
    print(
        f"diff {layers} layers, one op changed: {t:.3f} s, {len(result.changes)} change(s): {result.summary()}",
        flush=True,
    )
    return {"layers": layers, "seconds": t, "summary": result.summary(), "changes": len(result.changes)}


def bench_cold(folder: Path, layers: int, repeat: int) -> dict[str, Any]:
    path = export_transformer(layers, folder)
    cmd = [sys.executable, "-m", "pt2canon", "hash", str(path)]
    subprocess.run(cmd, check=True, capture_output=True)
    t = median_time(lambda: subprocess.run(cmd, check=True, capture_output=True), repeat)
    bare = median_time(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeat)
    print(f"cold 'pt2canon hash' on {layers} layers: {t:.3f} s (bare python start {bare:.3f} s)", flush=True)
    return {"layers": layers, "seconds": t, "python_start_s": bare}


def _make_big_archive(path: Path, gib: float) -> None:
    import torch

    n = max(1, int(gib * 1024 / 64))  # Linear(4096, 4096) holds 64 MiB of float32

    class Big(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.ModuleList(torch.nn.Linear(4096, 4096, bias=False) for _ in range(n))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for layer in self.layers:
                x = layer(x)
            return x

    with torch.no_grad():
        m = Big()
    torch.export.save(torch.export.export(m, (torch.randn(1, 4096),)), path)


def _peak_rss_mib(cmd: list[str]) -> tuple[float, float]:
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter(); subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def bench_full(folder: Path, gib: float, repeat: int) -> dict[str, Any]:
    rows = []
    for size in (gib / 4, gib):
        path = folder / f"big{size:.2f}.pt2"
        if not path.exists():
            _make_big_archive(path, size)
        ours = [
            _peak_rss_mib([sys.executable, "-m", "pt2canon", "hash", "--level", "full", str(path)])
            for _ in range(repeat)
        ]
        theirs = [_peak_rss_mib(["sha256sum", str(path)]) for _ in range(repeat)]
        t_ours = statistics.median(t for t, _ in ours)
        t_sum = statistics.median(t for t, _ in theirs)
        row = {
            "bytes": path.stat().st_size,
            "pt2canon_s": t_ours,
            "sha256sum_s": t_sum,
            "ratio": t_ours / t_sum,
            "pt2canon_peak_mib": max(m for _, m in ours),
        }
        rows.append(row)
        print(
            f"full {path.stat().st_size / 2**30:.2f} GiB: pt2canon {t_ours:.2f} s, sha256sum {t_sum:.2f} s, ratio {t_ours / t_sum:.2f}, "
            f"peak {row['pt2canon_peak_mib']:.0f} MiB",
            flush=True,
        )
    return {"rows": rows}


def machine() -> dict[str, Any]:
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }


#: The heading of the hand-written part of the report, kept when the figures are regenerated.
NOTES = "## Notes"


def write_markdown(results: dict[str, Any], path: Path) -> None:
    m = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Command: `python bench/run.py --markdown BENCHMARKS.md` (results also in `bench/results/latest.json`).",
        f"Machine: {m['cpus']} CPUs, {m['processor']}, {m['platform']}, Python {m['python']}, torch {m['torch']}.",
        "Each section runs in a fresh interpreter. All figures are medians; ratios compare medians measured "
        "side by side in the same process on the same bytes.",
        "",
    ]
    if "canon" in results:
        lines += [
            "## Load + canonicalize + hash vs torch",
            "",
            "Same `model.json` bytes. pt2canon: `pt2canon.hash(bytes)` (parse, shape checks, graph model, canonical form, layered hash). "
            "torch: `_bytes_to_dataclass(ExportedProgram, bytes)` + `canonicalize` (no hash). Floor: `json.loads` + sha256 of the bytes, with the collector paused as pt2canon runs.",
            "",
            "| program | op nodes | model.json | pt2canon | torch | speed-up | pt2canon / floor |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in results["canon"]:
            lines.append(
                f"| {r['program']} | {r['op_nodes']:,} | {r['bytes'] / 2**20:.1f} MiB | {r['pt2canon_s'] * 1e3:.1f} ms | "
                f"{r['torch_s'] * 1e3:.0f} ms | **{r['speedup_vs_torch']:.0f}x** | {r['ratio_to_floor']:.1f}x |"
            )
        lines.append("")
    if "scaling" in results:
        s = results["scaling"]
        lines += [
            "## Scaling",
            "",
            f"Synthetic programs (`bench/synthetic.py`), `pt2canon.hash(bytes)`. Fitted exponent of time ~ nodes^k: **k = {s['exponent']:.2f}**.",
            "",
            "| op nodes | JSON | time |",
            "|---:|---:|---:|",
        ]
        for r in s["rows"]:
            lines.append(f"| {r['nodes']:,} | {r['bytes'] / 2**20:.1f} MiB | {r['seconds']:.3f} s |")
        lines += ["", "![scaling](bench/scaling.png)", ""]
    if "diff" in results:
        d = results["diff"]
        lines += [
            "## Diff",
            "",
            f"`pt2canon.diff(a, b)` of two {d['layers']}-layer exports where one layer's activation changed, loading included: **{d['seconds']:.3f} s**; it reports {d['changes']} change record(s): {d['summary']}.",
            "",
        ]
    if "cold" in results:
        c = results["cold"]
        lines += [
            "## Cold process",
            "",
            f"`python -m pt2canon hash` on the {c['layers']}-layer archive (static shapes, no torch import): **{c['seconds']:.3f} s**, of which a bare Python start is {c['python_start_s']:.3f} s.",
            "",
        ]
    if "full" in results:
        lines += [
            "## `--level full` vs `sha256sum`",
            "",
            "| archive | pt2canon | sha256sum | ratio | pt2canon peak RSS |",
            "|---:|---:|---:|---:|---:|",
        ]
        for r in results["full"]["rows"]:
            lines.append(
                f"| {r['bytes'] / 2**30:.2f} GiB | {r['pt2canon_s']:.2f} s | {r['sha256sum_s']:.2f} s | {r['ratio']:.2f} | {r['pt2canon_peak_mib']:.0f} MiB |"
            )
        lines.append("")
    lines += _targets(results)
    text = "\n".join(lines) + "\n"
    old = path.read_text() if path.exists() else ""
    if NOTES in old:  # hand-written notes survive a regeneration
        text = text.rstrip("\n") + "\n\n" + old[old.index(NOTES) :]
    path.write_text(text)


def _targets(results: dict[str, Any]) -> list[str]:
    """The targets of issues #3 and #6, with whether this run met them."""
    rows = []

    def row(name: str, target: str, value: str, met: bool) -> None:
        rows.append(f"| {name} | {target} | {value} | {'met' if met else '**not met**'} |")

    for r in results.get("canon", []):
        if r["layers"] == 48:  # the target; the other programs are reported, not targeted
            row(
                f"load+canonicalize+hash, {r['program']}",
                ">= 40x torch",
                f"{r['speedup_vs_torch']:.0f}x",
                r["speedup_vs_torch"] >= 40,
            )
    if "scaling" in results:
        big = results["scaling"]["rows"][-1]
        row(
            f"{big['nodes']:,}-node synthetic graph",
            "< 6 s, about linear",
            f"{big['seconds']:.1f} s, k = {results['scaling']['exponent']:.2f}",
            big["seconds"] < 6,
        )
    if "diff" in results:
        row(
            "diff, 48 layers, one op",
            "< 0.5 s",
            f"{results['diff']['seconds']:.2f} s",
            results["diff"]["seconds"] < 0.5,
        )
    if "cold" in results:
        row(
            "cold `pt2canon hash`, 48 layers",
            "< 0.4 s",
            f"{results['cold']['seconds']:.2f} s",
            results["cold"]["seconds"] < 0.4,
        )
    if "full" in results:
        r = results["full"]["rows"][-1]
        row("`--level full` vs sha256sum", "<= 1.3x", f"{r['ratio']:.2f}x", r["ratio"] <= 1.3)
    if not rows:
        return []
    return ["## Targets", "", "| what | target | this run | |", "|---|---|---|---|", *rows, ""]


SECTIONS = ("canon", "scaling", "diff", "cold", "full")


def run_section(section: str, work: Path, quick: bool, full_gib: float) -> Any:
    """Run one section in this process and return its results."""
    q = quick
    if section == "canon":
        return bench_canon(work, q, 1 if q else 9)
    if section == "scaling":
        return bench_scaling(
            [100, 1000] if q else [1_000, 10_000, 100_000], 1 if q else 3, None if q else HERE / "scaling.png"
        )
    if section == "diff":
        return bench_diff(work, 2 if q else 48, 1 if q else 5)
    if section == "cold":
        return bench_cold(work, 2 if q else 48, 1 if q else 7)
    if section == "full":
        return bench_full(work, 0.01 if q else full_gib, 1 if q else 3) if shutil.which("sha256sum") else None
    raise ValueError(f"unknown section {section!r}")


def _run_isolated(section: str, work: Path, quick: bool, full_gib: float) -> Any:
    """Run one section in a fresh interpreter, so that no section inherits another's heap.

    torch's own canonicalize (``canon``) leaves a large, fragmented heap
    behind and a 100,000-node program (``scaling``) a large one; measured in
    the same process, the next section's allocations pay for them.
    """
    with tempfile.TemporaryDirectory(prefix="pt2canon-bench-") as tmp:
        out = Path(tmp) / f"{section}.json"
        cmd = [sys.executable, __file__, "--only", section, "--work", str(work), "--full-gib", str(full_gib)]
        cmd += ["--section-out", str(out), *(["--quick"] if quick else [])]
        subprocess.run(cmd, check=True)
        return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repetition (a smoke test)")
    parser.add_argument("--only", nargs="*", default=None, choices=SECTIONS, help="sections to run (default: all)")
    parser.add_argument("--markdown", type=Path, help="write the report here (e.g. BENCHMARKS.md)")
    parser.add_argument("--work", type=Path, help="folder for exported archives (default: a temporary folder)")
    parser.add_argument("--full-gib", type=float, default=1.0, help="weights size of the --level full benchmark")
    parser.add_argument("--section-out", type=Path, help=argparse.SUPPRESS)  # one section, in process (internal)
    args = parser.parse_args(argv)
    sections = [s for s in SECTIONS if s in (args.only or SECTIONS)]
    work = args.work or Path(tempfile.mkdtemp(prefix="pt2canon-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.section_out is not None:
        (section,) = sections
        args.section_out.write_text(json.dumps(run_section(section, work, args.quick, args.full_gib)))
        return 0
    results: dict[str, Any] = {"machine": machine()}
    for section in sections:
        result = _run_isolated(section, work, args.quick, args.full_gib)
        if result is not None:
            results[section] = result
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / ("quick.json" if args.quick else "latest.json")).write_text(json.dumps(results, indent=2, sort_keys=True))
    if args.markdown:
        write_markdown(results, args.markdown)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
