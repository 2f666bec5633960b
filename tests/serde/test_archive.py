"""Reading archives: every corpus export, the older format, bare JSON, several models, bad input."""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
import torch
from corpus import (
    Corpus,
    CorpusEntry,
    ep_signature,
    json_signature,
    legacy_zip_bytes,
    member_bytes,
    rewrite_zip,
    save,
)
from rawzip import Entry, compress, entries, raw_zip, with_entry
from torch._export.serde import schema as torch_schema
from torch._export.serde.serialize import _bytes_to_dataclass, _dataclass_to_dict

from pt2canon.errors import ArchiveError, GraphError, InputError, SchemaError, UnsafeArchiveError, printable
from pt2canon.serde.archive import Limits, read_artifact, read_bytes

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


# -- untrusted containers (issue 13) ----------------------------------------------------------


def _mlp(corpus: Corpus) -> bytes:
    return corpus["mlp"].path.read_bytes()


def _refused(exc: BaseException, cls: type[Exception], where: str, says: str) -> None:
    """``exc`` is exactly ``cls``, its one-line message starts with ``where: `` and says ``says``."""
    assert type(exc) is cls, f"{type(exc).__name__}: {exc}"
    assert str(exc).startswith(f"{where}: "), str(exc)
    assert says in str(exc), str(exc)
    assert "\n" not in str(exc)


def _refuses(data: bytes, cls: type[Exception], where: str, says: str, *, limits: Limits | None = None) -> None:
    """Reading ``data``, labelled with the file part of ``where``, raises exactly ``cls`` (see :func:`_refused`)."""
    with pytest.raises(cls) as info:
        read_bytes(data, label=where.split(":")[0], limits=limits or Limits())
    _refused(info.value, cls, where, says)


def _model_json(corpus: Corpus, name: str = "mlp") -> dict[str, Any]:
    return json.loads(member_bytes(corpus[name].path, "models/model.json"))  # type: ignore[no-any-return]


def _with_program(corpus: Corpus, doc: dict[str, Any], name: str = "mlp") -> bytes:
    return rewrite_zip(corpus[name].path, replace={"models/model.json": json.dumps(doc).encode()})


def test_a_fifo_a_socket_and_a_device_are_refused_before_anything_is_read(tmp_path: Path) -> None:
    import socket

    fifo = tmp_path / "pipe.pt2"
    os.mkfifo(fifo)  # open() would block here until a writer came
    sock = tmp_path / "sock.pt2"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    s.close()
    zero = tmp_path / "zero.pt2"
    zero.symlink_to("/dev/zero")  # read() would never end
    for path, kind in ((fifo, "a named pipe (FIFO)"), (sock, "a socket"), (zero, "a device")):
        with pytest.raises(InputError) as info:
            read_artifact(path)
        _refused(info.value, InputError, str(path), f"is {kind}, not an archive or JSON file; give a regular file")


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("zip", "a torch.save file (a checkpoint"),
        ("legacy", "a torch.save file (the legacy"),
        ("torchscript", "TorchScript archive"),
    ],
)
def test_a_torch_save_or_torchscript_file_is_named_as_such(kind: str, says: str, tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    if kind == "torchscript":
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    else:
        torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=kind == "zip")
    with pytest.raises(InputError) as info:
        read_artifact(path)
    _refused(info.value, InputError, str(path), says)
    assert "not a torch.export archive" in str(info.value)


def test_an_empty_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "empty.pt2", b"")
    with pytest.raises(InputError) as info:
        read_artifact(path)
    _refused(info.value, InputError, str(path), "file is empty")


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_byte_changed_after_the_crc_was_computed_is_an_archive_error_not_another_program(
    method: int, corpus: Corpus
) -> None:
    import zlib

    items = entries(_mlp(corpus))
    (model,) = [e for e in items if e.name.endswith(b"models/model.json")]
    changed = (model.plain or b"").replace(b"aten.relu.default", b"aten.tanh.default")
    data = raw_zip(
        with_entry(
            items,
            "models/model.json",
            data=compress(changed, method),
            plain=changed,
            method=method,
            crc=zlib.crc32(model.plain or b""),
        )
    )
    _refuses(data, ArchiveError, "flip.pt2:mlp/models/model.json", "member is corrupt: its CRC-32 is")


def test_a_weight_changed_after_the_crc_was_computed_fails_the_full_hash(corpus: Corpus, tmp_path: Path) -> None:
    import zlib

    import pt2canon

    items = entries(_mlp(corpus))
    (w,) = [e for e in items if e.name.endswith(b"weights/weight_0")]
    plain = bytes([w.plain[0] ^ 1]) + w.plain[1:]  # type: ignore[index]
    path = _write(
        tmp_path,
        "flip.pt2",
        raw_zip(with_entry(items, "weights/weight_0", data=plain, plain=plain, crc=zlib.crc32(w.plain or b""))),
    )
    assert pt2canon.hash(path) == pt2canon.hash(_mlp(corpus))  # the graph does not read weights
    with pytest.raises(ArchiveError) as info:
        pt2canon.hash(path, level="full")
    _refused(info.value, ArchiveError, f"{path}:mlp/data/weights/weight_0", "member is corrupt")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (b"mlp/models/model.json\x00.bak", "contains a NUL byte"),
        (b"mlp/extra/\xff\xfe", "not valid UTF-8"),
        (b"mlp/extra/a\x1b[2Jb", "contains a control character"),
    ],
)
def test_raw_member_names_with_nul_invalid_utf8_or_control_characters_are_refused(
    name: bytes, why: str, corpus: Corpus
) -> None:
    data = raw_zip([*entries(_mlp(corpus)), Entry(name, b"x")])
    with pytest.raises(UnsafeArchiveError) as info:
        read_bytes(data, label="names.pt2")
    # The member is named by its raw bytes, escaped (zipfile's name stops at the NUL): one line, no escape.
    _refused(info.value, UnsafeArchiveError, f"names.pt2:{printable(name.decode('utf-8', 'backslashreplace'))}", why)
    assert "\x1b" not in str(info.value) and "\x00" not in str(info.value)


@pytest.mark.parametrize(
    ("changes", "error", "fragment"),
    [
        ({"method": 12}, ArchiveError, "compressed with bzip2 (method 12)"),
        ({"method": 14}, ArchiveError, "compressed with LZMA (method 14)"),
        ({"method": 9}, ArchiveError, "deflate64"),
        ({"method": 99}, ArchiveError, "(method 99)"),
        ({"flags": 1}, UnsafeArchiveError, "member is encrypted"),
        ({"csize": 0}, UnsafeArchiveError, "stored member declares"),
        ({"local_name": b"mlp/models/other.json"}, UnsafeArchiveError, "local header names 'mlp/models/other.json'"),
        ({"local_size": 10}, UnsafeArchiveError, "local header declares 10 bytes"),
    ],
)
def test_members_whose_directory_entry_cannot_be_trusted_are_refused_by_name(
    changes: dict[str, object], error: type[Exception], fragment: str, corpus: Corpus
) -> None:
    data = raw_zip(with_entry(entries(_mlp(corpus)), "models/model.json", **changes))  # type: ignore[arg-type]
    _refuses(data, error, "dir.pt2:mlp/models/model.json", fragment)


def test_a_bzip2_bomb_is_refused_by_its_method_before_a_byte_is_decompressed(corpus: Corpus) -> None:
    import bz2

    # 64 MiB of zeros in 50 bytes of bzip2; the directory declares its true size.
    bomb = bz2.compress(b"\0" * (64 << 20), 9)
    data = raw_zip([*entries(_mlp(corpus)), Entry(b"mlp/extra/bomb", bomb, b"", method=12, size=64 << 20, crc=0)])
    _refuses(data, ArchiveError, "bomb.pt2:mlp/extra/bomb", "compressed with bzip2 (method 12)")


def test_a_deflated_member_that_inflates_past_its_declared_size_is_refused_as_a_bomb(corpus: Corpus) -> None:
    import zlib

    items = entries(_mlp(corpus))
    (model,) = [e for e in items if e.name.endswith(b"models/model.json")]
    plain = model.plain or b""
    longer = plain + b" " * (4 << 20)  # the directory says len(plain); inflating gives 4 MiB more
    data = raw_zip(
        with_entry(
            items, "models/model.json", data=compress(longer, 8), method=8, size=len(plain), crc=zlib.crc32(plain)
        )
    )
    _refuses(
        data,
        UnsafeArchiveError,
        "bomb.pt2:mlp/models/model.json",
        f"member inflates past its declared size of {len(plain)} bytes (a zip bomb?)",
    )


@pytest.mark.parametrize(
    ("limits", "where", "says"),
    [
        (Limits(max_inflated_bytes=1000), "lim.pt2:mlp/models/model.json", "over the limit max_inflated_bytes=1000"),
        (Limits(max_total_inflated_bytes=1000), "lim.pt2", "over the limit max_total_inflated_bytes=1000"),
        (Limits(max_members=5), "lim.pt2", "archive has 13 members, over the limit max_members=5"),
        (Limits(max_total_bytes=1000), "lim.pt2", "over the limit max_total_bytes=1000"),
        (
            Limits(max_member_bytes=1100),
            "lim.pt2:mlp/data/weights/model_weights_config.json",
            "over the limit max_member_bytes=1100",
        ),
    ],
)
def test_declared_sizes_and_counts_over_the_limits_are_refused_before_anything_is_inflated(
    limits: Limits, where: str, says: str, corpus: Corpus
) -> None:
    items = entries(_mlp(corpus))
    (model,) = [e for e in items if e.name.endswith(b"models/model.json")]
    data = raw_zip(with_entry(items, "models/model.json", data=compress(model.plain or b"", 8), method=8))
    _refuses(data, UnsafeArchiveError, where, says, limits=limits)
    assert read_bytes(data).model.program  # the same archive reads under the default limits


def test_a_json_member_or_file_over_max_json_bytes_is_refused_before_it_is_read(corpus: Corpus, tmp_path: Path) -> None:
    size = len(member_bytes(_mlp(corpus), "models/model.json"))
    small = Limits(max_json_bytes=size - 1)
    _refuses(
        _mlp(corpus), UnsafeArchiveError, "big.pt2:mlp/models/model.json", f"member declares {size} bytes", limits=small
    )
    path = _write(tmp_path, "model.json", member_bytes(_mlp(corpus), "models/model.json"))
    with pytest.raises(UnsafeArchiveError) as info:
        read_artifact(path, limits=small)
    _refused(info.value, UnsafeArchiveError, str(path), f"over the limit max_json_bytes={size - 1}")
    assert read_artifact(path, limits=Limits(max_json_bytes=size)).model.program
    with pytest.raises(UnsafeArchiveError) as info:  # the same bytes already in memory: the same limit
        read_bytes(path.read_bytes(), label="in-memory.json", limits=small)
    _refused(info.value, UnsafeArchiveError, "in-memory.json", f"over the limit max_json_bytes={size - 1}")
    assert read_bytes(path.read_bytes(), limits=Limits(max_json_bytes=size)).model.program


def test_one_name_given_to_two_members_is_refused_whatever_their_contents(corpus: Corpus) -> None:
    # zipfile would read the last one, torch's reader (miniz) the first: two programs in one file.
    items = entries(_mlp(corpus))
    (model,) = [e for e in items if e.name.endswith(b"models/model.json")]
    for twin in (model, Entry(model.name, b"{}")):
        with pytest.raises(UnsafeArchiveError) as info:
            read_bytes(raw_zip([*items, twin]), label="twins.pt2")
        _refused(info.value, UnsafeArchiveError, "twins.pt2:mlp/models/model.json", "member name appears twice")


def test_two_root_folders_are_an_archive_error_naming_both(corpus: Corpus) -> None:
    data = rewrite_zip(_mlp(corpus), add={"other/models/model.json": member_bytes(_mlp(corpus), "models/model.json")})
    _refuses(data, ArchiveError, "roots.pt2", "archive has 2 root folders ('mlp/', 'other/')")


def test_several_names_for_one_stretch_of_data_are_refused_however_small_they_say_they_are(corpus: Corpus) -> None:
    items = entries(_mlp(corpus))
    target = b"mlp/data/weights/weight_0"
    (w,) = [e for e in items if e.name == target]
    aliases = [
        Entry(f"mlp/data/weights/weight_{100 + i}".encode(), b"", w.plain, alias_of=target, csize=0) for i in range(3)
    ]
    _refuses(
        raw_zip([*items, *aliases]),
        UnsafeArchiveError,
        "amp.pt2:mlp/data/weights/weight_100",
        "stored member declares 512 bytes but 0 stored bytes",
    )
    honest = [Entry(e.name, b"", w.plain, alias_of=target, csize=len(w.plain or b"")) for e in aliases]
    with pytest.raises(UnsafeArchiveError) as info:
        read_bytes(raw_zip([*items, *honest]), label="amp.pt2")
    assert type(info.value) is UnsafeArchiveError
    assert str(info.value).startswith("amp.pt2:mlp/data/weights/weight_")
    assert "member's data overlaps member" in str(info.value)


def test_json_nested_past_max_depth_is_refused_on_reading_and_at_the_limit_reads(corpus: Corpus) -> None:
    import pt2canon

    doc = _model_json(corpus)

    def nested(depth: int) -> bytes:
        d = json.loads(json.dumps(doc))
        value: object = 1
        for _ in range(depth):
            value = [value]
        d["future_field"] = value  # an unknown key: ignored, but bounded
        return _with_program(corpus, d)

    limit = Limits().max_depth
    with pytest.warns(UserWarning, match="future_field"):
        assert pt2canon.hash(nested(limit - 1)) == pt2canon.hash(_mlp(corpus))  # the document itself is level 1
    _refuses(
        nested(limit),
        SchemaError,
        "deep.pt2:mlp/models/model.json",
        f"future_field: data nested more than {limit} levels",
    )


def test_a_node_with_more_values_than_the_limit_is_refused_naming_the_node(corpus: Corpus) -> None:
    doc = _model_json(corpus)
    doc["graph_module"]["graph"]["nodes"][1]["inputs"].append(
        {"name": "many", "arg": {"as_ints": list(range(Limits().max_node_values))}, "kind": 2}
    )
    data = _with_program(corpus, doc)
    _refuses(
        data,
        SchemaError,
        "wide.pt2:mlp/models/model.json: graph_module.graph.nodes[1]",
        "node takes and gives 10003 values",
    )
    assert read_bytes(data, limits=Limits(max_node_values=20_000)).model


def test_a_tensor_with_more_dimensions_than_the_limit_is_refused_naming_the_value(corpus: Corpus) -> None:
    doc = _model_json(corpus)
    meta = doc["graph_module"]["graph"]["tensor_values"]["p_fc1_weight"]
    rank = Limits().max_tensor_rank + 1
    meta["sizes"] = meta["strides"] = [{"as_int": 1}] * rank
    _refuses(
        _with_program(corpus, doc),
        SchemaError,
        "rank.pt2:mlp/models/model.json: graph_module.graph.tensor_values['p_fc1_weight'].sizes",
        f"{rank} dimensions, over the limit max_tensor_rank={rank - 1}",
    )


def test_a_signature_naming_a_value_the_graph_lacks_is_refused_naming_the_spec_and_the_value(
    corpus: Corpus,
) -> None:
    doc = _model_json(corpus)
    doc["graph_module"]["signature"]["input_specs"][0]["parameter"]["arg"]["name"] = "ghost"
    _refuses(
        _with_program(corpus, doc),
        GraphError,
        "ghost.pt2:mlp/models/model.json: graph_module.signature.input_specs[0]",
        "parameter spec names value 'ghost', but graph input 0 is value 'p_fc1_weight'",
    )


def test_an_extra_file_is_read_like_every_member_so_a_corrupt_one_fails_the_full_hash_and_canon(
    corpus: Corpus, tmp_path: Path
) -> None:
    import zlib

    import pt2canon
    from pt2canon.serde.writer import write_archive

    src = tmp_path / "extra.pt2"
    torch.export.save(corpus["mlp"].ep, src, extra_files={"notes.txt": "moo"})
    items = entries(src.read_bytes())
    (note,) = [e for e in items if e.name.endswith(b"extra/notes.txt")]
    path = _write(
        tmp_path, "bad_extra.pt2", raw_zip(with_entry(items, "extra/notes.txt", data=b"mo0", crc=zlib.crc32(b"moo")))
    )
    with read_artifact(path) as art:
        assert art.extra_files == {"notes.txt": note.name.decode()}
        assert pt2canon.hash(art) == pt2canon.hash(src)  # the graph does not read extra files
        with pytest.raises(ArchiveError) as info:
            pt2canon.hash(art, level="full")
        _refused(info.value, ArchiveError, f"{path}:{note.name.decode()}", "member is corrupt")
        with pytest.raises(ArchiveError) as info:
            write_archive(tmp_path / "out.pt2", art)
        assert type(info.value) is ArchiveError and note.name.decode() in str(info.value)
    assert not (tmp_path / "out.pt2").exists()  # no partial output


def test_the_archive_a_writer_makes_has_only_members_the_layout_knows(corpus: Corpus, tmp_path: Path) -> None:
    # One layout for reader, writer and auditor: what the writer writes, the auditor recognizes.
    from pt2canon.audit import audit_path
    from pt2canon.serde.layout import find_roots
    from pt2canon.serde.writer import write_archive

    out = tmp_path / "canonical.pt2"
    with read_artifact(corpus["aliased_weights"].path) as art:
        write_archive(out, art)
    with zipfile.ZipFile(out) as zf:
        assert find_roots(zf.namelist()) == {"archive/"}
    report = audit_path(out)
    assert [f.code for f in report.findings] == []


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


def test_the_crc32_members_are_checked_with_is_zlibs_chained_over_any_split() -> None:
    """zipsource checks members with zlib-ng's CRC-32 (about 13x faster): the same function as zlib's."""
    from pt2canon.serde.zipsource import crc32

    data = os.urandom(1 << 20)
    crc = 0
    for start in range(0, len(data), 4097):  # odd block sizes, memoryviews as the stored path passes them
        crc = crc32(memoryview(data)[start : start + 4097], crc)
    assert crc == zlib.crc32(data)
    assert crc32(b"") == 0 and crc32(b"", 7) == 7
