"""tqdm or rich for ``pt2canon hash``'s progress bar: the measurements behind the choice.

Run ``python bench/progress_choice.py`` with both libraries importable
(``pip install tqdm rich``). It prints, as Markdown:

* the import time of ``tqdm`` and of ``rich.progress`` in a fresh
  interpreter, and on top of what ``pt2canon hash`` has already imported
  (medians of ``--runs`` fresh processes, timed inside the process);
* how each behaves when standard error is not a terminal: the bytes a bar
  over five items writes there, with each library's own "off when not a
  terminal" switch left at its default;
* whether standard output stays intact when it is a file and the bar is on
  a terminal (``hash *.pt2 > SUMS`` typed at a prompt);
* the cold wall time of ``python -m pt2canon hash examples/*.pt2`` on a
  pseudo-terminal with the bar drawn, against ``--no-progress``.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import select
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRELUDE = "import pt2canon.cli, pt2canon.api, pt2canon.canon.hashing, pt2canon.commands.hash; "
IMPORTS = {"tqdm": "from tqdm import tqdm", "rich": "import rich.progress, rich.console"}
BARS = {
    "tqdm": (
        "import sys, time\nfrom tqdm import tqdm\n"
        "bar = tqdm(total=5, file=sys.stderr, leave=False, disable=None)\n"
        "for i in range(5):\n    time.sleep(0.03); bar.update(1); tqdm.write(f'line {i}', file=sys.stdout)\nbar.close()\n"
    ),
    "rich": (
        "import sys, time\nfrom rich.console import Console\nfrom rich.progress import Progress\n"
        "with Progress(console=Console(stderr=True), transient=True) as p:\n    t = p.add_task('hash', total=5)\n"
        "    for i in range(5):\n        time.sleep(0.03); p.update(t, advance=1); print(f'line {i}', flush=True)\n"
    ),
}


def _import_ms(code: str, prelude: str, runs: int) -> float:
    timed = f"{prelude}import time, sys; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    out = [
        float(subprocess.run([sys.executable, "-c", timed], capture_output=True, text=True, check=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(out) * 1000


def _pty(argv: list[str], *, stdout_file: Path | None = None) -> tuple[float, bytes]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    out = open(stdout_file, "wb") if stdout_file else None  # noqa: SIM115
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=out or slave, stderr=slave, stdin=subprocess.DEVNULL, cwd=ROOT)
    os.close(slave)
    screen = b""
    while select.select([master], [], [], 60)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    proc.wait()
    elapsed = time.perf_counter() - t
    os.close(master)
    if out:
        out.close()
    return elapsed, screen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    print("| | tqdm | rich |\n|---|---:|---:|")
    fresh = {k: _import_ms(c, "", args.runs) for k, c in IMPORTS.items()}
    after = {k: _import_ms(c, PRELUDE, args.runs) for k, c in IMPORTS.items()}
    print(f"| import, fresh interpreter | {fresh['tqdm']:.1f} ms | {fresh['rich']:.1f} ms |")
    print(f"| import after pt2canon hash's own imports | {after['tqdm']:.1f} ms | {after['rich']:.1f} ms |")
    piped = {}
    for k, code in BARS.items():
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
        piped[k] = len(proc.stderr)
    print(f"| bytes on a non-terminal stderr, library defaults | {piped['tqdm']} | {piped['rich']} |")
    kept = {}
    for k, code in BARS.items():
        path = Path(f"/tmp/progress_choice_{k}.out")
        _pty([sys.executable, "-c", code], stdout_file=path)
        kept[k] = path.read_text().count("line ")
        path.unlink()
    print(f"| stdout lines kept in a file (bar on a terminal, of 5) | {kept['tqdm']} | {kept['rich']} |")
    examples = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.pt2"))
    cmd = [sys.executable, "-m", "pt2canon", "hash", *examples]
    bar = statistics.median(_pty(cmd)[0] for _ in range(args.runs))
    off = statistics.median(_pty([*cmd, "--no-progress"])[0] for _ in range(args.runs))
    print(
        f"\nCold `python -m pt2canon hash examples/*.pt2` on a pseudo-terminal: {bar * 1000:.0f} ms with the tqdm bar, "
        f"{off * 1000:.0f} ms with `--no-progress` (medians of {args.runs})."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
