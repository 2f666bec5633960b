"""pt2canon against the floor (reading and parsing the JSON) and against torch, in one interleaved run.

Run ``python bench/floor.py`` (``--work DIR`` keeps the exports and the
million-node archive between runs; ``--only canon million cold`` picks
sections; ``--json out.json`` saves the figures). Sections:

``canon``    the 48-layer transformer export, static and with a dynamic
             batch. Three things are timed on the same archive, in rounds
             that alternate them (A B C A B C ...), so that a machine that
             slows down weighs on all alike:

             * the floor: read the ``model.json`` member (``zipfile``),
               ``orjson.loads`` it and sha256 its bytes;
             * pt2canon: ``pt2canon.hash(path)``: read the archive, shape
               checks, graph model, canonical form, layered hash;
             * torch: read the member, ``_bytes_to_dataclass(ExportedProgram)``
               and torch's own ``canonicalize`` (no hash).

             The floor and pt2canon run in one worker process, torch in
             another (torch's canonicalize leaves a large heap behind that
             would slow whatever runs after it in the same process). Each
             figure is CPU time (``time.process_time``) with the cyclic
             collector paused for the floor as it is for pt2canon; the
             report gives medians, the min-max range over the rounds and
             the ratios pt2canon / floor and torch / pt2canon.
``million``  a 1,000,000-node synthetic program (``bench/synthetic.py``) in a
             ``.pt2`` archive: CPU seconds and peak RSS of ``pt2canon.hash(path)``
             against the floor's (read the member and ``orjson.loads`` it,
             nothing else, the cyclic collector paused as pt2canon pauses
             it), each in a fresh process. ``--nodes`` picks another size.
``cold``     ``python -m pt2canon hash`` as a fresh process on the static
             and the dynamic-batch archives, interleaved, with a bare
             ``python -c pass`` for reference. The processes read compiled
             bytecode, as an installed package does (pip compiles it; the
             first run writes it under a temporary ``PYTHONPYCACHEPREFIX``,
             as ``bench/jobs.py`` does); ``--source-only`` keeps the
             environment as it is (with ``PYTHONDONTWRITEBYTECODE`` set,
             every run then compiles pt2canon's modules from source).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fx import splice  # noqa: E402

# A worker: reads one command per line from stdin, prints one JSON line per command.
_WORKER = r"""
import gc, hashlib, json, sys, time, zipfile
import orjson

def member(path):
    with zipfile.ZipFile(path) as z:
        (name,) = [n for n in z.namelist() if n.endswith("/models/model.json")]
        return z.read(name)

def floor(path):
    was = gc.isenabled(); gc.disable()
    try:
        data = member(path)
        hashlib.sha256(data).hexdigest()
        orjson.loads(data)
    finally:
        if was: gc.enable()

def ours(path):
    pt2canon.hash(path)

def theirs(path):
    canonicalize(_bytes_to_dataclass(schema.ExportedProgram, member(path)))

kind = sys.argv[1]
if kind == "torch":
    from torch._export.serde import schema
    from torch._export.serde.serialize import _bytes_to_dataclass, canonicalize
    fns = {"torch": theirs}
else:
    import pt2canon
    fns = {"floor": floor, "pt2canon": ours}
for line in sys.stdin:
    what, path = line.split()
    fn = fns[what]
    t = time.process_time(); w = time.perf_counter()
    fn(path)
    print(json.dumps([time.process_time() - t, time.perf_counter() - w]), flush=True)
"""


class _Worker:
    def __init__(self, kind: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER, kind], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def time(self, what: str, path: Path) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{what} {path}\n")
        self.proc.stdin.flush()
        cpu, _wall = json.loads(self.proc.stdout.readline())
        return float(cpu)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def _summary(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def bench_canon(work: Path, rounds: int) -> dict[str, Any]:
    import run

    programs = {
        "transformer, 48 layers": run.export_transformer(48, work),
        "transformer, 48 layers, dynamic batch": run.export_transformer(48, work, dynamic=True),
    }
    ours, theirs = _Worker("pt2canon"), _Worker("torch")
    times: dict[str, dict[str, list[float]]] = {p: {"floor": [], "pt2canon": [], "torch": []} for p in programs}
    try:
        for path in programs.values():  # warm up: imports, first-use caches
            ours.time("floor", path)
            ours.time("pt2canon", path)
            theirs.time("torch", path)
        for _ in range(rounds):
            for name, path in programs.items():
                t = times[name]
                # Three floor and pt2canon calls a round (they are short), one torch call.
                for _ in range(3):
                    t["floor"].append(ours.time("floor", path))
                    t["pt2canon"].append(ours.time("pt2canon", path))
                t["torch"].append(theirs.time("torch", path))
    finally:
        ours.close()
        theirs.close()
    out = {}
    for name, t in times.items():
        s = {k: _summary(v) for k, v in t.items()}
        f, o, th = (s[k]["median"] for k in ("floor", "pt2canon", "torch"))
        out[name] = {**s, "pt2canon_over_floor": o / f, "torch_over_pt2canon": th / o}
        print(
            f"{name:<40} floor {f * 1e3:6.1f} ms ({s['floor']['min'] * 1e3:.1f}-{s['floor']['max'] * 1e3:.1f})  "
            f"pt2canon {o * 1e3:6.1f} ms ({s['pt2canon']['min'] * 1e3:.1f}-{s['pt2canon']['max'] * 1e3:.1f})  "
            f"torch {th * 1e3:7.0f} ms ({s['torch']['min'] * 1e3:.0f}-{s['torch']['max'] * 1e3:.0f})  "
            f"pt2canon/floor {o / f:.2f}x  torch/pt2canon {th / o:.0f}x",
            flush=True,
        )
    return out


_MAKE_BIG = r"""
import sys, zipfile
sys.path.insert(0, sys.argv[1])
from synthetic import synthetic_program
from pt2canon._json import canonical_bytes
data = canonical_bytes(synthetic_program(int(sys.argv[3])))
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_STORED) as z:
    z.writestr("model/archive_format", b"pt2")
    z.writestr("model/models/model.json", data)
"""

_MEASURE = r"""
import gc, resource, sys, time, zipfile
what, path = sys.argv[1], sys.argv[2]
import orjson
if what == "floor":
    gc.disable()  # as pt2canon.hash does: the cyclic collector would rescan the growing document
    t = time.process_time()
    with zipfile.ZipFile(path) as z:
        doc = orjson.loads(z.read("model/models/model.json"))
    n = len(doc["graph_module"]["graph"]["nodes"])
    out = n
else:
    import pt2canon
    from pt2canon.serde.layout import Limits
    t = time.process_time()
    # A trusted archive over the default bound for a JSON member read whole (96 MiB).
    out = pt2canon.hash(path, limits=Limits(max_json_bytes=1 << 40))
cpu = time.process_time() - t
print(out, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def bench_million(work: Path, nodes: int, repeat: int) -> dict[str, Any]:
    path = work / f"synthetic{nodes}.pt2"
    if not path.exists():
        subprocess.run([sys.executable, "-c", _MAKE_BIG, str(HERE), str(path), str(nodes)], check=True)
    runs: dict[str, list[tuple[float, int]]] = {"floor": [], "pt2canon": []}
    result = ""
    for _ in range(repeat):
        for what in runs:
            out = subprocess.run(
                [sys.executable, "-c", _MEASURE, what, str(path)], check=True, capture_output=True, text=True
            ).stdout.split()
            runs[what].append((float(out[1]), int(out[2])))
            if what == "pt2canon":
                result = out[0]
    member = zipfile.ZipFile(path).getinfo("model/models/model.json").file_size
    out_: dict[str, Any] = {"nodes": nodes, "json_bytes": member, "hash": result}
    for what, rs in runs.items():
        out_[what] = {"cpu": _summary([c for c, _ in rs]), "peak_rss": _summary([float(m) for _, m in rs])}
    f, o = out_["floor"], out_["pt2canon"]
    print(
        f"million: {nodes:,} nodes, {member / 2**20:.0f} MiB JSON; floor {f['cpu']['median']:.1f} s CPU, "
        f"peak {f['peak_rss']['median'] / 2**30:.2f} GiB; pt2canon {o['cpu']['median']:.1f} s CPU "
        f"({o['cpu']['min']:.1f}-{o['cpu']['max']:.1f}), peak {o['peak_rss']['median'] / 2**30:.2f} GiB "
        f"({o['peak_rss']['median'] / f['peak_rss']['median']:.2f}x the floor's)",
        flush=True,
    )
    return out_


def bench_cold(work: Path, repeat: int, *, source_only: bool = False) -> dict[str, Any]:
    import run
    from jobs import bytecode_env

    pycache = tempfile.TemporaryDirectory(prefix="pt2canon-pycache-")
    env = bytecode_env(None if source_only else Path(pycache.name))

    paths = {"static": run.export_transformer(48, work), "dynamic": run.export_transformer(48, work, dynamic=True)}
    cmds = {k: [sys.executable, "-m", "pt2canon", "hash", str(p)] for k, p in paths.items()}
    cmds["python -c pass"] = [sys.executable, "-c", "pass"]
    times: dict[str, list[float]] = {k: [] for k in cmds}
    cpu: dict[str, list[float]] = {k: [] for k in cmds}
    for cmd in cmds.values():
        subprocess.run(cmd, check=True, capture_output=True, env=env)  # warm the file cache, write the bytecode
    for _ in range(repeat):
        for k, cmd in cmds.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            times[k].append(time.perf_counter() - t)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[k].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    pycache.cleanup()
    out: dict[str, Any] = {k: {"wall": _summary(times[k]), "cpu": _summary(cpu[k])} for k in cmds}
    out["bytecode"] = "from source" if source_only else "cached"
    print(
        f"cold ({out['bytecode']}): "
        + "  ".join(
            f"{k} {s['wall']['median']:.3f} s wall ({s['wall']['min']:.3f}-{s['wall']['max']:.3f}), "
            f"{s['cpu']['median']:.3f} s CPU"
            for k, s in out.items()
            if k != "bytecode"
        ),
        flush=True,
    )
    return out


BEGIN, END = "<!-- floor:begin -->", "<!-- floor:end -->"


def _range(s: dict[str, float], scale: float, fmt: str) -> str:
    return f"{s['median'] * scale:{fmt}} ({s['min'] * scale:{fmt}}-{s['max'] * scale:{fmt}})"


def markdown(results: dict[str, Any]) -> str:
    """The report's section for these results, between :data:`BEGIN` and :data:`END`."""
    lines = [
        BEGIN,
        "## Against the floor and torch, one interleaved run",
        "",
        "Command: `python bench/floor.py --markdown BENCHMARKS.md` (see its docstring). CPU time "
        "(`time.process_time`), medians with the min-max range over the rounds; the machine is shared "
        "(2 cores, several sessions), so absolute figures drift between runs and the ratios, measured "
        "side by side, are the figures to compare.",
        "",
    ]
    if "canon" in results:
        lines += [
            "| program | floor: zip read + `orjson.loads` + sha256 | pt2canon `hash(path)` | torch deserialize + "
            "`canonicalize` | pt2canon / floor | torch / pt2canon |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, r in results["canon"].items():
            lines.append(
                f"| {name} | {_range(r['floor'], 1e3, '.1f')} ms | {_range(r['pt2canon'], 1e3, '.1f')} ms | "
                f"{_range(r['torch'], 1e3, '.0f')} ms | **{r['pt2canon_over_floor']:.2f}x** | "
                f"**{r['torch_over_pt2canon']:.0f}x** |"
            )
        lines.append("")
    if "million" in results:
        m = results["million"]
        f, o = m["floor"], m["pt2canon"]
        lines += [
            f"{m['nodes']:,}-node synthetic program (`bench/synthetic.py`), {m['json_bytes'] / 2**20:.0f} MiB of "
            "JSON in a `.pt2` archive, each side in a fresh process:",
            "",
            "| | CPU | peak RSS |",
            "|---|---:|---:|",
            f"| floor: read the member + `orjson.loads` | {f['cpu']['median']:.1f} s | "
            f"{f['peak_rss']['median'] / 2**30:.2f} GiB |",
            f"| pt2canon `hash(path)` | {o['cpu']['median']:.1f} s | {o['peak_rss']['median'] / 2**30:.2f} GiB |",
            f"| pt2canon / floor | {o['cpu']['median'] / f['cpu']['median']:.2f}x | "
            f"{o['peak_rss']['median'] / f['peak_rss']['median']:.2f}x |",
            "",
        ]
    if "cold" in results:
        how = results["cold"].get("bytecode", "as the environment had it")
        lines += [f"Cold `python -m pt2canon hash` on the 48-layer archive, a fresh process each, bytecode {how}:", ""]
        lines += ["| | wall | CPU (user + system) |", "|---|---:|---:|"]
        for k, r in results["cold"].items():
            if k == "bytecode":
                continue
            lines.append(f"| {k} | {_range(r['wall'], 1, '.3f')} s | {_range(r['cpu'], 1, '.3f')} s |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, choices=("canon", "million", "cold"))
    parser.add_argument("--work", type=Path, help="folder for the exports (default: temporary)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of the canon section")
    parser.add_argument("--nodes", type=int, default=1_000_000, help="op nodes of the million section")
    parser.add_argument("--million-repeat", type=int, default=1, help="fresh processes per side, million section")
    parser.add_argument("--cold-repeat", type=int, default=9)
    parser.add_argument("--source-only", action="store_true", help="cold section: no bytecode written or read")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--markdown", type=Path, help="rewrite this section of the report (e.g. BENCHMARKS.md)")
    parser.add_argument("--from-json", type=Path, help="report the figures of an earlier --json run, no runs")
    args = parser.parse_args(argv)
    sections = args.only or ["canon", "million", "cold"]
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
        if args.markdown:
            splice(args.markdown, markdown(results), BEGIN, END)
        return 0
    with tempfile.TemporaryDirectory(prefix="pt2canon-floor-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results: dict[str, Any] = {}
        if "canon" in sections:
            results["canon"] = bench_canon(work, args.rounds)
        if "million" in sections:
            results["million"] = bench_million(work, args.nodes, args.million_repeat)
        if "cold" in sections:
            results["cold"] = bench_cold(work, args.cold_repeat, source_only=args.source_only)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.markdown:
        splice(args.markdown, markdown(results), BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
