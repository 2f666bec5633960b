"""Run pt2canon on one input in this process and write what happened as JSON (the child of the attack harness).

``python run_case.py SPEC`` reads a JSON spec::

    {"input": PATH, "good": PATH, "out": FOLDER, "runs": ["show", "hash", ...], "result": PATH}

and runs each named run (:data:`RUNS`) one after the other: the command-line
ones through :func:`pt2canon.cli.main` with standard output and error
captured, the API ones (``api_*``) as calls whose exception type is recorded.
After each run it writes the result file again, so that a parent that kills
this process (a hang, a crash) still reads the runs that finished. Peak memory
is :func:`resource.getrusage`'s ``ru_maxrss`` after each run. torch is not
imported.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

#: Command-line runs: argv given the input, a good archive and an output folder.
CLI_RUNS: dict[str, Callable[[str, str, str], list[str]]] = {
    "show": lambda bad, good, out: ["show", bad],
    "hash": lambda bad, good, out: ["hash", "--no-progress", bad],
    "hash_full": lambda bad, good, out: ["hash", "--no-progress", "--level", "full", "--include-sample-inputs", bad],
    "canon_pt2": lambda bad, good, out: ["canon", bad, "-o", os.path.join(out, "out.pt2")],
    "canon_json": lambda bad, good, out: ["canon", bad, "-o", os.path.join(out, "out.json")],
    "diff": lambda bad, good, out: ["diff", bad, good],
    "audit": lambda bad, good, out: ["audit", bad],
}


def _api(name: str, bad: str, good: str) -> Any:
    import pt2canon

    if name == "api_load":
        return pt2canon.load(bad)
    if name == "api_hash_full":
        return pt2canon.hash(bad, level="full", include_sample_inputs=True)
    if name == "api_canonicalize":
        return pt2canon.canonicalize(bad)
    if name == "api_diff":
        return pt2canon.diff(bad, good)
    if name == "api_audit":
        from pt2canon.audit import audit_path

        return audit_path(bad)
    raise KeyError(name)


API_RUNS = ("api_load", "api_hash_full", "api_canonicalize", "api_diff", "api_audit")
#: Every run, in the order the harness uses.
RUNS = (*CLI_RUNS, *API_RUNS)


def _cli(argv: list[str]) -> dict[str, Any]:
    from pt2canon.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse
            status = int(exc.code or 0) if not isinstance(exc.code, str) else 2
    return {"status": status, "stdout": out.getvalue()[:20000], "stderr": err.getvalue()[:20000]}


def _call(name: str, bad: str, good: str) -> dict[str, Any]:
    from pt2canon.errors import Pt2CanonError

    try:
        value = _api(name, bad, good)
    except Pt2CanonError as exc:
        return {"error": type(exc).__name__, "project_error": True, "message": str(exc)[:2000]}
    except BaseException as exc:  # what the harness counts as a crash
        return {"error": type(exc).__name__, "project_error": False, "message": str(exc)[:2000]}
    if name == "api_audit":
        return {"error": None, "clean": value.clean, "codes": sorted({f.code for f in value.findings})}
    return {"error": None}


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run every run of ``spec``; return (and keep writing) the results."""
    results: dict[str, Any] = {}
    bad, good, out = spec["input"], spec["good"], spec["out"]
    for name in spec["runs"]:
        start = time.monotonic()
        r = _cli(CLI_RUNS[name](bad, good, out)) if name in CLI_RUNS else _call(name, bad, good)
        r["seconds"] = round(time.monotonic() - start, 3)
        r["peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        r["out_files"] = sorted(os.listdir(out))
        results[name] = r
        with open(spec["result"], "w", encoding="utf-8") as fh:
            json.dump(results, fh)
        for f in r["out_files"]:  # the next run starts with an empty output folder
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(out, f))
    return results


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        run(json.load(fh))
