"""torch's own serializer test programs (tests/serializer_programs.py): hashed, canonicalized, reloaded, run.

For every program of torch's ``test/export/test_serialize.py`` that torch
2.13 exports and saves: pt2canon loads and hashes the archive; the
canonical archive hashes the same, loads with ``torch.export.load`` and
computes what the original computes; reordered and renamed copies (with
assert messages left stale) give the same canonical document; single
semantic changes change the layers that describe them; and torch's own
load -> save round trip leaves every hash as it was.
"""

from __future__ import annotations

import io
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from corpus import assert_same, member_bytes, run_and_compare
from serializer_programs import SerializerProgram, build, program_names
from variants import (
    MUTATION_LAYERS,
    differences,
    fresh_names,
    mutations,
    rename_names,
    stale_messages,
    valid_orders,
)

import pt2canon
from pt2canon._json import canonical_bytes
from pt2canon.canon.program import canonicalize_program
from pt2canon.cli import main
from pt2canon.errors import GraphError
from pt2canon.serde.archive import read_artifact
from pt2canon.serde.writer import write_archive

LEVELS = ("structure", "graph", "full")

#: Programs torch 2.13 saves but cannot load back with ``torch.export.load`` (torch's tests
#: round-trip them in memory only), and what pt2canon does with them.
TORCH_CANNOT_LOAD = {
    "fake_tensor_constant": "its lifted constant is a fake tensor with a symbolic size (Only as_int is supported)",
    "custom_class_instance": "the custom object argument is neither lifted nor saved",
}


@pytest.fixture(scope="session")
def serializer_programs(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, tuple[SerializerProgram, Path]], dict[str, str]]:
    folder = tmp_path_factory.mktemp("serializer_programs")
    programs, failures = build()
    return {name: (p, p.save(folder / f"{name}.pt2")) for name, p in programs.items()}, failures


def _program(serializer_programs: Any, name: str, *, loadable: bool = True) -> tuple[SerializerProgram, Path]:
    programs, failures = serializer_programs
    if name in failures:
        pytest.skip(f"{name} does not export and save with this torch: {failures[name]}")
    if loadable and name in TORCH_CANNOT_LOAD:
        pytest.skip(f"torch cannot load {name}: {TORCH_CANNOT_LOAD[name]}")
    return programs[name]  # type: ignore[no-any-return]


def _hashes(source: Any) -> dict[str, str]:
    return {level: pt2canon.hash(source, level=level) for level in LEVELS}


def _run_both(p: SerializerProgram, original: Path, candidate: Path) -> None:
    if not p.shapes_only:
        run_and_compare(original, candidate, p.args, p.kwargs)
        return
    outs = [torch.export.load(str(f)).module()(*p.args, **p.kwargs) for f in (original, candidate)]
    leaves = [torch.utils._pytree.tree_leaves(o) for o in outs]
    assert [(t.shape, t.dtype, t.device) for t in leaves[0]] == [(t.shape, t.dtype, t.device) for t in leaves[1]]


@pytest.mark.parametrize("name", program_names())
def test_the_canonical_archive_hashes_alike_loads_and_computes_what_the_program_computes(
    serializer_programs: Any, name: str, tmp_path: Path
) -> None:
    p, path = _program(serializer_programs, name)
    canon = tmp_path / "canon.pt2"
    assert main(["canon", str(path), "-o", str(canon)]) == 0
    assert _hashes(canon) == _hashes(path)
    _run_both(p, path, canon)
    if p.extra_files:
        loaded: dict[str, Any] = dict.fromkeys(p.extra_files, "")
        torch.export.load(str(canon), extra_files=loaded)
        assert loaded == p.extra_files


@pytest.mark.parametrize("name", program_names())
def test_reordered_and_renamed_copies_with_stale_messages_canonicalize_to_the_same_document(
    serializer_programs: Any, name: str
) -> None:
    _, path = _program(serializer_programs, name, loadable=False)
    if name in TORCH_CANNOT_LOAD and name == "custom_class_instance":
        pytest.skip("pt2canon refuses it (see the test below)")
    doc = read_artifact(path).model.program
    expected = canonical_bytes(canonicalize_program(doc).doc)
    rnd = random.Random(name)
    names, symbols = fresh_names(doc, rnd)
    variants = [*valid_orders(doc, rnd, 2), rename_names(doc, names, symbols)]
    stale = stale_messages(doc, rnd)
    if stale is not None:
        variants += [stale, rename_names(stale, names, symbols)]
    for variant in variants:
        assert canonical_bytes(canonicalize_program(variant).doc) == expected


@pytest.mark.parametrize("name", program_names())
def test_a_single_semantic_change_changes_the_layers_that_describe_it(serializer_programs: Any, name: str) -> None:
    _, path = _program(serializer_programs, name, loadable=False)
    if name == "custom_class_instance":
        pytest.skip("pt2canon refuses it (see the test below)")
    doc = read_artifact(path).model.program
    base = pt2canon.digest(canonical_bytes(doc)).layers
    changes = mutations(doc)
    assert changes, "every program admits at least one mutation"
    for kind, changed in changes:
        layers = pt2canon.digest(canonical_bytes(changed)).layers
        moved = {k for k in base if base[k] != layers[k]}
        assert MUTATION_LAYERS[kind] <= moved, (kind, moved)


#: Document paths torch's load -> save rewrites, and why pt2canon ignores them.
_TORCH_REWRITES = [
    re.compile(r"graph_module\.graph\.tensor_values\.[^.]+\.storage_offset(\..+)?"),  # ignored by its loader
    re.compile(r".*\.metadata(\..+)?"),  # node metadata: not hashed
    re.compile(r"graph_module\.graph\.nodes\[\d+\]\.name"),  # node names: not hashed
    re.compile(r"range_constraints\.[^.]+"),  # of symbols no value mentions (checked below)
]


_ASSUMPTIONS = re.compile(r"Symbol\('(\w+)'((?:, \w+=\w+)*)\)")


def _assumptions_sorted(doc: Any) -> Any:
    """``doc`` with each ``Symbol(...)``'s assumption keywords in sorted order.

    torch prints a symbol's assumptions in the order sympy's cache first saw
    them, so a process that created ``Symbol('s0', integer=True,
    positive=True)`` before writes that order on re-save. The same symbol,
    spelled two ways.
    """
    if isinstance(doc, dict):
        return {k: _assumptions_sorted(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_assumptions_sorted(v) for v in doc]
    if isinstance(doc, str):
        return _ASSUMPTIONS.sub(
            lambda m: f"Symbol('{m[1]}'{''.join(', ' + kw for kw in sorted(m[2].split(', ')[1:]))})", doc
        )
    return doc


@pytest.mark.parametrize("name", program_names())
def test_torchs_own_load_save_round_trip_leaves_every_hash_as_it_was(serializer_programs: Any, name: str) -> None:
    p, path = _program(serializer_programs, name)
    original = path.read_bytes()
    buf = io.BytesIO()
    torch.export.save(torch.export.load(io.BytesIO(original)), buf, extra_files=p.extra_files)
    again = buf.getvalue()
    a, b = (_assumptions_sorted(json.loads(member_bytes(x, "models/model.json"))) for x in (original, again))
    diffs = differences(a, b)
    assert all(any(r.fullmatch(d) for r in _TORCH_REWRITES) for d in diffs), diffs
    # torch drops the range of a symbol that no value mentions, and only those.
    dropped = {d.split(".", 1)[1] for d in diffs if d.startswith("range_constraints.")}
    assert not dropped & set(re.findall(r"Symbol\('(\w+)'", canonical_bytes(a["graph_module"]["graph"]).decode()))
    assert _hashes(again) == _hashes(original)


def test_programs_torch_cannot_load_are_hashed_or_refused_with_a_clear_error(serializer_programs: Any) -> None:
    programs, failures = serializer_programs
    for name in TORCH_CANNOT_LOAD:
        if name in failures:
            continue
        _, path = programs[name]
        with pytest.raises(Exception):  # noqa: B017 - torch's own error, whatever it is
            torch.export.load(str(path))
    if "fake_tensor_constant" in programs:
        _, path = programs["fake_tensor_constant"]
        assert _hashes(path)["full"].startswith("sha256:")
    if "custom_class_instance" in programs:
        _, path = programs["custom_class_instance"]
        with pytest.raises(GraphError, match=r"take_an_instance.*_custom_obj_0"):
            pt2canon.hash(str(path))


def test_the_suite_recreates_the_serializer_tests_programs(serializer_programs: Any) -> None:
    programs, failures = serializer_programs
    # Every builder exported and saved, except the one torch 2.13 cannot save.
    assert set(failures) <= {"rational_ranges"}, failures
    assert len(programs) >= 75
    corners = {"none_input", "constant_outputs", "save_extra", "predispatch_vmap", "auto_functionalize", "map"}
    assert corners <= set(programs)


def test_a_none_argument_keeps_its_position_in_the_canonical_calling_convention(
    serializer_programs: Any, tmp_path: Path
) -> None:
    p, path = _program(serializer_programs, "none_input")
    specs = pt2canon.canonicalize(str(path)).doc["graph_module"]["signature"]["input_specs"]
    assert [next(iter(s)) for s in specs] == ["user_input", "constant_input", "user_input"]
    canon = tmp_path / "canon.pt2"
    assert main(["canon", str(path), "-o", str(canon)]) == 0
    x, _, z = p.args
    assert_same(torch.export.load(str(canon)).module()(x, None, z), x + z)


@pytest.mark.parametrize("name", ["none_input", "unbacked_range", "constraints"])
def test_a_renamed_constant_input_placeholder_or_a_stale_message_leaves_every_level_unchanged(
    serializer_programs: Any, name: str, tmp_path: Path
) -> None:
    _, path = _program(serializer_programs, name)
    art = read_artifact(path)
    doc = art.model.program
    rnd = random.Random(0)
    names, symbols = fresh_names(doc, rnd)
    variants = {"renamed": rename_names(doc, names, symbols)}
    stale = stale_messages(doc, rnd)
    if name == "none_input":
        (spec,) = [s for s in doc["graph_module"]["signature"]["input_specs"] if "constant_input" in s]
        assert names[spec["constant_input"]["name"]] in canonical_bytes(variants["renamed"]).decode()
    else:
        assert stale is not None
        variants["stale"] = stale
    expected = _hashes(path)
    for label, variant in variants.items():
        out = tmp_path / f"{label}.pt2"
        write_archive(out, art, {"model": variant})
        assert _hashes(out) == expected, label
