"""The attack harness: every hostile input of issue 13 through every command and the API, counted.

::

    python bench/attack.py -o attack.json             # every case, each run in its own process
    python bench/attack.py --scale 0.25 --only nesting

The cases are :mod:`tests/robustness/hostile.py`'s (made at run time from a
fresh export of the test corpus; the big ones scaled by ``--scale``). Each
run of a case (``show``, ``hash``, ``hash --level full``, ``canon`` to .pt2
and .json, ``diff``, ``audit``, and the API's load, full hash, canonicalize,
diff and audit) is a subprocess under a 4 GiB address-space cap and a
timeout, and ends in one outcome: clean, crash, hang, memory, slow,
accepted (should have been refused), refused (a legitimate input),
wrong_error, partial (output left behind), forged (a line forged by input
text) or code (the input's canary file was created). The report lists the
counts, per class, and every run that was not clean.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "robustness")]

import hostile  # noqa: E402


def _bases(folder: Path) -> hostile.Bases:
    from corpus import build_corpus

    corpus = build_corpus(folder, names=hostile.BASE_NAMES)
    return hostile.Bases({n: corpus[n].path for n in hostile.BASE_NAMES})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, help="write the report as JSON")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="size of the big cases (1.0: a 1 GiB bomb, 1M-input nodes)"
    )
    parser.add_argument("--only", action="append", default=[], help="run only these classes (repeatable)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=hostile.TIMEOUT_SECONDS, help="seconds before a run is a hang")
    parser.add_argument(
        "--one-process", action="store_true", help="all runs of a case in one process (faster, coarser)"
    )
    args = parser.parse_args(argv)
    hostile.TIMEOUT_SECONDS = args.timeout
    with tempfile.TemporaryDirectory(prefix="pt2canon-attack-") as tmp:
        folder = Path(tmp)
        bases = _bases(folder / "corpus")
        cases = [c for c in hostile.cases(scale=args.scale) if not args.only or c.klass in args.only]
        start = time.monotonic()

        def one(item: tuple[int, hostile.Case]) -> list[hostile.Outcome]:
            i, case = item
            return hostile.run_case(case, bases, folder / f"case{i}", one_process=args.one_process)

        outcomes: list[hostile.Outcome] = []
        with ThreadPoolExecutor(args.jobs) as pool:
            for i, result in enumerate(pool.map(one, enumerate(cases))):
                outcomes += result
                bad = [o for o in result if o.outcome != "clean"]
                print(
                    f"[{i + 1}/{len(cases)}] {cases[i].id}: {len(result) - len(bad)} clean, "
                    + (", ".join(f"{o.run}={o.outcome}" for o in bad) or "all clean"),
                    file=sys.stderr,
                    flush=True,
                )
        report = hostile.summarize(outcomes)
        report["seconds"] = round(time.monotonic() - start, 1)
        report["scale"] = args.scale
        report["timeout"] = args.timeout
        report["outcomes"] = [o.__dict__ for o in outcomes]  # every run: seconds and peak RSS too
    t = report["total"]
    print(
        f"{report['cases']} cases, {report['runs']} runs in {report['seconds']} s: "
        + ", ".join(f"{k} {v}" for k, v in t.items())
    )
    for klass, counts in sorted(report["per_class"].items()):
        print(f"  {klass:20s} " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    if args.output:
        args.output.write_text(json.dumps(report, indent=1, sort_keys=True))
    return 0 if t["clean"] == report["runs"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
