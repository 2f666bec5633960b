"""Reading archives: every corpus export, the older format, bare JSON, several models, bad input."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch
from corpus import (
    CorpusEntry,
    ep_signature,
    json_signature,
    legacy_zip_bytes,
    member_bytes,
    rewrite_zip,
    save,
)
from torch._export.serde import schema as torch_schema
from torch._export.serde.serialize import _bytes_to_dataclass, _dataclass_to_dict

from pt2canon.errors import ArchiveError, InputError, SchemaError, UnsafeArchiveError
from pt2canon.serde.archive import read_artifact, read_bytes

# -- every corpus entry ---------------------------------------------------------------


def test_reading_gives_the_node_count_and_signature_of_torchs_own_deserializer(corpus_entry: CorpusEntry) -> None:
    art = read_artifact(corpus_entry.path)
    assert art.format == "pt2"
    assert sorted(art.models) == ["model"]
    program = art.model.program

    raw = member_bytes(corpus_entry.path, "models/model.json")
    theirs = _bytes_to_dataclass(torch_schema.ExportedProgram, raw)
    assert len(program["graph_module"]["graph"]["nodes"]) == len(theirs.graph_module.graph.nodes)
    assert [n["target"] for n in program["graph_module"]["graph"]["nodes"]] == [
        n.target for n in theirs.graph_module.graph.nodes
    ]
    # torch's parse of the same bytes, written back, is the signature we read.
    assert program["graph_module"]["signature"] == _dataclass_to_dict(theirs.graph_module.signature)

    # ... and the signature means what torch.export.load and the original export say.
    loaded = torch.export.load(corpus_entry.path)
    assert json_signature(program) == ep_signature(loaded) == ep_signature(corpus_entry.ep)


def test_weights_and_constants_are_read_lazily_as_the_tensors_bytes(corpus_entry: CorpusEntry) -> None:
    ep = corpus_entry.ep
    with read_artifact(corpus_entry.path) as art:
        model = art.model
        assert set(model.weights) == set(ep.state_dict)
        tensor_constants = {k for k, v in ep.constants.items() if isinstance(v, torch.Tensor)}
        assert set(model.constants) == tensor_constants
        for fqn, payload in [*model.weights.items(), *model.constants.items()]:
            tensor = ep.state_dict[fqn] if fqn in ep.state_dict else ep.constants[fqn]
            storage = tensor.untyped_storage()
            expected = bytes(storage) if storage.nbytes() else b""
            assert payload.size == len(expected), fqn
            # Small chunks reassemble to the whole storage: the payload is streamed, not loaded.
            chunks = list(art.iter_payload(payload, chunk=7))
            assert all(len(c) <= 7 for c in chunks)
            assert b"".join(chunks) == expected, fqn
        assert model.sample_inputs is not None
        assert art.read_member(model.sample_inputs) == member_bytes(corpus_entry.path, "data/sample_inputs/model.pt")


# -- the container -----------------------------------------------------------------------


def test_the_root_folder_comes_from_the_file_name_and_does_not_change_the_program(
    corpus: dict[str, CorpusEntry], tmp_path: Path
) -> None:
    ep = corpus["mlp"].ep
    one = read_artifact(save(ep, tmp_path / "first.pt2"))
    two = read_artifact(save(ep, tmp_path / "second_name.pt2"))
    assert (one.root, two.root) == ("first/", "second_name/")
    assert one.model.program == two.model.program
    assert one.info["archive_format"] == "pt2"
    assert one.info["archive_version"] == "0"


def test_aliased_weights_share_one_member(corpus: dict[str, CorpusEntry]) -> None:
    art = read_artifact(corpus["aliased_weights"].path)
    w, c = art.model.weights, art.model.constants
    assert w["a.weight"].member == w["b.weight"].member
    assert w["full"].member == w["upper"].member
    assert w["upper"].tensor_meta is not None and w["upper"].tensor_meta["storage_offset"] == {"as_int": 4}
    assert c["c1"].member == c["c2"].member
    assert len({p.member for p in w.values()}) == 4  # a.weight=b.weight, a.bias, b.bias, full=upper


def test_the_older_zip_format_reads_with_its_state_dict_per_tensor(corpus: dict[str, CorpusEntry]) -> None:
    ep = corpus["conv_bn_train"].ep
    data = legacy_zip_bytes(ep)
    # It is the real older format: torch 2.13 still loads it.
    assert torch.export.load(io.BytesIO(data)).graph_signature.input_specs
    art = read_bytes(data, label="old.pt2")
    assert art.format == "legacy"
    model = art.model
    current = read_artifact(corpus["conv_bn_train"].path).model.program
    assert len(model.program["graph_module"]["graph"]["nodes"]) == len(current["graph_module"]["graph"]["nodes"])
    assert json_signature(model.program) == ep_signature(ep)
    # The state dict's pickle is read per tensor (pt2canon.serde.legacy; tests/serde/test_legacy.py).
    assert sorted(model.weights) == sorted(ep.state_dict)
    assert all(p.kind == "weight" and p.member.startswith("serialized_state_dict.pt!") for p in model.weights.values())
    assert art.read_member("serialized_state_dict.pt") == member_bytes(data, "serialized_state_dict.pt")
    assert model.sample_inputs == "serialized_example_inputs.pt"
    assert art.info["data_version"].split(".")[0] == str(torch_schema.SCHEMA_VERSION[0])


def test_a_bare_model_json_reads_as_a_program_without_weights(corpus: dict[str, CorpusEntry], tmp_path: Path) -> None:
    raw = member_bytes(corpus["cond"].path, "models/model.json")
    path = tmp_path / "model.json"
    path.write_bytes(raw)
    art = read_artifact(path)
    assert art.format == "json"
    assert art.model.program == json.loads(raw)
    assert dict(art.model.weights) == {} and art.members == []


def test_several_models_in_one_archive_read_with_each_its_own_weights(corpus: dict[str, CorpusEntry]) -> None:
    from torch.export.pt2_archive._package import package_pt2

    ep_a, ep_b = corpus["mlp"].ep, corpus["lifted_constant"].ep
    buf = io.BytesIO()
    package_pt2(buf, exported_programs={"a": ep_a, "b": ep_b})
    art = read_bytes(buf.getvalue(), label="two.pt2")
    assert sorted(art.models) == ["a", "b"]
    for name, ep in (("a", ep_a), ("b", ep_b)):
        model = art.models[name]
        assert json_signature(model.program) == ep_signature(ep)
        assert set(model.weights) == set(ep.state_dict)
        assert model.member is not None and model.member.endswith(f"models/{name}.json")
        assert model.sample_inputs is not None and model.sample_inputs.endswith(f"sample_inputs/{name}.pt")
    assert not {p.member for p in art.models["a"].weights.values()} & {
        p.member for p in art.models["b"].weights.values()
    }
    assert set(art.models["b"].constants) == {"scale"}
    with pytest.raises(InputError, match=r"2 models \(a, b\); pick one by name"):
        art.model  # noqa: B018


def test_every_entry_point_that_takes_a_model_name_refuses_an_unknown_one_with_the_same_error(
    corpus: dict[str, CorpusEntry], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from torch.export.pt2_archive._package import package_pt2

    import pt2canon
    from pt2canon.cli import main
    from pt2canon.draw import Summary
    from pt2canon.listing import listing_json

    path = tmp_path / "two.pt2"
    package_pt2(str(path), exported_programs={"a": corpus["mlp"].ep, "b": corpus["lifted_constant"].ep})
    message = f"{path}: model='c': no model of that name; the archive holds a, b"
    for call in (
        lambda: pt2canon.canonicalize(str(path), model="c"),
        lambda: listing_json(pt2canon.load(str(path)), model="c"),
        lambda: Summary(str(path), model="c"),
    ):
        with pytest.raises(InputError) as info:
            call()
        assert str(info.value) == message
    for argv in (
        ["show", str(path), "--model", "c"],
        ["canon", str(path), "-o", str(tmp_path / "c.json"), "--model", "c"],
    ):
        assert main(argv) == 2
        assert capsys.readouterr().err.strip() == f"pt2canon: error: {message}"


# -- bad input ---------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_file_that_is_neither_zip_nor_json_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "notes.pt2", b"hello, world\n")
    with pytest.raises(InputError) as exc:
        read_artifact(path)
    assert str(exc.value).startswith(f"{path}: ")
    assert "not a .pt2 archive (zip) nor a model JSON" in str(exc.value)


def test_bytes_that_start_like_a_zip_but_are_not_one_are_an_archive_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "fake.pt2", b"PK\x03\x04" + b"\x00" * 64)
    with pytest.raises(ArchiveError, match=r"not a readable zip archive") as exc:
        read_artifact(path)
    assert exc.value.file == str(path) and str(path) in str(exc.value)


def test_a_truncated_archive_is_an_archive_error_naming_the_file(
    corpus: dict[str, CorpusEntry], tmp_path: Path
) -> None:
    data = corpus["mlp"].path.read_bytes()
    path = _write(tmp_path, "cut.pt2", data[: len(data) // 2])
    with pytest.raises(ArchiveError, match=r"not a readable zip archive") as exc:
        read_artifact(path)
    assert str(exc.value).startswith(f"{path}: ")


def test_a_member_cut_short_after_opening_is_an_archive_error_naming_file_and_member(
    corpus: dict[str, CorpusEntry], tmp_path: Path
) -> None:
    # Payloads are read lazily from the open file: if it shrinks under us, say which member broke.
    path = _write(tmp_path, "shrinking.pt2", corpus["mlp"].path.read_bytes())
    with read_artifact(path) as art:
        payload = art.model.weights["fc1.weight"]
        info = art._zip.infos[payload.member]  # type: ignore[union-attr]
        os.truncate(path, info.header_offset + 100)
        with pytest.raises(ArchiveError) as exc:
            b"".join(art.iter_payload(payload))
    assert exc.value.file == str(path) and exc.value.member == payload.member
    assert str(exc.value).startswith(f"{path}:{payload.member}: ")
    assert "truncated" in str(exc.value) or "missing" in str(exc.value)


def test_a_zip_without_a_model_is_an_archive_error_naming_the_file(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("stuff/readme.txt", "no model here")
    path = _write(tmp_path, "empty.pt2", buf.getvalue())
    with pytest.raises(ArchiveError) as exc:
        read_artifact(path)
    assert str(exc.value).startswith(f"{path}: ")
    assert "no exported program" in str(exc.value)


def test_malformed_model_json_is_a_schema_error_naming_file_and_member(
    corpus: dict[str, CorpusEntry], tmp_path: Path
) -> None:
    data = rewrite_zip(corpus["mlp"].path, replace={"models/model.json": b'{"graph_module": {"graph": '})
    path = _write(tmp_path, "broken.pt2", data)
    with pytest.raises(SchemaError) as exc:
        read_artifact(path)
    assert exc.value.file == str(path)
    assert exc.value.member == "mlp/models/model.json"
    assert str(exc.value).startswith(f"{path}:mlp/models/model.json: malformed JSON")


def test_a_program_of_the_wrong_shape_is_a_schema_error_naming_the_json_path(
    corpus: dict[str, CorpusEntry], tmp_path: Path
) -> None:
    doc = json.loads(member_bytes(corpus["mlp"].path, "models/model.json"))
    doc["graph_module"]["graph"]["nodes"][1]["inputs"] = "oops"
    path = _write(
        tmp_path, "shape.pt2", rewrite_zip(corpus["mlp"].path, replace={"models/model.json": json.dumps(doc).encode()})
    )
    with pytest.raises(SchemaError) as exc:
        read_artifact(path)
    assert exc.value.where == "graph_module.graph.nodes[1].inputs"
    assert (
        str(exc.value)
        == f"{path}:mlp/models/model.json: graph_module.graph.nodes[1].inputs: expected an array, got a string"
    )


def test_a_dotdot_member_name_is_refused_as_unsafe_naming_file_and_member(
    corpus: dict[str, CorpusEntry], tmp_path: Path
) -> None:
    data = rewrite_zip(corpus["mlp"].path, add={"mlp/../../etc/evil": b"x"})
    path = _write(tmp_path, "evil.pt2", data)
    with pytest.raises(UnsafeArchiveError) as exc:
        read_artifact(path)
    assert exc.value.member == "mlp/../../etc/evil"
    assert f"{path}:mlp/../../etc/evil:" in str(exc.value)
    assert "'..'" in str(exc.value)


def test_an_absolute_member_name_is_refused_as_unsafe(corpus: dict[str, CorpusEntry]) -> None:
    data = rewrite_zip(corpus["mlp"].path, add={"/tmp/evil": b"x"})
    with pytest.raises(UnsafeArchiveError, match="is an absolute path"):
        read_bytes(data, label="abs.pt2")


def test_a_weights_config_naming_a_missing_file_is_an_archive_error(corpus: dict[str, CorpusEntry]) -> None:
    data = rewrite_zip(corpus["mlp"].path, drop=["data/weights/weight_0"])
    with pytest.raises(ArchiveError, match=r"which the archive does not have") as exc:
        read_bytes(data, label="nofile.pt2")
    assert exc.value.member == "mlp/data/weights/model_weights_config.json"
    assert str(exc.value).startswith("nofile.pt2:mlp/data/weights/model_weights_config.json: ")


def test_extra_files_are_listed_by_their_name_under_extra(corpus: dict[str, CorpusEntry], tmp_path: Path) -> None:
    entry = corpus["mlp"]
    path = tmp_path / "extra.pt2"
    torch.export.save(entry.ep, path, extra_files={"notes.txt": "moo", "cfg/run.json": '{"a": 1}'})
    art = read_artifact(path)
    assert sorted(art.extra_files) == ["cfg/run.json", "notes.txt"]
    assert art.read_member(art.extra_files["notes.txt"]) == b"moo"
    assert read_artifact(entry.path).extra_files == {}


def test_the_older_formats_extra_files_are_listed_too(corpus: dict[str, CorpusEntry]) -> None:
    data = rewrite_zip(legacy_zip_bytes(corpus["mlp"].ep), add={"extra_files/notes.txt": b"moo"})
    art = read_bytes(data)
    assert art.format == "legacy" and art.read_member(art.extra_files["notes.txt"]) == b"moo"
