"""Hostile inputs of every class issue 13 lists, generated from real exports, and the rules that judge a run.

Each :class:`Case` builds one input (a file, a FIFO, a socket, a device
link) in a folder from the corpus's real archives (``mlp``, ``dynamic_batch``,
``cond``); big ones are made at run time, never stored. :func:`run_case`
runs :mod:`run_case` on it in a subprocess under an address-space cap and a
timeout, and :func:`judge` sorts every run into one outcome:

``clean``        a one-line ``pt2canon: error:`` and exit 2 (or, where the case
                 allows it, a success), within the time and memory bounds
``crash``        a Python exception that is not the project's, a traceback,
                 ``internal error``, a signal
``hang``         still running at the timeout
``memory``       ``MemoryError``, or a peak over the memory bound
``slow``         finished, but after more than :data:`SLOW_SECONDS`
``accepted``     exit 0 (or ``audit`` calling it clean) where it must be refused
``partial``      a failed command left a file in the output folder
``forged``       standard error is not one line, or output holds raw control characters
``code``         the input's canary file was created: code from it ran

``bench/attack.py`` counts the outcomes over all cases; ``test_hostile.py``
asserts that every run is ``clean``.
"""

from __future__ import annotations

import copy
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rawzip import Entry, compress, entries, raw_zip, with_entry

HERE = Path(__file__).resolve().parent
#: The corpus archives cases are made from.
BASE_NAMES = ("mlp", "dynamic_batch", "cond")
MODEL = "models/model.json"
WEIGHTS_CONFIG = "data/weights/model_weights_config.json"
SAMPLE = "data/sample_inputs/model.pt"

#: Past this a run is a hang (the subprocess is killed).
TIMEOUT_SECONDS = 60
#: A run that takes longer than this is ``slow`` (the issue's "within a few seconds").
SLOW_SECONDS = 10.0
#: Address-space cap of the child (``RLIMIT_AS``), as in the attack that found the bugs.
ADDRESS_SPACE = 4 << 30
#: Peak resident memory a run may reach.
MEMORY_BOUND = 1536 << 20

CLI_RUNS = ("show", "hash", "hash_full", "canon_pt2", "canon_json", "diff", "audit")
API_RUNS = ("api_load", "api_hash_full", "api_canonicalize", "api_diff", "api_audit")
ALL_RUNS = CLI_RUNS + API_RUNS
#: Runs that read weights and sample inputs (the others read only the JSON members).
READS_PAYLOADS = frozenset({"hash_full", "canon_pt2", "api_hash_full"})
#: Runs that read sample inputs (canon leaves them out by default).
READS_SAMPLE = frozenset({"hash_full", "api_hash_full"})
#: Runs that build the canonical form (and so read every symbolic expression with sympy).
CANONICALIZES = frozenset(ALL_RUNS) - {"show", "audit", "api_load", "api_audit"}
NON_AUDIT = frozenset(ALL_RUNS) - {"audit", "api_audit"}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


# -- cases -------------------------------------------------------------------------------------------


class Bases:
    """The real archives cases are made from: ``bases["mlp"]`` is the bytes of ``mlp.pt2``."""

    def __init__(self, paths: Mapping[str, Path]) -> None:
        self.paths = dict(paths)
        self._bytes: dict[str, bytes] = {}

    def __getitem__(self, name: str) -> bytes:
        if name not in self._bytes:
            self._bytes[name] = self.paths[name].read_bytes()
        return self._bytes[name]

    def program(self, name: str) -> dict[str, Any]:
        return json.loads(_member(self[name], MODEL))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Case:
    """One hostile (or legitimate) input and what every run must do with it.

    Attributes
    ----------
    klass, name : str
        The issue's class and the case within it.
    make : callable
        ``make(bases, folder) -> Path``: writes the input into ``folder``.
    refuse : frozenset of str
        Runs that must end in the project's error (exit 2, one line); every
        other run may also succeed. Legitimate inputs refuse nothing.
    audit : {"flag", "clean", "any"}
        ``flag``: ``audit`` must not call it clean (exit 1 or 2).
    error : str or None
        The :class:`~pt2canon.errors.Pt2CanonError` subclass the API raises (name), if fixed.
    must_succeed : frozenset of str
        Runs that must succeed (legitimate inputs).
    """

    klass: str
    name: str
    make: Callable[[Bases, Path], Path]
    refuse: frozenset[str] = NON_AUDIT
    audit: str = "any"
    error: str | None = None
    must_succeed: frozenset[str] = frozenset()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.klass}/{self.name}"


def _member(data: bytes, suffix: str) -> bytes:
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(suffix)]
        return zf.read(name)


def _file(build: Callable[[Bases], bytes], suffix: str = ".pt2") -> Callable[[Bases, Path], Path]:
    def make(bases: Bases, folder: Path) -> Path:
        path = folder / f"input{suffix}"
        path.write_bytes(build(bases))
        return path

    return make


def _replace(data: bytes, suffix: str, body: bytes) -> bytes:
    return raw_zip(with_entry(entries(data), suffix, data=body, plain=body))


def _program(base: str, change: Callable[[dict[str, Any]], Any]) -> Callable[[Bases], bytes]:
    def build(bases: Bases) -> bytes:
        doc = copy.deepcopy(bases.program(base))
        change(doc)
        return _replace(bases[base], MODEL, _dumps(doc))

    return build


def _dumps(doc: Any) -> bytes:
    """JSON of ``doc``, however deeply nested (the hostile ones are)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20_000))
    try:
        return json.dumps(doc).encode()
    finally:
        sys.setrecursionlimit(old)


def _graph(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["graph_module"]["graph"]  # type: ignore[no-any-return]


def _sym(i: int | str) -> str:
    return f"Symbol('s{i}', integer=True, positive=True)"


def _size_expr(expr: str | Callable[[Path], str]) -> Callable[[Bases, Path], Path]:
    """dynamic_batch with its first symbolic size replaced by ``expr``."""

    def make(bases: Bases, folder: Path) -> Path:
        text = expr(folder) if callable(expr) else expr

        def change(doc: dict[str, Any]) -> None:
            for meta in _graph(doc)["tensor_values"].values():
                for size in meta["sizes"]:
                    if "as_expr" in size:
                        size["as_expr"]["expr_str"] = text
                        return

        return _file(_program("dynamic_batch", change))(bases, folder)

    return make


def _expression_cases() -> Iterator[Case]:
    s0 = _sym(0)
    exprs = {
        "float_pow_float": "Pow(Float('2.5', precision=4096), Float('123456.789', precision=4096))",
        "float_pow_nested": "Pow(Float('1.5', precision=4096), Pow(Float('2.5', precision=4096), Float('3.5', precision=4096)))",
        "int_to_huge_float": "Pow(Integer(10), Float('1e300'))",
        "int_to_huge_float_4096": "Pow(Integer(3), Float('1e18', precision=4096))",
        "float_pow_many": "Add("
        + ", ".join(f"Pow(Float('1.{i}', precision=4096), Float('2.{i}', precision=4096))" for i in range(600))
        + ")",
        "eq_decided": f"Eq(Pow(Add({s0}, Integer(1)), Integer(1000)), Integer(5))",
        "ne_decided": f"Ne(Pow(Add({s0}, Integer(1)), Integer(500)), Integer(5))",
        "ge_decided": f"GreaterThan(Pow(Add({s0}, Integer(1)), Integer(500)), Integer(5))",
        "infix_eq_decided": "(s0 + 1)**1000 == 5",
        "eq_wide_sums": "Eq(Add("
        + ", ".join(f"Symbol('s{i}')" for i in range(3000))
        + "), Add("
        + ", ".join(f"Symbol('s{i}')" for i in range(1, 3001))
        + "))",
        "symbols_4000_add": "Add(" + ", ".join(f"Symbol('s{i}')" for i in range(4000)) + ")",
        "symbols_4000_mul": "Mul(" + ", ".join(f"Symbol('s{i}')" for i in range(4000)) + ")",
        "symbols_4000_lt": "StrictLessThan(Add(" + ", ".join(f"Symbol('s{i}')" for i in range(4000)) + "), Integer(0))",
        "and_1000_relations": "And("
        + ", ".join(f"StrictLessThan(Symbol('s{i}', integer=True), Integer({i}))" for i in range(1000))
        + ")",
        "xor_100_relations": "Xor(" + ", ".join(f"StrictLessThan({_sym(i)}, Integer({i}))" for i in range(100)) + ")",
        "integer_product_long": "Mul(" + ", ".join("Integer(99999999999)" for _ in range(1500)) + ")",
        "integer_product_infix": "*".join("99999999999" for _ in range(2000)),
        "powers_product": "Mul(" + ", ".join(f"Pow(Integer({i + 2}), Integer(1024))" for i in range(600)) + ")",
        "piecewise_many": "Piecewise("
        + ", ".join(f"ExprCondPair(Integer({i}), StrictLessThan({s0}, Integer({i})))" for i in range(300))
        + ", ExprCondPair(Integer(0), true))",
        "floor_of_huge_float": "floor(Pow(Float('10'), Float('1e100')))",
        "nested_add_900": "Add(" * 900 + s0 + ", Integer(1))" * 900,
        "nested_parens_5000": "(" * 5000 + "s0" + ")" * 5000,
        "max_of_400": "Max(" + ", ".join(_sym(i) for i in range(400)) + ")",
        "huge_integer_literal": "Integer(" + "9" * 4000 + ")",
        "symbol_to_huge_power_sum": "Add("
        + ", ".join(f"Pow(Add({_sym(i)}, Integer(1)), Integer(1000))" for i in range(300))
        + ")",
    }
    for name, text in exprs.items():
        # show prints expressions without sympy and may succeed; everything that canonicalizes must refuse
        # or succeed in bounded time (what matters is bounded work, not which).
        yield Case("expression", name, _size_expr(text), refuse=frozenset())


def _many_expressions(bases: Bases) -> bytes:
    # 2,000 distinct mid-sized expressions in one document: each is small, together they are not.
    def change(doc: dict[str, Any]) -> None:
        vals = _graph(doc)["tensor_values"]
        proto = next(iter(vals.values()))
        for i in range(2000):
            text = "Add(" + ", ".join(f"Mul(Integer({i + 1}), {_sym(j)})" for j in range(i % 7, i % 7 + 150)) + ")"
            vals[f"extra_{i}"] = {
                **proto,
                "sizes": [{"as_expr": {"expr_str": text, "hint": None}}],
                "strides": [{"as_int": 1}],
            }

    return _program("dynamic_batch", change)(bases)


# decompression ----------------------------------------------------------------------------------------

_BOMBS: dict[tuple[int, int], bytes] = {}


def _bomb(method: int, size: int) -> bytes:
    """``size`` zero bytes compressed with ``method`` (cached: the bzip2 one takes seconds)."""
    key = (method, size)
    if key not in _BOMBS:
        if method == zipfile.ZIP_BZIP2:
            import bz2

            c = bz2.BZ2Compressor(9)
            block = bytes(16 << 20)
            parts = [c.compress(block) for _ in range(size // len(block))]
            _BOMBS[key] = b"".join(parts) + c.flush()
        elif method == zipfile.ZIP_DEFLATED:
            import zlib

            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            block = bytes(16 << 20)
            _BOMBS[key] = b"".join(c.compress(block) for _ in range(size // len(block))) + c.flush()
        else:
            _BOMBS[key] = compress(bytes(size), method)
    return _BOMBS[key]


def _bombed(base: str, suffix: str, method: int, size: int, *, declared: int | None = None) -> Callable[[Bases], bytes]:
    def build(bases: Bases) -> bytes:
        items = entries(bases[base])
        (orig,) = [e for e in items if e.name.endswith(suffix.encode())]
        body = _bomb(method, size)
        return raw_zip(
            with_entry(
                items,
                suffix,
                data=body,
                plain=orig.plain,
                method=method,
                size=declared or len(orig.plain or b""),
                csize=len(body),
            )
        )

    return build


def _method(base: str, suffix: str, method: int) -> Callable[[Bases], bytes]:
    def build(bases: Bases) -> bytes:
        items = entries(bases[base])
        (orig,) = [e for e in items if e.name.endswith(suffix.encode())]
        return raw_zip(with_entry(items, suffix, method=method, data=compress(orig.plain or b"", zipfile.ZIP_DEFLATED)))

    return build


def _decompression_cases(big: int) -> Iterator[Case]:
    for mname, method in (("bzip2", zipfile.ZIP_BZIP2), ("lzma", zipfile.ZIP_LZMA), ("deflate", zipfile.ZIP_DEFLATED)):
        yield Case(
            "decompression", f"{mname}_bomb_in_model_json", _file(_bombed("mlp", MODEL, method, big)), audit="flag"
        )
        yield Case(
            "decompression",
            f"{mname}_bomb_in_weights_config",
            _file(_bombed("mlp", WEIGHTS_CONFIG, method, big)),
            audit="flag",
        )
        yield Case(
            "decompression",
            f"{mname}_bomb_in_weight",
            _file(_bombed("mlp", "data/weights/weight_0", method, big)),
            refuse=READS_PAYLOADS,
            audit="flag",
        )
        yield Case(
            "decompression",
            f"{mname}_bomb_in_sample_inputs",
            _file(_bombed("mlp", SAMPLE, method, big)),
            refuse=READS_SAMPLE,
            audit="flag",
        )
        yield Case(
            "decompression",
            f"{mname}_bomb_declared_honestly",
            _file(_bombed("mlp", MODEL, method, big, declared=big)),
            audit="flag",
        )
    for mname, method in (("deflate64", 9), ("implode", 6), ("ppmd", 98), ("aes", 99), ("unknown_77", 77)):
        yield Case("decompression", f"method_{mname}_model_json", _file(_method("mlp", MODEL, method)), audit="flag")
        yield Case(
            "decompression",
            f"method_{mname}_weight",
            _file(_method("mlp", "data/weights/weight_0", method)),
            refuse=READS_PAYLOADS,
            audit="flag",
        )


# nesting -------------------------------------------------------------------------------------------------


def _deep(depth: int) -> Any:
    out: Any = 1
    for i in range(depth):
        out = [out] if i % 2 else {"k": out}
    return out


def _nest_at(where: str, depth: int) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        g = _graph(doc)
        gm = doc["graph_module"]
        if where == "node_metadata":
            g["nodes"][0]["metadata"]["custom"] = _deep(depth)
        elif where == "custom_obj_values":
            g["custom_obj_values"] = {"obj": _deep(depth)}
        elif where == "opset_version":
            doc["opset_version"]["aten"] = _deep(depth)
        elif where == "range_constraints":
            doc["range_constraints"]["s0"] = {"min_val": 2, "max_val": 8, "extra": _deep(depth)}
        elif where == "tree_spec":
            gm["module_call_graph"][0]["signature"]["in_spec"] = _deep(depth)
        elif where == "unknown_key":
            doc["future_field"] = _deep(depth)
        elif where == "graph_module_metadata":
            gm["metadata"] = {"m": _deep(depth)}
        elif where == "string_to_argument":
            arg: Any = {"as_int": 1}
            for _ in range(depth // 2):
                arg = {"as_string_to_argument": {"k": arg}}
            g["nodes"][0]["inputs"].append({"name": "extra", "arg": arg, "kind": 2})
        elif where == "int_lists":
            g["nodes"][0]["inputs"].append({"name": "extra", "arg": {"as_int_lists": [_deep(depth)]}, "kind": 2})
        elif where == "device":
            next(iter(g["tensor_values"].values()))["device"] = {"type": "cpu", "index": _deep(depth)}
        elif where == "as_device_argument":
            g["nodes"][0]["inputs"].append({"name": "extra", "arg": {"as_device": _deep(depth)}, "kind": 2})
        else:
            raise KeyError(where)

    return change


def _nested_subgraphs(levels: int) -> Callable[[Bases], bytes]:
    """cond's program with its true branch replaced by ``levels`` more levels of the whole program."""

    def build(bases: Bases) -> bytes:
        doc = copy.deepcopy(bases.program("cond"))
        top = _graph(doc)

        def branch(g: dict[str, Any]) -> dict[str, Any]:
            (node,) = [n for n in g["nodes"] if n["target"].endswith("cond")]
            return next(i for i in node["inputs"] if "as_graph" in i["arg"])["arg"]["as_graph"]  # type: ignore[no-any-return]

        template = copy.deepcopy(top)
        inputs = copy.deepcopy(branch(top)["graph"]["inputs"])
        inner = branch(top)["graph"]
        for _ in range(levels):
            level = copy.deepcopy(template)
            level["inputs"] = copy.deepcopy(inputs)
            branch(level)["graph"] = inner
            inner = level
        branch(top)["graph"] = inner
        return _replace(bases["cond"], MODEL, _dumps(doc))

    return build


def _deep_json_text(depth: int) -> Callable[[Bases], bytes]:
    def build(bases: Bases) -> bytes:
        doc = json.dumps(bases.program("mlp"))
        text = doc[:-1] + ', "deep": ' + "[" * depth + "1" + "]" * depth + "}"
        return _replace(bases["mlp"], MODEL, text.encode())

    return build


def _nesting_cases() -> Iterator[Case]:
    places = (
        "node_metadata", "custom_obj_values", "opset_version", "range_constraints", "tree_spec", "unknown_key",
        "graph_module_metadata", "string_to_argument", "int_lists", "device", "as_device_argument",
    )  # fmt: skip
    for where in places:
        for depth in (600, 990):
            yield Case(
                "nesting", f"{where}_{depth}", _file(_program("mlp", _nest_at(where, depth))), error="SchemaError"
            )
    for depth in (1100, 100_000):
        yield Case("nesting", f"json_text_{depth}", _file(_deep_json_text(depth)), error="SchemaError")
    yield Case("nesting", "subgraphs_150_levels", _file(_nested_subgraphs(150)), error="SchemaError")


# non-regular files -----------------------------------------------------------------------------------


def _fifo(bases: Bases, folder: Path) -> Path:
    path = folder / "input.pt2"
    os.mkfifo(path)
    return path


def _socket(bases: Bases, folder: Path) -> Path:
    path = folder / "input.pt2"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # the socket file stays
    return path


def _link_to(target: str) -> Callable[[Bases, Path], Path]:
    def make(bases: Bases, folder: Path) -> Path:
        path = folder / "input.pt2"
        path.symlink_to(target)
        return path

    return make


def _link_to_fifo(bases: Bases, folder: Path) -> Path:
    fifo = _fifo(bases, folder).rename(folder / "pipe")
    path = folder / "input.pt2"
    path.symlink_to(fifo)
    return path


def _non_regular_cases() -> Iterator[Case]:
    yield Case("non_regular", "fifo", _fifo, audit="flag", error="InputError")
    yield Case("non_regular", "socket", _socket, audit="flag", error="InputError")
    yield Case("non_regular", "dev_zero", _link_to("/dev/zero"), audit="flag", error="InputError")
    yield Case("non_regular", "dev_urandom", _link_to("/dev/urandom"), audit="flag", error="InputError")
    yield Case("non_regular", "dev_null", _link_to("/dev/null"), audit="flag", error="InputError")
    yield Case("non_regular", "symlink_to_fifo", _link_to_fifo, audit="flag", error="InputError")


# corruption ----------------------------------------------------------------------------------------------


def _flip(
    base: str,
    suffix: str,
    *,
    method: int = zipfile.ZIP_STORED,
    text: tuple[bytes, bytes] | None = None,
    at: float = 0.5,
) -> Callable[[Bases], bytes]:
    """The archive with one byte of a member changed after its CRC was computed."""

    def build(bases: Bases) -> bytes:
        items = entries(bases[base])
        (orig,) = [e for e in items if e.name.endswith(suffix.encode())]
        plain = orig.plain or b""
        if text is not None:
            changed = plain.replace(text[0], text[1], 1)
            assert changed != plain
        else:
            i = int(len(plain) * at)
            changed = plain[:i] + bytes([plain[i] ^ 0x10]) + plain[i + 1 :]
        import zlib

        return raw_zip(
            with_entry(
                items, suffix, data=compress(changed, method), plain=changed, method=method, crc=zlib.crc32(plain)
            )
        )

    return build


def _fields(base: str, suffix: str, **changes: Any) -> Callable[[Bases], bytes]:
    def build(bases: Bases) -> bytes:
        return raw_zip(with_entry(entries(bases[base]), suffix, **changes))

    return build


def _corruption_cases() -> Iterator[Case]:
    relu = (b"aten.relu.default", b"aten.tanh.default")
    yield Case(
        "corruption",
        "op_changed_in_stored_model_json",
        _file(_flip("mlp", MODEL, text=relu)),
        audit="flag",
        error="ArchiveError",
    )
    yield Case(
        "corruption",
        "op_changed_in_deflated_model_json",
        _file(_flip("mlp", MODEL, method=zipfile.ZIP_DEFLATED, text=relu)),
        audit="flag",
        error="ArchiveError",
    )
    yield Case(
        "corruption",
        "bit_flip_in_stored_weight",
        _file(_flip("mlp", "data/weights/weight_0")),
        refuse=READS_PAYLOADS,
        audit="flag",
    )
    yield Case(
        "corruption",
        "bit_flip_in_deflated_weight",
        _file(_flip("mlp", "data/weights/weight_0", method=zipfile.ZIP_DEFLATED)),
        refuse=READS_PAYLOADS,
        audit="flag",
    )
    yield Case(
        "corruption",
        "bit_flip_in_sample_inputs",
        _file(_flip("mlp", SAMPLE, at=0.9)),
        refuse=READS_SAMPLE,
        audit="flag",
    )
    yield Case(
        "corruption",
        "bit_flip_in_weights_config",
        _file(_flip("mlp", WEIGHTS_CONFIG, text=(b"weight_1", b"weight_2"))),
        audit="flag",
        error="ArchiveError",
    )
    yield Case("corruption", "crc_field_changed_model_json", _file(_fields("mlp", MODEL, crc=0x12345678)), audit="flag")
    yield Case(
        "corruption", "local_size_differs_from_directory", _file(_fields("mlp", MODEL, local_size=100)), audit="flag"
    )
    yield Case(
        "corruption",
        "local_name_differs_from_directory",
        _file(_fields("mlp", MODEL, local_name=b"mlp/models/other.json")),
        audit="flag",
    )
    yield Case(
        "corruption",
        "stored_size_differs_from_compressed_size",
        _file(_fields("mlp", "data/weights/weight_0", csize=100)),
        refuse=READS_PAYLOADS,
        audit="flag",
    )
    yield Case(
        "corruption",
        "directory_size_past_the_data",
        _file(_fields("mlp", MODEL, size=50_000, csize=50_000)),
        audit="flag",
    )


# huge graphs ------------------------------------------------------------------------------------------------


def _huge(kind: str, n: int) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        g = _graph(doc)
        node = g["nodes"][1]  # relu
        if kind == "inputs":
            node["inputs"] += [{"name": f"a{i}", "arg": {"as_int": i}, "kind": 2} for i in range(n)]
        elif kind == "tensor_inputs":
            node["inputs"].append({"name": "many", "arg": {"as_tensors": [{"name": "linear"}] * n}, "kind": 1})
        elif kind == "outputs":
            meta = g["tensor_values"]["relu"]
            names = [f"o{i}" for i in range(n)]
            node["outputs"] = [{"as_tensors": [{"name": "relu"}] + [{"name": x} for x in names]}]
            for x in names:
                g["tensor_values"][x] = meta
        elif kind == "ints":
            node["inputs"].append({"name": "many", "arg": {"as_ints": list(range(n))}, "kind": 2})
        elif kind == "dims":
            meta = g["tensor_values"]["relu"]
            meta["sizes"] = [{"as_int": 2}] * n
            meta["strides"] = [{"as_int": 1}] * n
        elif kind == "nodes":
            relu = node
            out = g["outputs"][0]
            nodes = g["nodes"][:2]
            prev = "relu"
            meta = g["tensor_values"]["relu"]
            for i in range(n):
                name = f"r{i}"
                nodes.append(
                    {
                        **relu,
                        "name": name,
                        "inputs": [{"name": "self", "arg": {"as_tensor": {"name": prev}}, "kind": 1}],
                        "outputs": [{"as_tensor": {"name": name}}],
                    }
                )
                g["tensor_values"][name] = meta
                prev = name
            last = g["nodes"][2]
            last = {**last, "inputs": [dict(last["inputs"][0], arg={"as_tensor": {"name": prev}}), *last["inputs"][1:]]}
            g["nodes"] = [*nodes, last]
            del out
        else:
            raise KeyError(kind)

    return change


def _huge_graph_cases(scale: float) -> Iterator[Case]:
    m = int(1_000_000 * scale)
    for kind, n in (
        ("inputs", m),
        ("tensor_inputs", m),
        ("outputs", m // 4),
        ("ints", m),
        ("dims", m // 3),
        ("nodes", m // 4),
    ):
        yield Case("huge_graph", f"{kind}_{n}", _file(_program("mlp", _huge(kind, n))), refuse=frozenset())


# read amplification --------------------------------------------------------------------------------


def _aliases(n: int, weight_bytes: int) -> Callable[[Bases], bytes]:
    """weight_0 made big, then ``n`` more directory entries for its data, each declaring compressed size 0, all in the config."""

    def build(bases: Bases) -> bytes:
        items = entries(bases["mlp"])
        big = bytes(weight_bytes)
        items = with_entry(items, "data/weights/weight_0", data=big, plain=big)
        config = json.loads(_member(bases["mlp"], WEIGHTS_CONFIG))
        meta = config["config"]["fc1.weight"]
        root = items[0].name.split(b"/")[0]
        target = root + b"/data/weights/weight_0"
        for i in range(n):
            config["config"][f"alias{i}.weight"] = {**meta, "path_name": f"weight_{100 + i}"}
        body = json.dumps(config).encode()
        items = with_entry(items, WEIGHTS_CONFIG, data=body, plain=body)
        items += [
            Entry(root + f"/data/weights/weight_{100 + i}".encode(), b"", big, alias_of=target, csize=0)
            for i in range(n)
        ]
        return raw_zip(items)

    return build


def _audit_reads_config(size: int) -> Callable[[Bases], bytes]:
    def build(bases: Bases) -> bytes:
        items = entries(bases["mlp"])
        (orig,) = [e for e in items if e.name.endswith(WEIGHTS_CONFIG.encode())]
        body = _bomb(zipfile.ZIP_DEFLATED, size)
        return raw_zip(
            with_entry(items, WEIGHTS_CONFIG, data=body, plain=orig.plain, method=zipfile.ZIP_DEFLATED, csize=len(body))
        )

    return build


def _amplification_cases(scale: float) -> Iterator[Case]:
    yield Case(
        "amplification", "overlapping_zero_size_aliases", _file(_aliases(300, int((20 << 20) * scale))), audit="flag"
    )
    yield Case(
        "amplification",
        "one_zero_compressed_size_member",
        _file(_fields("mlp", "data/weights/weight_0", csize=0)),
        refuse=READS_PAYLOADS,
        audit="flag",
    )
    yield Case(
        "amplification",
        "config_expanding_past_declared_size",
        _file(_audit_reads_config(int((512 << 20) * scale) // (16 << 20) * (16 << 20) or (16 << 20))),
        audit="flag",
    )


# messages that forge lines ---------------------------------------------------------------------------------

FORGE = "x\npt2canon: error: forged\x1b[2J\r"


def _forge_member(bases: Bases) -> bytes:
    items = entries(bases["mlp"])
    root = items[0].name.split(b"/")[0]
    return raw_zip([*items, Entry(root + b"/../" + FORGE.encode(), b"x")])


def _forge_model_name(bases: Bases) -> bytes:
    items = entries(bases["mlp"])
    root = items[0].name.split(b"/")[0]
    return raw_zip([*items, Entry(root + b"/models/" + FORGE.encode() + b".json", b"{}")])


def _forge_in(where: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        g = _graph(doc)
        if where == "dangling_value_name":
            g["nodes"][1]["inputs"][0]["arg"]["as_tensor"]["name"] = FORGE
        elif where == "node_name_and_target":
            g["nodes"][1]["name"] = FORGE
            g["nodes"][1]["target"] = "torch.ops.aten." + FORGE
            g["nodes"][1]["inputs"][0]["arg"]["as_tensor"]["name"] = "nowhere"
        elif where == "target_in_listing":
            g["nodes"][1]["target"] = "torch.ops.aten." + FORGE
        elif where == "string_argument":
            g["nodes"][1]["inputs"].append({"name": FORGE, "arg": {"as_string": FORGE}, "kind": 2})
        elif where == "torch_version":
            doc["torch_version"] = FORGE
        elif where == "fqn":
            doc["graph_module"]["signature"]["input_specs"][0]["parameter"]["parameter_name"] = FORGE
        elif where == "unknown_tag":
            g["nodes"][1]["inputs"][0]["arg"] = {FORGE: {}}
        elif where == "range_symbol":
            doc["range_constraints"][FORGE] = {"min_val": [0], "max_val": 8}
        else:
            raise KeyError(where)

    return change


def _forged_cases() -> Iterator[Case]:
    yield Case("forged_lines", "member_name", _file(_forge_member), audit="flag", error="UnsafeArchiveError")
    yield Case("forged_lines", "model_name", _file(_forge_model_name))
    for where in ("unknown_tag", "range_symbol"):
        yield Case("forged_lines", where, _file(_program("mlp", _forge_in(where))))
    for where in ("dangling_value_name", "node_name_and_target"):  # found when the graph is built
        yield Case("forged_lines", where, _file(_program("mlp", _forge_in(where))), refuse=CANONICALIZES)
    for where in ("target_in_listing", "string_argument", "torch_version", "fqn"):
        # valid programs: printed, hashed and diffed, but never with a raw control character
        yield Case("forged_lines", where, _file(_program("mlp", _forge_in(where))), refuse=frozenset())


# code in expressions (audit) ---------------------------------------------------------------------------------


def _touch(folder: Path) -> str:
    return f"__import__('pathlib').Path({str(folder / 'canary')!r}).touch()"


CODE_SPELLINGS = {
    "bare_call": "{}",
    "max_argument": "Max({!r}, Integer(1))",
    "not_argument": "Not({!r})",
    "torch_function_argument": "FloorDiv({!r}, Integer(2))",
    "in_a_sum": "Add(Symbol('s77', positive=True, integer=True), {!r})",
    "integer_argument": "Integer({!r})",
    "attribute": "Symbol('s0').__class__.__init__.__globals__",
    "builtin_open": "open('/etc/hostname').read()",
    "lambda": "(lambda: {})()",
}


def _audit_expression_cases() -> Iterator[Case]:
    for name, spelling in CODE_SPELLINGS.items():
        # A string where a numeral belongs: pt2canon refuses it; torch's Integer(str) calls int() on it,
        # which fails without running it, so audit need not flag it.
        audit = "any" if name == "integer_argument" else "flag"
        code = (lambda s: lambda folder: s.format(_touch(folder)))(spelling) if "{" in spelling else spelling
        yield Case("audit_expression", name, _size_expr(code), refuse=CANONICALIZES, audit=audit, error="SchemaError")

    yield Case(
        "audit_expression",
        "sym_int_value",
        _file(_program("dynamic_batch", _sym_values)),
        refuse=CANONICALIZES,
        audit="flag",
        error="SchemaError",
    )


def _sym_values(doc: dict[str, Any]) -> None:
    _graph(doc)["sym_int_values"] = {"evil": {"as_expr": {"expr_str": "__import__('os').getcwd()", "hint": None}}}


# dangling signatures ------------------------------------------------------------------------------------------


def _sig(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def outer(doc: dict[str, Any]) -> None:
        change(doc["graph_module"]["signature"])

    return outer


def _dangling_cases() -> Iterator[Case]:
    def param_name(sig: dict[str, Any]) -> None:
        sig["input_specs"][0]["parameter"]["arg"]["name"] = "ghost"

    def user_input(sig: dict[str, Any]) -> None:
        sig["input_specs"][4]["user_input"]["arg"]["as_tensor"]["name"] = "ghost"

    def user_output(sig: dict[str, Any]) -> None:
        sig["output_specs"][0]["user_output"]["arg"]["as_tensor"]["name"] = "ghost"

    def swapped(sig: dict[str, Any]) -> None:
        a, b = sig["input_specs"][0]["parameter"]["arg"], sig["input_specs"][1]["parameter"]["arg"]
        a["name"], b["name"] = b["name"], a["name"]

    def output_is_an_input(sig: dict[str, Any]) -> None:
        sig["output_specs"][0]["user_output"]["arg"]["as_tensor"]["name"] = "x"

    def buffer_mutation(sig: dict[str, Any]) -> None:
        sig["output_specs"].append({"buffer_mutation": {"arg": {"name": "ghost"}, "buffer_name": "b"}})

    for f in (param_name, user_input, user_output, swapped, output_is_an_input):
        yield Case("dangling_signature", f.__name__, _file(_program("mlp", _sig(f))), error="GraphError")
    # One spec more than the graph has outputs: found when the graph is built (the count).
    yield Case(
        "dangling_signature", "buffer_mutation", _file(_program("mlp", _sig(buffer_mutation))), refuse=CANONICALIZES
    )


# member names: NUL, encoding, control characters ------------------------------------------------------------


def _renamed(suffix: str, name: Callable[[bytes], bytes], *, local: bool = True) -> Callable[[Bases], bytes]:
    def build(bases: Bases) -> bytes:
        items = entries(bases["mlp"])
        (orig,) = [e for e in items if e.name.endswith(suffix.encode())]
        new = name(orig.name)
        return raw_zip(with_entry(items, suffix, name=new, local_name=new if local else None))

    return build


def _added(name: bytes, body: bytes = b"x", **kw: Any) -> Callable[[Bases], bytes]:
    def build(bases: Bases) -> bytes:
        items = entries(bases["mlp"])
        return raw_zip([*items, Entry(name, body, **kw)])

    return build


def _duplicate_model(bases: Bases) -> bytes:
    items = entries(bases["mlp"])
    (orig,) = [e for e in items if e.name.endswith(MODEL.encode())]
    other = (orig.plain or b"").replace(b"aten.relu.default", b"aten.tanh.default")
    return raw_zip([*items, Entry(orig.name, other)])


def _names_cases() -> Iterator[Case]:
    yield Case(
        "nul_name",
        "model_json_with_nul_suffix",
        _file(_renamed(MODEL, lambda n: n + b"\x00.bak")),
        audit="flag",
        error="UnsafeArchiveError",
    )
    yield Case(
        "nul_name",
        "weight_with_nul",
        _file(_renamed("data/weights/weight_0", lambda n: n + b"\x00x")),
        audit="flag",
        error="UnsafeArchiveError",
    )
    yield Case(
        "nul_name",
        "nul_member_shadowing_model",
        _file(_added(b"mlp/models/model.json\x00", b"{}")),
        audit="flag",
        error="UnsafeArchiveError",
    )
    yield Case(
        "nul_name",
        "extra_member_with_nul",
        _file(_added(b"mlp/extra/a\x00b")),
        audit="flag",
        error="UnsafeArchiveError",
    )
    yield Case(
        "archive_format",
        "duplicate_member_other_contents",
        _file(_duplicate_model),
        audit="flag",
        error="UnsafeArchiveError",
    )
    yield Case(
        "archive_format",
        "encrypted_member",
        _file(_fields("mlp", MODEL, flags=0x1)),
        audit="flag",
        error="UnsafeArchiveError",
    )
    yield Case(
        "archive_format",
        "encrypted_weight",
        _file(_fields("mlp", "data/weights/weight_0", flags=0x1)),
        refuse=READS_PAYLOADS,
        audit="flag",
    )
    yield Case(
        "archive_format", "name_invalid_utf8_flagged", _file(_added(b"mlp/extra/\xff\xfe", flags=0x800)), audit="flag"
    )
    yield Case(
        "archive_format",
        "name_invalid_utf8",
        _file(_added(b"mlp/extra/\xff\xfe")),
        audit="flag",
        error="UnsafeArchiveError",
    )
    yield Case(
        "archive_format",
        "name_with_control_character",
        _file(_added(b"mlp/extra/a\x1bb")),
        audit="flag",
        error="UnsafeArchiveError",
    )
    yield Case(
        "archive_format",
        "name_with_newline",
        _file(_added(b"mlp/extra/a\nb")),
        audit="flag",
        error="UnsafeArchiveError",
    )
    yield Case(
        "archive_format",
        "symlink_member",
        _file(_added(b"mlp/extra/link", b"/etc/passwd", external_attr=0o120777 << 16)),
        refuse=frozenset(),  # pt2canon never extracts: a symlink member is bytes to it; audit reports it
        audit="flag",
    )


# torch.save files and legitimate archives (need torch to make) ------------------------------------------------


def _torch_file(kind: str) -> Callable[[Bases], bytes]:
    def build(bases: Bases) -> bytes:
        import io

        import torch

        buf = io.BytesIO()
        if kind == "zip":
            torch.save({"weight": torch.ones(3)}, buf)
        elif kind == "legacy":
            torch.save({"weight": torch.ones(3)}, buf, _use_new_zipfile_serialization=False)
        elif kind == "torchscript":
            torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), buf)
        return buf.getvalue()

    return build


def _torch_save_cases() -> Iterator[Case]:
    for kind in ("zip", "legacy", "torchscript"):
        yield Case(
            "torch_save",
            kind,
            _file(_torch_file(kind), ".pt"),
            refuse=frozenset(NON_AUDIT),
            error="InputError",
            extra={"says": "torch.save"},
        )


def _deflated_sample_inputs(bases: Bases) -> bytes:
    import io

    import torch

    class M(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + 1

    buf = io.BytesIO()
    torch.export.save(torch.export.export(M(), (torch.ones(512, 512),)), buf)
    items = entries(buf.getvalue())
    (orig,) = [e for e in items if e.name.endswith(SAMPLE.encode())]
    return raw_zip(
        with_entry(items, SAMPLE, data=compress(orig.plain or b"", zipfile.ZIP_DEFLATED), method=zipfile.ZIP_DEFLATED)
    )


def _sym_ite(bases: Bases) -> bytes:
    from serializer_programs import sym_ite  # torch's own serializer test program

    with tempfile.TemporaryDirectory() as folder:
        return sym_ite().save(Path(folder) / "sym_ite.pt2").read_bytes()


def _non_ascii_root(bases: Bases, folder: Path) -> Path:
    import torch

    path = folder / "modèle.pt2"

    class M(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.relu()

    torch.export.save(torch.export.export(M(), (torch.ones(3),)), path)
    return path


def _copy(name: str) -> Callable[[Bases], bytes]:
    return lambda bases: bases[name]


def _legit_cases() -> Iterator[Case]:
    every = frozenset(ALL_RUNS) - {"audit", "api_audit"}
    for name in ("mlp", "dynamic_batch", "cond"):
        yield Case("legit", name, _file(_copy(name)), refuse=frozenset(), must_succeed=every)
    yield Case(
        "legit",
        "sample_inputs_deflated_554_to_1",
        _file(_deflated_sample_inputs),
        refuse=frozenset(),
        must_succeed=every,
    )
    yield Case("legit", "piecewise_sym_ite", _file(_sym_ite), refuse=frozenset(), must_succeed=every)
    yield Case("legit", "non_ascii_root_folder", _non_ascii_root, refuse=frozenset(), must_succeed=every)
    yield Case("legit", "subgraphs_8_levels", _file(_nested_subgraphs(8)), refuse=frozenset(), must_succeed=every)
    for where in ("node_metadata", "unknown_key", "tree_spec"):
        yield Case(
            "legit",
            f"nesting_{where}_40",
            _file(_program("mlp", _nest_at(where, 40))),
            refuse=frozenset(),
            must_succeed=every,
        )


def cases(*, scale: float = 1.0) -> list[Case]:
    """Every case. ``scale`` shrinks the big ones (the tests use less than the bench)."""
    big = int((1 << 30) * scale) // (16 << 20) * (16 << 20) or (16 << 20)
    out = [
        *_expression_cases(),
        Case("expression", "many_distinct_expressions", _file(_many_expressions), refuse=frozenset()),
        *_decompression_cases(big),
        *_nesting_cases(),
        *_non_regular_cases(),
        *_corruption_cases(),
        *_huge_graph_cases(scale),
        *_amplification_cases(scale),
        *_forged_cases(),
        *_audit_expression_cases(),
        *_dangling_cases(),
        *_names_cases(),
        *_torch_save_cases(),
        *_legit_cases(),
    ]
    ids = [c.id for c in out]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return out


# running and judging -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one run of one case did."""

    case: str
    run: str
    outcome: str
    detail: str = ""
    seconds: float = 0.0
    peak_bytes: int = 0


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    os.setsid()  # its own process group: a timeout kills everything it started


def run_case(
    case: Case, bases: Bases, folder: Path, runs: tuple[str, ...] = ALL_RUNS, *, one_process: bool = True
) -> list[Outcome]:
    """Make ``case`` in ``folder`` and run ``runs`` on it; ``one_process=False`` gives each run its own child."""
    folder.mkdir(parents=True, exist_ok=True)
    work = folder / "input"
    work.mkdir()
    path = case.make(bases, work)
    good = bases.paths["mlp"]
    groups = [runs] if one_process else [(r,) for r in runs]
    outcomes: list[Outcome] = []
    for group in groups:
        outcomes += _run_group(case, path, good, folder, group)
    return outcomes


def _run_group(case: Case, path: Path, good: Path, folder: Path, runs: tuple[str, ...]) -> list[Outcome]:
    out = Path(tempfile.mkdtemp(dir=folder, prefix="out"))
    sandbox = Path(tempfile.mkdtemp(dir=folder, prefix="cwd"))
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix="tmp"))
    result = folder / f"result_{runs[0]}.json"
    spec = {"input": str(path), "good": str(good), "out": str(out), "runs": list(runs), "result": str(result)}
    spec_path = folder / f"spec_{runs[0]}.json"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": os.pathsep.join(sys.path)}
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "run_case.py"), str(spec_path)],
        cwd=sandbox,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_limit_memory,
    )
    hung = False
    try:
        _, child_err = proc.communicate(timeout=TIMEOUT_SECONDS * len(runs))
    except subprocess.TimeoutExpired:
        hung = True
        os.killpg(proc.pid, signal.SIGKILL)
        _, child_err = proc.communicate()
    elapsed = time.monotonic() - start
    done: dict[str, Any] = json.loads(result.read_text()) if result.exists() else {}
    outcomes = []
    for name in runs:
        r = done.get(name)
        if r is None:
            if hung:
                outcomes.append(Outcome(case.id, name, "hang", f"killed after {elapsed:.0f} s", elapsed))
            else:
                text = child_err.decode(errors="replace")
                kind = (
                    "memory"
                    if proc.returncode in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT) or "MemoryError" in text
                    else "crash"
                )
                outcomes.append(
                    Outcome(case.id, name, kind, f"child died (status {proc.returncode}): {text[-300:]}", elapsed)
                )
            break  # later runs of the group never started
        outcomes.append(judge(case, name, r, canary=(path.parent / "canary").exists()))
    if (path.parent / "canary").exists():
        outcomes.append(Outcome(case.id, runs[0], "code", "the canary file was created"))
    leftovers = sorted(os.listdir(sandbox)) + sorted(os.listdir(tmp))
    if leftovers:
        outcomes.append(
            Outcome(case.id, runs[0], "partial", f"files left in the working or temporary folder: {leftovers[:5]}")
        )
    return outcomes


def judge(case: Case, run: str, r: Mapping[str, Any], *, canary: bool = False) -> Outcome:
    """The outcome of one finished run (see the module docstring)."""
    sec, peak = float(r.get("seconds", 0.0)), int(r.get("peak_bytes", 0))

    def out(kind: str, detail: str = "") -> Outcome:
        return Outcome(case.id, run, kind, detail, sec, peak)

    if canary:
        return out("code", "the canary file was created")
    text = " ".join(str(r.get(k, "")) for k in ("stderr", "message", "error"))
    if "MemoryError" in text or peak > MEMORY_BOUND:
        return out("memory", f"peak {peak >> 20} MiB; {text[:200]}")
    if run.startswith("api_"):
        if r["error"] is not None and not r["project_error"]:
            return out("crash", f"{r['error']}: {r['message'][:300]}")
        failed = r["error"] is not None
        if run == "api_audit":
            failed = failed or not r["clean"]
            if case.audit == "flag" and not failed:
                return out("accepted", "audit_path calls it clean")
        elif run in case.refuse and not failed:
            return out("accepted", "no error raised")
        elif run in case.must_succeed and failed:
            return out("refused", f"{r['error']}: {r['message'][:300]}")
        if failed and case.error and run != "api_audit" and r["error"] != case.error and run in case.refuse:
            return out("wrong_error", f"{r['error']} (expected {case.error}): {r['message'][:200]}")
        if r.get("message") and _CONTROL.search(r["message"]):
            return out("forged", f"message holds a control character: {r['message'][:200]!r}")
    else:
        status, stdout, stderr = r["status"], r["stdout"], r["stderr"]
        if "Traceback (most recent call last)" in stderr or "internal error" in stderr:
            return out("crash", stderr[-400:])
        if status not in (0, 1, 2):
            return out("crash", f"exit status {status}: {stderr[-300:]}")
        if status == 2:
            lines = stderr.splitlines()
            if len(lines) != 1 or not lines[0].startswith("pt2canon: error: ") or _CONTROL.search(stderr.rstrip("\n")):
                return out("forged", f"stderr is not one clean error line: {stderr[:300]!r}")
            if r["out_files"]:
                return out("partial", f"a failed command left {r['out_files']}")
            if run in case.must_succeed:
                return out("refused", lines[0][:300])
        else:
            if _CONTROL.search(stdout.replace("\n", "")) or _CONTROL.search(stderr.replace("\n", "")):
                return out("forged", f"output holds a raw control character: {(stdout + stderr)[:200]!r}")
            if run == "audit":
                if case.audit == "flag" and status == 0:
                    return out("accepted", "audit calls it clean")
            elif run in case.refuse:
                return out("accepted", f"exit {status}")
    if sec > SLOW_SECONDS:
        return out("slow", f"{sec:.1f} s")
    return out("clean")


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    """Counts per outcome, overall and per class, and the non-clean runs."""
    kinds = (
        "clean",
        "crash",
        "hang",
        "memory",
        "slow",
        "accepted",
        "refused",
        "wrong_error",
        "partial",
        "forged",
        "code",
    )
    total = dict.fromkeys(kinds, 0)
    per_class: dict[str, dict[str, int]] = {}
    for o in outcomes:
        total[o.outcome] = total.get(o.outcome, 0) + 1
        k = per_class.setdefault(o.case.split("/")[0], dict.fromkeys(kinds, 0))
        k[o.outcome] = k.get(o.outcome, 0) + 1
    bad = [o.__dict__ for o in outcomes if o.outcome != "clean"]
    return {
        "total": total,
        "per_class": per_class,
        "cases": len({o.case for o in outcomes}),
        "runs": len(outcomes),
        "not_clean": bad,
    }
