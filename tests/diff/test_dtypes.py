"""Raw tensor bytes decoded without torch agree with torch's own conversion, for every dtype of the schema."""

from __future__ import annotations

import numpy as np
import pytest

from pt2canon.diff.dtypes import FLOAT8, NUMPY_TYPES, decode, float8_table, storage_dtype
from pt2canon.errors import InputError
from pt2canon.listing import DTYPE_NAMES

torch = pytest.importorskip("torch")


def _torch_dtype(scalar_type: int) -> torch.dtype:
    return getattr(torch, DTYPE_NAMES[scalar_type].removeprefix("torch."))


def _as_float(t: torch.Tensor) -> np.ndarray:
    return t.to(torch.float32).numpy() if not t.is_complex() else t.to(torch.complex64).numpy()


@pytest.mark.parametrize("scalar_type", sorted(FLOAT8))
def test_every_float8_code_decodes_to_torchs_value_and_sign(scalar_type: int) -> None:
    codes = torch.arange(256, dtype=torch.int32).to(torch.uint8)
    expected = codes.view(_torch_dtype(scalar_type)).float().numpy()
    got = float8_table(scalar_type)
    assert np.array_equal(got, expected, equal_nan=True)  # NaNs at the same codes
    assert np.array_equal(np.signbit(got), np.signbit(expected))  # negative zeros and signed NaNs too
    assert np.array_equal(decode(codes.numpy().tobytes(), scalar_type), expected, equal_nan=True)


def test_every_bfloat16_code_decodes_to_torchs_float32_bit_for_bit() -> None:
    codes = torch.arange(1 << 16, dtype=torch.int32).to(torch.uint16)
    expected = codes.view(torch.bfloat16).float().numpy()
    got = decode(codes.numpy().tobytes(), 13)
    assert got.dtype == np.float32 and np.array_equal(got.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("scalar_type", [*sorted(NUMPY_TYPES), 9])
def test_the_other_dtypes_decode_to_the_values_torch_stored(scalar_type: int) -> None:
    dtype = _torch_dtype(scalar_type)
    gen = torch.Generator().manual_seed(scalar_type)
    if dtype.is_floating_point or dtype.is_complex:
        t = (torch.randn(257, generator=gen, dtype=torch.complex64 if dtype.is_complex else torch.float32) * 50).to(
            dtype
        )
    elif dtype == torch.bool:
        t = torch.rand(257, generator=gen) > 0.5
    else:
        info = torch.iinfo(dtype)
        low, high = max(info.min, -(2**62)), min(info.max, 2**62)
        t = torch.randint(low, high, (257,), generator=gen, dtype=torch.int64).to(dtype)
    raw = t.contiguous().view(torch.uint8).numpy().tobytes()  # the bytes torch.export.save stores
    got = decode(raw, scalar_type)
    expected = _as_float(t) if scalar_type in (6, 9) else t.numpy()
    assert np.array_equal(got, expected)
    assert storage_dtype(scalar_type).itemsize == t.element_size()


def test_big_endian_archives_decode_with_the_byte_order_they_declare() -> None:
    values = np.array([1.5, -2.25], dtype=">f4")
    assert decode(values.tobytes(), 7, byteorder="big").tolist() == [1.5, -2.25]
    assert decode(np.array([0x3FC0], dtype=">u2").tobytes(), 13, byteorder="big").tolist() == [1.5]


def test_an_unknown_scalar_type_is_an_input_error() -> None:
    with pytest.raises(InputError, match="dtype=99"):
        storage_dtype(99)
