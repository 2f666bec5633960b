"""Deterministic, atomic writing: JSON files and .pt2 archives that torch loads and runs the same."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from corpus import CorpusEntry, legacy_zip_bytes, member_bytes, run_and_compare, save
from torch.export.pt2_archive._package import load_pt2, package_pt2

from pt2canon.errors import ArchiveError, UsageError
from pt2canon.serde.archive import Artifact, read_artifact, read_bytes
from pt2canon.serde.writer import ALIGNMENT, write_archive, write_json


def _write(artifact: Artifact, path: Path, **kw: Any) -> bytes:
    write_archive(path, artifact, **kw)
    return path.read_bytes()


def _payload_bytes(art: Artifact) -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {}
    for name, model in art.models.items():
        for kind, table in (("weights", model.weights), ("constants", model.constants)):
            for fqn, p in table.items():
                out.setdefault(f"{name}:{kind}", {})[fqn] = b"".join(art.iter_payload(p))
    return out


def _data_offsets(data: bytes) -> dict[str, int]:
    """Where each member's data starts, from its local header."""
    out = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            h = info.header_offset
            assert data[h : h + 4] == b"PK\x03\x04"
            name_len, extra_len = struct.unpack("<HH", data[h + 26 : h + 30])
            out[info.filename] = h + 30 + name_len + extra_len
    return out


# -- every corpus entry ------------------------------------------------------------------


def test_a_written_archive_loads_with_torch_and_computes_the_same(corpus_entry: CorpusEntry, tmp_path: Path) -> None:
    src = read_artifact(corpus_entry.path)
    out = tmp_path / "written.pt2"
    write_archive(out, src)
    run_and_compare(corpus_entry.ep, out, corpus_entry.args, corpus_entry.kwargs)
    if corpus_entry.name == "cond":  # the other branch too
        run_and_compare(corpus_entry.ep, out, (-corpus_entry.args[0],))
    back = read_artifact(out)
    assert back.root == "archive/"
    assert back.model.program == src.model.program
    assert _payload_bytes(back) == _payload_bytes(src)
    assert back.read_member(back.model.sample_inputs or "") == src.read_member(src.model.sample_inputs or "")


def test_writing_twice_gives_byte_identical_files(corpus_entry: CorpusEntry, tmp_path: Path) -> None:
    src = read_artifact(corpus_entry.path)
    (tmp_path / "sub").mkdir()
    first = _write(src, tmp_path / "first.pt2")
    second = _write(src, tmp_path / "sub" / "another name.pt2")
    assert first == second


# -- determinism and layout -------------------------------------------------------------


def test_one_export_saved_under_two_names_is_written_to_the_same_bytes(
    corpus: dict[str, CorpusEntry], tmp_path: Path
) -> None:
    ep = corpus["transformer_layer"].ep
    a, b = save(ep, tmp_path / "one.pt2"), save(ep, tmp_path / "two.pt2")
    assert a.read_bytes() != b.read_bytes()  # torch: root folder from the name, random serialization_id
    assert _write(read_artifact(a), tmp_path / "a_out.pt2") == _write(read_artifact(b), tmp_path / "b_out.pt2")


def test_the_archive_layout_is_fixed_sorted_aligned_and_has_no_serialization_id(
    corpus: dict[str, CorpusEntry], tmp_path: Path
) -> None:
    data = _write(read_artifact(corpus["aliased_weights"].path), tmp_path / "out.pt2")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        assert all(n.startswith("archive/") for n in names)
        assert not any(n.endswith("serialization_id") for n in names)
        assert zf.testzip() is None  # every CRC checks out
        for i in infos:
            assert i.date_time == (1980, 1, 1, 0, 0, 0), i.filename
            assert i.compress_type == zipfile.ZIP_STORED, i.filename
            assert i.external_attr >> 16 == 0o100644, i.filename
            assert i.create_system == 3, i.filename
            assert i.extra == b"", i.filename  # padding lives in the local header only
        assert zf.read("archive/archive_format") == b"pt2"
        assert zf.read("archive/archive_version") == b"0"
        assert zf.read("archive/.data/version") == b"6\n"
        assert zf.read("archive/byteorder") == b"little"
    assert set(names) >= {
        "archive/models/model.json",
        "archive/data/weights/model_weights_config.json",
        "archive/data/constants/model_constants_config.json",
        "archive/data/sample_inputs/model.pt",
    }
    offsets = _data_offsets(data)
    assert all(off % ALIGNMENT == 0 for off in offsets.values()), offsets


def test_members_past_the_zip64_limit_stay_aligned_and_load(
    corpus: dict[str, CorpusEntry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lower the limit so that every member over ~95 bytes gets zip64 sizes in its local header.
    entry = corpus["transformer_layer"]
    out = tmp_path / "zip64.pt2"
    with monkeypatch.context() as m:
        m.setattr(zipfile, "ZIP64_LIMIT", 100)
        write_archive(out, read_artifact(entry.path))
    data = out.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        big = [i for i in zf.infolist() if i.file_size > 100]
        assert big
        for i in big:  # the zip64 extra record (id 1) is there
            h = i.header_offset
            name_len, extra_len = struct.unpack("<HH", data[h + 26 : h + 30])
            assert struct.pack("<HH", 1, 16) in data[h + 30 + name_len : h + 30 + name_len + extra_len]
    assert all(off % ALIGNMENT == 0 for off in _data_offsets(data).values())
    assert read_artifact(out).model.program == read_artifact(entry.path).model.program
    run_and_compare(entry.ep, out, entry.args)


def test_an_archive_can_be_written_over_its_own_source(corpus: dict[str, CorpusEntry], tmp_path: Path) -> None:
    entry = corpus["conv_bn_train"]
    path = tmp_path / "inplace.pt2"
    path.write_bytes(entry.path.read_bytes())
    with read_artifact(path) as src:
        write_archive(path, src)
    assert read_artifact(path).root == "archive/"
    run_and_compare(entry.ep, path, entry.args)
    assert _only(tmp_path) == ["inplace.pt2"]


def test_the_root_folder_can_be_chosen_but_must_be_a_plain_name(corpus: dict[str, CorpusEntry], tmp_path: Path) -> None:
    src = read_artifact(corpus["mlp"].path)
    out = tmp_path / "rooted.pt2"
    write_archive(out, src, root="my_model")
    assert read_artifact(out).root == "my_model/"
    run_and_compare(corpus["mlp"].ep, out, corpus["mlp"].args)
    for bad in ("", "a/b", "..", "c:", " x"):
        with pytest.raises(UsageError, match="not a plain folder name") as info:
            write_archive(tmp_path / "bad.pt2", src, root=bad)
        assert info.value.file == str(tmp_path / "bad.pt2")  # the error names the file it was writing
    assert not (tmp_path / "bad.pt2").exists()


def test_weight_files_are_numbered_in_sorted_fqn_order_and_shared_files_stay_shared(
    corpus: dict[str, CorpusEntry], tmp_path: Path
) -> None:
    entry = corpus["aliased_weights"]
    src = read_artifact(entry.path)
    out = tmp_path / "aliased.pt2"
    write_archive(out, src)
    config = json.loads(member_bytes(out, "data/weights/model_weights_config.json"))["config"]
    assert {fqn: meta["path_name"] for fqn, meta in config.items()} == {
        "a.bias": "weight_0",
        "a.weight": "weight_1",
        "b.bias": "weight_2",
        "b.weight": "weight_1",  # tied to a.weight
        "full": "weight_3",
        "upper": "weight_3",  # a view of full
    }
    assert config["upper"]["tensor_meta"]["storage_offset"] == {"as_int": 4}
    constants = json.loads(member_bytes(out, "data/constants/model_constants_config.json"))["config"]
    assert {fqn: meta["path_name"] for fqn, meta in constants.items()} == {"c1": "tensor_0", "c2": "tensor_0"}
    with zipfile.ZipFile(out) as zf:
        assert sorted(n for n in zf.namelist() if "/weight_" in n) == [
            f"archive/data/weights/weight_{i}" for i in range(4)
        ]
    # torch sees the aliasing: one storage behind the tied weights and behind the view.
    loaded = torch.export.load(out)
    sd = loaded.state_dict
    assert sd["a.weight"].untyped_storage().data_ptr() == sd["b.weight"].untyped_storage().data_ptr()
    assert sd["full"].untyped_storage().data_ptr() == sd["upper"].untyped_storage().data_ptr()
    assert torch.equal(sd["upper"], entry.ep.state_dict["upper"])
    run_and_compare(entry.ep, out, entry.args)


def test_payload_configs_keep_each_fqns_metadata(corpus: dict[str, CorpusEntry], tmp_path: Path) -> None:
    entry = corpus["conv_bn_train"]
    src = read_artifact(entry.path)
    out = tmp_path / "conv.pt2"
    write_archive(out, src)
    theirs = json.loads(member_bytes(entry.path, "data/weights/model_weights_config.json"))["config"]
    ours = json.loads(member_bytes(out, "data/weights/model_weights_config.json"))["config"]
    assert sorted(theirs) == sorted(ours)
    for fqn in theirs:
        mine = {k: v for k, v in ours[fqn].items() if k != "path_name"}
        assert mine == {k: v for k, v in theirs[fqn].items() if k != "path_name"}, fqn


# -- what gets written ---------------------------------------------------------------------


def _strip_metadata(program: dict[str, Any]) -> dict[str, Any]:
    program = json.loads(json.dumps(program))
    for node in program["graph_module"]["graph"]["nodes"]:
        node["metadata"] = {}
    return program


def test_given_programs_replace_the_models_own(corpus: dict[str, CorpusEntry], tmp_path: Path) -> None:
    entry = corpus["transformer_layer"]
    src = read_artifact(entry.path)
    stripped = _strip_metadata(src.model.program)
    assert stripped != src.model.program
    out = tmp_path / "stripped.pt2"
    write_archive(out, src, {"model": stripped})
    assert read_artifact(out).model.program == stripped
    run_and_compare(entry.ep, out, entry.args)
    with pytest.raises(UsageError, match=r"model\(s\) 'other', which the artifact .* does not hold") as exc:
        write_archive(tmp_path / "x.pt2", src, {"other": stripped})
    assert str(tmp_path / "x.pt2") in str(exc.value)


def test_several_models_are_written_with_weights_numbered_across_models(
    corpus: dict[str, CorpusEntry], tmp_path: Path
) -> None:
    ep_a, ep_b = corpus["mlp"].ep, corpus["lifted_constant"].ep
    buf = io.BytesIO()
    package_pt2(buf, exported_programs={"b": ep_b, "a": ep_a})
    src = read_bytes(buf.getvalue(), label="two.pt2")
    out = tmp_path / "two.pt2"
    write_archive(out, src)
    back = read_artifact(out)
    assert sorted(back.models) == ["a", "b"]
    assert {f: p.path_name for f, p in back.models["a"].weights.items()} == {
        "fc1.bias": "weight_0",
        "fc1.weight": "weight_1",
        "fc2.bias": "weight_2",
        "fc2.weight": "weight_3",
    }
    assert {f: p.path_name for f, p in back.models["b"].weights.items()} == {
        "lin.bias": "weight_4",
        "lin.weight": "weight_5",
    }
    assert {f: p.path_name for f, p in back.models["b"].constants.items()} == {"scale": "tensor_0"}
    assert _payload_bytes(back) == _payload_bytes(src)
    loaded = load_pt2(str(out)).exported_programs
    run_and_compare(ep_a, loaded["a"], corpus["mlp"].args)
    run_and_compare(ep_b, loaded["b"], corpus["lifted_constant"].args)


def test_an_older_format_artifact_is_written_in_the_current_format(
    corpus: dict[str, CorpusEntry], tmp_path: Path
) -> None:
    entry = corpus["conv_bn_train"]
    src = read_bytes(legacy_zip_bytes(entry.ep), label="old.pt2")
    assert src.format == "legacy"
    out = tmp_path / "new.pt2"
    write_archive(out, src)
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
    # The state dict was read per tensor: the archive has weight files and their config, not the pickle.
    assert "archive/data/weights/model_weights_config.json" in names and "archive/data/weights/model.pt" not in names
    weights = src.model.weights
    for fqn, p in weights.items():
        assert member_bytes(out, f"data/weights/{read_artifact(out).model.weights[fqn].path_name}") == src.read_member(
            p.member
        )
    assert member_bytes(out, "data/sample_inputs/model.pt") == src.read_member("serialized_example_inputs.pt")
    back = read_artifact(out)
    assert back.format == "pt2" and back.model.program == src.model.program
    run_and_compare(entry.ep, out, entry.args)  # train mode: the running stats must match too
    # The result is an ordinary input again, and writing it is deterministic.
    assert _write(back, tmp_path / "again.pt2") == _write(read_artifact(out), tmp_path / "again2.pt2")
    run_and_compare(entry.ep, tmp_path / "again.pt2", entry.args)


def test_a_bare_json_program_that_reads_weights_cannot_be_written(
    corpus: dict[str, CorpusEntry], tmp_path: Path
) -> None:
    path = tmp_path / "model.json"
    path.write_bytes(member_bytes(corpus["mlp"].path, "models/model.json"))
    out = tmp_path / "out.pt2"
    with pytest.raises(UsageError) as exc:
        write_archive(out, read_artifact(path))
    msg = str(exc.value)
    assert msg.startswith(f"{out}: model 'model': the program reads parameter 'fc1.weight' (and 3 more)")
    assert "JSON document holds no weights" in msg
    assert not out.exists()


class _NoState(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x) * 2 + x


def test_a_bare_json_program_without_state_is_written_and_runs(tmp_path: Path) -> None:
    ep = torch.export.export(_NoState(), (torch.randn(3),))
    path = tmp_path / "model.json"
    path.write_bytes(member_bytes(save(ep, tmp_path / "nostate.pt2"), "models/model.json"))
    out = tmp_path / "from_json.pt2"
    write_archive(out, read_artifact(path))
    assert member_bytes(out, "data/sample_inputs/model.pt") == b""
    run_and_compare(ep, out, (torch.randn(3),))


# -- atomicity -------------------------------------------------------------------------------


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_failure_while_writing_leaves_the_old_file_and_no_temporary_file(
    corpus: dict[str, CorpusEntry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = read_artifact(corpus["mlp"].path)
    out = tmp_path / "model.pt2"
    out.write_bytes(b"the previous file")

    def broken(member: str, *, chunk: int = 1 << 20) -> Iterator[bytes]:
        yield b"\x00" * 8
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(src, "iter_member", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_archive(out, src)
    assert out.read_bytes() == b"the previous file"
    assert _only(tmp_path) == ["model.pt2"]


def test_a_source_member_shorter_than_declared_is_an_archive_error_naming_it(
    corpus: dict[str, CorpusEntry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = read_artifact(corpus["mlp"].path)
    out = tmp_path / "model.pt2"
    real = src.iter_member
    target = src.model.weights["fc1.weight"].member

    def short(member: str, *, chunk: int = 1 << 20) -> Iterator[bytes]:
        data = b"".join(real(member, chunk=chunk))
        yield data[:-4] if member == target else data

    monkeypatch.setattr(src, "iter_member", short)
    with pytest.raises(ArchiveError) as exc:
        write_archive(out, src)
    assert exc.value.file == str(corpus["mlp"].path) and exc.value.member == target
    assert "fewer bytes than the" in str(exc.value)
    assert _only(tmp_path) == []


def test_write_json_sorts_keys_and_writes_compact_or_indented(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    write_json(path, {"b": [1, 2.5, None], "a": {"z": True, "é": "ü"}})
    assert path.read_bytes() == '{"a":{"z":true,"é":"ü"},"b":[1,2.5,null]}'.encode()
    write_json(path, {"b": 1, "a": 2}, indent=2)
    assert path.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'


@pytest.mark.parametrize("doc", [{"x": float("nan")}, {"x": {1, 2}}, {"x": float("inf")}])
def test_write_json_refuses_what_json_cannot_hold_and_keeps_the_old_file(tmp_path: Path, doc: Any) -> None:
    path = tmp_path / "doc.json"
    path.write_text("old")
    with pytest.raises(UsageError) as exc:
        write_json(path, doc)
    assert str(exc.value).startswith(f"{path}: cannot write document as JSON")
    assert path.read_text() == "old"
    assert _only(tmp_path) == ["doc.json"]


def test_write_json_into_a_missing_folder_is_a_usage_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "doc.json"
    with pytest.raises(UsageError, match="cannot create a file") as exc:
        write_json(path, {})
    assert exc.value.file == str(path)


def test_written_files_get_umask_permissions_and_keep_an_existing_files_mode(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.json"
        write_json(fresh, {})
        assert fresh.stat().st_mode & 0o777 == 0o644
        private = tmp_path / "private.json"
        private.write_text("{}")
        private.chmod(0o600)
        write_json(private, {"a": 1})
        assert private.stat().st_mode & 0o777 == 0o600
        assert private.read_text() == '{"a":1}'
    finally:
        os.umask(umask)


def test_extra_files_are_copied_and_torch_loads_them_back(corpus: dict[str, CorpusEntry], tmp_path: Path) -> None:
    entry = corpus["mlp"]
    src = tmp_path / "extra.pt2"
    torch.export.save(entry.ep, src, extra_files={"notes.txt": "moo", "cfg/run.json": '{"a": 1}'})
    out = tmp_path / "out.pt2"
    write_archive(out, read_artifact(src))
    names = zipfile.ZipFile(out).namelist()
    assert "archive/extra/notes.txt" in names and "archive/extra/cfg/run.json" in names
    loaded = {"notes.txt": "", "cfg/run.json": ""}
    torch.export.load(out, extra_files=loaded)
    assert loaded == {"notes.txt": "moo", "cfg/run.json": '{"a": 1}'}
