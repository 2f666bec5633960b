"""``pt2canon canon IN -o OUT``: write the canonical archive (or JSON) of a program.

The canonical ``.pt2`` holds every model in canonical form with its
weights, constants and sample inputs copied as bytes; ``torch.export.load``
loads it and it computes what the input computes. Two canonical archives
of programs equal at the ``full`` level are byte-identical. The output is
replaced atomically; the input is never overwritten unless ``--force``.
"""

from __future__ import annotations

import argparse
import os

from pt2canon.errors import UsageError
from pt2canon.fx.pickled import add_trust_pickle_argument

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser(
        "canon",
        help="write the canonical form of an archive",
        description="Write the canonical .pt2 archive (or model JSON) of IN to OUT.",
    )
    p.add_argument("input", metavar="IN", help=".pt2 archive, older zip or model JSON")
    p.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="where to write (.pt2, or .json for the model JSON)"
    )
    p.add_argument("--format", choices=("pt2", "json"), help="output format (default: from OUT's suffix)")
    p.add_argument("--model", metavar="NAME", help="with --format json: which model of a multi-model archive")
    p.add_argument(
        "--keep-metadata", action="append", default=[], metavar="KEY", help="node metadata key to keep (repeatable)"
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
    from pt2canon.serde.writer import write_archive, write_json

    fmt = args.format or ("json" if args.output.endswith(".json") else "pt2")
    if _same_file(args.input, args.output) and not args.force:
        raise UsageError(f"output {args.output!r} is the input file; pass --force to replace it")
    artifact = load(args.input, trust_pickle=args.trust_pickle)
    if fmt == "pt2" and artifact.format == "fx":
        artifact.close()
        raise UsageError(
            f"{args.input}: an FX graph's canonical form is a program document whose targets torch.export.load "
            "cannot run; write it as JSON (-o OUT.json)"
        )
    try:
        canons = canonicalize_all(artifact, keep_metadata=args.keep_metadata)
        if fmt == "json":
            name = args.model or artifact.model.name
            if name not in canons:
                raise UsageError(f"--model={name!r}: the archive holds {', '.join(sorted(canons))}")
            write_json(args.output, canons[name].doc, indent=1)
            result = hash_layers({name: canons[name]})
        else:
            write_archive(args.output, artifact, {name: c.doc for name, c in canons.items()})
            result = hash_layers(canons)
    finally:
        artifact.close()
    print(f"{result.hash}  {args.output}")
    return 0
