"""Hypothesis strategies for property-testing code that reads or transforms exported programs.

A program here is a serialized ``ExportedProgram`` document (the JSON of
``models/model.json``, as plain Python data), so nothing needs torch.

:func:`programs`
    Random valid programs: parameters, a buffer, user inputs; single and
    multi-output ops, tensor lists, optional tensors, sym ints, constant
    arguments of every kind, an in-place op, random ops, ``cond`` with two
    subgraphs; static and symbolic shapes.
:func:`rewrites`
    An *equivalent* program: another valid topological order (side effects
    keep their order), every value, node, subgraph and symbol renamed, state
    inputs listed in another order, metadata and example hints replaced by
    noise, JSON keys shuffled. Its canonical hash equals the original's.
:func:`mutations`
    A program with one *semantic* change, and its kind; :data:`MUTATION_LEVELS`
    says which hash levels must see it.
:func:`fqn_renames`
    The program with its parameters and buffers renamed, and the renaming:
    only the ``signature`` layer of the hash changes.

Every option is keyword-only and checked when the strategy is made: a bad
value raises :class:`InvalidArgument` (a :class:`pt2canon.errors.UsageError`
and a :class:`hypothesis.errors.InvalidArgument`) that says ``name=value``,
the rule and the fix. hypothesis is an optional dependency:
``pip install 'pt2canon[strategies]'``.

Examples
--------
>>> from hypothesis import given, settings
>>> import pt2canon, json
>>> from pt2canon.strategies import programs, rewrites
>>> def my_pass(program):  # strips stack traces: must not change the program
...     for node in program["graph_module"]["graph"]["nodes"]:
...         node["metadata"].pop("stack_trace", None)
...     return program
>>> @settings(max_examples=20, deadline=None)
... @given(programs(max_nodes=5))
... def test_my_pass_keeps_the_program(program):
...     before = pt2canon.hash(json.dumps(program).encode())
...     assert pt2canon.hash(json.dumps(my_pass(program)).encode()) == before
>>> test_my_pass_keeps_the_program()

``docs/strategies.md`` has the full guide; ``examples/test_my_pass.py`` is a
complete test file.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from pt2canon.errors import MissingDependencyError, Pt2CanonError, UsageError

try:
    import hypothesis.errors as _hypothesis_errors
    from hypothesis import strategies as st
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise MissingDependencyError(
        f"pt2canon.strategies needs hypothesis, an optional dependency ({_exc}); "
        "install it with: pip install 'pt2canon[strategies]'"
    ) from None

from pt2canon.strategies._generate import BINARY, UNARY, draw_program, tensor_meta
from pt2canon.strategies._transform import MUTATION_LEVELS, mutate, mutation_sites, rename_fqns, rewrite, state_fqns

__all__ = [
    "MUTATION_LEVELS",
    "FqnRenaming",
    "InvalidArgument",
    "Mutation",
    "fqn_renames",
    "mutations",
    "programs",
    "rewrites",
    "tensor_meta",
]

Program = dict[str, Any]


class InvalidArgument(UsageError, _hypothesis_errors.InvalidArgument):
    """A strategy was called with an option it cannot honour.

    Both a :class:`pt2canon.errors.UsageError` (the project's root error) and
    a :class:`hypothesis.errors.InvalidArgument` (what hypothesis' own
    strategies raise).
    """


class Mutation(NamedTuple):
    """What :func:`mutations` draws: the kind of change and the changed program."""

    kind: str
    program: Program


class FqnRenaming(NamedTuple):
    """What :func:`fqn_renames` draws: the renamed program and ``{old FQN: new FQN}``."""

    program: Program
    mapping: dict[str, str]


# -- argument checks (hypothesis.internal.validation style) -----------------------------


def _check_type(typ: type | tuple[type, ...], value: object, name: str) -> None:
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        want = " or ".join(t.__name__ for t in typ) if isinstance(typ, tuple) else typ.__name__
        raise InvalidArgument(f"expected {want} but got {name}={value!r} (type {type(value).__name__})")


def _check_count(value: object, name: str, *, minimum: int) -> None:
    _check_type(int, value, name)
    if value < minimum:  # type: ignore[operator]
        raise InvalidArgument(f"{name}={value!r} must be at least {minimum}; pass {name}>={minimum}")


def _check_program(value: object, name: str) -> None:
    if not isinstance(value, Mapping):
        raise InvalidArgument(
            f"{name} must be a serialized ExportedProgram document (a dict) but got {name}={value!r:.80} "
            f"(type {type(value).__name__}); draw one from programs() or read models/model.json with json.load"
        )
    from pt2canon.serde.schema import check_program

    try:
        check_program(dict(value))
    except Pt2CanonError as exc:
        raise InvalidArgument(f"{name} is not a valid serialized ExportedProgram: {exc}") from None


# -- the strategies --------------------------------------------------------------------


def programs(
    *,
    min_nodes: int = 1,
    max_nodes: int = 14,
    max_parameters: int = 3,
    effects: bool = True,
    cond: bool = True,
    symbolic: bool = True,
) -> st.SearchStrategy[Program]:
    """Random valid serialized ``ExportedProgram`` documents.

    Parameters
    ----------
    min_nodes, max_nodes : int
        Bounds on the number of ops drawn in the top-level graph (some kinds
        add two nodes, ``cond`` adds subgraphs); ``1 <= min_nodes <= max_nodes``.
    max_parameters : int
        Most parameters (graph inputs named ``layer<i>.weight``); there is
        always one buffer (``buf``) and one to three user inputs.
    effects : bool
        Allow side effects: an in-place ``add_`` on the buffer (with its
        buffer mutation output) and ``rand`` draws.
    cond : bool
        Allow ``torch.ops.higher_order.cond`` nodes with two subgraphs.
    symbolic : bool
        Allow symbolic sizes (up to two shape symbols with range constraints).

    Returns
    -------
    SearchStrategy[dict]
        Documents that pass :func:`pt2canon.serde.schema.check_program`.
        Examples shrink towards fewer, simpler nodes.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from pt2canon.serde.schema import check_program
    >>> @settings(max_examples=20, deadline=None)
    ... @given(programs(max_nodes=3, cond=False))
    ... def test(doc):
    ...     check_program(doc)
    ...     assert 1 <= len(doc["graph_module"]["graph"]["nodes"]) <= 6
    >>> test()
    >>> programs(min_nodes=4, max_nodes=2)
    Traceback (most recent call last):
    ...
    pt2canon.strategies.InvalidArgument: max_nodes=2 must be at least min_nodes=4; pass max_nodes>=min_nodes
    """
    _check_count(min_nodes, "min_nodes", minimum=1)
    _check_count(max_nodes, "max_nodes", minimum=1)
    if max_nodes < min_nodes:
        raise InvalidArgument(
            f"max_nodes={max_nodes!r} must be at least min_nodes={min_nodes!r}; pass max_nodes>=min_nodes"
        )
    _check_count(max_parameters, "max_parameters", minimum=0)
    for name, flag in (("effects", effects), ("cond", cond), ("symbolic", symbolic)):
        _check_type(bool, flag, name)
    return st.composite(
        lambda draw: draw_program(
            draw,
            min_nodes=min_nodes,
            max_nodes=max_nodes,
            max_parameters=max_parameters,
            effects=effects,
            cond=cond,
            symbolic=symbolic,
        )
    )()


def rewrites(
    program: Mapping[str, Any],
    *,
    reorder: bool = True,
    rename: bool = True,
    move_inputs: bool = True,
    noise: bool = True,
    shuffle_keys: bool = True,
) -> st.SearchStrategy[Program]:
    """Programs equivalent to ``program``: same canonical form and hash at every level.

    Works on any valid document (generated or read from an archive). Each
    option switches one kind of rewrite; all are on by default. The input is
    never modified.

    Parameters
    ----------
    program : dict
        A serialized ``ExportedProgram`` document.
    reorder : bool
        Another valid topological order of every graph and subgraph. Nodes
        with side effects keep their relative order and every read of a
        mutated value (or of a view of one) stays on its side of the
        mutation, by a conservative rule independent of pt2canon's own
        ordering (see ``docs/strategies.md``).
    rename : bool
        Every value, node and subgraph name and every shape symbol renamed.
    move_inputs : bool
        Parameters, buffers and other state inputs listed in another order,
        with their signature specs (tokens, user and constant inputs keep theirs).
    noise : bool
        Node metadata (stack traces, module stacks) and example hints of
        symbolic sizes replaced by noise. Equivalent under the default
        profile, which drops metadata; not with ``keep_metadata``.
    shuffle_keys : bool
        JSON object keys in another order.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from pt2canon.canon.program import canonicalize_program
    >>> @settings(max_examples=20, deadline=None)
    ... @given(programs(max_nodes=4).flatmap(lambda p: rewrites(p).map(lambda r: (p, r))))
    ... def test(pair):
    ...     p, r = pair
    ...     assert canonicalize_program(p).doc == canonicalize_program(r).doc
    >>> test()
    """
    _check_program(program, "program")
    flags = {
        "reorder": reorder,
        "rename": rename,
        "move_inputs": move_inputs,
        "noise": noise,
        "shuffle_keys": shuffle_keys,
    }
    for name, flag in flags.items():
        _check_type(bool, flag, name)
    return st.integers(0, 2**32 - 1).map(lambda seed: rewrite(program, seed, **flags))


def fqn_renames(program: Mapping[str, Any]) -> st.SearchStrategy[FqnRenaming]:
    """``program`` with its parameters and buffers renamed (new FQNs, any sort order), and the renaming.

    Not an equivalent program (the signature names other state), but one
    whose structure, tensor metadata and constraints are the same: only the
    ``signature`` layer of the hash may change. New FQNs are drawn from
    ``a b c x y z . _`` and never start with ``.`` or ``_``.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=20, deadline=None)
    ... @given(programs(max_nodes=3).flatmap(fqn_renames))
    ... def test(case):
    ...     renamed, mapping = case
    ...     specs = renamed["graph_module"]["signature"]["input_specs"]
    ...     buffers = [s["buffer"]["buffer_name"] for s in specs if "buffer" in s]
    ...     assert buffers == [mapping["buf"]]
    >>> test()
    """
    _check_program(program, "program")
    old = state_fqns(program)
    names = st.text("abcxyz._", min_size=1, max_size=6).filter(lambda t: t[0] not in "._")
    new = st.lists(names, min_size=len(old), max_size=len(old), unique=True)
    return new.map(lambda fresh: FqnRenaming(rename_fqns(program, dict(zip(old, fresh))), dict(zip(old, fresh))))


def mutations(program: Mapping[str, Any], *, kinds: Collection[str] | None = None) -> st.SearchStrategy[Mutation]:
    """``program`` with a single semantic change: ``Mutation(kind, program)``.

    Kinds, and the hash levels that must see them (:data:`MUTATION_LEVELS`):
    ``target`` (a pure unary or binary ATen op swapped for another of its
    group), ``constant`` (a float constant or an int list changed),
    ``wiring`` (a node's first two distinct tensor inputs swapped), all seen
    by ``structure`` and ``graph``; ``shape`` (a tensor gains a dimension)
    and ``dtype``, seen by ``graph``. Swapping two operands that compute the
    same thing (two parameters of one kind, say) is no structural change:
    tests should ``assume`` it away.

    Parameters
    ----------
    program : dict
        A serialized ``ExportedProgram`` document.
    kinds : collection of str, optional
        Only these kinds (default: every kind the program offers a site for).

    Raises
    ------
    InvalidArgument
        If ``kinds`` names an unknown kind, or the program has no site for
        any of the kinds asked for.
    """
    _check_program(program, "program")
    if kinds is not None:
        if isinstance(kinds, str) or not isinstance(kinds, Collection):
            raise InvalidArgument(f"kinds={kinds!r} must be a collection of kind names such as kinds=['shape']")
        unknown = sorted(set(kinds) - set(MUTATION_LEVELS))
        if unknown:
            raise InvalidArgument(
                f"kinds={sorted(kinds)!r} names unknown kinds {unknown}; pick from {', '.join(MUTATION_LEVELS)}"
            )
    pools = {"unary": UNARY, "binary": BINARY}
    sites = [s for s in mutation_sites(program, pools) if kinds is None or s[0] in kinds]
    if not sites:
        raise InvalidArgument(
            f"program has nothing to mutate for kinds={sorted(kinds) if kinds else list(MUTATION_LEVELS)!r} "
            "(no tensor values nor ATen nodes with constants or two tensor inputs); pass other kinds"
        )
    return st.tuples(st.sampled_from(sites), st.integers(0, 2)).map(
        lambda pick: Mutation(pick[0][0], mutate(program, pick[0][0], pick[0][1], pools, pick[1]))
    )
