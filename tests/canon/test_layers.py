"""Each layer digest changes only with what its layer describes, on real transformer exports.

One changed norm ``eps`` changes only ``structure``; renamed projections
change only ``signature``; a parameter of another shape (used by an
elementwise op, so no constant changes) changes only ``tensors``. The
models (``transformer_blocks.py``) have symmetric Q/K/V branches that only the
downstream structure tells apart, the case where pt2canon's earlier
hash-ordered tie-breaks let a constant far downstream reorder them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from transformer_blocks import T5, Bert, Llama, example_input

import pt2canon

GRAPH_LAYERS = ("structure", "signature", "tensors", "constraints")


def _layers(module: torch.nn.Module) -> dict[str, str]:
    torch.manual_seed(0)
    ep = torch.export.export(module.eval(), (example_input(),))
    return pt2canon.digest(ep, level="graph").layers


def _changed(make_a: Callable[[], torch.nn.Module], make_b: Callable[[], torch.nn.Module]) -> set[str]:
    torch.manual_seed(0)
    a = _layers(make_a())
    torch.manual_seed(0)
    b = _layers(make_b())
    return {k for k in GRAPH_LAYERS if a[k] != b[k]}


MODELS: dict[str, tuple[type[torch.nn.Module], dict[str, Any]]] = {
    "bert": (Bert, {"eps": (1e-12, 1e-12)}),
    "llama": (Llama, {"eps": (1e-6, 1e-6)}),
    "t5": (T5, {"eps": (1e-6, 1e-6)}),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("layer", [0, 1])
def test_one_changed_norm_eps_changes_only_the_structure_layer(name: str, layer: int) -> None:
    cls, kw = MODELS[name]
    eps = list(kw["eps"])
    eps[layer] *= 10
    assert _changed(lambda: cls(**kw), lambda: cls(**{**kw, "eps": tuple(eps)})) == {"structure"}


def test_renamed_attention_projections_change_only_the_signature_layer() -> None:
    renamed = ("q", "k", "v", "o")
    assert _changed(lambda: Bert(), lambda: Bert(names=renamed)) == {"signature"}


def test_a_parameter_of_another_shape_changes_only_the_tensors_layer() -> None:
    from transformer_blocks import D

    assert _changed(lambda: Llama(scale_shape=1), lambda: Llama(scale_shape=D)) == {"tensors"}


def test_the_same_transformer_exported_twice_has_equal_layers() -> None:
    assert _changed(lambda: Llama(), lambda: Llama()) == set()
