# The compiled kernel's signature (pt2canon/diff/_fused.c); its documented face is pt2canon.diff.fused.
from typing import Any

def compare_f32(
    a: Any, b: Any, rtol: float, atol: float, exact: bool, /
) -> tuple[int, int, float, int, float, int] | None: ...
