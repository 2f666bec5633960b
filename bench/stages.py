"""Instructions per stage of ``pt2canon.hash`` on the 48-layer export, against the floor's.

Run ``python bench/stages.py`` (needs ``valgrind``; ``--work DIR`` keeps the
export that ``bench/floor.py`` also uses; ``--markdown FILE`` rewrites the
section of the report). Each figure is the instructions one call executes,
counted with ``valgrind --tool=callgrind`` as the difference between a run
that makes the call ``--calls`` + 1 times and one that makes it once,
divided by ``--calls``: imports, reading the archive for the set-up and the
warm-up call cancel out. Counts repeat to a fraction of a percent whatever
else the machine does, where timings on a shared machine drift by tens of
percent, so this is the figure that says where a hash's time goes and what
a target leaves for each stage. Stages:

``floor``       read the ``model.json`` member (``zipfile``), sha256 it and
                ``orjson.loads`` it (as ``bench/floor.py``'s floor)
``parse``       ``orjson.loads`` of the member's bytes
``checks``      ``check_program`` of the parsed document (shape and limits)
``model``       ``to_networkx`` of its graph (the networkx graph model)
``load``        ``pt2canon.load(path)``: the archive read and checked,
                weights and constants configs included
``canonicalize`` ``canonicalize_all`` of a loaded artifact, the model freed as
                the hash frees it
``hash``        ``pt2canon.hash(path)``, everything
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

STAGES = ("floor", "parse", "checks", "model", "load", "canonicalize", "hash")
BEGIN, END = "<!-- stages:begin -->", "<!-- stages:end -->"

_RUNNER = r"""
import gc, hashlib, sys, zipfile
import orjson
import pt2canon
from pt2canon.api import canonicalize_all
from pt2canon.serde.graph import to_networkx
from pt2canon.serde.schema import check_program

stage, calls, made, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
gc.disable()
with zipfile.ZipFile(path) as z:
    (name,) = [n for n in z.namelist() if n.endswith("/models/model.json")]
    data = z.read(name)
doc = orjson.loads(data)
# The same set-up in both runs (``made`` artifacts), so that it cancels out.
artifacts = [pt2canon.load(path) for _ in range(made)] if stage == "canonicalize" else []

def floor():
    with zipfile.ZipFile(path) as z:
        member = z.read(name)
    hashlib.sha256(member).hexdigest()
    orjson.loads(member)

run = {
    "floor": floor,
    "parse": lambda: orjson.loads(data),
    "checks": lambda: check_program(doc),
    "model": lambda: to_networkx(doc["graph_module"]["graph"]),
    "load": lambda: pt2canon.load(path),
    "canonicalize": lambda: canonicalize_all(artifacts.pop(), keep_model=False),
    "hash": lambda: pt2canon.hash(path),
}[stage]
for _ in range(calls):
    run()
"""


def _instructions(stage: str, calls: int, made: int, archive: Path) -> int:
    cmd = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-c", _RUNNER, stage, str(calls), str(made), str(archive),
    ]  # fmt: skip
    err = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    (line,) = [x for x in err.splitlines() if "Collected" in x or "refs:" in x][-1:]
    return int(line.rsplit(":", 1)[1].replace(",", "").strip())


def measure(archive: Path, calls: int) -> dict[str, Any]:
    """Instructions of one call of each stage."""
    out = {}
    for stage in STAGES:
        once = _instructions(stage, 1, calls + 1, archive)
        more = _instructions(stage, calls + 1, calls + 1, archive)
        out[stage] = (more - once) / calls
    return out


def markdown(counts: dict[str, float]) -> str:
    floor = counts["floor"]
    lines = [
        BEGIN,
        "### Instructions per stage (48-layer transformer)",
        "",
        "Command: `python bench/stages.py --markdown BENCHMARKS.md` (see its docstring): instructions of one call, "
        "counted with callgrind, repeatable where timings are not.",
        "",
        "| stage | instructions | against the floor |",
        "|---|---:|---:|",
    ]
    for stage, n in counts.items():
        lines.append(f"| {stage} | {n / 1e6:.0f} M | {n / floor:.2f}x |")
    lines.append(END)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, help="folder for the export (default: temporary)")
    parser.add_argument("--calls", type=int, default=3, help="extra calls of the counted run")
    parser.add_argument("--markdown", type=Path, help="rewrite this section of the report (e.g. BENCHMARKS.md)")
    args = parser.parse_args(argv)
    import run
    from fx import splice

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        report = markdown(measure(run.export_transformer(48, work), args.calls))
    print(report)
    if args.markdown:
        splice(args.markdown, report, BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
