"""Raw tensor bytes as numbers: every torch dtype of the schema, decoded with numpy, without torch.

numpy has no bfloat16 and no float8 types. They are decoded by hand,
exactly: a bfloat16 is the upper half of a float32 (shift the 16 bits
left), and each float8 format has 256 codes, decoded once into a lookup
table of float32 values (sign, exponent and mantissa by the format's
rules: finite-only ``fn`` formats, ``fnuz`` formats with one NaN and no
negative zero, ``e8m0`` powers of two). ``tests/diff/test_dtypes.py``
checks every code against torch's own conversion. The hand decoders were
chosen over ml_dtypes by measurement (``bench/diff_weights.py``): as fast
for bfloat16, about 4x faster for float8 (a table lookup against an
element-wise cast), and no extra dependency.

Examples
--------
>>> import numpy as np
>>> decode(np.array([0x3F80, 0xC000], dtype="<u2").tobytes(), 13)  # bfloat16 1.0, -2.0
array([ 1., -2.], dtype=float32)
>>> decode(bytes([0x38, 0x7E, 0x7F]), 29)  # float8_e4m3fn: 1.0, 448 (the largest), NaN
array([  1., 448.,  nan], dtype=float32)
>>> storage_dtype(7).itemsize, storage_dtype(9).itemsize  # float32; complex32 is two float16
(4, 4)
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING, Any

from pt2canon.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["FLOAT8", "NUMPY_TYPES", "decode", "float8_table", "storage_dtype"]

#: ``ScalarType`` -> numpy type string of the dtypes numpy has as they are (little-endian form).
NUMPY_TYPES: dict[int, str] = {
    1: "u1",
    2: "i1",
    3: "i2",
    4: "i4",
    5: "i8",
    6: "f2",
    7: "f4",
    8: "f8",
    10: "c8",
    11: "c16",
    12: "b1",
    28: "u2",
    34: "u4",
    35: "u8",
}

#: ``ScalarType`` of each float8 format -> (exponent bits, mantissa bits, exponent bias, kind):
#: ``ieee`` has infinities and NaNs at the top exponent, ``fn`` only NaN at all-ones,
#: ``fnuz`` only NaN at 0x80 (no negative zero), ``e8m0`` unsigned powers of two.
FLOAT8: dict[int, tuple[int, int, int, str]] = {
    29: (4, 3, 7, "fn"),  # float8_e4m3fn
    30: (5, 2, 15, "ieee"),  # float8_e5m2
    31: (4, 3, 8, "fnuz"),  # float8_e4m3fnuz
    32: (5, 2, 16, "fnuz"),  # float8_e5m2fnuz
    33: (8, 0, 127, "e8m0"),  # float8_e8m0fnu
}

_BFLOAT16 = 13
_COMPLEX32 = 9


def _decode8(code: int, ebits: int, mbits: int, bias: int, kind: str) -> float:
    if kind == "e8m0":
        return math.nan if code == 0xFF else 2.0 ** (code - bias)
    sign = -1.0 if code & 0x80 else 1.0
    exp = (code >> mbits) & ((1 << ebits) - 1)
    man = code & ((1 << mbits) - 1)
    top = (1 << ebits) - 1
    if kind == "fnuz" and code == 0x80:
        return math.nan
    if kind == "fn" and exp == top and man == (1 << mbits) - 1:
        return math.copysign(math.nan, sign)
    if kind == "ieee" and exp == top:
        return sign * math.inf if man == 0 else math.copysign(math.nan, sign)
    if exp == 0:  # subnormal
        return sign * (man / (1 << mbits)) * 2.0 ** (1 - bias)
    return sign * (1 + man / (1 << mbits)) * 2.0 ** (exp - bias)


@cache
def float8_table(scalar_type: int) -> np.ndarray:
    """The float32 value of each of the 256 codes of a float8 ``ScalarType``."""
    import numpy as np

    ebits, mbits, bias, kind = FLOAT8[scalar_type]
    return np.array([_decode8(c, ebits, mbits, bias, kind) for c in range(256)], dtype=np.float32)


def storage_dtype(scalar_type: int, byteorder: str = "little") -> np.dtype[Any]:
    """The numpy dtype of one stored element of ``scalar_type`` (raw integers for bfloat16 and float8).

    Raises
    ------
    InputError
        On a ``ScalarType`` the schema does not define.

    Examples
    --------
    ``ScalarType`` 7 is float32, 13 bfloat16 (stored as 16-bit integers),
    9 complex32 (a pair of float16), 29 float8_e4m3fn (one byte):

    >>> storage_dtype(7), storage_dtype(7, "big"), storage_dtype(13), storage_dtype(29)
    (dtype('float32'), dtype('>f4'), dtype('uint16'), dtype('uint8'))
    >>> storage_dtype(9).names, storage_dtype(9).itemsize
    (('re', 'im'), 4)
    >>> storage_dtype(99)
    Traceback (most recent call last):
    ...
    pt2canon.errors.InputError: dtype=99: not a ScalarType of torch's export schema; no numeric comparison
    """
    import numpy as np

    order = "<" if byteorder == "little" else ">"
    if scalar_type in NUMPY_TYPES:
        return np.dtype(order + NUMPY_TYPES[scalar_type])
    if scalar_type == _BFLOAT16:
        return np.dtype(order + "u2")
    if scalar_type == _COMPLEX32:
        return np.dtype([("re", order + "f2"), ("im", order + "f2")])
    if scalar_type in FLOAT8:
        return np.dtype("u1")
    raise InputError(f"dtype={scalar_type!r}: not a ScalarType of torch's export schema; no numeric comparison")


def decode(data: bytes | memoryview, scalar_type: int, byteorder: str = "little") -> np.ndarray:
    """The elements of raw bytes as numbers numpy computes with.

    float32, float64, complex64/128 and the integer and bool types stay
    as they are; float16, bfloat16 and float8 become float32, complex32
    complex64.

    Examples
    --------
    >>> import numpy as np
    >>> decode(np.array([1.5, -0.25], dtype="<f2").tobytes(), 6)  # float16 -> float32
    array([ 1.5 , -0.25], dtype=float32)
    >>> decode(np.array([1, 256], dtype=">i4").tobytes(), 4, "big")  # int32 stays int32, in its byte order
    array([  1, 256], dtype='>i4')
    >>> decode(bytes([0x3C, 0x7C, 0xFC]), 30)  # float8_e5m2 (exponent bias 15): 1.0, +inf, -inf
    array([  1.,  inf, -inf], dtype=float32)
    >>> decode(np.array([1, 2, 3, -1], dtype="<f2").tobytes(), 9)  # complex32: (re, im) pairs of float16
    array([1.+2.j, 3.-1.j], dtype=complex64)
    """
    import numpy as np

    raw = np.frombuffer(data, dtype=storage_dtype(scalar_type, byteorder))
    if scalar_type == _BFLOAT16:
        out = np.empty(raw.shape, dtype=np.uint32)
        np.left_shift(raw, 16, out=out, dtype=np.uint32)
        return out.view(np.float32)
    if scalar_type in FLOAT8:
        return np.take(float8_table(scalar_type), raw)
    if scalar_type == 6:
        return raw.astype(np.float32)
    if scalar_type == _COMPLEX32:
        return raw["re"].astype(np.float32) + 1j * raw["im"].astype(np.float32)
    return raw
