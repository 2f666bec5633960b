# The compiled op-node loop's signatures (pt2canon/serde/_builder.c); its documented face and reference is
# pt2canon.serde.graph (_Builder.op).
from collections.abc import Callable
from typing import Any

def configure(
    as_tensor_path: tuple[str, ...],
    blank_tensor: dict[str, Any],
    missing: Any,
    node_known: frozenset[str],
    ref_kinds: frozenset[str],
    tensor_slot: Callable[[int], tuple[Any, ...]],
    edge_data: Callable[..., dict[str, Any]],
    use_data: Callable[..., dict[str, Any]],
    value: type[tuple[Any, ...]],
    /,
) -> None: ...
def ops(
    builder: Any,
    nodes: list[Any],
    base: int,
    succ: dict[Any, Any],
    pred: dict[Any, Any],
    node_attrs: dict[Any, Any],
    defs: dict[Any, Any],
    tensor_table: dict[Any, Any],
    /,
) -> int: ...
