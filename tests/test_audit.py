"""``pt2canon audit``: a static scan that finds pickled code and archive hazards without unpickling.

The crafted pickles below each write a canary file when unpickled. The tests
prove that they do (in a subprocess, with ``pickle.loads``, ``torch.load`` and
``torch.export.load``), then that ``audit`` reports every one of them as a
``high`` finding naming the member, and that neither ``audit`` nor
``pt2canon.load`` ever creates the canary.
"""

from __future__ import annotations

import bz2
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import time
import zipfile
from collections import Counter, OrderedDict
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from corpus import Corpus, CorpusEntry, legacy_zip_bytes
from rawzip import Entry, entries, raw_zip, with_entry

import pt2canon
from pt2canon.audit import ALLOWED_GLOBALS, AuditReport, Finding, audit_path
from pt2canon.cli import main
from pt2canon.errors import ArchiveError, InputError
from pt2canon.serde.archive import Limits

# -- crafted pickles ------------------------------------------------------------------------


def _short_unicode(s: str) -> bytes:
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def _binunicode(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


class _Reduce:
    def __init__(self, func: Callable[..., object], args: tuple[object, ...]) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, ...]:
        return self.func, self.args


def payloads(canary: Path) -> dict[str, bytes]:
    """Pickles that create ``canary`` when unpickled, one per technique."""
    c = str(canary)
    code = f"open({c!r}, 'w').write('pwned')"
    touch = f"touch {c}".encode()
    return {
        # protocol 0: GLOBAL + REDUCE, INST, and __builtin__ (mapped to builtins for protocol < 3)
        "p0_os_system": b"cos\nsystem\n(S'" + touch + b"'\ntR.",
        "p0_inst": b"(S'" + touch + b"'\nios\nsystem\n.",
        "p0_builtin_eval": b'c__builtin__\neval\n(S"' + code.encode() + b'"\ntR.',
        # protocol 1: OBJ
        "p1_obj": b"(cos\nsystem\nU" + bytes([len(touch)]) + touch + b"o.",
        # protocol 2-5 as pickle.dumps writes them (os.system pickles as posix.system on POSIX)
        "p2_posix_system": pickle.dumps(_Reduce(os.system, (f"touch {c}",)), protocol=2),
        "p2_builtins_exec": pickle.dumps(_Reduce(exec, (code,)), protocol=2),
        "p3_eval": pickle.dumps(_Reduce(eval, (code,)), protocol=3),
        "p4_subprocess_popen": pickle.dumps(_Reduce(subprocess.Popen, (["touch", c],)), protocol=4),
        "p5_exec": pickle.dumps(_Reduce(exec, (code,)), protocol=5),
        # builtins.getattr(builtins.__import__("os"), "system")("touch ..."): no os global at all
        "p2_getattr_chain": (
            b"\x80\x02cbuiltins\ngetattr\ncbuiltins\n__import__\n"
            + _binunicode("os")
            + b"\x85R"
            + _binunicode("system")
            + b"\x86R"
            + _binunicode(f"touch {c}")
            + b"\x85R."
        ),
        # STACK_GLOBAL whose module and name are memoized, popped, and fetched back from the memo
        "p4_stack_global_memo": (
            b"\x80\x04"
            + _short_unicode("os")
            + b"\x940"
            + _short_unicode("system")
            + b"\x940"
            + b"h\x00h\x01\x93"
            + _short_unicode(f"touch {c}")
            + b"\x85R."
        ),
        # STACK_GLOBAL whose strings are computed at load time by an allowlisted global:
        # _codecs.encode("bf", "rot13") == "os", _codecs.encode("flfgrz", "rot13") == "system"
        "p4_rot13_global": (
            b"\x80\x04"
            + _short_unicode("_codecs")
            + _short_unicode("encode")
            + b"\x93"
            + _short_unicode("bf")
            + _short_unicode("rot13")
            + b"\x86R"
            + _short_unicode("_codecs")
            + _short_unicode("encode")
            + b"\x93"
            + _short_unicode("flfgrz")
            + _short_unicode("rot13")
            + b"\x86R\x93"
            + _short_unicode(f"touch {c}")
            + b"\x85R."
        ),
    }


#: The global each payload must be reported for, and the opcode that imports it.
EXPECTED = {
    "p0_os_system": ("os.system", "GLOBAL"),
    "p0_inst": ("os.system", "INST"),
    "p0_builtin_eval": ("builtins.eval", "GLOBAL"),
    "p1_obj": ("os.system", "GLOBAL"),
    "p2_posix_system": ("posix.system", "GLOBAL"),
    "p2_builtins_exec": ("builtins.exec", "GLOBAL"),
    "p3_eval": ("builtins.eval", "GLOBAL"),
    "p4_subprocess_popen": ("subprocess.Popen", "STACK_GLOBAL"),
    "p5_exec": ("builtins.exec", "STACK_GLOBAL"),
    "p2_getattr_chain": ("builtins.getattr", "GLOBAL"),
    "p4_stack_global_memo": ("os.system", "STACK_GLOBAL"),
    "p4_rot13_global": (None, "STACK_GLOBAL"),
}
PAYLOADS = list(EXPECTED)


def torch_zip(pkl: bytes, *, extra: dict[str, bytes] | None = None) -> bytes:
    """A torch zip-format file (what ``torch.save`` writes) whose ``data.pkl`` is ``pkl``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


def legacy_torch(pkl: bytes) -> bytes:
    """torch's non-zip ``torch.save`` layout: magic number, protocol and sys-info pickles, then ``pkl``."""
    return (
        pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
        + pickle.dumps(1001, protocol=2)
        + pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
        + pkl
    )


WRAPPERS: dict[str, Callable[[bytes], bytes]] = {
    "raw": lambda b: b,
    "torch_zip": torch_zip,
    "legacy_torch": legacy_torch,
}


def rewrite(
    src: Path,
    dst: Path,
    replace: dict[str, bytes | Callable[[bytes], bytes]] | None = None,
    *,
    extra: dict[str, bytes] | None = None,
    compression: int = zipfile.ZIP_STORED,
) -> Path:
    """Copy a zip, replacing members whose names end with a key of ``replace``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            for suffix, new in (replace or {}).items():
                if info.filename.endswith(suffix):
                    data = new(data) if callable(new) else new
            zout.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return dst


def root_of(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return next(n for n in z.namelist() if n.endswith("/archive_format")).split("/")[0]


def flip_use_pickle(path: Path, config_suffix: str) -> tuple[str, Callable[[bytes], bytes]]:
    """``(path_name, rewrite)``: the first payload of a config, and a function marking it ``use_pickle``."""
    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith(config_suffix))
        doc = json.loads(z.read(name))
    fqn = next(iter(doc["config"]))

    def flip(data: bytes) -> bytes:
        d = json.loads(data)
        d["config"][fqn]["use_pickle"] = True
        return json.dumps(d).encode()

    return doc["config"][fqn]["path_name"], flip


def highs(report: AuditReport) -> list[Finding]:
    return report.by_severity("high")


def wait_for(path: Path, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.05)
    return path.exists()


_LOADER = r"""
import io, json, pickle, sys
for mode, path in json.loads(sys.argv[1]):
    try:
        if mode == "pickle.loads":
            pickle.loads(open(path, "rb").read())
        elif mode == "torch.load":
            import torch
            torch.load(io.BytesIO(open(path, "rb").read()), weights_only=False)
        elif mode == "torch.export.load":
            import torch
            torch.export.load(path)
    except BaseException:
        pass
"""


def run_loader(cases: list[tuple[str, str]]) -> None:
    subprocess.run(
        [sys.executable, "-c", _LOADER, json.dumps(cases)],
        check=True,
        capture_output=True,
        timeout=300,
    )


# -- fixtures -------------------------------------------------------------------------------


class DictInputs(torch.nn.Module):
    def forward(self, d: dict[str, torch.Tensor], items: list[object], n: int, *, scale: float = 1.0) -> torch.Tensor:
        return d["a"] * n + items[0] + items[1]["b"] * scale  # type: ignore[index]


@pytest.fixture(scope="module")
def dict_inputs_archives(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """A program whose sample inputs hold dicts, lists, ints and a float, saved with pickle protocols 0-5."""
    folder = tmp_path_factory.mktemp("dict_inputs")
    args = ({"a": torch.randn(3)}, [torch.randn(3), {"b": torch.ones(3)}], 3)
    ep = torch.export.export(DictInputs(), args, {"scale": 2.0})
    out = {}
    for proto in range(6):
        out[proto] = folder / f"dict_inputs_p{proto}.pt2"
        torch.export.save(ep, out[proto], pickle_protocol=proto)
    return out


@pytest.fixture
def mlp(corpus: dict[str, CorpusEntry]) -> Path:
    return corpus["mlp"].path


# -- the crafted pickles are real attacks ----------------------------------------------------


def test_every_crafted_pickle_runs_code_when_unpickled(tmp_path: Path) -> None:
    cases = []
    for name in PAYLOADS:
        pkl = tmp_path / f"{name}.pkl"
        pkl.write_bytes(payloads(tmp_path / f"canary_{name}")[name])
        cases.append(("pickle.loads", str(pkl)))
    run_loader(cases)
    missing = [name for name in PAYLOADS if not wait_for(tmp_path / f"canary_{name}")]
    assert missing == []


def test_torch_runs_crafted_pickles_hidden_in_archives_while_audit_and_load_never_do(
    tmp_path: Path, mlp: Path, corpus: dict[str, CorpusEntry]
) -> None:
    # Build each attack twice: one copy for torch (which must run it), one for pt2canon (which must not).
    def attacks(tag: str) -> list[tuple[str, Path, Path]]:
        out = []
        for wrapper, wrap in WRAPPERS.items():
            # the wrapped pickle alone, as torch.load reads it (a torch.save file)
            canary = tmp_path / f"canary_{tag}_{wrapper}"
            standalone = tmp_path / f"{tag}_{wrapper}.pt"
            standalone.write_bytes(wrap(payloads(canary)["p2_posix_system"]))
            out.append(("torch.load", standalone, canary))
            # the same as the sample inputs of a real archive, as torch.export.load reads it
            canary = tmp_path / f"canary_{tag}_si_{wrapper}"
            member = wrap(payloads(canary)["p2_posix_system"])
            dst = rewrite(mlp, tmp_path / f"{tag}_si_{wrapper}.pt2", {"data/sample_inputs/model.pt": member})
            out.append(("torch.export.load", dst, canary))
        lifted = corpus["lifted_constant"].path
        path_name, flip = flip_use_pickle(lifted, "model_constants_config.json")
        canary = tmp_path / f"canary_{tag}_constant"
        dst = rewrite(
            lifted,
            tmp_path / f"{tag}_constant.pt2",
            {
                f"data/constants/{path_name}": torch_zip(payloads(canary)["p4_stack_global_memo"]),
                "model_constants_config.json": flip,
            },
        )
        out.append(("torch.export.load", dst, canary))
        path_name, flip = flip_use_pickle(mlp, "model_weights_config.json")
        canary = tmp_path / f"canary_{tag}_weight"
        dst = rewrite(
            mlp,
            tmp_path / f"{tag}_weight.pt2",
            {
                f"data/weights/{path_name}": torch_zip(payloads(canary)["p0_os_system"]),
                "model_weights_config.json": flip,
            },
        )
        out.append(("torch.export.load", dst, canary))
        return out

    for_torch = attacks("torch")
    run_loader([(mode, str(path)) for mode, path, _ in for_torch])
    assert [str(c) for _, _, c in for_torch if not wait_for(c)] == []

    for_us = attacks("ours")
    for mode, path, _ in for_us:
        report = audit_path(path)
        assert highs(report), path
        if mode == "torch.export.load":
            with pt2canon.load(path) as art:
                assert art.model.name == "model"
    time.sleep(0.2)
    assert [str(c) for _, _, c in for_us if c.exists()] == []


# -- every crafted pickle is reported high, with the member named ------------------------------


@pytest.mark.parametrize("wrapper", list(WRAPPERS))
@pytest.mark.parametrize("name", PAYLOADS)
def test_crafted_sample_inputs_are_reported_high_naming_the_member_and_the_global(
    tmp_path: Path, mlp: Path, name: str, wrapper: str
) -> None:
    canary = tmp_path / "canary"
    path = rewrite(
        mlp, tmp_path / "evil.pt2", {"data/sample_inputs/model.pt": WRAPPERS[wrapper](payloads(canary)[name])}
    )
    member = f"{root_of(path)}/data/sample_inputs/model.pt" + ("!archive/data.pkl" if wrapper == "torch_zip" else "")

    report = audit_path(path)

    assert not report.clean
    found = [f for f in highs(report) if f.member == member]
    expected_global, expected_opcode = EXPECTED[name]
    if expected_global is None:
        assert [f.code for f in found] == ["unresolved-global"]
        assert found[0].detail["opcode"] == expected_opcode
    else:
        unsafe = {f.detail["global"]: f for f in found if f.code == "unsafe-global"}
        assert expected_global in unsafe, [f.to_dict() for f in report.findings]
        assert unsafe[expected_global].detail["opcode"] == expected_opcode
        assert unsafe[expected_global].detail["called"] is True
        assert expected_global in unsafe[expected_global].message
    assert member in report.pickles
    assert not canary.exists()


@pytest.mark.parametrize("name", PAYLOADS)
def test_crafted_use_pickle_constant_is_reported_high(
    tmp_path: Path, corpus: dict[str, CorpusEntry], name: str
) -> None:
    lifted = corpus["lifted_constant"].path
    path_name, flip = flip_use_pickle(lifted, "model_constants_config.json")
    canary = tmp_path / "canary"
    path = rewrite(
        lifted,
        tmp_path / "evil.pt2",
        {f"data/constants/{path_name}": torch_zip(payloads(canary)[name]), "model_constants_config.json": flip},
    )
    member = f"{root_of(path)}/data/constants/{path_name}!archive/data.pkl"

    report = audit_path(path)

    assert {f.member for f in highs(report)} == {member}
    assert not canary.exists()


def test_a_raw_constant_is_not_unpickled_so_the_same_bytes_flagged_use_pickle_are_what_matters(
    tmp_path: Path, corpus: dict[str, CorpusEntry]
) -> None:
    lifted = corpus["lifted_constant"].path
    path_name, _ = flip_use_pickle(lifted, "model_constants_config.json")
    evil = torch_zip(payloads(tmp_path / "canary")["p2_posix_system"])
    raw = rewrite(lifted, tmp_path / "raw.pt2", {f"data/constants/{path_name}": evil})
    # torch reads a use_pickle=false constant as raw storage bytes: nothing to unpickle, nothing to report.
    assert audit_path(raw).clean


def test_getattr_chain_is_reported_as_an_indirect_call_besides_its_globals(tmp_path: Path, mlp: Path) -> None:
    path = rewrite(
        mlp, tmp_path / "evil.pt2", {"data/sample_inputs/model.pt": payloads(tmp_path / "c")["p2_getattr_chain"]}
    )
    report = audit_path(path)
    codes = Counter(f.code for f in highs(report))
    assert codes == Counter({"unsafe-global": 2, "indirect-call": 1})
    assert {f.detail.get("global") for f in highs(report)} >= {"builtins.getattr", "builtins.__import__"}


def test_malicious_pickle_after_torch_magic_number_is_found_in_the_fourth_pickle(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    path.write_bytes(legacy_torch(payloads(tmp_path / "c")["p2_posix_system"]))
    report = audit_path(path)
    assert report.format == "pickle"
    [finding] = highs(report)
    assert finding.detail["global"] == "posix.system"
    assert finding.detail["offset"] > 0


def test_allowlisted_global_whose_attributes_are_set_by_build_is_reported(tmp_path: Path, mlp: Path) -> None:
    # collections.OrderedDict itself (the class, not an instance) given a __repr__ through BUILD's slot state
    pkl = b"\x80\x02ccollections\nOrderedDict\nN}X\x08\x00\x00\x00__repr__K\x01s\x86b."
    path = rewrite(mlp, tmp_path / "evil.pt2", {"data/sample_inputs/model.pt": pkl})
    [finding] = highs(audit_path(path))
    assert finding.code == "global-mutated"
    assert finding.detail["global"] == "collections.OrderedDict"


def test_extension_registry_opcodes_are_reported(tmp_path: Path, mlp: Path) -> None:
    path = rewrite(mlp, tmp_path / "evil.pt2", {"data/sample_inputs/model.pt": b"\x80\x02\x82\x01)R."})
    [finding] = highs(audit_path(path))
    assert (finding.code, finding.detail["extension_code"]) == ("extension-global", 1)


def test_torchscript_archive_in_a_pickle_member_is_reported(tmp_path: Path, mlp: Path) -> None:
    benign = pickle.dumps((torch.Size([1]),), protocol=2)
    ts = torch_zip(benign, extra={"archive/constants.pkl": pickle.dumps((), protocol=2), "archive/code/m.py": b""})
    path = rewrite(mlp, tmp_path / "ts.pt2", {"data/sample_inputs/model.pt": ts})
    assert [f.code for f in highs(audit_path(path))] == ["torchscript-archive"]


def test_torchscript_names_are_allowed_only_in_custom_obj_constants(tmp_path: Path, mlp: Path) -> None:
    # torch._C._pickle_save writes torch.jit._pickle.build_intlist for a list of ints
    ts_pickle = b"\x80\x02ctorch.jit._pickle\nbuild_intlist\n]K\x01a\x85R."
    root = root_of(mlp)
    custom = rewrite(mlp, tmp_path / "custom.pt2", extra={f"{root}/data/constants/custom_obj_0": torch_zip(ts_pickle)})
    assert audit_path(custom).clean
    sample = rewrite(mlp, tmp_path / "sample.pt2", {"data/sample_inputs/model.pt": torch_zip(ts_pickle)})
    [finding] = highs(audit_path(sample))
    assert finding.detail["global"] == "torch.jit._pickle.build_intlist"


def test_an_unknown_member_holding_a_pickle_is_scanned_too(tmp_path: Path, mlp: Path) -> None:
    root = root_of(mlp)
    path = rewrite(mlp, tmp_path / "x.pt2", extra={f"{root}/extra/notes.pkl": payloads(tmp_path / "c")["p5_exec"]})
    report = audit_path(path)
    assert [(f.code, f.member) for f in highs(report)] == [("unsafe-global", f"{root}/extra/notes.pkl")]


# -- benign archives: no false positives ----------------------------------------------------


def test_every_corpus_archive_audits_clean(corpus_entry: CorpusEntry) -> None:
    report = audit_path(corpus_entry.path)
    assert report.findings == []
    assert report.clean
    assert report.format == "pt2"
    assert any(p.endswith("data/sample_inputs/model.pt!archive/data.pkl") for p in report.pickles)


@pytest.mark.parametrize("proto", range(6))
def test_sample_inputs_with_dicts_lists_and_ints_audit_clean_under_every_pickle_protocol(
    dict_inputs_archives: dict[int, Path], proto: int
) -> None:
    report = audit_path(dict_inputs_archives[proto])
    assert report.findings == []
    assert len(report.pickles) == 1


def test_older_format_zip_audits_clean_and_scans_its_three_pickles(
    tmp_path: Path, corpus: dict[str, CorpusEntry]
) -> None:
    path = tmp_path / "legacy.zip"
    path.write_bytes(legacy_zip_bytes(corpus["conv_bn_train"].ep))
    report = audit_path(path)
    assert report.format == "legacy"
    assert report.findings == []
    assert sorted(p.split("!")[0] for p in report.pickles) == [
        "serialized_constants.pt",
        "serialized_example_inputs.pt",
        "serialized_state_dict.pt",
    ]


def _assorted() -> dict[str, object]:
    t = torch.ones(2)
    t.note = "attr"  # type: ignore[attr-defined]
    p = torch.nn.Parameter(torch.ones(2))
    p.extra = 1  # type: ignore[attr-defined]
    objs: dict[str, object] = {
        str(dt): torch.zeros(2, dtype=dt)
        for dt in (
            torch.float32,
            torch.float16,
            torch.bfloat16,
            torch.int8,
            torch.uint8,
            torch.int64,
            torch.bool,
            torch.complex64,
            torch.float8_e4m3fn,
            torch.uint16,
        )
    }
    objs |= {
        "state_dict": torch.nn.BatchNorm2d(2).state_dict(),
        "parameter": torch.nn.Parameter(torch.ones(2)),
        "parameter_with_state": p,
        "tensor_with_attr": t,
        "requires_grad": torch.ones(2, requires_grad=True),
        "view": torch.arange(6.0)[2:4],
        "sparse_coo": torch.ones(2, 2).to_sparse(),
        "meta": torch.empty(2, device="meta"),
        "quantized": torch.quantize_per_tensor(torch.ones(2), 0.1, 0, torch.quint8),
        "nested": torch.nested.nested_tensor([torch.ones(2), torch.ones(3)]),
        "containers": ((torch.ones(1), [1, 2.5, "s", None, True]), {"a": torch.ones(1), "b": (3,)}),
        "python_values": [
            torch.Size([2, 3]),
            torch.device("cpu"),
            torch.float32,
            {1, 2},
            1 + 2j,
            b"ab",
            bytearray(b"ab"),
            OrderedDict(a=1),
            Counter("aab"),
            2**70,
            float("nan"),
        ],
    }
    return objs


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("proto", [2, 4, 5])
def test_torch_save_of_tensors_parameters_and_containers_uses_only_allowlisted_globals(
    tmp_path: Path, proto: int
) -> None:
    for name, obj in _assorted().items():
        for new_format in (True, False):
            path = tmp_path / f"obj_{new_format}.pt"
            torch.save(obj, path, pickle_protocol=proto, _use_new_zipfile_serialization=new_format)
            report = audit_path(path)
            assert report.findings == [], (name, new_format, [f.to_dict() for f in report.findings])
            assert report.pickles, name


def test_allowlist_is_exactly_what_torch_weights_only_load_accepts() -> None:
    from torch._weights_only_unpickler import _get_allowed_globals

    assert set(_get_allowed_globals()) == ALLOWED_GLOBALS


def test_builtins_torch_does_not_write_are_low_not_high(tmp_path: Path, mlp: Path) -> None:
    path = rewrite(
        mlp,
        tmp_path / "s.pt2",
        {"data/sample_inputs/model.pt": torch_zip(pickle.dumps((slice(1, 2), frozenset([1])), protocol=2))},
    )
    report = audit_path(path)
    assert {(f.severity, f.code, f.detail["global"]) for f in report.findings} == {
        ("low", "nonstandard-global", "builtins.slice"),
        ("low", "nonstandard-global", "builtins.frozenset"),
    }
    assert not report.clean


# -- archive hazards -------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes], *, compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_member_names_escaping_the_folder_are_reported_not_raised(tmp_path: Path, mlp: Path) -> None:
    path = rewrite(mlp, tmp_path / "t.pt2", extra={"../../evil.sh": b"x", "/etc/evil": b"x", "C:/evil": b"x"})
    report = audit_path(path)
    traversal = {f.member for f in report.findings if f.code == "path-traversal"}
    assert traversal == {"../../evil.sh", "/etc/evil", "C:/evil"}
    assert all(f.severity == "high" for f in report.findings if f.code == "path-traversal")


def test_symlink_member_is_reported(tmp_path: Path, mlp: Path) -> None:
    path = rewrite(mlp, tmp_path / "l.pt2")
    with zipfile.ZipFile(path, "a") as z:
        info = zipfile.ZipInfo(f"{root_of(mlp)}/extra/link")
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        z.writestr(info, "/etc/passwd")
    assert [f.code for f in highs(audit_path(path))] == ["symlink-member"]


def test_compressed_members_are_low_findings_one_per_member(tmp_path: Path, mlp: Path) -> None:
    path = rewrite(mlp, tmp_path / "c.pt2", compression=zipfile.ZIP_DEFLATED)
    report = audit_path(path)
    with zipfile.ZipFile(mlp) as z:
        n = len(z.namelist())
    assert Counter((f.severity, f.code) for f in report.findings) == Counter({("low", "compressed-member"): n})
    assert len(report.pickles) == 1  # still scanned through the decompressor


def test_zip_bomb_member_is_reported_and_only_its_first_bytes_are_decompressed(tmp_path: Path, mlp: Path) -> None:
    root = root_of(mlp)
    member = f"{root}/data/sample_inputs/model.pt"
    # A payload followed by 64 MiB of zeros: the pickle at the start is still found.
    bomb = payloads(tmp_path / "c")["p2_posix_system"] + b"\0" * (64 << 20)
    path = rewrite(mlp, tmp_path / "b.pt2", {"data/sample_inputs/model.pt": bomb}, compression=zipfile.ZIP_DEFLATED)
    report = audit_path(path)
    [ratio] = [f for f in report.findings if f.code == "compression-ratio"]
    assert (ratio.severity, ratio.member) == ("medium", member)
    assert [(f.code, f.member, f.detail["global"]) for f in highs(report)] == [
        ("unsafe-global", member, "posix.system")
    ]
    # A pickle that is itself the bomb (one 64 MiB bytes value) is read only up to max_ratio x its compressed size.
    long = b"\x80\x04\x8e" + struct.pack("<Q", 64 << 20) + b"\0" * (64 << 20) + b"."
    path = rewrite(mlp, tmp_path / "b2.pt2", {"data/sample_inputs/model.pt": long}, compression=zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(path) as z:
        compressed = z.getinfo(member).compress_size
    found = {f.code: f for f in audit_path(path).findings if f.member == member}
    assert set(found) == {"compressed-member", "compression-ratio", "pickle-unparsable"}
    assert found["pickle-unparsable"].detail["offset"] <= 200 * compressed


def test_declared_sizes_and_member_counts_over_the_limits_are_reported(tmp_path: Path, mlp: Path) -> None:
    small = Limits(max_member_bytes=1000, max_total_bytes=5000)
    codes = Counter(f.code for f in audit_path(mlp, limits=small).findings)
    assert codes["member-too-large"] >= 1 and codes["archive-too-large"] == 1
    few = Limits(max_members=3)
    [finding] = audit_path(mlp, limits=few).findings
    assert (finding.severity, finding.code) == ("medium", "too-many-members")


def test_unknown_members_duplicates_and_second_roots_are_reported(tmp_path: Path, mlp: Path) -> None:
    root = root_of(mlp)
    path = rewrite(
        mlp, tmp_path / "u.pt2", extra={f"{root}/data/payload.bin": b"\x00\x01", "other/models/model.json": b"{}"}
    )
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as z:
        z.writestr(f"{root}/byteorder", "big")
    found = {(f.severity, f.code, f.member) for f in audit_path(path).findings}
    assert ("low", "unknown-member", f"{root}/data/payload.bin") in found
    assert ("medium", "duplicate-member", f"{root}/byteorder") in found
    assert ("medium", "multiple-roots", None) in found


def test_aoti_shared_libraries_are_reported_as_native_code(tmp_path: Path, mlp: Path) -> None:
    root = root_of(mlp)
    path = rewrite(mlp, tmp_path / "a.pt2", extra={f"{root}/data/aotinductor/model/model.wrapper.so": b"\x7fELF"})
    [finding] = highs(audit_path(path))
    assert finding.code == "aoti-native-code"


def test_truncated_pickle_reports_what_came_before_and_that_the_rest_was_not_checked(tmp_path: Path, mlp: Path) -> None:
    evil = payloads(tmp_path / "c")["p2_posix_system"]
    path = rewrite(mlp, tmp_path / "t.pt2", {"data/sample_inputs/model.pt": evil[:-3]})
    found = {(f.severity, f.code) for f in audit_path(path).findings}
    assert found == {("high", "unsafe-global"), ("medium", "pickle-unparsable")}


def test_huge_declared_arguments_are_skipped_without_reading_them_into_memory(tmp_path: Path, mlp: Path) -> None:
    # A 4 MiB bytes value is streamed past; a BINBYTES8 declaring 2**40 bytes is a truncated pickle.
    big = pickle.dumps((b"\x01" * (4 << 20), torch.Size([1])), protocol=4)
    ok = rewrite(mlp, tmp_path / "big.pt2", {"data/sample_inputs/model.pt": big})
    assert audit_path(ok).findings == []
    liar = b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"abc"
    bad = rewrite(mlp, tmp_path / "liar.pt2", {"data/sample_inputs/model.pt": liar})
    assert [f.code for f in audit_path(bad).findings] == ["pickle-unparsable"]
    line = b"c" + b"o" * (1 << 20)  # a GLOBAL whose module line never ends
    endless = rewrite(mlp, tmp_path / "line.pt2", {"data/sample_inputs/model.pt": line})
    assert [f.code for f in audit_path(endless).findings] == ["pickle-unparsable"]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, InputError),
        (b"", InputError),
        (b"just some text\n", InputError),
        (b"PK\x03\x04truncated", ArchiveError),
    ],
    ids=["missing", "empty", "text", "truncated-zip"],
)
def test_unreadable_files_raise_the_projects_own_errors(
    tmp_path: Path, content: bytes | None, error: type[Exception]
) -> None:
    path = tmp_path / "f.pt2"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=str(path)):
        audit_path(path)


def test_a_zip_with_neither_a_program_nor_torch_data_is_an_error(tmp_path: Path) -> None:
    path = _zip(tmp_path / "z.zip", {"readme.txt": b"hi"})
    with pytest.raises(ArchiveError, match="no exported program"):
        audit_path(path)


def test_a_truncated_archive_is_an_error_not_a_crash(tmp_path: Path, mlp: Path) -> None:
    data = mlp.read_bytes()
    path = tmp_path / "cut.pt2"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError):
        audit_path(path)


# -- command line ----------------------------------------------------------------------------


@pytest.fixture
def evil(tmp_path: Path, mlp: Path) -> Path:
    return rewrite(
        mlp,
        tmp_path / "evil.pt2",
        {"data/sample_inputs/model.pt": torch_zip(payloads(tmp_path / "canary")["p2_posix_system"])},
    )


def test_cli_exit_0_for_a_clean_archive_with_a_summary_line(mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(mlp)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{mlp}: clean (1 pickle scanned)"]


def test_cli_exit_1_prints_one_line_per_finding_then_a_summary(evil: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(evil)]) == 1
    lines = capsys.readouterr().out.splitlines()
    member = f"{root_of(evil)}/data/sample_inputs/model.pt!archive/data.pkl"
    assert lines[0].startswith(f"{evil}:{member}: high unsafe-global: pickle imports and calls posix.system")
    assert lines[1] == f"{evil}: 1 finding (1 high); 1 pickle scanned"
    assert len(lines) == 2


def test_cli_exit_2_with_one_line_for_an_unreadable_file_after_the_other_results(
    tmp_path: Path, mlp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.pt2"
    assert main(["audit", str(mlp), str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"{mlp}: clean (1 pickle scanned)"]
    assert captured.err.splitlines() == [f"pt2canon: error: {missing}: no such file"]


def test_cli_json_document_shape(evil: Path, mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--json", str(evil), str(mlp)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"version", "clean", "reports", "errors"}
    assert doc["version"] == 1 and doc["clean"] is False and doc["errors"] == []
    bad, good = doc["reports"]
    assert set(bad) == {"path", "format", "clean", "counts", "pickles", "findings"}
    assert (bad["path"], bad["clean"], bad["counts"]) == (
        str(evil),
        False,
        {"high": 1, "medium": 0, "low": 0, "info": 0},
    )
    [finding] = bad["findings"]
    assert set(finding) == {"severity", "code", "member", "message", "detail"}
    assert finding["detail"]["global"] == "posix.system" and finding["detail"]["called"] is True
    assert (good["clean"], good["findings"]) == (True, [])


def test_cli_in_a_subprocess_exits_1_without_traceback_and_runs_nothing(evil: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pt2canon", "audit", str(evil)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "high unsafe-global" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "canary").exists()


def test_cli_limit_option_changes_the_bounds_and_rejects_unknown_names(
    mlp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--limit", "max_members=3", str(mlp)]) == 1
    assert "medium too-many-members: archive has" in capsys.readouterr().out
    assert main(["audit", "--limit", "max_member_bytes=1G", "--limit", "max_ratio=10", str(mlp)]) == 0
    capsys.readouterr()
    assert main(["audit", "--limit", "max_bytes=1", str(mlp)]) == 2
    assert capsys.readouterr().err.startswith("pt2canon: error: --limit 'max_bytes=1': expected NAME=VALUE")


# -- what torch's loader evaluates, and members that are not what the directory says (issue 13) --


def _dynamic(corpus: Corpus) -> bytes:
    return corpus["dynamic_batch"].path.read_bytes()


def _with_size_expression(data: bytes, expr: str) -> bytes:
    items = entries(data)
    (model,) = [e for e in items if e.name.endswith(b"models/model.json")]
    doc = json.loads(model.plain or b"")
    for meta in doc["graph_module"]["graph"]["tensor_values"].values():
        for size in meta["sizes"]:
            if "as_expr" in size:
                size["as_expr"]["expr_str"] = expr
                body = json.dumps(doc).encode()
                return raw_zip(with_entry(items, "models/model.json", data=body, plain=body))
    raise AssertionError("no symbolic size")


def test_audit_flags_an_expression_torchs_loader_would_run_with_its_json_path(corpus: Corpus, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    path = tmp_path / "evil.pt2"
    path.write_bytes(_with_size_expression(_dynamic(corpus), f"__import__('pathlib').Path({str(canary)!r}).touch()"))
    report = audit_path(path)
    (f,) = [f for f in report.findings if f.code == "code-in-expression"]
    assert f.severity == "high"
    assert f.member == "dynamic_batch/models/model.json"
    assert f.detail["path"].startswith("$.graph_module.graph.tensor_values.")
    assert f.detail["path"].endswith(".as_expr.expr_str")
    assert "sympy.sympify" in f.message
    assert not canary.exists()
    # The clean archive it came from has no such finding: torch writes srepr text the reader accepts.
    assert audit_path(corpus["dynamic_batch"].path).clean


def test_audit_flags_an_expression_over_the_readers_bounds_as_expensive(corpus: Corpus, tmp_path: Path) -> None:
    path = tmp_path / "wide.pt2"
    path.write_bytes(
        _with_size_expression(_dynamic(corpus), "Add(" + ", ".join(f"Symbol('s{i}')" for i in range(300)) + ")")
    )
    codes = {f.code: f for f in audit_path(path).findings}
    assert codes["expensive-expression"].severity == "medium"
    assert "distinct symbols" in codes["expensive-expression"].message


def test_audit_reads_every_member_and_reports_one_changed_after_its_crc_was_computed(
    corpus: Corpus, tmp_path: Path
) -> None:
    import zlib

    items = entries(corpus["mlp"].path.read_bytes())
    (w,) = [e for e in items if e.name.endswith(b"weights/weight_3")]
    plain = (w.plain or b"")[:-1] + bytes([(w.plain or b"\0")[-1] ^ 4])
    path = tmp_path / "flipped.pt2"
    path.write_bytes(
        raw_zip(with_entry(items, "weights/weight_3", data=plain, plain=plain, crc=zlib.crc32(w.plain or b"")))
    )
    (f,) = [f for f in audit_path(path).findings if f.code == "member-corrupt"]
    assert f.member == "mlp/data/weights/weight_3"
    assert "CRC-32" in f.message


def test_audit_reports_raw_names_overlaps_and_methods_torch_cannot_read(corpus: Corpus, tmp_path: Path) -> None:
    items = entries(corpus["mlp"].path.read_bytes())
    target = b"mlp/data/weights/weight_0"
    (w,) = [e for e in items if e.name == target]
    bomb = bz2.compress(bytes(64 << 20))  # never decompressed by audit
    evil = [
        *items,
        Entry(b"mlp/extra/a\x00b", b"x"),
        Entry(b"mlp/extra/\xff\xfe", b"x"),
        Entry(b"mlp/data/weights/weight_9", b"", w.plain, alias_of=target, csize=len(w.plain or b"")),
        Entry(b"mlp/extra/bomb", bomb, b"\0", method=zipfile.ZIP_BZIP2, size=1000),
    ]
    path = tmp_path / "evil.pt2"
    path.write_bytes(raw_zip(evil))
    found = {(f.code, f.member) for f in audit_path(path).findings}
    assert ("nul-in-name", "mlp/extra/a") in found  # zipfile's name, cut at the NUL; the raw one is in the message
    assert any(code == "name-not-utf8" for code, _ in found)
    assert any(code == "overlapping-members" for code, _ in found)
    assert ("unsupported-method", "mlp/extra/bomb") in found
