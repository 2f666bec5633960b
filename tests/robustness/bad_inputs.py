"""Bad inputs for the robustness tests, built in the tests from the corpus's real archives.

Each kind of bad input is a :class:`BadInput`: how to build its bytes from
the corpus, the exact :class:`~pt2canon.errors.Pt2CanonError` subclass
pt2canon must raise, the fragments its message must hold (member, JSON path
or node, the problem), and the stage that finds it (``load``: reading the
archive; ``canon``: canonicalizing the graph, so ``load`` succeeds and
``hash``/``canonicalize`` fail).

Helpers rewrite zips at the byte level where :mod:`zipfile` cannot (declared
sizes that lie, two central-directory entries for one member's data).
"""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus import Corpus, member_bytes, rewrite_zip

from pt2canon.errors import (
    ArchiveError,
    GraphError,
    InputError,
    Pt2CanonError,
    SchemaError,
    UnsafeArchiveError,
    UnsupportedVersionError,
)

MODEL = "models/model.json"
WEIGHTS_CONFIG = "model_weights_config.json"
CONSTANTS_CONFIG = "model_constants_config.json"

# -- JSON documents ------------------------------------------------------------------------


def program(source: bytes | Path) -> dict[str, Any]:
    """The parsed ``models/model.json`` of an archive."""
    return json.loads(member_bytes(source, MODEL))  # type: ignore[no-any-return]


def with_program(source: bytes | Path, doc: Any) -> bytes:
    """The archive with ``models/model.json`` replaced by ``doc`` (as JSON)."""
    return rewrite_zip(source, replace={MODEL: json.dumps(doc).encode()})


def mutated(source: bytes | Path, change: Callable[[dict[str, Any]], Any]) -> bytes:
    """The archive with its program changed in place by ``change(doc)``."""
    doc = copy.deepcopy(program(source))
    change(doc)
    return with_program(source, doc)


def node_index(doc: dict[str, Any], name: str) -> int:
    """Index in ``graph.nodes`` of the node named ``name``."""
    nodes = doc["graph_module"]["graph"]["nodes"]
    return next(i for i, n in enumerate(nodes) if n.get("name") == name)


# -- zips at the byte level -----------------------------------------------------------------


def zip_of(members: dict[str, bytes], *, compression: int = zipfile.ZIP_STORED) -> bytes:
    """A zip holding ``members`` (names used verbatim)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as zf:
        for name, body in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), body, compress_type=compression)
    return out.getvalue()


def recompressed(source: bytes | Path, suffix: str) -> bytes:
    """The archive with the member ending in ``suffix`` deflated (torch stores members)."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            kind = zipfile.ZIP_DEFLATED if info.filename.endswith(suffix) else zipfile.ZIP_STORED
            dst.writestr(info.filename, src.read(info.filename), compress_type=kind)
    return out.getvalue()


def _central_records(data: bytes) -> tuple[int, int, int, list[tuple[int, str]]]:
    """``(eocd offset, central directory offset, its size, [(record offset, name)])``."""
    eocd = data.rindex(b"PK\x05\x06")
    _, _, _, count, cd_size, cd_offset = struct.unpack("<4H2L", data[eocd + 4 : eocd + 20])
    records = []
    pos = cd_offset
    for _ in range(count):
        assert data[pos : pos + 4] == b"PK\x01\x02"
        name_len, extra_len, comment_len = struct.unpack("<3H", data[pos + 28 : pos + 34])
        records.append((pos, data[pos + 46 : pos + 46 + name_len].decode()))
        pos += 46 + name_len + extra_len + comment_len
    return eocd, cd_offset, cd_size, records


def with_declared_size(data: bytes, suffix: str, size: int) -> bytes:
    """The zip with the uncompressed size of the member ending in ``suffix`` declared as ``size``.

    Both the central directory and the local header are patched, so the
    member's bytes decompress to more (or fewer) than the archive says.
    """
    b = bytearray(data)
    _, _, _, records = _central_records(data)
    (pos, _name) = next((p, n) for p, n in records if n.endswith(suffix))
    struct.pack_into("<L", b, pos + 24, size)
    (local,) = struct.unpack("<L", b[pos + 42 : pos + 46])
    struct.pack_into("<L", b, local + 22, size)
    return bytes(b)


def with_crc(data: bytes, suffix: str, content: bytes) -> bytes:
    """The zip with the checksum of the member ending in ``suffix`` set to that of ``content``."""
    b = bytearray(data)
    _, _, _, records = _central_records(data)
    (pos,) = [p for p, n in records if n.endswith(suffix)]
    crc = zlib.crc32(content)
    struct.pack_into("<L", b, pos + 16, crc)
    (local,) = struct.unpack("<L", b[pos + 42 : pos + 46])
    struct.pack_into("<L", b, local + 14, crc)
    return bytes(b)


def with_alias(data: bytes, suffix: str, alias: str) -> bytes:
    """The zip with a second central-directory entry, named ``alias``, for the data of ``suffix``.

    Both names then read the same bytes: the overlapping-member zip bomb
    (many names, one stretch of data, a small file that reads as a huge one).
    """
    eocd, cd_offset, cd_size, records = _central_records(data)
    (pos, _name) = next((p, n) for p, n in records if n.endswith(suffix))
    name_len, extra_len, comment_len = struct.unpack("<3H", data[pos + 28 : pos + 34])
    record = bytearray(data[pos : pos + 46 + name_len + extra_len + comment_len])
    new_name = alias.encode()
    record[28:30] = struct.pack("<H", len(new_name))
    record[46 : 46 + name_len] = new_name
    cd = data[cd_offset : cd_offset + cd_size] + bytes(record)
    tail = bytearray(data[eocd:])
    _, _, n_disk, n_total, _, _ = struct.unpack("<4H2L", tail[4:20])
    tail[4:20] = struct.pack("<4H2L", 0, 0, n_disk + 1, n_total + 1, len(cd), cd_offset)
    return data[:cd_offset] + cd + bytes(tail)


# -- pickles that write a file when unpickled ------------------------------------------------------


class _WritesFile:
    """Unpickles as ``open(path, "w")``: merely loading the pickle creates ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def evil_pickle(canary: Path, protocol: int = 2) -> bytes:
    """A pickle that creates ``canary`` when unpickled (``pickle.loads``, ``torch.load(weights_only=False)``)."""
    return pickle.dumps(_WritesFile(canary), protocol=protocol)


def with_evil_pickles(source: bytes | Path, canary: Path) -> bytes:
    """The archive with both pickle hazards: sample inputs and a ``use_pickle`` constant create ``canary``."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        (root,) = {n.split("/")[0] for n in zf.namelist()}
    config = json.loads(member_bytes(data, CONSTANTS_CONFIG))
    config["config"]["evil"] = {"path_name": "tensor_0", "is_param": False, "use_pickle": True, "tensor_meta": None}
    return rewrite_zip(
        data,
        replace={"data/sample_inputs/model.pt": evil_pickle(canary), CONSTANTS_CONFIG: json.dumps(config).encode()},
        add={f"{root}/data/constants/tensor_0": evil_pickle(canary, protocol=4)},
    )


# -- symbolic expressions ------------------------------------------------------------------------

#: Spellings of code inside a symbolic expression, ``{}`` standing for the Python
#: statement. Each reached ``sympy.sympify`` (which evaluates it) through a
#: different door: a bare call, a string argument of a function that sympifies
#: its arguments (Max, Min, Not, Tuple, Xor, torch's own functions), an operator.
CODE_EXPRESSIONS = {
    "bare_call": "{}",
    "max_argument": "Max({!r}, Integer(1))",
    "min_argument": "Min(Integer(1), {!r})",
    "not_argument": "Not({!r})",
    "not_operator": "not {!r}",
    "tuple_argument": "Tuple({!r})",
    "xor_argument": "Xor({!r}, true)",
    "torch_function_argument": "FloorDiv({!r}, Integer(2))",
    "unknown_function_argument": "Frobnicate({!r})",
    "in_a_sum": "Add(Symbol('s77', positive=True, integer=True), {!r})",
    "integer_argument": "Integer({!r})",
    "float_argument": "Float({!r}, precision=53)",
}


def touch_code(canary: Path) -> str:
    """A Python expression that creates ``canary`` when evaluated."""
    return f"__import__('pathlib').Path({str(canary)!r}).touch()"


def with_size_expression(source: bytes | Path, expr: str) -> bytes:
    """The archive with the first symbolic size of the program replaced by ``expr``."""

    def change(doc: dict[str, Any]) -> None:
        for meta in doc["graph_module"]["graph"]["tensor_values"].values():
            for size in meta["sizes"]:
                if "as_expr" in size:
                    size["as_expr"]["expr_str"] = expr
                    return
        raise AssertionError("the program has no symbolic size")

    return mutated(source, change)


# -- the kinds -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadInput:
    """One kind of bad input.

    Attributes
    ----------
    build : callable
        ``build(corpus) -> bytes`` (or ``None`` for "no file at this path").
    error : type
        The exact :class:`Pt2CanonError` subclass expected.
    fragments : tuple of str
        Text the message must hold, besides the file name.
    stage : {"load", "canon"}
        ``load`` fails (so does everything after it), or only canonicalizing does.
    audit : int
        Exit status of ``pt2canon audit`` on it: 2 unreadable, 1 findings, 0 clean
        (audit is a static scan of the container and its pickles: a broken graph
        is not its concern).
    """

    build: Callable[[Corpus], bytes | None]
    error: type[Pt2CanonError]
    fragments: tuple[str, ...]
    stage: str = "load"
    audit: int = 2
    extra: dict[str, Any] = field(default_factory=dict)


def _mlp(corpus: Corpus) -> Path:
    return corpus["mlp"].path


def _inflation_bomb(corpus: Corpus) -> bytes:
    # 4 MiB of zeros deflated to 4 KiB, declared as 2 GiB: over max_inflated_bytes (1 GiB).
    data = _mlp(corpus).read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        dst.writestr("mlp/data/weights/weight_9", b"\0" * (4 << 20), compress_type=zipfile.ZIP_DEFLATED)
    return with_declared_size(out.getvalue(), "data/weights/weight_9", 2 << 30)


def _expands(corpus: Corpus) -> bytes:
    # model.json deflated, then declared 1,000 bytes long: it decompresses to ~9 KB.
    return with_declared_size(recompressed(_mlp(corpus), MODEL), MODEL, 1000)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        keys = path.split(".")
        obj = doc
        for k in keys[:-1]:
            obj = obj[int(k)] if isinstance(obj, list) else obj[k]
        obj[keys[-1]] = value

    return change


def _rename_input(node: str, argname: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        n = doc["graph_module"]["graph"]["nodes"][node_index(doc, node)]
        (inp,) = [i for i in n["inputs"] if i["name"] == argname]
        inp["arg"]["as_tensor"]["name"] = value

    return change


def _rename_output(node: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        n = doc["graph_module"]["graph"]["nodes"][node_index(doc, node)]
        n["outputs"][0]["as_tensor"]["name"] = value

    return change


def _drop_input_spec(doc: dict[str, Any]) -> None:
    doc["graph_module"]["signature"]["input_specs"].pop(0)


#: Every kind of bad input, by name. mlp's graph: inputs p_fc1_weight, p_fc1_bias,
#: p_fc2_weight, p_fc2_bias, x; nodes linear (node 0), relu (1), linear_1 (2).
KINDS: dict[str, BadInput] = {
    "missing_file": BadInput(lambda c: None, InputError, ("no such file",)),
    "not_a_zip": BadInput(
        lambda c: b"this is a text file, not an archive\n", InputError, ("not a .pt2 archive",), audit=2
    ),
    "empty_file": BadInput(lambda c: b"", InputError, ("file is empty",)),
    "truncated_zip": BadInput(
        lambda c: _mlp(c).read_bytes()[: _mlp(c).stat().st_size // 2], ArchiveError, ("not a readable zip archive",)
    ),
    "zip_without_model": BadInput(
        lambda c: zip_of({"notes/readme.txt": b"hello"}), ArchiveError, ("holds no exported program",)
    ),
    "two_roots": BadInput(
        lambda c: rewrite_zip(_mlp(c), add={"other/models/model.json": member_bytes(_mlp(c), MODEL)}),
        ArchiveError,
        ("2 root folders", "'mlp/'", "'other/'"),
        audit=1,
    ),
    "malformed_json": BadInput(
        lambda c: rewrite_zip(_mlp(c), replace={MODEL: b'{"graph_module": {"graph": '}),
        SchemaError,
        ("mlp/models/model.json", "malformed JSON"),
        audit=0,
    ),
    "wrong_type": BadInput(
        lambda c: mutated(_mlp(c), _set("graph_module.graph.nodes", 3)),
        SchemaError,
        ("mlp/models/model.json", "graph_module.graph.nodes: expected an array, got an integer"),
        audit=0,
    ),
    "missing_key": BadInput(
        lambda c: mutated(_mlp(c), lambda d: d["graph_module"].pop("signature")),
        SchemaError,
        ("mlp/models/model.json", "graph_module: required key 'signature' is missing"),
        audit=0,
    ),
    "unknown_union_tag": BadInput(
        lambda c: mutated(_mlp(c), _set("graph_module.graph.nodes.1.inputs.0.arg", {"as_quantum_tensor": {}})),
        SchemaError,
        (
            "mlp/models/model.json",
            "graph_module.graph.nodes[1].inputs[0].arg",
            "unknown Argument tag 'as_quantum_tensor'",
        ),
        audit=0,
    ),
    "newer_schema_major": BadInput(
        lambda c: mutated(_mlp(c), _set("schema_version", {"major": 9, "minor": 0})),
        UnsupportedVersionError,
        ("mlp/models/model.json", "schema_version", "major=9", "upgrade pt2canon"),
        audit=0,
    ),
    "dangling_reference": BadInput(
        lambda c: mutated(_mlp(c), _rename_input("relu", "self", "nowhere")),
        GraphError,
        (
            "mlp/models/model.json",
            "graph_module.graph",
            "node 1 (relu)",
            "'nowhere'",
            "no graph input or earlier node defines",
        ),
        stage="canon",
        audit=0,
    ),
    "value_defined_twice": BadInput(
        lambda c: mutated(_mlp(c), _rename_output("relu", "linear")),
        GraphError,
        ("mlp/models/model.json", "graph_module.graph", "'linear' is defined twice", "node 1 (relu)"),
        stage="canon",
        audit=0,
    ),
    "cycle": BadInput(
        lambda c: mutated(_mlp(c), _rename_input("linear", "input", "relu")),
        GraphError,
        ("mlp/models/model.json", "graph_module.graph", "node 0 (linear)", "'relu'", "a later node defines"),
        stage="canon",
        audit=0,
    ),
    "undefined_graph_output": BadInput(
        lambda c: mutated(_mlp(c), _set("graph_module.graph.outputs", [{"as_tensor": {"name": "ghost"}}])),
        GraphError,
        (
            "mlp/models/model.json",
            "graph_module.signature.output_specs[0]",
            "'linear_1'",
            "graph output 0 is value 'ghost'",
        ),
        audit=0,
    ),
    "dangling_signature": BadInput(
        lambda c: mutated(_mlp(c), _set("graph_module.signature.input_specs.0.parameter.arg.name", "ghost")),
        GraphError,
        (
            "mlp/models/model.json",
            "graph_module.signature.input_specs[0]",
            "parameter spec names value 'ghost'",
            "graph input 0 is value 'p_fc1_weight'",
        ),
        audit=0,
    ),
    "signature_length_mismatch": BadInput(
        lambda c: mutated(_mlp(c), _drop_input_spec),
        GraphError,
        ("mlp/models/model.json", "graph_module.signature.input_specs", "4 input specs but the graph has 5 inputs"),
        stage="canon",
        audit=0,
    ),
    "dotdot_member": BadInput(
        lambda c: rewrite_zip(_mlp(c), add={"mlp/../../escape.txt": b"x"}),
        UnsafeArchiveError,
        ("mlp/../../escape.txt", "'..' component"),
        audit=1,
    ),
    "absolute_member": BadInput(
        lambda c: rewrite_zip(_mlp(c), add={"/etc/cron.d/evil": b"x"}),
        UnsafeArchiveError,
        ("/etc/cron.d/evil", "absolute path"),
        audit=1,
    ),
    "inflation_zip_bomb": BadInput(
        _inflation_bomb,
        UnsafeArchiveError,
        ("mlp/data/weights/weight_9", "max_inflated_bytes=1073741824", "zip bomb"),
        audit=1,
    ),
    "decompresses_past_declared_size": BadInput(
        # Inflating stops at the declared size: the member is refused, never cut short.
        _expands,
        UnsafeArchiveError,
        ("mlp/models/model.json", "inflates past its declared size of 1000 bytes"),
        audit=1,
    ),
    "overlapping_members": BadInput(
        lambda c: with_alias(_mlp(c).read_bytes(), "data/weights/weight_0", "mlp/data/weights/weight_7"),
        UnsafeArchiveError,
        ("member's data overlaps member", "weight_"),
        audit=1,
    ),
    "code_in_symbolic_expression": BadInput(
        lambda c: with_size_expression(c["dynamic_batch"].path, "__import__('os').getcwd()"),
        SchemaError,
        ("dynamic_batch/models/model.json", "cannot read symbolic expression", "__import__"),
        stage="canon",
        audit=1,  # code-in-expression: torch's own loader would run it
    ),
}


# -- a place that must stay empty -------------------------------------------------------------------


class Sandbox:
    """A working directory and a temporary folder that must stay empty."""

    def __init__(self, root: Path) -> None:
        self.cwd = root / "cwd"
        self.tmp = root / "tmp"
        self.cwd.mkdir(parents=True)
        self.tmp.mkdir(parents=True)

    def assert_untouched(self) -> None:
        assert sorted(os.listdir(self.cwd)) == [], "pt2canon wrote into the working directory"
        assert sorted(os.listdir(self.tmp)) == [], "pt2canon wrote into the temporary folder"
