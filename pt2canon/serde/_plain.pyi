# The compiled fast path's signatures (pt2canon/serde/_plain.c); its documented face and reference is pt2canon.serde.plain.
from typing import Any

def configure(
    opaque_tags: frozenset[str],
    list_tags: frozenset[str],
    node_keys: frozenset[str],
    tensor_meta_keys: frozenset[str],
    max_values: int,
    /,
) -> None: ...
def plain_node(obj: Any, /) -> bool: ...
def plain_argument(obj: Any, /) -> bool: ...
def plain_tensor_meta(obj: Any, /) -> bool: ...
