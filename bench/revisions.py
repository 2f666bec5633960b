"""Two revisions of pt2canon timed side by side on the same programs, interleaved.

A change must not slow the common case; this measures it::

    python bench/revisions.py --base main            # main against the working tree
    python bench/revisions.py --base 2bca805 --head HEAD --rounds 7

Each revision is extracted with ``git archive`` (the working tree is used as
it is for ``--head .``) and imported from there in fresh interpreters. The
programs are the ``canon`` section's of ``bench/run.py`` (48-layer
transformer, the same with a dynamic batch, a training-mode conv/BN stack,
an eval-mode ResNet-like net), exported once with this torch. Rounds
alternate the revisions (A B A B ...) so that a machine that slows down or
speeds up during the run weighs on both alike; each round times
``pt2canon.hash(bytes)`` several times after one warm-up call. The report
gives, per program, the median of every timing of each revision, the
range of the per-round medians, and the ratio head / base.

``--instructions`` counts instead, with ``valgrind --tool=callgrind``, the
instructions one ``pt2canon.hash(bytes)`` call executes (a run that hashes
minus a run that only imports and reads): repeatable to a fraction of a
percent whatever else the machine is doing, which timings on a shared
machine are not.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

_TIMER = r"""
import json, sys, time, gc
sys.path.insert(0, sys.argv[1])
import pt2canon
assert pt2canon.__file__.startswith(sys.argv[1]), pt2canon.__file__
out = {}
for path in sys.argv[3:]:
    data = open(path, "rb").read()
    pt2canon.hash(data)
    times = []
    for _ in range(int(sys.argv[2])):
        t = time.perf_counter()
        pt2canon.hash(data)
        times.append(time.perf_counter() - t)
    out[path] = times
print(json.dumps(out))
"""


_ONE_CALL = r"""
import sys
sys.path.insert(0, sys.argv[1])
import pt2canon, pt2canon.api, pt2canon.canon.program, pt2canon.canon.hashing
data = open(sys.argv[2], "rb").read()
if sys.argv[3] == "1":
    pt2canon.hash(data)
"""


def _instructions(tree: Path, program: Path) -> int:
    """Instructions executed by one ``pt2canon.hash`` of ``program`` with the package in ``tree``."""
    counts = []
    for call in ("1", "0"):
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
        done = subprocess.run([*cmd, "-c", _ONE_CALL, str(tree), str(program), call], capture_output=True, text=True)
        line = next(x for x in done.stderr.splitlines() if "Collected" in x)
        counts.append(int(line.split()[-1]))
    return counts[0] - counts[1]


def _extract(rev: str, into: Path) -> Path:
    """The package source of ``rev`` (``.`` for the working tree)."""
    if rev == ".":
        return ROOT
    blob = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "pt2canon"], check=True, capture_output=True).stdout
    target = into / rev.replace("/", "_")
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(target, filter="data")
    return target


def _programs(work: Path) -> dict[str, Path]:
    sys.path.insert(0, str(HERE))
    import run

    made = {
        "transformer, 48 layers": run.export_transformer(48, work),
        "transformer, 48 layers, dynamic batch": run.export_transformer(48, work, dynamic=True),
        "conv+BN+dropout, training mode, 100 blocks": run.export_conv_train(100, work),
        "ResNet-like, eval mode, 150 blocks": run.export_resnet_like(150, work),
    }
    out = {}
    for name, archive in made.items():
        path = work / (archive.stem + ".json")
        path.write_bytes(run.model_json(archive))
        out[name] = path
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git revision to compare against (default: main)")
    parser.add_argument("--head", default=".", help="git revision, or . for the working tree (default)")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the two revisions")
    parser.add_argument("--repeat", type=int, default=7, help="timed calls per program per round")
    parser.add_argument("--work", type=Path, help="folder for the exported programs (default: temporary)")
    parser.add_argument("--instructions", action="store_true", help="count instructions with valgrind instead")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pt2canon-revisions-") as tmp:
        work = args.work or Path(tmp) / "programs"
        work.mkdir(parents=True, exist_ok=True)
        programs = _programs(work)
        trees = {"base": _extract(args.base, Path(tmp)), "head": _extract(args.head, Path(tmp))}
        if args.instructions:
            print(f"base {args.base}, head {args.head}: instructions of one pt2canon.hash(bytes) (callgrind)")
            print()
            print("| program | base | head | head / base |")
            print("|---|---:|---:|---:|")
            for name, path in programs.items():
                b, h = (_instructions(trees[r], path) for r in ("base", "head"))
                print(f"| {name} | {b / 1e6:.0f} M | {h / 1e6:.0f} M | {h / b:.3f} |")
            return 0
        times: dict[str, dict[str, list[float]]] = {r: {n: [] for n in programs} for r in trees}
        rounds: dict[str, dict[str, list[float]]] = {r: {n: [] for n in programs} for r in trees}
        for _ in range(args.rounds):
            for rev, tree in trees.items():
                cmd = [sys.executable, "-c", _TIMER, str(tree), str(args.repeat), *map(str, programs.values())]
                got = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
                for name, path in programs.items():
                    times[rev][name] += got[str(path)]
                    rounds[rev][name].append(statistics.median(got[str(path)]))
    print(f"base {args.base}, head {args.head}: {args.rounds} interleaved rounds x {args.repeat} calls")
    print()
    print("| program | base | head | head / base |")
    print("|---|---:|---:|---:|")
    for name in programs:
        b, h = (statistics.median(times[r][name]) * 1e3 for r in ("base", "head"))
        rb, rh = (f"{min(rounds[r][name]) * 1e3:.1f}-{max(rounds[r][name]) * 1e3:.1f}" for r in ("base", "head"))
        print(f"| {name} | {b:.1f} ms ({rb}) | {h:.1f} ms ({rh}) | {h / b:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
