"""The listing of a whole program: header, signature, graph, ranges, payloads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from pt2canon.errors import printable
from pt2canon.listing.expressions import expr_to_str
from pt2canon.listing.lines import format_argument, format_meta, format_node, format_tensor_meta, number_text
from pt2canon.listing.names import INDENT
from pt2canon.serde.spec import INPUT_RANK, OUTPUT_RANK, spec_view

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.serde.archive import Payload

__all__ = [
    "format_return",
    "format_size",
    "generate_graph_body",
    "generate_listing",
    "generate_subgraph_header",
    "write_listing",
]

# --------------------------------------------------------------------------
# Whole programs
# --------------------------------------------------------------------------


def format_size(n: int) -> str:
    """A byte count for people: ``N B`` below 1 KiB, else one decimal and a binary unit.

    Examples
    --------
    >>> format_size(48), format_size(1536), format_size(3 << 20)
    ('48 B', '1.5 KiB', '3.0 MiB')
    """
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1024 or unit == "TiB":
            break
    return f"{size:.1f} {unit}"


def spec_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Kind, argument, target FQN and flags of an input or output spec."""
    view = spec_view(spec)
    kind, body = view.tag, view.body
    arg = body.get("arg")
    if (kind in INPUT_RANK or kind in OUTPUT_RANK) and kind not in ("user_input", "user_output", "constant_input"):
        # These hold a TensorArgument/TokenArgument/CustomObjArgument, not an Argument union.
        tag = {"custom_obj": "as_custom_obj", "token": "as_token"}.get(kind, "as_tensor")
        arg = {tag: arg} if isinstance(arg, Mapping) and "name" in arg else arg
    target = view.fqn if view.fqn is not None else view.target
    out: dict[str, Any] = {"kind": kind, "arg": arg if isinstance(arg, Mapping) else None, "target": target}
    if kind == "buffer":
        out["persistent"] = bool(body.get("persistent", True))
    if kind == "constant_input":
        out["name"] = body.get("name")
        value = body.get("value")
        out["value"] = format_argument(value) if isinstance(value, Mapping) else "?"
    return out


def format_spec_line(fields: Mapping[str, Any], values: Mapping[str, Any]) -> str:
    kind = fields["kind"]
    if kind == "constant_input":
        return f"{fields['name']}: constant_input = {fields['value']}"
    arg = fields["arg"]
    text = f"{format_argument(arg) if arg is not None else '?'}: {kind}"
    if fields["target"] is not None:
        text += f" {fields['target']}"
    if fields.get("persistent") is False:
        text += " [non-persistent]"
    meta = format_meta(arg, values) if arg is not None else None
    if meta is not None and kind != "token":
        text += f"  {meta}"
    return text


def format_return(graph: Mapping[str, Any]) -> str:
    """The ``return ...`` line of a serialized graph (a tuple unless the graph returns one tensor)."""
    outs = [format_argument(o) for o in graph.get("outputs") or ()]
    if graph.get("is_single_tensor_return") and len(outs) == 1:
        return printable(f"return {outs[0]}")
    if len(outs) == 1:
        return printable(f"return ({outs[0]},)")
    return printable(f"return ({', '.join(outs)})")


def node_subgraphs(node: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for na in node.get("inputs") or ():
        arg = na.get("arg") if isinstance(na, Mapping) else None
        if isinstance(arg, Mapping) and "as_graph" in arg and isinstance(arg["as_graph"], Mapping):
            ga = arg["as_graph"]
            if isinstance(ga.get("graph"), Mapping):
                yield str(ga.get("name")), ga["graph"]


def generate_subgraph_header(name: str, graph: Mapping[str, Any], depth: int) -> Iterator[str]:
    """Yield the ``@name:`` line of a subgraph and one line per input, indented ``depth`` levels."""
    yield printable(f"{INDENT * depth}@{name}:")
    for arg in graph.get("inputs") or ():
        meta = format_meta(arg, graph)
        yield printable(
            f"{INDENT * (depth + 1)}{format_argument(arg)}: input" + (f"  {meta}" if meta is not None else "")
        )


def generate_graph_body(graph: Mapping[str, Any], depth: int) -> Iterator[str]:
    """Yield a graph's node lines, subgraphs nested under their node, and its return line."""
    pad = INDENT * depth
    for node in graph.get("nodes") or ():
        yield pad + format_node(node, graph)
        for name, sub in node_subgraphs(node):
            yield from generate_subgraph_header(name, sub, depth + 1)
            yield from generate_graph_body(sub, depth + 2)
    yield pad + format_return(graph)


def _range(v: Any, default: str) -> str:
    return default if v is None else number_text(v)


def payload_meta(p: Payload) -> str:
    if p.tensor_meta is not None:
        return format_tensor_meta(p.tensor_meta)
    return "pickle" if p.use_pickle else "?"


def _payload_lines(title: str, payloads: Mapping[str, Payload], largest: int | None, hint: str) -> Iterator[str]:
    total = sum(p.size for p in payloads.values())
    yield f"{title}: {len(payloads)} {'entry' if len(payloads) == 1 else 'entries'}, {format_size(total)}"
    ranked = sorted(payloads.items(), key=lambda kv: (-kv[1].size, kv[0]))
    shown = ranked if largest is None else ranked[:largest]
    for fqn, p in shown:
        yield f"{INDENT}{fqn}: {payload_meta(p)}  {format_size(p.size)}"
    if len(ranked) > len(shown):
        rest = format_size(sum(p.size for _, p in ranked[len(shown) :]))
        yield f"{INDENT}... {len(ranked) - len(shown)} more ({rest}){hint}"


def version_strings(program: Mapping[str, Any]) -> tuple[str, str, str]:
    sv = program.get("schema_version")
    schema = f"{sv.get('major', '?')}.{sv.get('minor', '?')}" if isinstance(sv, Mapping) else "?"
    opset = program.get("opset_version")
    ops = ", ".join(f"{k}={v}" for k, v in sorted(opset.items())) if isinstance(opset, Mapping) and opset else "-"
    return str(program.get("torch_version", "?")), schema, ops


def graph_and_signature(program: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    gm = program.get("graph_module") or {}
    return gm.get("graph") or {}, gm.get("signature") or {}


def generate_listing(
    program: Mapping[str, Any],
    *,
    weights: Mapping[str, Payload] | None = None,
    constants: Mapping[str, Payload] | None = None,
    info: Mapping[str, str] | None = None,
    name: str = "model",
    largest: int | None = 5,
    more_hint: str = "",
) -> Iterator[str]:
    """Yield the lines of a whole program's listing (grammar in the module docstring).

    Control characters in archive text (names, targets, versions) are
    escaped (:func:`pt2canon.errors.printable`): every line is one line.

    Parameters
    ----------
    program : dict
        A serialized ``ExportedProgram`` (``Model.program``).
    weights, constants : Mapping[str, Payload], optional
        ``Model.weights`` / ``Model.constants``; a summary section (count,
        total size, the ``largest`` biggest) follows for weights when they
        are given, for constants when there are any.
    info : Mapping[str, str], optional
        ``Artifact.info`` (archive format, version, byte order).
    name : str
        The model name shown in the header.
    largest : int or None
        How many of the biggest payloads the summaries list (``None``: all);
        a line ``... N more (SIZE)`` counts the others.
    more_hint : str
        Text ending that line (``show`` says how to list them all).

    Yields
    ------
    str
        One line at a time, without line ends.
    Examples
    --------
    >>> from pt2canon.serde.archive import Payload
    >>> meta = {"dtype": 7, "sizes": [{"as_int": 3}], "strides": [{"as_int": 1}],
    ...         "device": {"type": "cpu"}, "storage_offset": {"as_int": 0}, "layout": 7}
    >>> graph = {"inputs": [{"as_tensor": {"name": "p_w"}}], "nodes": [],
    ...          "outputs": [{"as_tensor": {"name": "p_w"}}], "tensor_values": {"p_w": meta}}
    >>> program = {"graph_module": {"graph": graph, "signature": {
    ...     "input_specs": [{"parameter": {"arg": {"name": "p_w"}, "parameter_name": "w"}}],
    ...     "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": "p_w"}}}}]}},
    ...     "range_constraints": {"s0": {"min_val": 2, "max_val": None}},
    ...     "schema_version": {"major": 8, "minor": 20}, "torch_version": "2.13.0", "opset_version": {}}
    >>> w = {"w": Payload("w", "weight", "weight_0", "m/data/weights/weight_0", 12, True, False, meta)}
    >>> for line in generate_listing(program, weights=w, info={"archive_version": "0"}, name="m"):
    ...     print(line)
    model: m
    torch: 2.13.0
    schema: 8.20
    opset: -
    archive: archive_version=0
    inputs:
        %p_w: parameter w  f32[3]
    outputs:
        %p_w: user_output  f32[3]
    graph:
        return (%p_w,)
    range_constraints:
        s0: [2, int_oo]
    weights: 1 entry, 12 B
        w: f32[3]  12 B
    """

    def lines() -> Iterator[str]:
        graph, signature = graph_and_signature(program)
        torch_version, schema, opset = version_strings(program)
        yield f"model: {name}"
        yield f"torch: {torch_version}"
        yield f"schema: {schema}"
        yield f"opset: {opset}"
        verifiers = program.get("verifiers")
        if verifiers:
            yield f"verifiers: {', '.join(str(v) for v in verifiers)}"
        if info:
            yield "archive: " + " ".join(f"{k}={v}" for k, v in info.items())
        yield "inputs:"
        for spec in signature.get("input_specs") or ():
            yield INDENT + format_spec_line(spec_fields(spec), graph)
        yield "outputs:"
        for spec in signature.get("output_specs") or ():
            yield INDENT + format_spec_line(spec_fields(spec), graph)
        yield "graph:"
        yield from generate_graph_body(graph, 1)
        ranges = program.get("range_constraints")
        if isinstance(ranges, Mapping) and ranges:
            yield "range_constraints:"
            for sym, rc in ranges.items():
                rc = rc if isinstance(rc, Mapping) else {}
                yield f"{INDENT}{expr_to_str(sym)}: [{_range(rc.get('min_val'), '-int_oo')}, {_range(rc.get('max_val'), 'int_oo')}]"
        if weights is not None:
            yield from _payload_lines("weights", weights, largest, more_hint)
        if constants:
            yield from _payload_lines("constants", constants, largest, more_hint)

    for line in lines():
        yield printable(line)


def write_listing(program: Mapping[str, Any], file: TextIO, **kwargs: Any) -> None:
    """Write :func:`generate_listing` to a text file, one line each.

    Parameters
    ----------
    program : dict
        A serialized ``ExportedProgram``.
    file : TextIO
        Where to write.
    **kwargs
        Passed on to :func:`generate_listing`.

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> write_listing({"graph_module": {"graph": {"nodes": [], "outputs": []}}}, buf)
    >>> buf.getvalue().splitlines()[-1]
    '    return ()'
    """
    for line in generate_listing(program, **kwargs):
        file.write(line)
        file.write("\n")
