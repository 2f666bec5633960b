"""The FX-like listing of a serialized exported program: one line per node.

Everything here works on the parsed JSON of a serialized ``ExportedProgram``
(``Model.program``) and its ``Graph`` dicts; neither torch, sympy nor
networkx is imported. :func:`format_node` gives a node's line from the node
and the value metadata alone, so the diff renderer can reuse it line for
line. :func:`generate_listing` yields a whole program, :func:`listing_json`
the machine-readable form of an artifact (``pt2canon show --json``).

Modules, in the order they build on each other:

:mod:`~pt2canon.listing.names`
    torch's enum values (dtype, layout, memory format) and their names.
:mod:`~pt2canon.listing.expressions`
    sympy ``srepr`` text printed as sympy's ``str`` would, without sympy.
:mod:`~pt2canon.listing.lines`
    one argument, one tensor's metadata, one node: :func:`format_node`.
:mod:`~pt2canon.listing.program`
    a whole program: :func:`generate_listing`, :func:`write_listing`.
:mod:`~pt2canon.listing.document`
    the JSON form: :func:`listing_json`.

Grammar
-------
A listing is a sequence of lines (``⏎`` ends each; ``INDENT`` is four spaces
per level; ``[x]`` is optional, ``x*`` repeated, ``|`` alternatives)::

    listing     := header inputs outputs graph [ranges] [payloads("weights")]
                   [payloads("constants")]
    header      := "model: " NAME ⏎
                   "torch: " TORCH_VERSION ⏎
                   "schema: " MAJOR "." MINOR ⏎
                   "opset: " (NAMESPACE "=" INT) joined by ", " | "-" ⏎
                   ["verifiers: " NAME joined by ", " ⏎]
                   ["archive: " (KEY "=" VALUE) joined by " " ⏎]
    inputs      := "inputs:" ⏎ (INDENT spec ⏎)*
    outputs     := "outputs:" ⏎ (INDENT spec ⏎)*
    spec        := argument ": " KIND [" " FQN] [" [non-persistent]"] ["  " meta]
                 | NAME ": constant_input = " argument
    graph       := "graph:" ⏎ body(1)
    body(d)     := (INDENT*d node_line ⏎ subgraph(d+1)*)* INDENT*d return ⏎
    subgraph(d) := INDENT*d "@" NAME ":" ⏎ (INDENT*(d+1) input ⏎)* body(d+1)
    input       := argument ": input" ["  " meta]
    return      := "return (" argument joined by ", " [","] ")"   # Python tuple
                 | "return " argument            # is_single_tensor_return
    node_line   := [results " = "] TARGET "(" call_args ")" ["  # " metas]
    results     := argument joined by ", "       # one per node output
    call_args   := (argument | ARG_NAME "=" argument) joined by ", "
    metas       := meta-of-output joined by ", " # same shape as results; "-"
                                                 # for an output naming no value
    ranges      := "range_constraints:" ⏎ (INDENT SYMBOL ": [" LO ", " HI "]" ⏎)*
    payloads(w) := w ": " COUNT (" entry" | " entries") ", " SIZE ⏎
                   (INDENT FQN ": " (meta | "pickle" | "?") "  " SIZE ⏎)*
                   [INDENT "... " N " more (" SIZE ")" HINT ⏎]   # past the largest

The ``weights`` section is there when weights are passed (``show`` passes
them unless ``--no-weights``), even if empty; ``constants`` only when there
are any. ``TARGET`` is the node target without its ``torch.ops.`` prefix
(``aten.add.Tensor``, ``higher_order.cond``). An argument is keyword-only
(``name=value``) when its ``NamedArgument.kind`` is 2 (``KEYWORD``). Unbounded
range ends print as ``-int_oo`` / ``int_oo``. ``SIZE`` is ``N B`` below 1 KiB,
else one decimal and a binary unit (``1.5 KiB``, ``12.0 MiB``). Subgraphs of
higher-order ops (``as_graph`` arguments, written ``@name`` in the call) are
listed right below the node that uses them, one level deeper, recursively.
Node names and node metadata (stack traces) are not shown.

Arguments (:func:`format_argument`), by union tag of ``Argument``:

=================================  =========================================
value references (tensor, sym,     ``%name``; ``None`` for an absent optional
custom object, token)              tensor; ``3`` for a literal sym int
ints, bools, ``None``              ``3``, ``True``, ``None``
floats                             ``2.0``, ``1e-05``, ``inf``, ``-inf``, ``nan``
strings                            Python literal: ``'constant'``
lists, nested lists                ``[1, 2]``, ``[[%a, %b], [%c]]``
dtype / layout / memory format     ``torch.float32`` / ``torch.strided`` /
                                   ``torch.contiguous_format``
device                             ``cpu``, ``cuda:0``
subgraph                           ``@true_graph_0``
operator                           ``aten.add.Tensor`` (no ``torch.ops.``)
complex                            ``complex(1.0, -2.0)``
string-to-argument dict            ``{'key': %x, 'other': 1}`` (document order)
anything else                      ``<as_tag: {compact JSON}>``
=================================  =========================================

Metadata (``meta``): a tensor is ``DTYPE[SIZES]`` (:func:`format_tensor_meta`,
``f32[s77, 3]``, ``i64[]``), followed by ``{...}`` listing only what differs
from the default — ``stride=[...]`` (when not the contiguous strides of the
sizes), ``offset=N``, ``device=cuda:0``, ``layout=torch.sparse_coo``,
``requires_grad`` — as in ``f32[1, 4]{offset=4}``. A sym int, float or bool
is ``Sym(EXPR)``, a custom object ``CustomObj(CLASS_FQN)``, a token
``token``, a tensor list ``[meta, ...]`` and unknown metadata ``?``.
Symbolic expressions are printed like sympy's ``str`` (``2*s77 + 1``,
``(s77//2)``, ``s77 >= 2``) by a small converter of sympy's ``srepr`` text
that parses with :mod:`ast` and never evaluates anything; text it does not
understand is printed as it stands.

Examples
--------
>>> graph = {
...     "inputs": [{"as_tensor": {"name": "x"}}],
...     "outputs": [{"as_tensor": {"name": "add"}}],
...     "nodes": [{"target": "torch.ops.aten.add.Tensor", "name": "add", "metadata": {},
...                "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}, "kind": 1},
...                           {"name": "other", "arg": {"as_tensor": {"name": "x"}}, "kind": 1},
...                           {"name": "alpha", "arg": {"as_int": 2}, "kind": 2}],
...                "outputs": [{"as_tensor": {"name": "add"}}]}],
...     "tensor_values": {n: {"dtype": 7, "sizes": [{"as_int": 3}], "strides": [{"as_int": 1}],
...                           "requires_grad": False, "device": {"type": "cpu", "index": None},
...                           "storage_offset": {"as_int": 0}, "layout": 7} for n in ("x", "add")},
... }
>>> program = {
...     "graph_module": {"graph": graph, "module_call_graph": [], "signature": {
...         "input_specs": [{"user_input": {"arg": {"as_tensor": {"name": "x"}}}}],
...         "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": "add"}}}}]}},
...     "opset_version": {"aten": 10}, "range_constraints": {},
...     "schema_version": {"major": 8, "minor": 20}, "torch_version": "2.13.0",
... }
>>> print("\\n".join(generate_listing(program)))
model: model
torch: 2.13.0
schema: 8.20
opset: aten=10
inputs:
    %x: user_input  f32[3]
outputs:
    %add: user_output  f32[3]
graph:
    %add = aten.add.Tensor(%x, %x, alpha=2)  # f32[3]
    return (%add,)
"""

from __future__ import annotations

from pt2canon.listing.document import LISTING_JSON_VERSION, listing_json
from pt2canon.listing.expressions import expr_to_str
from pt2canon.listing.lines import format_argument, format_meta, format_node, format_tensor_meta, short_target
from pt2canon.listing.names import DTYPE_ABBRS, DTYPE_NAMES, LAYOUT_NAMES, MEMORY_FORMAT_NAMES
from pt2canon.listing.program import (
    format_return,
    format_size,
    format_spec_line,
    generate_graph_body,
    generate_listing,
    generate_subgraph_header,
    spec_fields,
    write_listing,
)

__all__ = [
    "DTYPE_ABBRS",
    "DTYPE_NAMES",
    "LAYOUT_NAMES",
    "LISTING_JSON_VERSION",
    "MEMORY_FORMAT_NAMES",
    "expr_to_str",
    "format_argument",
    "format_meta",
    "format_node",
    "format_return",
    "format_size",
    "format_spec_line",
    "format_tensor_meta",
    "generate_graph_body",
    "generate_listing",
    "generate_subgraph_header",
    "listing_json",
    "short_target",
    "spec_fields",
    "write_listing",
]
