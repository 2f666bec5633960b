"""``pt2canon canon IN -o OUT``: write the canonical archive (or JSON) of a program.

The canonical ``.pt2`` holds every model in canonical form with its
weights and constants copied as bytes; ``torch.export.load`` loads it and
it computes what the input computes. Sample inputs (the pickled example
batch ``torch.export.save`` stores) are left out by default, so two
exports of one program, made with other example batches, give
byte-identical canonical archives; ``--keep-sample-inputs`` copies them
(as bytes, never unpickled). Two canonical archives of programs equal at
the ``full`` level are then byte-identical.

The output is replaced atomically; the input is never overwritten unless
``--force``. ``-o -`` writes the archive (or JSON) to standard output, and
the hash line then goes to standard error; an archive is not written to a
terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile

from pt2canon.errors import UsageError
from pt2canon.fx.pickled import add_trust_pickle_argument

__all__ = ["add_parser", "run"]

#: The output path that names standard output.
STDOUT = "-"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser(
        "canon",
        help="write the canonical form of an archive",
        description="Write the canonical .pt2 archive (or model JSON) of IN to OUT.",
    )
    p.add_argument("input", metavar="IN", help=".pt2 archive, older zip or model JSON")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="where to write (.pt2, or .json for the model JSON; - for standard output)",
    )
    p.add_argument("--format", choices=("pt2", "json"), help="output format (default: from OUT's suffix; pt2 for -)")
    p.add_argument("--model", metavar="NAME", help="with --format json: which model of a multi-model archive")
    p.add_argument(
        "--keep-metadata", action="append", default=[], metavar="KEY", help="node metadata key to keep (repeatable)"
    )
    p.add_argument(
        "--keep-sample-inputs",
        action="store_true",
        help="copy the sample inputs into the archive (default: leave them out, so that re-exports give equal bytes)",
    )
    p.add_argument("--force", action="store_true", help="allow OUT to be the same file as IN")
    add_trust_pickle_argument(p)
    return p


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def run(args: argparse.Namespace) -> int:
    from pt2canon.api import canonicalize_all, load
    from pt2canon.canon.hashing import hash_layers
    from pt2canon.serde.archive import select_model
    from pt2canon.serde.writer import write_archive, write_json

    to_stdout = args.output == STDOUT
    fmt = args.format or ("json" if args.output.endswith(".json") else "pt2")
    if to_stdout and fmt == "pt2" and sys.stdout.isatty():
        raise UsageError("-o -: refusing to write a binary archive to a terminal; redirect it (-o - > OUT.pt2)")
    if not to_stdout and _same_file(args.input, args.output) and not args.force:
        raise UsageError(f"output {args.output!r} is the input file; pass --force to replace it")
    artifact = load(args.input, trust_pickle=args.trust_pickle)
    if fmt == "pt2" and artifact.format == "fx":
        artifact.close()
        raise UsageError(
            f"{args.input}: an FX graph's canonical form is a program document whose targets torch.export.load "
            "cannot run; write it as JSON (-o OUT.json)"
        )
    with tempfile.TemporaryDirectory(prefix="pt2canon-") if to_stdout else contextlib.nullcontext("") as folder:
        target = os.path.join(folder, f"canonical.{fmt}") if to_stdout else args.output
        try:
            canons = canonicalize_all(artifact, keep_metadata=args.keep_metadata)
            if fmt == "json":
                name = select_model(artifact, args.model).name
                write_json(target, canons[name].doc, indent=1)
                result = hash_layers({name: canons[name]})
            else:
                programs = {name: c.doc for name, c in canons.items()}
                write_archive(target, artifact, programs, sample_inputs=args.keep_sample_inputs)
                result = hash_layers(canons)
        finally:
            artifact.close()
        if to_stdout:
            with open(target, "rb") as fh:
                sys.stdout.flush()
                shutil.copyfileobj(fh, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
    print(f"{result.hash}  {args.output}", file=sys.stderr if to_stdout else sys.stdout)
    return 0
