"""Benchmarks of the diff's weight comparison, its dtype decoders and the 48-layer diff.

Run ``python bench/diff_weights.py`` (``--quick`` for a smoke run on small
archives, ``--work DIR`` to keep the exported archives). Sections:

``weights``   two archives of ~1 GiB of float32 weights (16 tensors of 64 MiB),
              B = A with every weight scaled by 1 + 1e-6 (every element and
              every chunk differs: the worst case): the numeric comparison of
              every weight pair (:func:`pt2canon.diff.tensors.compare_tensors`,
              streamed from both archives) against ``cat a b > /dev/null`` (both
              files read once), with the compiled kernel
              (:mod:`pt2canon.diff.fused`) and with numpy alone;
              ``pt2canon.diff(a, b, level="full")`` whole (both archives
              hashed too) against ``pt2canon.hash`` of both at ``full``.
``memory``    peak RSS of the numeric comparison of 1 GiB of weights held in
              tensors of 16 MiB, 64 MiB and 256 MiB, each in a fresh process.
``dtypes``    decoding 32 Mi elements of bfloat16 and of each float8 format:
              the hand decoders of :mod:`pt2canon.diff.dtypes` against
              ml_dtypes' ``astype(float32)`` (when ml_dtypes is installed).
``diff48``    ``pt2canon.diff`` of two 48-layer transformer exports that
              differ in one activation (as ``bench/run.py``'s ``diff``).

Every time is the median of several runs measured side by side in one
process, interleaved (each round runs every case once); a ratio to ``cat`` is
the median of each round's ratio.
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
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from run import median_time  # noqa: E402


def export_weights(folder: Path, total_mib: int, tensor_mib: int, scale: float | None, bump: bool = False) -> Path:
    """An archive of ``total_mib`` MiB of float32 weights in tensors of ``tensor_mib`` MiB.

    ``scale`` multiplies every weight; ``bump`` changes one element of one weight.
    """
    import torch

    name = f"w{total_mib}_{tensor_mib}{'_scaled' if scale else ''}{'_bump' if bump else ''}.pt2"
    path = folder / name
    if path.exists():
        return path
    side = int((tensor_mib * (1 << 20) // 4) ** 0.5)

    class Weights(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            gen = torch.Generator().manual_seed(0)
            self.w = torch.nn.ParameterList(
                torch.nn.Parameter(torch.randn(side, side, generator=gen)) for _ in range(total_mib // tensor_mib)
            )
            with torch.no_grad():
                if scale:
                    for p in self.w:
                        p.mul_(scale)
                if bump:
                    self.w[len(self.w) // 2][7, 11] += 1.0

        def forward(self, x: Any) -> Any:
            return sum((x * p[0, 0] for p in self.w), x)

    torch.export.save(torch.export.export(Weights(), (torch.ones(2),)), path)
    return path


def numeric_compare(a: Path, b: Path) -> int:
    """Compare every weight pair of two archives in numbers; the number of elements compared."""
    import pt2canon
    from pt2canon.diff.tensors import compare_tensors

    art_a, art_b = pt2canon.load(a), pt2canon.load(b)
    n = 0
    for fqn, pa in art_a.model.weights.items():
        d = compare_tensors(art_a, pa, art_b, art_b.model.weights[fqn])
        assert d is not None and d.compared
        n += d.numel
    return n


def numpy_only(fn: Any) -> Any:
    """``fn`` run with the compiled kernel switched off (:mod:`pt2canon.diff.fused`): numpy alone."""
    from pt2canon.diff import fused

    def run() -> Any:
        was, fused.ENABLED = fused.ENABLED, False
        try:
            return fn()
        finally:
            fused.ENABLED = was

    return run


def _rounds(fns: dict[str, Any], repeat: int) -> dict[str, list[float]]:
    """Wall times of each function, run in turn ``repeat`` times (interleaved: a slow spell hits them all)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def bench_weights(folder: Path, quick: bool) -> dict[str, Any]:
    import pt2canon
    from pt2canon.diff import fused

    total, tensor = (64, 16) if quick else (1024, 64)
    a = export_weights(folder, total, tensor, None)
    b = export_weights(folder, total, tensor, 1 + 1e-6)
    c = export_weights(folder, total, tensor, None, bump=True)
    repeat = 1 if quick else 7
    subprocess.run(["cat", str(a), str(b), str(c)], stdout=subprocess.DEVNULL, check=True)  # into the page cache
    numeric_compare(a, c)  # numpy imported, threads started once
    times = _rounds(
        {
            "cat": lambda: subprocess.run(["cat", str(a), str(b)], stdout=subprocess.DEVNULL, check=True),
            "numeric": lambda: numeric_compare(a, b),
            "numeric_one": lambda: numeric_compare(a, c),
            "numeric_numpy": numpy_only(lambda: numeric_compare(a, b)),
        },
        repeat,
    )
    times |= _rounds(
        {
            "diff_full": lambda: pt2canon.diff(a, b, level="full"),
            "hash_full_both": lambda: (pt2canon.hash(a, level="full"), pt2canon.hash(b, level="full")),
        },
        max(1, repeat // 2),
    )
    med = {name: statistics.median(ts) for name, ts in times.items()}
    # Each round's ratio to the cat of the same round, then their median: a slow spell cancels out.
    ratios = {
        name: statistics.median(t / c for t, c in zip(times[name], times["cat"]))
        for name in ("numeric", "numeric_one", "numeric_numpy")
    }
    r = pt2canon.diff(a, b, level="full")
    print(
        f"weights {total} MiB x2: cat {med['cat']:.2f} s, numeric {med['numeric']:.2f} s ({ratios['numeric']:.2f}x cat), "
        f"one element changed {med['numeric_one']:.2f} s ({ratios['numeric_one']:.2f}x cat), "
        f"diff --level full {med['diff_full']:.2f} s, hash --level full of both {med['hash_full_both']:.2f} s; "
        f"{r.summary()['weight_changed']} weight records",
        flush=True,
    )
    return {
        "mib": total,
        "tensor_mib": tensor,
        **med,
        "range": {name: [min(ts), max(ts)] for name, ts in times.items()},
        "ratio": ratios,
        "records": r.summary()["weight_changed"],
        "fused": fused.ENABLED,
    }


def _peak_child(a: Path, b: Path) -> tuple[int, int]:
    """Peak RSS (KiB, ``VmHWM``) of a fresh process after its imports and after :func:`numeric_compare`.

    ``VmHWM`` is the high-water mark of the process's own memory (reset by
    ``exec``; ``ru_maxrss`` is not, and would report the parent's).
    """
    code = (
        "import sys; sys.path.insert(0, sys.argv[3]); from diff_weights import numeric_compare, vm_hwm;"
        "import pt2canon.diff.tensors, numpy, pt2canon.api, pt2canon.serde.archive;"
        "base = vm_hwm(); numeric_compare(sys.argv[1], sys.argv[2]); print(base, vm_hwm())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(a), str(b), str(HERE)], capture_output=True, text=True, check=True
    )
    base, peak = map(int, out.stdout.split())
    return base, peak


def vm_hwm() -> int:
    """This process's peak resident set size in KiB (Linux ``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def bench_memory(folder: Path, quick: bool) -> dict[str, Any]:
    total = 64 if quick else 1024
    rows = []
    for tensor in (16, 64) if quick else (16, 64, 256):
        a = export_weights(folder, total, tensor, None)
        b = export_weights(folder, total, tensor, 1 + 1e-6)
        base, peak = _peak_child(a, b)
        rows.append({"tensor_mib": tensor, "before_mib": base / 1024, "peak_mib": peak / 1024})
        print(
            f"memory: {total} MiB in tensors of {tensor} MiB: peak RSS {base / 1024:.1f} -> {peak / 1024:.1f} MiB",
            flush=True,
        )
    return {"mib": total, "rows": rows}


def bench_dtypes(quick: bool) -> dict[str, Any]:
    import numpy as np

    from pt2canon.diff.dtypes import FLOAT8, decode

    try:
        import ml_dtypes
    except ImportError:  # pragma: no cover - optional
        ml_dtypes = None
    n = (1 << 20) if quick else (32 << 20)
    rng = np.random.default_rng(0)
    u16 = rng.integers(0, 1 << 16, n, dtype=np.uint16).tobytes()
    u8 = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    names = {
        13: "bfloat16",
        29: "float8_e4m3fn",
        30: "float8_e5m2",
        31: "float8_e4m3fnuz",
        32: "float8_e5m2fnuz",
        33: "float8_e8m0fnu",
    }
    rows = []
    for code, name in names.items():
        data = u16 if code == 13 else u8
        hand = median_time(lambda data=data, code=code: decode(data, code), 5)
        other = None
        if ml_dtypes is not None and hasattr(ml_dtypes, name):
            typed = np.frombuffer(data, dtype=getattr(ml_dtypes, name))
            other = median_time(lambda typed=typed: typed.astype(np.float32), 5)
            a, b = decode(data, code), typed.astype(np.float32)
            assert np.array_equal(a, b, equal_nan=True), name
        rows.append({"dtype": name, "hand": hand, "ml_dtypes": other})
        print(
            f"dtypes {name}: hand {hand * 1e3:.0f} ms" + (f", ml_dtypes {other * 1e3:.0f} ms" if other else ""),
            flush=True,
        )
    assert set(FLOAT8) | {13} == set(names)
    return {"elements": n, "rows": rows, "ml_dtypes": getattr(ml_dtypes, "__version__", None)}


def bench_diff48(folder: Path, quick: bool) -> dict[str, Any]:
    from run import bench_diff

    return bench_diff(folder, 2 if quick else 48, 1 if quick else 7)


def _cell(w: dict[str, Any], name: str) -> str:
    lo, hi = w["range"][name]
    return f"{w[name]:.3f} s ({lo:.2f}-{hi:.2f})"


def markdown(results: dict[str, Any]) -> str:
    out = ["## Diff: weights in numbers (`bench/diff_weights.py`)", ""]
    w = results.get("weights")
    if w:
        out += [
            f"Two archives of {w['mib']} MiB of float32 weights ({w['tensor_mib']} MiB tensors): B with every element "
            "scaled by 1 + 1e-6 (every chunk differs, the worst case), or with one element of one tensor changed. "
            "Side by side in one process, interleaved rounds, the files in the page cache. "
            f"The compiled kernel (`pt2canon.diff.fused`): {'on' if w.get('fused') else 'not built or off'}.",
            "",
            "| what | median (range) | vs `cat a b > /dev/null`, per round |",
            "|---|---:|---:|",
            f"| `cat a b > /dev/null` | {_cell(w, 'cat')} | 1.00x |",
            f"| numeric comparison of every weight pair, every element changed | {_cell(w, 'numeric')} | **{w['ratio']['numeric']:.2f}x** |",
            f"| numeric comparison of every weight pair, one element changed | {_cell(w, 'numeric_one')} | **{w['ratio']['numeric_one']:.2f}x** |",
            f"| the same, every element changed, numpy alone (the compiled kernel off) | {_cell(w, 'numeric_numpy')} | {w['ratio']['numeric_numpy']:.2f}x |",
            f'| `pt2canon.hash(level="full")` of both | {_cell(w, "hash_full_both")} | {w["hash_full_both"] / w["cat"]:.2f}x |',
            f'| `pt2canon.diff(level="full")` (hashes both, then compares) | {_cell(w, "diff_full")} | {w["diff_full"] / w["cat"]:.2f}x |',
            "",
        ]
    m = results.get("memory")
    if m:
        out += [
            f"Peak RSS of the numeric comparison of {m['mib']} MiB per side, fresh process each (after imports / at the end):",
            "",
        ]
        out += ["| tensor size | peak RSS before | peak RSS after |", "|---:|---:|---:|"]
        out += [f"| {r['tensor_mib']} MiB | {r['before_mib']:.1f} MiB | {r['peak_mib']:.1f} MiB |" for r in m["rows"]]
        out.append("")
    d = results.get("dtypes")
    if d:
        out += [
            f"Decoding {d['elements'] >> 20} Mi elements to float32 (ml_dtypes {d['ml_dtypes'] or 'not installed'}):",
            "",
            "| dtype | hand decoder | ml_dtypes | |",
            "|---|---:|---:|---:|",
        ]
        for r in d["rows"]:
            other = f"{r['ml_dtypes'] * 1e3:.0f} ms" if r["ml_dtypes"] else "-"
            ratio = f"{r['ml_dtypes'] / r['hand']:.1f}x faster" if r["ml_dtypes"] else ""
            out.append(f"| {r['dtype']} | {r['hand'] * 1e3:.0f} ms | {other} | {ratio} |")
        out.append("")
    x = results.get("diff48")
    if x:
        out += [
            f"`pt2canon.diff` of two {x['layers']}-layer exports, one activation changed: **{x['seconds']:.3f} s**.",
            "",
        ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small archives, one repetition (a smoke test)")
    parser.add_argument("--work", type=Path, help="folder for the archives (default: a temporary folder)")
    parser.add_argument("--only", nargs="*", choices=("weights", "memory", "dtypes", "diff48"))
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    sections = args.only or ["weights", "memory", "dtypes", "diff48"]
    with tempfile.TemporaryDirectory(prefix="pt2canon-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results: dict[str, Any] = {}
        if "weights" in sections:
            results["weights"] = bench_weights(work, args.quick)
        if "memory" in sections:
            results["memory"] = bench_memory(work, args.quick)
        if "dtypes" in sections:
            results["dtypes"] = bench_dtypes(args.quick)
        if "diff48" in sections:
            results["diff48"] = bench_diff48(work, args.quick)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
