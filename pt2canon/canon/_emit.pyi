# The compiled node loop's signatures (pt2canon/canon/_emit.c); its documented face and reference is
# pt2canon.canon.emit (_NodeEmitter.node).
from collections.abc import Callable
from typing import Any

def configure(
    ref_kinds: frozenset[str],
    rename_arg: Callable[..., dict[str, Any]],
    rename_value_args: Callable[..., list[Any]],
    tensor_args: type[dict[Any, Any]],
    /,
) -> None: ...
def emit_nodes(emitter: Any, order: list[Any], /) -> list[dict[str, Any]]: ...
