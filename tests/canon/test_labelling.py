"""BLISS canonical labelling (through igraph), split into components, is canonical and complete."""

from __future__ import annotations

import random

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from pt2canon.canon.labelling import canonical_labelling


def _form(n: int, edges: list[tuple[int, int]], colours: list[int]) -> tuple[list[tuple[int, int]], list[int]]:
    """The graph renumbered by its canonical labelling: sorted edges, colour per number."""
    label = canonical_labelling(n, edges, colours)
    assert sorted(label) == list(range(n))
    coloured = [0] * n
    for v in range(n):
        coloured[label[v]] = colours[v]
    return sorted({(label[u], label[v]) for u, v in edges}), coloured


def _permuted(n: int, edges: list[tuple[int, int]], colours: list[int], rnd: random.Random) -> tuple:
    p = list(range(n))
    rnd.shuffle(p)
    moved = [0] * n
    for v in range(n):
        moved[p[v]] = colours[v]
    return [(p[u], p[v]) for u, v in edges], moved


@st.composite
def coloured_digraphs(draw, max_vertices: int = 14):  # type: ignore[no-untyped-def]
    n = draw(st.integers(1, max_vertices))
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n, unique=True))
    colours = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    return n, edges, colours


def _nx(n: int, edges: list[tuple[int, int]], colours: list[int]) -> nx.MultiDiGraph:
    G = nx.MultiDiGraph()
    G.add_nodes_from((v, {"c": c}) for v, c in enumerate(colours))
    G.add_edges_from(edges)
    return G


@settings(max_examples=300, deadline=None)
@given(coloured_digraphs(), st.integers(0, 2**32 - 1))
def test_a_renumbered_graph_has_the_same_canonical_form(graph: tuple, seed: int) -> None:
    n, edges, colours = graph
    assert _form(n, *_permuted(n, edges, colours, random.Random(seed))) == _form(n, edges, colours)


@settings(max_examples=300, deadline=None)
@given(coloured_digraphs(max_vertices=8), coloured_digraphs(max_vertices=8))
def test_canonical_forms_are_equal_exactly_when_networkx_finds_the_graphs_isomorphic(a: tuple, b: tuple) -> None:
    same = a[0] == b[0] and nx.is_isomorphic(_nx(*a), _nx(*b), node_match=lambda x, y: x["c"] == y["c"])
    assert (_form(*a) == _form(*b)) == same


def test_many_isomorphic_components_attached_to_fixed_vertices_keep_their_attachments() -> None:
    # A hub (unique colour) with 200 two-vertex paths; in one graph path 0 attaches by its
    # head, in the other by its tail: not isomorphic, and the split must not lose that.
    def graph(flip: bool) -> tuple[int, list[tuple[int, int]], list[int]]:
        edges, colours = [], [0]
        for k in range(200):
            a, b = len(colours), len(colours) + 1
            colours += [1, 2]
            edges += [(a, b), (0, b if (flip and k == 0) else a)]
        return len(colours), edges, colours

    plain, flipped = graph(False), graph(True)
    assert _form(*plain) != _form(*flipped)
    rnd = random.Random(3)
    assert _form(plain[0], *_permuted(*plain, rnd)) == _form(*plain)
