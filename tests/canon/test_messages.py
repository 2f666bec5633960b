"""Runtime-assert messages: names derived from the graph, not looked up by string."""

from __future__ import annotations

import copy
import io
import random
from typing import Any

import pytest
import torch
from torch.export import Dim
from variants import fresh_names, rename_names

import pt2canon
from pt2canon._json import canonical_bytes
from pt2canon.canon.messages import TORCH_ASSERT
from pt2canon.canon.program import canonicalize_program
from pt2canon.serde.archive import read_bytes


class _Checks(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Any:
        n = x.item()
        torch._check(n >= 0)
        torch._check(n < y.size(0))
        torch._check(n % 2 == 0)
        return torch.zeros(n), y[n]


class _Specialized(torch.nn.Module):
    """The asserted size is specialized to 3: its symbol lives on only in a range and the messages."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.nonzero()
        torch._check(y.size(0) % 3 == 0)
        torch._check(y.size(0) == 3)
        return y


def _doc(module: torch.nn.Module, args: tuple[Any, ...], **kw: Any) -> dict[str, Any]:
    buf = io.BytesIO()
    torch.export.save(torch.export.export(module, args, **kw), buf)
    return read_bytes(buf.getvalue()).model.program


@pytest.fixture(scope="module")
def checks() -> dict[str, Any]:
    return _doc(_Checks(), (torch.tensor([4]), torch.randn(10)), dynamic_shapes={"x": None, "y": (Dim.DYNAMIC,)})


def _messages(doc: dict[str, Any]) -> list[str]:
    return [
        na["arg"]["as_string"]
        for n in doc["graph_module"]["graph"]["nodes"]
        for na in n["inputs"]
        if isinstance(na["arg"].get("as_string"), str)
    ]


def _canonical(doc: dict[str, Any]) -> bytes:
    return canonical_bytes(canonicalize_program(doc).doc)


def test_the_message_quotes_the_canonical_node_that_computes_the_asserted_value(checks: dict[str, Any]) -> None:
    canon = canonicalize_program(checks).doc["graph_module"]["graph"]
    producer = {
        o["as_sym_bool"]["as_name"]: n["name"] for n in canon["nodes"] for o in n["outputs"] if "as_sym_bool" in o
    }
    asserts = [n for n in canon["nodes"] if n["target"].endswith("_assert_scalar.default")]
    assert len(asserts) == 3
    for node in asserts:
        m = TORCH_ASSERT.fullmatch(node["inputs"][1]["arg"]["as_string"])
        assert m is not None
        assert m.group("node") == producer[node["inputs"][0]["arg"]["as_sym_bool"]["as_name"]]
    exprs = {TORCH_ASSERT.fullmatch(n["inputs"][1]["arg"]["as_string"]).group("expr") for n in asserts}  # type: ignore[union-attr]
    assert exprs == {"u0 >= 0", "u0 < s0", "Eq(Mod(u0, 2), 0)"}


def test_a_renaming_pass_that_leaves_messages_stale_changes_no_hash(checks: dict[str, Any]) -> None:
    names, symbols = fresh_names(checks, random.Random(0))
    renamed = rename_names(checks, names, symbols)
    quoted = [TORCH_ASSERT.fullmatch(m).group("node") for m in _messages(renamed)]  # type: ignore[union-attr]
    assert quoted == [TORCH_ASSERT.fullmatch(m).group("node") for m in _messages(checks)]  # type: ignore[union-attr]
    assert not set(quoted) & {n["name"] for n in renamed["graph_module"]["graph"]["nodes"]}  # stale now
    assert _canonical(renamed) == _canonical(checks)


def test_a_quoted_name_that_is_now_another_node_or_no_node_changes_no_hash(checks: dict[str, Any]) -> None:
    nodes = checks["graph_module"]["graph"]["nodes"]
    other = next(n["name"] for n in nodes if n["target"].endswith("item.default"))
    for quoted in (other, "no_such_node"):
        doc = copy.deepcopy(checks)
        for n in doc["graph_module"]["graph"]["nodes"]:
            for na in n["inputs"]:
                text = na["arg"].get("as_string")
                if isinstance(text, str) and (m := TORCH_ASSERT.fullmatch(text)):
                    na["arg"]["as_string"] = text[: m.start("node")] + quoted + text[m.end("node") :]
        assert _canonical(doc) == _canonical(checks), quoted


def test_a_message_the_user_wrote_is_kept_as_written() -> None:
    class UserMessage(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            torch._assert_async(x.sum() > 0, "need a count 'ge' zero")
            return x + 1

    doc = _doc(UserMessage(), (torch.ones(3),))
    assert "need a count 'ge' zero" in _messages(doc)
    assert "need a count 'ge' zero" in _messages(canonicalize_program(doc).doc)


def test_symbols_seen_only_in_messages_and_ranges_are_named_canonically() -> None:
    doc = _doc(_Specialized(), (torch.Tensor([1, 0, 1, 0, 1, 0]),))
    (sym,) = doc["range_constraints"]
    assert all(sym in m for m in _messages(doc)) and sym not in str(doc["graph_module"]["graph"]["tensor_values"])
    canon = canonicalize_program(doc)
    # The symbol no value mentions: torch's loader drops its range, and so does the canonical form.
    assert canon.doc["range_constraints"] == {}
    assert all(" u0 " in f" {m.replace('(', ' ').replace(',', ' ')} " for m in _messages(canon.doc))
    # Named by its place in the messages, not by its spelling: a consistent renaming changes nothing.
    renamed = rename_names(doc, {}, {sym: "u87"})
    assert "u87" in " ".join(_messages(renamed))
    assert _canonical(renamed) == _canonical(doc)


def test_an_expression_in_a_message_is_printed_in_canonical_symbol_order() -> None:
    # The same assert spelled with the symbols the other way round (as sympy sorts names) reads alike.
    def doc(expr: str) -> dict[str, Any]:
        sym = "Symbol('{}', integer=True, positive=True)"
        meta = {"dtype": 7, "requires_grad": False, "device": {"type": "cpu", "index": None},
                "storage_offset": {"as_int": 0}, "layout": 7}  # fmt: skip
        size = [{"as_expr": {"expr_str": sym.format(s), "hint": None}} for s in ("s5", "s2")]
        return {
            "graph_module": {
                "graph": {
                    "inputs": [{"as_tensor": {"name": "x"}}],
                    "outputs": [{"as_tensor": {"name": "x"}}],
                    "nodes": [
                        {
                            "name": "a",
                            "target": "torch.ops.aten._assert_scalar.default",
                            "inputs": [
                                {"name": "self", "arg": {"as_bool": True}, "kind": 1},
                                {
                                    "name": "assert_msg",
                                    "kind": 1,
                                    "arg": {
                                        "as_string": f"Runtime assertion failed for expression {expr} on node 'gt'"
                                    },
                                },
                            ],
                            "outputs": [],
                            "metadata": {},
                        }
                    ],
                    "tensor_values": {"x": {**meta, "sizes": size, "strides": [{"as_int": 1}, {"as_int": 1}]}},
                    "sym_int_values": {},
                    "sym_bool_values": {},
                    "sym_float_values": {},
                    "custom_obj_values": {},
                },
                "signature": {
                    "input_specs": [{"user_input": {"arg": {"as_tensor": {"name": "x"}}}}],
                    "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": "x"}}}}],
                },
                "module_call_graph": [],
            },
            "range_constraints": {},
            "schema_version": {"major": 8, "minor": 20},
            "torch_version": "2.13.0",
        }

    # s5 is the first size (s0), s2 the second (s1): "s2 + 2*s5" and "2*s5 + s2" are one expression.
    (m1,) = _messages(canonicalize_program(doc("s2 + 2*s5 > 4")).doc)
    (m2,) = _messages(canonicalize_program(doc("2*s5 + s2 > 4")).doc)
    assert m1 == m2 == "Runtime assertion failed for expression 2*s0 + s1 > 4 on node 'True'"


def test_a_program_with_asserts_hashes_alike_after_a_stale_rename_at_every_level(
    checks: dict[str, Any],
) -> None:
    names, symbols = fresh_names(checks, random.Random(1))
    renamed = rename_names(checks, names, symbols)
    for level in ("structure", "graph"):
        assert pt2canon.hash(canonical_bytes(renamed), level=level) == pt2canon.hash(
            canonical_bytes(checks), level=level
        )
