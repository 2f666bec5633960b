"""Diff of two large programs that differ in one op, against hashing both: every renderer.

Run ``python bench/diff_scale.py`` (``--nodes 100000`` by default;
``--markdown FILE`` appends the table). Two model JSON files of a
synthetic program (``bench/synthetic.py``) are written; the second has one
activation replaced (``relu`` -> ``gelu`` or back) in the middle of the graph.
Each command is the user's, in a fresh process, output to /dev/null:

* ``pt2canon hash A B`` (the reference: loading and hashing both);
* ``pt2canon diff A B --format F`` for ``text``, ``markdown``, ``html``, ``json``.

The commands run ``--repeat`` times, interleaved; the table gives the
median CPU time (user + system of the child) with the range, the median
peak RSS, and the ratio of each diff's median to the hash's. The issue 17
target: every renderer under 2x the hash.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import synthetic_program

FORMATS = ("text", "markdown", "html", "json")


def _pair(n: int, folder: Path) -> tuple[Path, Path]:
    doc = synthetic_program(n)
    a = folder / "a.json"
    a.write_text(json.dumps(doc))
    nodes = doc["graph_module"]["graph"]["nodes"]
    acts = [i for i, node in enumerate(nodes) if node["target"].endswith(("relu.default", "gelu.default"))]
    i = acts[len(acts) // 2]
    t = nodes[i]["target"]
    nodes[i]["target"] = t.replace("relu", "gelu") if "relu" in t else t.replace("gelu", "relu")
    b = folder / "b.json"
    b.write_text(json.dumps(doc))
    return a, b


def _run(cmd: list[str]) -> tuple[float, float]:
    """CPU seconds and peak RSS (MiB) of one child process."""
    code = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(r.ru_utime + r.ru_stime, r.ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True, text=True)
    cpu, rss = out.stdout.split()
    return float(cpu), float(rss)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--markdown", type=Path)
    args = p.parse_args(argv)
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in ("hash", *FORMATS)}
    with tempfile.TemporaryDirectory() as tmp:
        a, b = _pair(args.nodes, Path(tmp))
        base = [sys.executable, "-m", "pt2canon"]
        cmds: dict[str, list[str]] = {"hash": [*base, "hash", str(a), str(b)]}
        for f in FORMATS:
            cmds[f] = [*base, "diff", str(a), str(b), "--format", f, "--color", "never"]
        for _ in range(args.repeat):
            for k, cmd in cmds.items():
                runs[k].append(_run(cmd))
    hash_med = statistics.median(c for c, _ in runs["hash"])
    lines = [
        f"Two {args.nodes:,}-node programs, one op changed ({os.cpu_count()} CPUs, {args.repeat} interleaved runs,"
        " CPU time of the command):",
        "",
        "| command | median CPU | range | peak RSS | / hash both |",
        "|---|---:|---:|---:|---:|",
    ]
    for k, rs in runs.items():
        cpu = [c for c, _ in rs]
        med = statistics.median(cpu)
        name = "hash A B" if k == "hash" else f"diff A B --format {k}"
        lines.append(
            f"| `{name}` | {med:.2f} s | {min(cpu):.2f}-{max(cpu):.2f} s | "
            f"{statistics.median(m for _, m in rs):.0f} MiB | {med / hash_med:.2f}x |"
        )
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with args.markdown.open("a") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
