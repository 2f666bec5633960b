"""``pt2canon show PATH``: the readable listing of every model in an artifact.

Prints, per model, the listing of :mod:`pt2canon.listing` (header with
versions, signature, one line per node, subgraphs indented, range
constraints, weights and constants summaries); models are separated by a
blank line. ``--json`` prints :func:`pt2canon.listing.listing_json` instead.
``--canonical`` lists the canonical program instead of the file's: the node
and value names ``diff`` and ``draw`` use (``n0, n1, ...``, ``%v0, %v1,
...``), canonical order and shape symbols. The weights and constants
summaries list the ``5`` largest entries and count the others; ``--all-weights``
lists every entry. Exit status 0, or 2 with one line on bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from pt2canon import _json
from pt2canon.fx.pickled import add_trust_pickle_argument

__all__ = ["LARGEST", "add_parser", "run"]

#: How many of the largest weights (and constants) the summaries list without ``--all-weights``.
LARGEST = 5


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser(
        "show",
        help="print the FX-like listing of an exported program",
        description=(
            "Print the listing of each model of a .pt2 archive, an older-format zip or a model JSON: "
            "versions, signature, one line per node (subgraphs indented), range constraints and a "
            "weights summary."
        ),
    )
    p.add_argument("path", metavar="PATH", help=".pt2 archive, older-format zip or model JSON")
    p.add_argument("--json", action="store_true", help="print a JSON document instead of the listing")
    p.add_argument("--model", metavar="NAME", help="show only this model of the archive")
    p.add_argument(
        "--canonical", action="store_true", help="list the canonical program (the names diff uses), not the file's"
    )
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--no-weights", action="store_true", help="leave out the weights and constants summaries")
    weights.add_argument(
        "--all-weights", action="store_true", help=f"list every weight and constant, not the {LARGEST} largest"
    )
    add_trust_pickle_argument(p)
    return p


def run(args: argparse.Namespace) -> int:
    from pt2canon.api import canonicalize_all, load
    from pt2canon.listing import generate_listing, listing_json
    from pt2canon.serde.archive import select_model

    artifact = load(args.path, trust_pickle=args.trust_pickle)
    try:
        # Refuse what hash and canon refuse (a dangling reference, a cycle, a signature that
        # disagrees with the graph, an unreadable symbolic expression): a listing of a broken
        # graph would look like a program.
        canons = canonicalize_all(artifact)
        if args.canonical:
            models = {n: dataclasses.replace(m, program=canons[n].doc) for n, m in artifact.models.items()}
            artifact = dataclasses.replace(artifact, models=models)
        names = sorted(artifact.models)
        if args.model is not None:
            names = [select_model(artifact, args.model).name]
        out = sys.stdout
        if args.json:
            doc = listing_json(artifact, model=args.model, weights=not args.no_weights)
            out.write(_json.dumps_pretty(doc))
            out.write("\n")
            return 0
        for i, name in enumerate(names):
            model = artifact.models[name]
            if i:
                out.write("\n")
            lines = generate_listing(
                model.program,
                weights=None if args.no_weights else model.weights,
                constants=None if args.no_weights else model.constants,
                info=artifact.info or None,
                name=name,
                largest=None if args.all_weights else LARGEST,
                more_hint="; --all-weights lists them all",
            )
            for line in lines:
                out.write(line)
                out.write("\n")
        out.flush()
    finally:
        artifact.close()
    return 0
