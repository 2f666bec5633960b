"""Two checkouts of pt2canon side by side on the same archives: is a change faster, slower, or the same?

Run ``python bench/ab.py BASE_TREE HEAD_TREE --work DIR`` (each tree a
checkout, e.g. ``git worktree add --detach /tmp/base <rev>``). The 48-layer
transformer export and a copy with one activation changed are built in
``DIR`` once (torch needed for that only). Then, in rounds that alternate
the trees (A B A B ...), a fresh interpreter with the tree first on
``sys.path`` times, in CPU seconds (``time.process_time``):

* ``hash``: ``pt2canon.hash(path)`` of the static export (the best of three
  calls in that process, after one warm-up);
* ``diff``: ``pt2canon.diff(a, b)`` of the two exports (the same).

The report gives each tree's median and min-max range over the rounds, and
HEAD / BASE. ``--base-env NAME=VALUE`` and ``--head-env NAME=VALUE``
(repeatable) set variables for one side: one tree given twice with
``--base-env PT2CANON_COMPILED=0`` times the compiled parts against their
Python reference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

_PROBE = """
import json, sys, time
import pt2canon
a, b = sys.argv[1], sys.argv[2]
def cpu(fn):
    fn()
    best = float("inf")
    for _ in range(3):
        t = time.process_time(); fn(); best = min(best, time.process_time() - t)
    return best
print(json.dumps({"file": pt2canon.__file__, "hash": cpu(lambda: pt2canon.hash(a)),
                  "diff": cpu(lambda: pt2canon.diff(a, b))}))
"""


def _archives(work: Path) -> tuple[Path, Path]:
    import torch
    from corpus import transformer_stack
    from run import export_transformer

    a = export_transformer(48, work)
    b = work / "transformer48_changed.pt2"
    if not b.exists():
        module, _, args = transformer_stack(48)
        module.layers[24].activation = torch.nn.functional.gelu  # one op changes: relu -> gelu
        torch.export.save(torch.export.export(module, args), b)
    return a, b


def _probe(tree: Path, a: Path, b: Path, extra: dict[str, str]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), **extra}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(a), str(b)], env=env, cwd=tree, capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    if not Path(result.pop("file")).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"bench/ab.py: {tree} was not the pt2canon imported")
    return result


def _env(pairs: list[str], parser: argparse.ArgumentParser) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            parser.error(f"--base-env/--head-env: {pair!r} is not NAME=VALUE")
        out[name] = value
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base", type=Path)
    p.add_argument("head", type=Path)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--base-env", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--head-env", action="append", default=[], metavar="NAME=VALUE")
    args = p.parse_args(argv)
    envs = {side: _env(getattr(args, f"{side}_env"), p) for side in ("base", "head")}
    args.work.mkdir(parents=True, exist_ok=True)
    a, b = _archives(args.work)
    runs: dict[str, dict[str, list[float]]] = {"base": {"hash": [], "diff": []}, "head": {"hash": [], "diff": []}}
    for _ in range(args.rounds):
        for side in ("base", "head"):
            for k, v in _probe(getattr(args, side), a, b, envs[side]).items():
                runs[side][k].append(v)
    print(f"load {os.getloadavg()[0]:.2f}; {args.rounds} alternated rounds, CPU seconds, best of 3 per process")
    for side, env in envs.items():
        if env:
            print(f"{side} environment: " + " ".join(f"{k}={v}" for k, v in env.items()))
    for k in ("hash", "diff"):
        base, head = statistics.median(runs["base"][k]), statistics.median(runs["head"][k])
        rng = {s: f"{min(runs[s][k]):.4f}-{max(runs[s][k]):.4f}" for s in runs}
        print(f"{k}: base {base:.4f} s ({rng['base']}), head {head:.4f} s ({rng['head']}), head/base {head / base:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
