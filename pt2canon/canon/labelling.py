"""Canonical labelling of vertex-coloured digraphs, by BLISS (through igraph).

The canonical order (:mod:`pt2canon.canon.order`) settles almost every
choice with structural keys. When colour refinement leaves a tie between
nodes that are not provably interchangeable, the order asks for a
canonical labelling of the whole graph: a numbering of its vertices such
that two graphs get the same numbered graph if and only if they are
isomorphic (as coloured digraphs). :func:`canonical_labelling` computes
it with BLISS (``igraph.Graph.canonical_permutation``), which is imported
only then: the common case never loads igraph.

Many isomorphic components make BLISS slow (400 components of 20 vertices:
~0.4 s), so the graph is split first: a vertex whose colour no other
vertex has is fixed by every automorphism; such vertices are set apart
(first, in colour order), each other vertex's colour records its edges to
them, and what is left falls into connected components, labelled one at a
time and placed in the order of their certificates (colours and edges in
canonical numbering). Components with equal certificates are isomorphic
with equal attachments, so their relative order does not change the
labelled graph.

Why BLISS and not nauty: ``docs/canonical-form.md`` has the measurement
(pynauty 2.8.8.1 did not finish on these directed graphs in 120 s, BLISS
took 2 ms on a 4,707-vertex transformer graph).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from pt2canon.errors import Pt2CanonError

__all__ = ["canonical_labelling", "dense_colours"]


def dense_colours(keys: Sequence[Hashable]) -> list[int]:
    """Colour numbers for vertex colour keys: the rank of each key among the distinct keys.

    Keys must be mutually comparable (bytes, tuples of bytes...); equal keys
    get equal numbers, and the numbering depends only on the set of keys.

    Examples
    --------
    >>> dense_colours([b"b", b"a", b"b"])
    [1, 0, 1]
    """
    ranks = {k: i for i, k in enumerate(sorted(set(keys)))}  # type: ignore[type-var]
    return [ranks[k] for k in keys]


def _igraph() -> Any:
    try:
        import igraph
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise Pt2CanonError(
            "this program has symmetric parts whose canonical order needs igraph (BLISS); "
            "install it: pip install igraph"
        ) from exc
    return igraph


def canonical_labelling(n: int, edges: Sequence[tuple[int, int]], colours: Sequence[int]) -> list[int]:
    """A canonical numbering of the vertices of a vertex-coloured digraph.

    Parameters
    ----------
    n : int
        Number of vertices, ``0 .. n-1``.
    edges : sequence of (int, int)
        Directed edges of a simple digraph: a repeated edge counts once
        (BLISS has no parallel edges), so callers encode edge labels and
        multiplicities as coloured vertices on the edge.
    colours : sequence of int
        The colour of each vertex; canonical numberings respect colour order
        only through these numbers (use :func:`dense_colours`).

    Returns
    -------
    list of int
        ``label[v]``, a permutation of ``range(n)``. Relabelling two
        isomorphic coloured digraphs by their labellings gives the same
        graph; relabelling two non-isomorphic ones gives different graphs.
        The labelling of one graph is unique up to its automorphisms.

    Examples
    --------
    Two numberings of the path ``a -> b -> c`` with colours 0, 1, 1 get the
    same canonical graph:

    >>> def relabel(edges, label):
    ...     return sorted((label[u], label[v]) for u, v in edges)
    >>> e1, c1 = [(0, 1), (1, 2)], [0, 1, 1]
    >>> e2, c2 = [(2, 0), (0, 1)], [1, 1, 0]
    >>> relabel(e1, canonical_labelling(3, e1, c1)) == relabel(e2, canonical_labelling(3, e2, c2))
    True
    """
    if len(colours) != n:
        raise ValueError(f"colours has {len(colours)} entries for n={n} vertices")
    count: dict[int, int] = {}
    for c in colours:
        count[c] = count.get(c, 0) + 1
    fixed = sorted((v for v in range(n) if count[colours[v]] == 1), key=colours.__getitem__)
    is_fixed = [False] * n
    for v in fixed:
        is_fixed[v] = True
    # Each free vertex's colour records its edges to fixed vertices (direction, fixed colour).
    attach: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    adj: list[list[int]] = [[] for _ in range(n)]
    inner: list[tuple[int, int]] = []
    for u, v in sorted(set(edges)):
        if is_fixed[u] and is_fixed[v]:
            continue
        if is_fixed[u]:
            attach[v].append((0, colours[u]))
        elif is_fixed[v]:
            attach[u].append((1, colours[v]))
        else:
            inner.append((u, v))
            adj[u].append(v)
            adj[v].append(u)
    free_colour = dense_colours([(colours[v], tuple(sorted(attach[v]))) for v in range(n)])
    # Connected components of the free vertices (iterative, no recursion limit).
    comp = [-1] * n
    components: list[list[int]] = []
    for s in range(n):
        if is_fixed[s] or comp[s] >= 0:
            continue
        k = len(components)
        comp[s] = k
        members, stack = [s], [s]
        while stack:
            x = stack.pop()
            for y in adj[x]:
                if comp[y] < 0:
                    comp[y] = k
                    members.append(y)
                    stack.append(y)
        components.append(sorted(members))
    comp_edges: list[list[tuple[int, int]]] = [[] for _ in components]
    for u, v in inner:
        comp_edges[comp[u]].append((u, v))
    igraph: Any = _igraph() if any(len(m) > 1 for m in components) else None
    labelled = []
    for k, members in enumerate(components):
        local = {v: i for i, v in enumerate(members)}
        cols = [free_colour[v] for v in members]
        es = [(local[u], local[v]) for u, v in comp_edges[k]]
        if len(members) == 1:
            at = [0]
        else:
            # igraph returns, for each canonical position, the vertex placed there (what
            # ``Graph.permute_vertices`` takes), not the position of each vertex.
            at = igraph.Graph(n=len(members), edges=es, directed=True).canonical_permutation(color=cols)
        order = [members[i] for i in at]
        position = [0] * len(members)
        for p, i in enumerate(at):
            position[i] = p
        certificate = (
            tuple(free_colour[v] for v in order),
            tuple(sorted((position[a], position[b]) for a, b in es)),
        )
        labelled.append((certificate, order))
    labelled.sort(key=lambda c: c[0])
    label = [0] * n
    nxt = 0
    for v in fixed:
        label[v] = nxt
        nxt += 1
    for _, order in labelled:
        for v in order:
            label[v] = nxt
            nxt += 1
    return label
