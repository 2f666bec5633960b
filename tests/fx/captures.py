"""Helpers of the FX tests: capture the graphs ``torch.compile`` hands a backend.

``capture(fn, *args)`` compiles ``fn`` with a backend that keeps every
graph Dynamo hands it, read with :func:`pt2canon.load` inside the backend
(where Dynamo's sources are still on the placeholders) and with the real
example inputs, then runs the graph eagerly. Dynamo's caches are reset
first, so each capture traces afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

import pt2canon


@dataclass
class Captured:
    """One graph a backend was handed."""

    gm: torch.fx.GraphModule
    example_inputs: list[Any]
    artifact: Any  # pt2canon.load(gm, example_inputs=...) inside the backend


def capture(fn: Callable[..., Any], *args: Any, dynamic: list[tuple[int, int]] | None = None) -> list[Captured]:
    """Compile and run ``fn(*args)``; return the graphs. ``dynamic``: ``(arg index, dim)`` to ``mark_dynamic``."""
    torch._dynamo.reset()
    got: list[Captured] = []

    def backend(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        got.append(Captured(gm, list(example_inputs), pt2canon.load(gm, example_inputs=example_inputs)))
        return gm.forward

    for i, dim in dynamic or ():
        torch._dynamo.mark_dynamic(args[i], dim)
    torch.compile(fn, backend=backend, fullgraph=False)(*args)
    return got
