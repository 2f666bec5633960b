"""pt2canon: canonicalize, hash and diff programs exported with ``torch.export``.

The pipeline, one stage per module (archive -> schema -> DAG -> canonical
-> hash/diff -> render)::

    .pt2 archive / model.json / ExportedProgram
      archive
      -> serde.layout    the archive layout, once: member names, configs, limits
      -> serde.files     open regular files only (never a FIFO, device or socket); Window: bytes as a file
      -> serde.zipsource read a zip as untrusted input: raw names, methods, sizes, overlaps (ZipSource)
      -> serde.members   read one member verified: local header, stored or bounded inflation, CRC-32
      -> serde.archive   read the archive's members; weights stay in it (serde.artifact:
                         Artifact, Model, Payload, select_model); serde.legacy / serde.torch_save:
                         older archives, per tensor; serde.torch_io: to and from torch's ExportedProgram
      schema
      -> serde.tags      the Argument union: tags, value references (iter_refs), value tables
      -> serde.enums     dtype, layout and memory-format codes; serde.metadata: nn_module_stack
      -> serde.spec      signature specs: FQN fields, update targets, torch's rank per kind
      -> serde.schema    check the JSON's shape (torch schema 8.x; serde.plain: the fast path, in C where built)
      -> serde.expr      read symbolic shape expressions safely (an AST allowlist, never sympify)
      DAG
      -> serde.graph     the graph as a networkx.MultiDiGraph, and back to JSON (its op loop in C where built)
      -> serde.model     typed views of that graph (GraphNode: inputs, users) and lint()
      canonical
      -> canon.effects   which ops mutate, draw random numbers or assert
      -> canon.order     refined order of the DAG (ancestry and users digests, twins)
      -> canon.labelling / canon.arrange   residual ties: BLISS canonical labelling (igraph)
      -> canon.symbols   shape symbols renamed, expressions re-printed (sympy;
                         canon.simple_exprs: the common forms without it)
      -> canon.messages  assert messages that name nodes and symbols
      -> canon.dependencies  ordering edges between effectful ops
      -> canon.graph     one graph in canonical form (subgraphs first); canon.signature: its specs
      -> canon.emit      a graph's canonical JSON, nodes in order, values renamed (its node loop in C where built)
      -> canon.document_symbols  shape symbols of the whole document, in canonical order
      -> canon.program   canonical names and the canonical document (canon.result: its types)
      hash / diff
      -> canon.hashing   layered sha256 digests (structure, graph, full); layer_digests(), combine()
                         (canon.layers: what each layer holds)
      -> diff.options    what a diff compares (level, ignores, tolerances)
      -> diff.sides      each graph as the aligner sees it (view ids, keys, fingerprints)
      -> diff.align      match two canonical graphs node for node (diff.matcher: its phases;
                         diff.pairing: inputs, outputs)
      -> diff.nodes, diff.signature, diff.payloads, diff.tensors, diff.program
                         typed change records (diff.fields: deepdiff per pair;
                         diff.symbols: A's shape symbols as B's; diff.fqns: renamed
                         modules; diff.dtypes: raw tensor bytes as numbers;
                         diff.fused: the compiled one-pass float32 comparison)
      -> diff.artifacts  two artifacts compared model by model (diff.rows: the
                         aligned listing; diff.records / diff.result: the result)
      render
      -> diff.render.*   text, JSON, Markdown, HTML (diff.render.common: hunks)
      -> listing         the FX-like one-line-per-node listing (listing.names, .expressions,
                         .lines, .program, .document)
      -> draw            drawings and the notebook summary
      -> serde.writer    deterministic JSON and .pt2 output (serde.atomic: a file replaced whole or not at all)
    around the pipeline
      -> api             the functions above (load, canonicalize, hash, digest, diff)
      -> errors          one exception root, Pt2CanonError, and its kinds
      -> cli, commands.* ``pt2canon show|hash|canon|diff|audit|index``
      -> batch           many archives: per-archive records, local processes (_pool) or Dask
      -> audit           a static scan of an archive's pickles and members (``audit``)
      -> pytest_plugin   golden files in pytest (pt2canon.golden: format, storage, check)
      -> strategies      hypothesis strategies for programs, rewrites and mutations
      -> _compiled       the switch of the compiled parts (PT2CANON_COMPILED=0 turns them off)
    torch.fx GraphModule (torch.compile, AOTAutograd, make_fx, symbolic_trace)
      -> fx              the same program document, then the stages above;
                         a recording backend and the diff of two recorded runs

Quick use::

    >>> import pt2canon                                       # doctest: +SKIP
    >>> art = pt2canon.load("model.pt2")                      # doctest: +SKIP
    >>> pt2canon.hash(art)                                    # doctest: +SKIP
    'sha256:3f1c...'

``import pt2canon`` imports neither torch nor networkx: the API below is
loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Pt2CanonError",
    "__version__",
    "canonicalize",
    "diff",
    "digest",
    "hash",
    "load",
]

_LAZY = {
    "load": "pt2canon.api",
    "canonicalize": "pt2canon.api",
    "hash": "pt2canon.api",
    "digest": "pt2canon.api",
    "diff": "pt2canon.diff",
    "Pt2CanonError": "pt2canon.errors",
}

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon import diff
    from pt2canon.api import canonicalize, digest, hash, load
    from pt2canon.errors import Pt2CanonError


def __getattr__(name: str) -> Any:
    from pt2canon._lazy import lazy_attribute

    return lazy_attribute(globals(), _LAZY, __name__, name)
