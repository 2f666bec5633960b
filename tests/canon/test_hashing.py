"""The hash's layers on real exports: what torch's own round trip keeps, and what each layer sees."""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from corpus import Corpus, member_bytes
from model_zoo import zoo
from variants import differences

import pt2canon
from pt2canon._json import canonical_bytes
from pt2canon.api import canonicalize_all
from pt2canon.serde.archive import read_artifact
from pt2canon.serde.writer import write_archive

LEVELS = ("structure", "graph", "full")
_OFFSET_PATH = re.compile(r"graph_module\.graph\.tensor_values\.[^.]+\.storage_offset(\..+)?")


def _program(archive: bytes) -> dict[str, Any]:
    return json.loads(member_bytes(archive, "models/model.json"))  # type: ignore[no-any-return]


def _torch_round_trip(archive: bytes) -> bytes:
    buf = io.BytesIO()
    torch.export.save(torch.export.load(io.BytesIO(archive)), buf)
    return buf.getvalue()


def _layers(doc: dict[str, Any]) -> dict[str, str]:
    return pt2canon.digest(canonical_bytes(doc)).layers


def _canonical_archive(archive: bytes, path: Path) -> bytes:
    with pt2canon.load(archive) as art:
        programs = {name: c.doc for name, c in canonicalize_all(art).items()}
        write_archive(path, art, programs)
    return path.read_bytes()


@pytest.fixture(scope="module")
def zoo_archives() -> dict[str, bytes]:
    out = {}
    for name, (module, args) in zoo().items():
        buf = io.BytesIO()
        torch.export.save(torch.export.export(module, args), buf)
        out[name] = buf.getvalue()
    return out


def _assert_round_trip_hashes_equal(original: bytes, tmp_path: Path) -> None:
    again = _torch_round_trip(original)
    diffs = differences(_program(original), _program(again))
    # torch rewrites the offsets of views, and nothing else in the program document.
    assert diffs, "the program has views at nonzero offsets: torch's round trip must rewrite them"
    assert all(_OFFSET_PATH.fullmatch(d) for d in diffs), [d for d in diffs if not _OFFSET_PATH.fullmatch(d)]
    for level in LEVELS:
        assert pt2canon.hash(original, level=level) == pt2canon.hash(again, level=level), level
    assert _canonical_archive(original, tmp_path / "a.pt2") == _canonical_archive(again, tmp_path / "b.pt2")


@pytest.mark.parametrize("name", ["vit", "gpt2", "llama"])
def test_an_archive_and_its_torch_load_save_round_trip_hash_equal_at_every_level(
    zoo_archives: dict[str, bytes], name: str, tmp_path: Path
) -> None:
    _assert_round_trip_hashes_equal(zoo_archives[name], tmp_path)


@pytest.mark.parametrize("name", ["transformer_layer", "effects", "aliased_weights", "multi_output_unused"])
def test_corpus_programs_with_views_at_offsets_survive_torchs_round_trip(
    corpus: Corpus, name: str, tmp_path: Path
) -> None:
    # effects: a symbolic offset (4*u0); aliased_weights: a buffer input that is a view at offset 4.
    _assert_round_trip_hashes_equal(corpus[name].path.read_bytes(), tmp_path)


def test_the_canonical_archive_of_a_program_with_views_computes_what_it_computes(
    zoo_archives: dict[str, bytes], tmp_path: Path
) -> None:
    module, args = zoo()["vit"]
    canon = torch.export.load(io.BytesIO(_canonical_archive(zoo_archives["vit"], tmp_path / "c.pt2")))
    with torch.no_grad():
        assert torch.allclose(canon.module()(*args), module(*args), atol=1e-6)


def test_a_changed_dtype_shape_or_stride_changes_the_tensors_layer_and_a_changed_offset_does_not(
    zoo_archives: dict[str, bytes],
) -> None:
    doc = _program(zoo_archives["gpt2"])
    base = _layers(doc)
    values = doc["graph_module"]["graph"]["tensor_values"]
    view = next(n for n, m in values.items() if m["storage_offset"] != {"as_int": 0})
    edits = {
        "dtype": lambda m: m.update(dtype=6 if m["dtype"] != 6 else 7),
        "sizes": lambda m: m.update(sizes=[*m["sizes"][:-1], {"as_int": m["sizes"][-1]["as_int"] + 1}]),
        "strides": lambda m: m.update(strides=[*m["strides"][:-1], {"as_int": m["strides"][-1]["as_int"] + 1}]),
        "storage_offset": lambda m: m.update(storage_offset={"as_int": m["storage_offset"]["as_int"] + 8}),
    }
    for what, edit in edits.items():
        changed = copy.deepcopy(doc)
        edit(changed["graph_module"]["graph"]["tensor_values"][view])
        layers = _layers(changed)
        moved = [k for k in base if base[k] != layers[k]]
        assert moved == ([] if what == "storage_offset" else ["tensors"]), what


class _Scale(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * 2).sum(dim=0)


def _graph_layers(module: torch.nn.Module, x: torch.Tensor) -> dict[str, str]:
    return pt2canon.digest(torch.export.export(module, (x,))).layers


def test_re_exports_with_another_dtype_shape_or_input_stride_change_the_tensors_layer() -> None:
    x = torch.randn(4, 3)
    base = _graph_layers(_Scale(), x)
    for what, other in {
        "dtype": x.double(),
        "shape": torch.randn(5, 3),
        "stride": torch.randn(3, 4).t(),  # the same shape, transposed strides
    }.items():
        layers = _graph_layers(_Scale(), other)
        assert layers["tensors"] != base["tensors"], what
        assert layers["structure"] == base["structure"], what


def test_the_weights_config_keeps_the_offset_of_a_weight_that_is_a_view(corpus: Corpus) -> None:
    # Unlike a graph value's, a stored weight's offset is read back by torch (aliasing): full sees it.
    art = read_artifact(corpus["aliased_weights"].path)
    meta = art.model.weights["upper"].tensor_meta
    assert meta is not None and meta["storage_offset"] == {"as_int": 4}
    doc = art.model.program
    graph_meta = doc["graph_module"]["graph"]["tensor_values"]["b_upper"]
    assert graph_meta["storage_offset"] == {"as_int": 4}
    canon = pt2canon.canonicalize(str(corpus["aliased_weights"].path)).doc
    assert all(m["storage_offset"] == {"as_int": 0} for m in canon["graph_module"]["graph"]["tensor_values"].values())


def test_extra_files_count_at_full_only_and_the_diff_names_the_changed_one(corpus: Corpus, tmp_path: Path) -> None:
    ep = corpus["mlp"].ep
    paths = {}
    for name, extra in {"moo": {"notes.txt": "moo"}, "baa": {"notes.txt": "baa"}, "none": None}.items():
        paths[name] = tmp_path / f"{name}.pt2"
        torch.export.save(ep, paths[name], extra_files=extra)
    graph = {pt2canon.hash(str(p)) for p in paths.values()}
    full = {name: pt2canon.digest(str(p), level="full") for name, p in paths.items()}
    assert len(graph) == 1 and len({d.hash for d in full.values()}) == 3
    moved = [k for k in full["moo"].layers if full["moo"].layers[k] != full["baa"].layers[k]]
    assert moved == ["extra_files"]
    changes = pt2canon.diff(str(paths["moo"]), str(paths["baa"]), level="full").changes
    assert [(c.kind, c.location.item) for c in changes] == [("weight_changed", "extra file notes.txt")]
    removed = pt2canon.diff(str(paths["moo"]), str(paths["none"]), level="full").changes
    assert [c.summary for c in removed] == ["extra file notes.txt removed (3 B)"]
