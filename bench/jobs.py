"""``pt2canon hash -r --jobs N`` over many small archives: wall time against ``--jobs 1``.

Run ``python bench/jobs.py`` (``--markdown FILE`` appends the table). The
folder holds ``--count`` archives (default 300), copies of the ``*.pt2``
files of ``--source`` (default ``examples/``, three 22-24 KiB MLP exports)
under distinct names; each is read, canonicalized and hashed in full, as
for distinct files. Each configuration runs ``--repeat`` times, the
configurations interleaved (``jobs 1, jobs 2, jobs 1, ...``) so that a
change of the machine's load hits both alike; the table gives the median
wall time with the range across runs and the speed-up of the median over
``--jobs 1``. The command is the user's: ``python -m pt2canon hash -r
FOLDER --jobs N --no-progress``, output to /dev/null.

The runs read compiled bytecode, as an installed package does (pip compiles
it): a ``PYTHONDONTWRITEBYTECODE`` of the environment is dropped for them and
the warm-up run writes the bytecode under a temporary ``PYTHONPYCACHEPREFIX``
(compiling pt2canon's modules from source took about 0.1 s of every run).
``--source-only`` keeps the environment as it is, bytecode or not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _folder(source: Path, count: int, folder: Path) -> Path:
    files = sorted(source.glob("*.pt2"))
    if not files:
        raise SystemExit(f"--source {source}: no *.pt2 files")
    for i in range(count):
        shutil.copyfile(files[i % len(files)], folder / f"a{i:04d}.pt2")
    return folder


def bytecode_env(pycache: Path | None) -> dict[str, str]:
    """The runs' environment: with ``pycache``, bytecode written there and read back."""
    env = dict(os.environ)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def _run(folder: Path, jobs: int, env: dict[str, str]) -> float:
    cmd = [sys.executable, "-m", "pt2canon", "hash", "-r", str(folder), "--jobs", str(jobs), "--no-progress"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, default=ROOT / "examples")
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--markdown", type=Path)
    p.add_argument(
        "--source-only", action="store_true", help="run with the environment as it is (no bytecode if it says so)"
    )
    args = p.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "archives"
        folder.mkdir()
        _folder(args.source, args.count, folder)
        env = bytecode_env(None if args.source_only else Path(tmp) / "pycache")
        _run(folder, 1, env)  # warm the page cache and the bytecode cache
        times: dict[int, list[float]] = {j: [] for j in args.jobs}
        for _ in range(args.repeat):
            for j in args.jobs:
                times[j].append(_run(folder, j, env))
    base = statistics.median(times[args.jobs[0]])
    load = " ".join(f"{x:.2f}" for x in load_before)
    lines = [
        f"`pt2canon hash -r` over {args.count} archives (copies of {args.source.name}/*.pt2), "
        f"{os.cpu_count()} CPUs, {args.repeat} interleaved runs, "
        f"{'the environment as it is' if args.source_only else 'bytecode cached'}, load before {load}:",
        "",
        "| --jobs | median wall | range | speed-up over --jobs 1 |",
        "|---:|---:|---:|---:|",
    ]
    for j in args.jobs:
        med = statistics.median(times[j])
        lines.append(f"| {j} | {med:.2f} s | {min(times[j]):.2f}-{max(times[j]):.2f} s | {base / med:.2f}x |")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with args.markdown.open("a") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
