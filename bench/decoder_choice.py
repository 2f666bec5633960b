"""orjson and the shape checks, or msgspec's typed decoding: the measurements behind the choice.

Run ``python bench/decoder_choice.py`` with msgspec importable (``pip install
msgspec``; it is not a dependency of pt2canon). ``--work DIR`` keeps the
48-layer transformer export between runs (``bench/floor.py`` uses the same
one). It prints, as Markdown, CPU medians (``time.process_time``, the cyclic
collector paused, the ways interleaved round by round) of reading the
export's ``model.json`` into what pt2canon's later stages read, plain dicts
and lists that passed the shape checks:

* ``orjson.loads`` alone, and ``orjson.loads`` + ``check_program`` (what
  pt2canon does);
* msgspec untyped (``msgspec.json.Decoder()``);
* msgspec typed into ``TypedDict`` s of the graph's schema (dicts, so the
  later stages could read them);
* msgspec typed into ``Struct`` s that refuse unknown keys, and the same
  followed by ``msgspec.to_builtins`` (dicts again);
* the checks of the nodes and tensor metadata alone (``plain_node`` /
  ``plain_tensor_meta``) against ``msgspec.convert`` of the parsed parts to
  those ``Struct`` s (validating what orjson parsed, in C).

Then what each typed way does to a document the checks accept: an unknown
key in a node (forward compatibility: the checks keep it and warn) and an
integer where the schema says float (``as_float: 0``, which orjson keeps as
the integer ``0``, and so pt2canon hashes it).

The schema here is partial and for measuring: every field the hot parts
(nodes, arguments, tensor metadata) have in schema 8.x, the rest ``Any``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, TypedDict

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import msgspec  # noqa: E402
import orjson  # noqa: E402
from msgspec import UNSET, Struct, UnsetType  # noqa: E402

from pt2canon.serde.plain import plain_node, plain_tensor_meta  # noqa: E402
from pt2canon.serde.schema import check_program  # noqa: E402

# -- the schema as TypedDicts (decoded into dicts) -----------------------------------------


class _TensorArg(TypedDict):
    name: str


class _SymExpr(TypedDict, total=False):
    expr_str: str
    hint: Any


class _SymInt(TypedDict, total=False):
    as_int: int
    as_expr: _SymExpr


class _SymIntArg(TypedDict, total=False):
    as_int: int
    as_name: str


class _OptTensor(TypedDict, total=False):
    as_tensor: _TensorArg
    as_none: Any


class _Argument(TypedDict, total=False):
    as_none: Any
    as_tensor: _TensorArg
    as_tensors: list[_TensorArg]
    as_int: int
    as_ints: list[int]
    as_float: float
    as_floats: list[float]
    as_string: str
    as_strings: list[str]
    as_sym_int: _SymIntArg
    as_sym_ints: list[_SymIntArg]
    as_scalar_type: int
    as_memory_format: int
    as_layout: int
    as_bool: bool
    as_bools: list[bool]
    as_optional_tensor: _OptTensor
    as_optional_tensors: list[_OptTensor]
    as_device: Any
    as_graph: Any
    as_custom_obj: Any
    as_operator: str
    as_sym_bool: Any
    as_sym_bools: Any
    as_sym_float: Any
    as_sym_floats: Any
    as_complex: Any
    as_int_lists: Any
    as_string_to_argument: Any


class _NamedArg(TypedDict, total=False):
    name: str
    arg: _Argument
    kind: int | None


class _Node(TypedDict, total=False):
    target: str
    inputs: list[_NamedArg]
    outputs: list[_Argument]
    metadata: dict[str, str]
    is_hop_single_tensor_return: bool | None
    name: str


class _Device(TypedDict, total=False):
    type: str
    index: int | None


class _TensorMeta(TypedDict, total=False):
    dtype: int
    sizes: list[_SymInt]
    requires_grad: bool
    device: _Device
    strides: list[_SymInt]
    storage_offset: _SymInt
    layout: int


class _Graph(TypedDict, total=False):
    inputs: list[_Argument]
    outputs: list[_Argument]
    nodes: list[_Node]
    tensor_values: dict[str, _TensorMeta]
    sym_int_values: dict[str, _SymInt]
    sym_bool_values: Any
    sym_float_values: Any
    custom_obj_values: Any
    is_single_tensor_return: bool


class _GraphModule(TypedDict, total=False):
    graph: _Graph
    signature: Any
    module_call_graph: Any
    metadata: Any
    treespec_namedtuple_fields: Any


class _Program(TypedDict, total=False):
    graph_module: _GraphModule
    opset_version: Any
    range_constraints: Any
    schema_version: Any
    verifiers: Any
    torch_version: Any
    guards_code: Any


# -- the same as Structs that refuse unknown keys (absent fields stay absent: UNSET) -------

_U = UnsetType


class _S(Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class TensorArg(_S):
    name: str


class SymExpr(_S):
    expr_str: str
    hint: Any = UNSET


class SymInt(_S):
    as_int: int | _U = UNSET
    as_expr: SymExpr | _U = UNSET


class SymIntArg(_S):
    as_int: int | _U = UNSET
    as_name: str | _U = UNSET


class OptTensor(_S):
    as_tensor: TensorArg | _U = UNSET
    as_none: Any = UNSET


class Argument(_S):
    as_none: Any = UNSET
    as_tensor: TensorArg | _U = UNSET
    as_tensors: list[TensorArg] | _U = UNSET
    as_int: int | _U = UNSET
    as_ints: list[int] | _U = UNSET
    as_float: int | float | _U = UNSET
    as_floats: list[int | float] | _U = UNSET
    as_string: str | _U = UNSET
    as_strings: list[str] | _U = UNSET
    as_sym_int: SymIntArg | _U = UNSET
    as_sym_ints: list[SymIntArg] | _U = UNSET
    as_scalar_type: int | _U = UNSET
    as_memory_format: int | _U = UNSET
    as_layout: int | _U = UNSET
    as_bool: bool | _U = UNSET
    as_bools: list[bool] | _U = UNSET
    as_optional_tensor: OptTensor | _U = UNSET
    as_optional_tensors: list[OptTensor] | _U = UNSET


class NamedArg(_S):
    name: str
    arg: Argument
    kind: int | _U | None = UNSET


class Node(_S):
    target: str
    inputs: list[NamedArg]
    outputs: list[Argument]
    metadata: dict[str, str] | _U = UNSET
    is_hop_single_tensor_return: bool | _U | None = UNSET
    name: str | _U = UNSET


class Device(_S):
    type: str
    index: int | _U | None = UNSET


class TensorMeta(_S):
    dtype: int
    sizes: list[SymInt]
    requires_grad: bool
    device: Device
    strides: list[SymInt]
    storage_offset: SymInt
    layout: int


class Graph(_S):
    inputs: list[Argument]
    outputs: list[Argument]
    nodes: list[Node]
    tensor_values: dict[str, TensorMeta] | _U = UNSET
    sym_int_values: dict[str, SymInt] | _U = UNSET
    sym_bool_values: Any = UNSET
    sym_float_values: Any = UNSET
    custom_obj_values: Any = UNSET
    is_single_tensor_return: bool | _U = UNSET


class GraphModule(_S):
    graph: Graph
    signature: Any = UNSET
    module_call_graph: Any = UNSET
    metadata: Any = UNSET
    treespec_namedtuple_fields: Any = UNSET


class Program(_S):
    graph_module: GraphModule
    opset_version: Any = UNSET
    range_constraints: Any = UNSET
    schema_version: Any = UNSET
    verifiers: Any = UNSET
    torch_version: Any = UNSET
    guards_code: Any = UNSET


def _member(path: Path) -> bytes:
    with zipfile.ZipFile(path) as z:
        (name,) = [n for n in z.namelist() if n.endswith("/models/model.json")]
        return z.read(name)


def measure(data: bytes, rounds: int) -> dict[str, Any]:
    """CPU medians (ms) and ranges of each way, interleaved; and what each typed way keeps."""
    untyped, typed_dicts, structs = (
        msgspec.json.Decoder(),
        msgspec.json.Decoder(_Program),
        msgspec.json.Decoder(Program),
    )
    doc = orjson.loads(data)
    graph = doc["graph_module"]["graph"]
    nodes_type, metas_type = list[Node], dict[str, TensorMeta]

    def checks_alone() -> None:
        for n in graph["nodes"]:
            plain_node(n)
        for m in graph["tensor_values"].values():
            plain_tensor_meta(m)

    ways = {
        "orjson.loads": lambda: orjson.loads(data),
        "orjson.loads + check_program (pt2canon)": lambda: check_program(orjson.loads(data)),
        "msgspec, untyped": lambda: untyped.decode(data),
        "msgspec, typed into TypedDicts": lambda: typed_dicts.decode(data),
        "msgspec, typed into Structs": lambda: structs.decode(data),
        "msgspec, typed into Structs + to_builtins": lambda: msgspec.to_builtins(structs.decode(data)),
        "checks of nodes and tensor metadata (plain_*)": checks_alone,
        "msgspec.convert of the parsed nodes and tensor metadata": lambda: (
            msgspec.convert(graph["nodes"], nodes_type),
            msgspec.convert(graph["tensor_values"], metas_type),
        ),
    }
    times: dict[str, list[float]] = {k: [] for k in ways}
    was = gc.isenabled()
    gc.disable()
    try:
        for f in ways.values():  # warm up
            f()
        for _ in range(rounds):
            for k, f in ways.items():
                t = time.process_time()
                f()
                times[k].append(time.process_time() - t)
    finally:
        if was:
            gc.enable()
    return {
        "bytes": len(data),
        "nodes": len(graph["nodes"]),
        "tensors": len(graph["tensor_values"]),
        "times": {k: {"median": statistics.median(v), "min": min(v), "max": max(v)} for k, v in times.items()},
        "same_document": {
            "TypedDicts": typed_dicts.decode(data) == doc,
            "Structs + to_builtins": msgspec.to_builtins(structs.decode(data)) == doc,
        },
        "probes": probes(doc, typed_dicts, structs),
    }


def probes(doc: dict[str, Any], typed_dicts: msgspec.json.Decoder, structs: msgspec.json.Decoder) -> dict[str, str]:
    """What the typed ways do with an unknown node key and an integer ``as_float``."""
    out = {}
    unknown = copy.deepcopy(doc)
    unknown["graph_module"]["graph"]["nodes"][0]["future_field"] = 1
    data = orjson.dumps(unknown)
    kept = "future_field" in typed_dicts.decode(data)["graph_module"]["graph"]["nodes"][0]
    out["unknown node key, TypedDicts"] = "kept" if kept else "dropped silently"
    try:
        structs.decode(data)
        out["unknown node key, Structs"] = "accepted"
    except msgspec.ValidationError as exc:
        out["unknown node key, Structs"] = f"refused: {exc}"
    as_float = copy.deepcopy(doc)
    node = as_float["graph_module"]["graph"]["nodes"][0]
    node["inputs"].append({"name": "p", "arg": {"as_float": 0}, "kind": 1})
    decoded = typed_dicts.decode(orjson.dumps(as_float))["graph_module"]["graph"]["nodes"][0]["inputs"][-1]["arg"]
    out["as_float: 0, TypedDicts"] = f"decoded as {decoded['as_float']!r} (orjson: 0)"
    return out


BEGIN, END = "<!-- decoder:begin -->", "<!-- decoder:end -->"


def markdown(r: dict[str, Any]) -> str:
    base = r["times"]["orjson.loads + check_program (pt2canon)"]["median"]
    lines = [
        BEGIN,
        "### Decoding: orjson and the shape checks, or msgspec's typed decoding",
        "",
        "Command: `python bench/decoder_choice.py --markdown BENCHMARKS.md` (msgspec installed for the run only).",
        "",
        f"`model.json` of the 48-layer transformer export: {r['bytes']:,} bytes, {r['nodes']:,} nodes, "
        f"{r['tensors']:,} tensor metadata entries. CPU medians (range) over the rounds; msgspec {msgspec.__version__}.",
        "",
        "| way | CPU | against orjson + checks |",
        "|---|---:|---:|",
    ]
    for k, t in r["times"].items():
        ratio = f"{t['median'] / base:.2f}x" if "plain_" not in k and "convert" not in k else ""
        lines.append(f"| {k} | {t['median'] * 1e3:.1f} ms ({t['min'] * 1e3:.1f}-{t['max'] * 1e3:.1f}) | {ratio} |")
    lines += ["", "Same document as `orjson.loads`: " + ", ".join(f"{k} {v}" for k, v in r["same_document"].items())]
    lines += ["", *(f"* {k}: {v}" for k, v in r["probes"].items()), END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, help="folder for the export (default: temporary)")
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--markdown", type=Path, help="rewrite this section of the report (e.g. BENCHMARKS.md)")
    args = parser.parse_args(argv)
    import run
    from fx import splice

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        report = markdown(measure(_member(run.export_transformer(48, work)), args.rounds))
    print(report)
    if args.markdown:
        splice(args.markdown, report, BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
