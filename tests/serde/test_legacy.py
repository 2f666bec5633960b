"""The older archive format's state dict, read per tensor from its pickle's opcodes (nothing is unpickled)."""

from __future__ import annotations

import copy
import io
import os
import pickle
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from corpus import CORE_NAMES, CorpusEntry, legacy_zip_bytes, rewrite_zip
from torch._export.serde.serialize import _dataclass_to_dict, serialize_tensor_meta

import pt2canon
from pt2canon.canon.hashing import payload_digests
from pt2canon.cli import main
from pt2canon.errors import ArchiveError, UnsafeArchiveError
from pt2canon.serde.archive import read_artifact, read_bytes

STATE = "serialized_state_dict.pt"


def _saved(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _with_state_dict(entry: CorpusEntry, state_dict_pt: bytes) -> bytes:
    """The entry in the older format, its state dict member replaced."""
    return rewrite_zip(legacy_zip_bytes(entry.ep), replace={STATE: state_dict_pt})


def _with_pickle(entry: CorpusEntry, data_pkl: bytes) -> bytes:
    """The entry in the older format, the pickle inside its state dict replaced."""
    inner = rewrite_zip(_saved(dict(entry.ep.state_dict)), replace={"/data.pkl": data_pkl})
    return _with_state_dict(entry, inner)


# -- both formats agree ---------------------------------------------------------------------


@pytest.mark.parametrize("name", CORE_NAMES)
def test_the_same_program_in_both_formats_has_the_same_digest_at_every_level(
    corpus: dict[str, CorpusEntry], name: str
) -> None:
    entry = corpus[name]
    old = read_bytes(legacy_zip_bytes(entry.ep), label="old.pt2")
    for level in ("structure", "graph", "full"):
        current = pt2canon.digest(entry.path, level=level, include_sample_inputs=False)
        assert pt2canon.digest(old, level=level).layers == current.layers, level


def test_each_weight_is_its_storage_bytes_with_the_tensor_meta_torch_writes(corpus: dict[str, CorpusEntry]) -> None:
    entry = corpus["aliased_weights"]
    old = read_bytes(legacy_zip_bytes(entry.ep), label="old.pt2")
    weights = old.model.weights
    assert sorted(weights) == sorted(entry.ep.state_dict)
    for fqn, tensor in entry.ep.state_dict.items():
        p = weights[fqn]
        assert p.member.startswith(f"{STATE}!archive/data/") and p.kind == "weight" and not p.use_pickle
        assert p.is_param == isinstance(tensor, torch.nn.Parameter)
        # torch's own serializer is the oracle for the metadata; the storage for the bytes.
        assert p.tensor_meta == _dataclass_to_dict(serialize_tensor_meta(tensor))
        assert old.read_member(p.member) == bytes(tensor.untyped_storage())
    assert weights["a.weight"].member == weights["b.weight"].member  # tied: one storage
    assert weights["upper"].member == weights["full"].member and weights["upper"].tensor_meta["storage_offset"] == {
        "as_int": 4
    }
    shares = payload_digests(old, weights)
    assert shares["b.weight"]["shares"] == "a.weight" and shares["upper"]["shares"] == "full"


@pytest.mark.parametrize(
    "tensor",
    [
        torch.arange(6.0).reshape(2, 3).t(),  # strides (1, 3)
        torch.arange(10, dtype=torch.int64)[3:7],  # storage offset 3
        torch.zeros(4, dtype=torch.bfloat16),
        torch.zeros(4, dtype=torch.uint16),  # no typed storage class: _rebuild_tensor_v3
        torch.zeros(3, dtype=torch.float8_e4m3fn),
        torch.tensor([True, False]),
        torch.zeros(2, dtype=torch.complex64),
        torch.zeros(0, 3),  # empty
        torch.nn.Parameter(torch.ones(2, 2)),
        torch.nn.Parameter(torch.ones(2), requires_grad=False),
    ],
    ids=lambda t: f"{t.dtype}-{list(t.shape)}-{type(t).__name__}",
)
def test_tensors_of_every_kind_read_as_torch_would_write_them(
    corpus: dict[str, CorpusEntry], tensor: torch.Tensor
) -> None:
    art = read_bytes(_with_state_dict(corpus["mlp"], _saved({"w": tensor})), label="old.pt2")
    (p,) = art.model.weights.values()
    assert p.tensor_meta == _dataclass_to_dict(serialize_tensor_meta(tensor))
    assert p.is_param == isinstance(tensor, torch.nn.Parameter)
    assert art.read_member(p.member) == bytes(tensor.untyped_storage()) and p.size == tensor.untyped_storage().nbytes()


def test_a_compressed_or_file_backed_state_dict_reads_the_same(corpus: dict[str, CorpusEntry], tmp_path: Path) -> None:
    data = legacy_zip_bytes(corpus["conv_bn_train"].ep)
    deflated = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    (tmp_path / "old.pt2").write_bytes(data)
    (tmp_path / "deflated.pt2").write_bytes(deflated.getvalue())
    expected = pt2canon.digest(corpus["conv_bn_train"].path, level="full").layers
    for source in (data, tmp_path / "old.pt2", tmp_path / "deflated.pt2"):
        with pt2canon.load(source) as art:
            assert pt2canon.digest(art, level="full").layers == expected


# -- diffs name the weight ------------------------------------------------------------------


def test_a_changed_weight_is_named_by_fqn_in_the_diff_of_two_old_format_archives(
    corpus: dict[str, CorpusEntry], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = corpus["mlp"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch's own deepcopy of its treespecs
        ep2 = copy.deepcopy(entry.ep)
    with torch.no_grad():
        ep2.state_dict["fc2.bias"][0] += 1.0
    a, b = tmp_path / "v1.pt2", tmp_path / "v2.pt2"
    a.write_bytes(legacy_zip_bytes(entry.ep))
    b.write_bytes(legacy_zip_bytes(ep2))
    result = pt2canon.diff(a, b, level="full")
    assert [(c.kind, c.details["fqn"]) for c in result.changes] == [("weight_changed", "fc2.bias")]
    assert main(["diff", str(a), str(b), "--level", "full"]) == 1
    assert "weight fc2.bias: 1 of 4 elements differ, max abs 1 at [0]" in capsys.readouterr().out
    assert pt2canon.hash(a) == pt2canon.hash(b)  # the graph level does not read weights


# -- nothing is run; what cannot be read is an error naming the member -----------------------


class _Call:
    """Pickles as a call of ``fn(*args)``: what a hostile state dict does."""

    def __init__(self, fn: object, *args: object) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.fn, self.args


class _Sub(torch.Tensor):
    pass


def test_a_state_dict_that_would_run_code_is_refused_without_running_it(
    corpus: dict[str, CorpusEntry], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "hostile.pt2"
    path.write_bytes(_with_pickle(corpus["mlp"], pickle.dumps({"fc1.weight": _Call(os.system, f"touch {marker}")}, 2)))
    # The graph level never reads the state dict.
    assert pt2canon.hash(path) == pt2canon.hash(corpus["mlp"].path)
    with pytest.raises(UnsafeArchiveError) as info:
        pt2canon.hash(path, level="full")
    assert str(info.value).startswith(f"{path}:{STATE}!archive/data.pkl: it calls posix.system")
    assert main(["hash", "--level", "full", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"pt2canon: error: {path}:{STATE}!archive/data.pkl: ")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (lambda: {"w": _Sub(torch.ones(2))}, "it calls torch._tensor._rebuild_from_type_v2"),
        (
            lambda: {"w": torch.quantize_per_tensor(torch.ones(2), 0.1, 0, torch.qint8)},
            r"a storage has type torch.QInt8Storage \(quantized or unknown\)",
        ),
        (lambda: {"w": torch.ones(2).to_sparse()}, "it calls torch.serialization._get_layout"),  # a sparse layout
        (lambda: [torch.ones(2)], "the pickle does not build a dict of FQN -> tensor"),
        (lambda: {"w": 3}, "the pickle does not build a dict of FQN -> tensor"),
    ],
    ids=["tensor-subclass", "quantized", "sparse", "a-list", "not-a-tensor"],
)
def test_what_is_not_a_dict_of_plain_tensors_is_refused_naming_the_member(
    corpus: dict[str, CorpusEntry], state: Callable[[], object], message: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: quantized tensors are deprecated
        saved = _saved(state())
    art = read_bytes(_with_state_dict(corpus["mlp"], saved), label="odd.pt2")
    with pytest.raises(UnsafeArchiveError, match=f"^odd.pt2:{STATE}!archive/data.pkl: {message}"):
        dict(art.model.weights)


class _Plain:
    pass


def test_opcodes_that_build_objects_are_refused(corpus: dict[str, CorpusEntry]) -> None:
    data_pkl = pickle.dumps({"w": _Plain()}, protocol=2)  # copyreg.__newobj__: the NEWOBJ opcode
    art = read_bytes(_with_pickle(corpus["mlp"], data_pkl), label="odd.pt2")
    with pytest.raises(UnsafeArchiveError, match=r"opcode NEWOBJ builds objects .* \(NEWOBJ at byte \d+\)"):
        dict(art.model.weights)


def test_a_storage_record_of_the_wrong_size_is_an_error_naming_the_record(corpus: dict[str, CorpusEntry]) -> None:
    entry = corpus["mlp"]
    inner = rewrite_zip(_saved(dict(entry.ep.state_dict)), replace={"archive/data/0": b"\x00" * 3})
    art = read_bytes(_with_state_dict(entry, inner), label="short.pt2")
    with pytest.raises(
        ArchiveError, match=rf"^short.pt2:{STATE}!archive/data/0: tensor '[^']+': the record has 3 bytes"
    ):
        pt2canon.digest(art, level="full")


def test_a_state_dict_that_is_not_a_torch_zip_is_an_error_naming_the_member(corpus: dict[str, CorpusEntry]) -> None:
    art = read_bytes(_with_state_dict(corpus["mlp"], b"\x80\x02}q\x00."), label="flat.pt2")  # a bare pickle
    with pytest.raises(ArchiveError, match=f"^flat.pt2:{STATE}: not a readable zip archive"):
        dict(art.model.weights)


def test_the_canonical_archive_of_an_old_format_archive_is_a_current_one_torch_loads(
    corpus: dict[str, CorpusEntry], tmp_path: Path
) -> None:
    from corpus import run_and_compare

    entry = corpus["aliased_weights"]
    old = tmp_path / "old.pt2"
    old.write_bytes(legacy_zip_bytes(entry.ep))
    out = tmp_path / "new.pt2"
    assert main(["canon", str(old), "-o", str(out)]) == 0
    new = read_artifact(out)
    assert new.format == "pt2" and sorted(new.model.weights) == sorted(entry.ep.state_dict)
    assert pt2canon.digest(out, level="full").layers == pt2canon.digest(entry.path, level="full").layers
    run_and_compare(entry.ep, out, entry.args)
