"""Property-testing your own graph pass with ``pt2canon.strategies``.

Say you publish exported models and run a "scrub" pass on the program
first: it removes stack traces and module paths (they leak file names) and
gives values short names. The pass must not change what the program
computes. With pt2canon that is one line of property: the canonical hash
before the pass equals the hash after it, for every program hypothesis can
think of. Run it with ``pytest examples/test_my_pass.py``.

Three properties:

1. the pass preserves the program up to isomorphism (same hash);
2. it gives equivalent inputs (reordered, renamed, ...) equivalent outputs;
3. it does not hide real changes: a program with one semantic mutation
   still hashes differently after the pass.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings

import pt2canon
from pt2canon.strategies import MUTATION_LEVELS, mutations, programs, rewrites

# -- the pass under test ------------------------------------------------------------------


def scrub(program: dict[str, Any]) -> dict[str, Any]:
    """Drop node metadata and rename every value ``v0, v1, ...`` in order of definition."""
    program = copy.deepcopy(program)
    names: dict[str, str] = {}

    def define(name: str) -> None:
        names.setdefault(name, f"v{len(names)}")

    def defined_by(graph: dict[str, Any]) -> None:
        for arg in graph["inputs"]:
            define(arg["as_tensor"]["name"])
        for node in graph["nodes"]:
            node["metadata"] = {}
            for na in node["inputs"]:
                if "as_graph" in na["arg"]:
                    defined_by(na["arg"]["as_graph"]["graph"])
            for out in node["outputs"]:
                for key in ("as_tensor", "as_sym_int"):
                    if key in out:
                        define(out[key].get("name") or out[key]["as_name"])
                for t in out.get("as_tensors", []):
                    define(t["name"])

    def rename(obj: Any) -> Any:
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                if k in ("tensor_values", "sym_int_values"):
                    out[k] = {names.get(n, n): rename(m) for n, m in v.items()}
                elif k in ("name", "as_name") and isinstance(v, str) and "arg" not in obj:
                    out[k] = names.get(v, v)  # a value reference (a NamedArgument's name is the schema's)
                else:
                    out[k] = rename(v)
            return out
        if isinstance(obj, list):
            return [rename(v) for v in obj]
        return obj

    defined_by(program["graph_module"]["graph"])
    return rename(program)  # type: ignore[no-any-return]


# -- the properties -----------------------------------------------------------------------

PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def canonical_hash(program: dict[str, Any], level: str = "graph") -> str:
    return pt2canon.hash(json.dumps(program).encode(), level=level)


@PROPERTY
@given(programs())
def test_scrub_preserves_the_program_up_to_isomorphism(program: dict[str, Any]) -> None:
    scrubbed = scrub(program)
    assert scrubbed != program  # the pass did something
    assert canonical_hash(scrubbed) == canonical_hash(program)


@PROPERTY
@given(programs().flatmap(lambda p: rewrites(p).map(lambda r: (p, r))))
def test_scrub_maps_equivalent_programs_to_equivalent_programs(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    program, equivalent = pair
    assert canonical_hash(scrub(equivalent)) == canonical_hash(scrub(program))


@PROPERTY
@given(programs().flatmap(lambda p: mutations(p, kinds=["target", "constant", "shape", "dtype"]).map(lambda m: (p, m))))
def test_scrub_does_not_hide_a_semantic_change(pair: tuple[dict[str, Any], tuple[str, dict[str, Any]]]) -> None:
    program, (kind, mutated) = pair
    for level in MUTATION_LEVELS[kind]:
        assert canonical_hash(scrub(mutated), level) != canonical_hash(scrub(program), level)
