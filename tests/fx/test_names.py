"""Stable names of FX targets and arguments, and what the canonical order reads from them."""

from __future__ import annotations

import operator

import pytest
import torch
import torch.nn.functional as F
from captures import capture

import pt2canon
from pt2canon.canon.effects import effects_from_name, effects_of_node
from pt2canon.errors import InputError
from pt2canon.fx.names import bind_arguments, callable_name, module_class_name


@pytest.mark.parametrize(
    ("target", "name"),
    [
        (torch.ops.aten.add.Tensor, "torch.ops.aten.add.Tensor"),
        (torch.ops.aten.add, "torch.ops.aten.add"),
        (torch.ops.higher_order.cond, "torch.ops.higher_order.cond"),
        (operator.getitem, "_operator.getitem"),
        (getattr, "builtins.getattr"),
        (torch.relu, "torch.relu"),
        (torch._C._nn.linear, "torch._C._nn.linear"),
        (F.relu, "torch.nn.functional.relu"),
        (torch.Tensor.add_, "torch.Tensor.add_"),
        (torch.Size, "torch.Size"),
    ],
)
def test_callables_are_named_by_module_and_qualified_name_as_torch_export_spells_ops(target: object, name: str) -> None:
    assert callable_name(target) == name


def test_module_calls_are_named_by_the_submodule_class() -> None:
    assert module_class_name(torch.nn.Linear(2, 2)) == "torch.nn.modules.linear.Linear"


def test_a_callable_object_with_state_is_refused_naming_where_it_is() -> None:
    class Scale:
        def __call__(self, t: torch.Tensor) -> torch.Tensor:
            return t * 2

    with pytest.raises(InputError, match=r"node 'n'.*Scale object: pt2canon names callables"):
        callable_name(Scale(), where="node 'n'")


def test_python_function_arguments_are_named_by_the_signature_whether_passed_by_position_or_keyword() -> None:
    x = object()
    by_position = bind_arguments(F.dropout, (x, 0.1, False), {})
    by_keyword = bind_arguments(F.dropout, (x,), {"p": 0.1, "training": False})
    assert by_position == by_keyword == [("input", x, 1), ("p", 0.1, 1), ("training", False, 1)]
    # a gap in the parameters given: what follows it is a keyword, so a listing cannot misread it
    assert bind_arguments(F.dropout, (x,), {"training": False}) == [("input", x, 1), ("training", False, 2)]


def test_op_overload_arguments_are_named_and_kinded_by_the_op_schema() -> None:
    named = bind_arguments(torch.ops.aten.add.Tensor, ("a", "b"), {"alpha": 2})
    assert named == [("self", "a", 1), ("other", "b", 1), ("alpha", 2, 2)]


def test_methods_and_builtins_name_their_arguments_by_position_the_receiver_self() -> None:
    assert bind_arguments(None, ("x", 1), {"out": "y"}, method=True) == [
        ("self", "x", 1),
        ("arg1", 1, 1),
        ("out", "y", 2),
    ]
    assert bind_arguments(torch.relu_, ("x",), {}) == [("self", "x", 1)]


@pytest.mark.parametrize(
    ("target", "args", "mutates", "random"),
    [
        ("call_method.add_", {}, {"self"}, False),
        ("_operator.setitem", {}, {"self"}, False),
        ("_operator.iadd", {}, {"self"}, False),
        ("torch.nn.functional.relu", {"inplace": {"as_bool": True}}, {"*"}, False),
        ("torch.nn.modules.activation.ReLU", {"inplace": {"as_bool": True}}, {"*"}, False),
        ("torch.nn.functional.dropout", {"training": {"as_bool": True}}, set(), True),
        ("torch.nn.functional.dropout", {"training": {"as_bool": False}}, set(), False),
        ("torch.nn.modules.dropout.Dropout", {"training": {"as_bool": True}}, set(), True),
        ("torch.nn.modules.dropout.Dropout", {"training": {"as_bool": False}}, set(), False),
        ("torch.nn.functional.batch_norm", {"training": {"as_bool": True}}, {"running_mean", "running_var"}, False),
        ("torch.nn.functional.batch_norm", {"training": {"as_bool": False}}, set(), False),
        ("torch.nn.functional.relu", {}, set(), False),
    ],
)
def test_python_level_targets_have_the_effects_their_name_and_flags_say(
    target: str, args: dict, mutates: set[str], random: bool
) -> None:
    eff = effects_of_node(target, args)
    assert set(eff.mutates) == mutates and eff.random is random


def test_grad_mode_switches_and_unknown_python_functions_keep_their_place() -> None:
    assert effects_from_name("torch._C._set_grad_enabled").ordered
    assert effects_from_name("mypackage.helpers.scale").ordered  # outside the known namespaces
    assert not effects_from_name("torch.nn.functional.linear").ordered


def _mutating_a(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    before = x * 2
    x.add_(1)
    after = x * 3
    other = y.sin()
    return before + after + other


def _mutating_b(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # an independent read moved
    other = y.sin()
    before = x * 2
    x.add_(1)
    after = x * 3
    return before + after + other


def _mutating_c(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # a read moved across the mutation
    x.add_(1)
    before = x * 2
    after = x * 3
    other = y.sin()
    return before + after + other


def test_reads_of_a_mutated_input_stay_on_their_side_of_the_mutation_in_a_dynamo_graph() -> None:
    hashes = []
    for fn in (_mutating_a, _mutating_b, _mutating_c):
        (cap,) = capture(fn, torch.randn(3), torch.randn(3))
        assert "call_method.add_" in [n["target"] for n in cap.artifact.model.program["graph_module"]["graph"]["nodes"]]
        hashes.append(pt2canon.hash(cap.artifact))
    assert hashes[0] == hashes[1]
    assert hashes[0] != hashes[2]
