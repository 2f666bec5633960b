"""Runtime-assert messages: the names torch quotes in them, derived from the graph's structure.

torch writes a runtime assert as ``_assert_scalar(cond, message)`` with the
message ``"Runtime assertion failed for expression {expr} on node '{cond}'"``
(``torch/fx/passes/runtime_assert.py``): ``{cond}`` is the name of the node
that computes the asserted value and ``{expr}`` the asserted expression,
printed with sympy's ``str`` in the program's shape symbols. Both are names,
and a pass that renames nodes or symbols may leave the message as it was.
So the canonical message is derived, not looked up:

* the node part is the canonical name of the node that produces the
  assert's own condition input (:func:`name_assert_messages`), whatever the
  message quoted; a constant condition is quoted as torch prints it
  (``'True'``);
* the expression part is re-printed with canonical symbols
  (:func:`rename_message_symbols`), after every symbol of the graphs and the
  range constraints has its canonical name; a symbol that appears nowhere
  else (only in messages, or a stale name) is named there, in canonical
  order of the asserts.

Any other string argument of an assert (a message the user wrote with
``torch._check(cond, message)``) is kept as written.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pt2canon.canon.symbols import SymbolRenamer
from pt2canon.serde.graph import iter_refs

__all__ = ["TORCH_ASSERT", "is_assert", "name_assert_messages", "rename_message_symbols"]

#: The message torch generates for a runtime assert: expression and node.
TORCH_ASSERT = re.compile(
    r"(Runtime assertion failed for expression )(?P<expr>.*)( on node ')(?P<node>[^']*)'", re.DOTALL
)

_ASSERT_TARGETS = (
    "_assert_scalar",
    "_assert_async",
    "_functional_assert_async",
    "_functional_assert_scalar",
    "_assert_tensor_metadata",
)


@functools.lru_cache(maxsize=4096)
def is_assert(target: str) -> bool:
    """Whether ``target`` is one of torch's runtime-assert ops.

    Examples
    --------
    >>> is_assert("torch.ops.aten._assert_scalar.default"), is_assert("torch.ops.aten.add.Tensor")
    (True, False)
    """
    return any(t in target for t in _ASSERT_TARGETS)


def _messages(node: Mapping[str, Any]) -> Iterator[tuple[int, re.Match[str]]]:
    for i, na in enumerate(node["inputs"]):
        text = na["arg"].get("as_string")
        if isinstance(text, str):
            m = TORCH_ASSERT.fullmatch(text)
            if m is not None:
                yield i, m


def _condition(node: Mapping[str, Any], producer: Mapping[str, str]) -> str | None:
    """The name torch quotes for an assert's condition: its producer's, or the constant's spelling."""
    for na in node["inputs"]:
        arg = na["arg"]
        for _, _, name, _ in iter_refs(arg):
            return producer.get(name, name)
        if "as_bool" in arg and isinstance(arg["as_bool"], bool):
            return str(arg["as_bool"])
        if "as_string" not in arg:
            return None  # some other constant: leave the message as it is
    return None


def name_assert_messages(graph: dict[str, Any]) -> None:
    """Quote, in each torch-generated assert message of ``graph``, the node its condition comes from.

    ``graph`` is a canonical graph (names already canonical, nodes and their
    ``inputs`` lists owned by it); subgraphs are not visited (each is
    canonicalized on its own). Input entries are replaced, never edited.

    Examples
    --------
    >>> g = {"inputs": [], "nodes": [
    ...     {"name": "n0", "target": "_operator.ge", "inputs": [], "outputs": [{"as_sym_bool": {"as_name": "v3"}}]},
    ...     {"name": "n1", "target": "torch.ops.aten._assert_scalar.default", "inputs": [
    ...         {"name": "self", "arg": {"as_sym_bool": {"as_name": "v3"}}, "kind": 1},
    ...         {"name": "assert_msg", "kind": 1, "arg": {"as_string":
    ...             "Runtime assertion failed for expression u0 >= 0 on node 'stale_name'"}}], "outputs": []}]}
    >>> name_assert_messages(g)
    >>> g["nodes"][1]["inputs"][1]["arg"]["as_string"]
    "Runtime assertion failed for expression u0 >= 0 on node 'n0'"
    """
    producer: dict[str, str] | None = None
    for node in graph["nodes"]:
        if not is_assert(node["target"]):
            continue
        found = list(_messages(node))
        if not found:
            continue
        if producer is None:
            producer = {}
            for n in graph["nodes"]:
                for out in n["outputs"]:
                    for _, _, name, _ in iter_refs(out):
                        producer.setdefault(name, n.get("name") or name)
        cond = _condition(node, producer)
        if cond is None:
            continue
        ins = node["inputs"]
        for i, m in found:
            text = f"{m.group(1)}{m.group('expr')}{m.group(3)}{cond}'"
            if text != m.group(0):
                ins[i] = {**ins[i], "arg": {"as_string": text}}


def rename_message_symbols(graph: dict[str, Any], renamer: SymbolRenamer) -> None:
    """Re-print the expression of every torch-generated assert message with canonical symbols.

    Walks ``graph`` in canonical order, subgraphs first where their node
    stands; call it after every other symbol has its canonical name, so
    that symbols seen only here are named after all others.

    Examples
    --------
    ``s77`` was named ``s0`` in the value tables; ``u5`` appears only in
    the message and gets the first free ``u`` name. The node part stays:

    >>> from pt2canon.canon.symbols import SymbolRenamer
    >>> renamer = SymbolRenamer()
    >>> renamer.name("s77")
    's0'
    >>> text = "Runtime assertion failed for expression u5 + s77 >= 4 on node 'n0'"
    >>> g = {"nodes": [{"name": "n1", "target": "torch.ops.aten._assert_scalar.default", "outputs": [], "inputs": [
    ...     {"name": "self", "arg": {"as_sym_bool": {"as_name": "v3"}}, "kind": 1},
    ...     {"name": "assert_msg", "arg": {"as_string": text}, "kind": 1}]}]}
    >>> rename_message_symbols(g, renamer)
    >>> g["nodes"][0]["inputs"][1]["arg"]["as_string"]
    "Runtime assertion failed for expression s0 + u0 >= 4 on node 'n0'"
    >>> renamer.mapping
    {'s77': 's0', 'u5': 'u0'}
    """
    for node in graph["nodes"]:
        ins = node["inputs"]
        for na in ins:
            sub = na["arg"].get("as_graph")
            if sub is not None:
                rename_message_symbols(sub["graph"], renamer)
        if not is_assert(node["target"]):
            continue
        for i, m in list(_messages(node)):
            expr = renamer.infix(m.group("expr"))
            if expr != m.group("expr"):
                text = f"{m.group(1)}{expr}{m.group(3)}{m.group('node')}'"
                ins[i] = {**ins[i], "arg": {"as_string": text}}
