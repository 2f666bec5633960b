"""Enum values of torch's serialization schema (``ScalarType``, ``Layout``, ``MemoryFormat``) and their names.

Facts of the schema (``torch/_export/serde/schema.py``), read by the
readers (:mod:`pt2canon.serde.torch_save`), the listing and the diff.

Examples
--------
>>> DTYPE_NAMES[7], DTYPE_ABBRS[7], LAYOUT_NAMES[7]
('torch.float32', 'f32', 'torch.strided')
"""

from __future__ import annotations

__all__ = ["DTYPE_ABBRS", "DTYPE_NAMES", "LAYOUT_NAMES", "MEMORY_FORMAT_NAMES"]

#: ``ScalarType`` enum value (torch/_export/serde/schema.py) -> torch dtype name.
DTYPE_NAMES: dict[int, str] = {
    1: "torch.uint8",
    2: "torch.int8",
    3: "torch.int16",
    4: "torch.int32",
    5: "torch.int64",
    6: "torch.float16",
    7: "torch.float32",
    8: "torch.float64",
    9: "torch.complex32",
    10: "torch.complex64",
    11: "torch.complex128",
    12: "torch.bool",
    13: "torch.bfloat16",
    28: "torch.uint16",
    29: "torch.float8_e4m3fn",
    30: "torch.float8_e5m2",
    31: "torch.float8_e4m3fnuz",
    32: "torch.float8_e5m2fnuz",
    33: "torch.float8_e8m0fnu",
    34: "torch.uint32",
    35: "torch.uint64",
}

#: ``ScalarType`` enum value -> the short name torch prints in graphs (``dtype.abbr``).
DTYPE_ABBRS: dict[int, str] = {
    1: "u8",
    2: "i8",
    3: "i16",
    4: "i32",
    5: "i64",
    6: "f16",
    7: "f32",
    8: "f64",
    9: "c32",
    10: "c64",
    11: "c128",
    12: "b8",
    13: "bf16",
    28: "u16",
    29: "f8e4m3fn",
    30: "f8e5m2",
    31: "f8e4m3fnuz",
    32: "f8e5m2fnuz",
    33: "f8e8m0fnu",
    34: "u32",
    35: "u64",
}

#: ``Layout`` enum value -> torch layout name.
LAYOUT_NAMES: dict[int, str] = {
    1: "torch.sparse_coo",
    2: "torch.sparse_csr",
    3: "torch.sparse_csc",
    4: "torch.sparse_bsr",
    5: "torch.sparse_bsc",
    6: "torch._mkldnn",
    7: "torch.strided",
}

#: ``MemoryFormat`` enum value -> torch memory format name.
MEMORY_FORMAT_NAMES: dict[int, str] = {
    1: "torch.contiguous_format",
    2: "torch.channels_last",
    3: "torch.channels_last_3d",
    4: "torch.preserve_format",
}
