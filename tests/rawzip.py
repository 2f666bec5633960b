"""Zips written byte by byte, for the hostile inputs :mod:`zipfile` will not write.

:func:`raw_zip` writes members with any name bytes (NUL, invalid UTF-8,
control characters), any method number, flags, CRC and declared sizes, data
given already compressed, and central-directory entries that point at
another entry's data (overlaps). :func:`entries` reads a real zip into that
form, so that a test changes one field of one member of a real export.
"""

from __future__ import annotations

import bz2
import io
import lzma
import struct
import zipfile
import zlib
from dataclasses import dataclass, replace

__all__ = ["Entry", "compress", "entries", "raw_zip", "with_entry"]


@dataclass(frozen=True)
class Entry:
    """One member as it goes into the zip.

    ``data`` is what is stored (already compressed for a compressed method);
    ``crc``, ``size`` and ``csize`` default to the true values of ``plain``.
    ``alias_of`` writes no data: the central-directory entry points at the
    local header of the named earlier entry (several names, one stretch of bytes).
    """

    name: bytes
    data: bytes
    plain: bytes | None = None
    method: int = zipfile.ZIP_STORED
    flags: int = 0
    crc: int | None = None
    size: int | None = None
    csize: int | None = None
    local_name: bytes | None = None
    local_size: int | None = None
    alias_of: bytes | None = None
    external_attr: int = 0o100644 << 16


def compress(plain: bytes, method: int) -> bytes:
    """``plain`` compressed as a zip member of ``method`` stores it (stored, deflate, bzip2, lzma)."""
    if method == zipfile.ZIP_STORED:
        return plain
    if method == zipfile.ZIP_DEFLATED:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(plain) + c.flush()
    if method == zipfile.ZIP_BZIP2:
        return bz2.compress(plain, 9)
    if method == zipfile.ZIP_LZMA:
        # zipfile's LZMA member: a 4-byte version/size header, then the raw LZMA1 properties and stream.
        filt = lzma._encode_filter_properties({"id": lzma.FILTER_LZMA1})  # type: ignore[attr-defined]
        c = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[lzma._decode_filter_properties(lzma.FILTER_LZMA1, filt)])  # type: ignore[attr-defined]
        return struct.pack("<BBH", 9, 4, len(filt)) + filt + c.compress(plain) + c.flush()
    raise ValueError(method)


def entries(source: bytes) -> list[Entry]:
    """The members of a real zip as stored entries (names as UTF-8 bytes)."""
    with zipfile.ZipFile(io.BytesIO(source)) as zf:
        return [Entry(i.filename.encode(), zf.read(i), zf.read(i)) for i in zf.infolist()]


def with_entry(items: list[Entry], suffix: str, **changes: object) -> list[Entry]:
    """``items`` with the one entry whose name ends in ``suffix`` changed (fields of :class:`Entry`)."""
    hits = [i for i, e in enumerate(items) if e.name.endswith(suffix.encode())]
    assert len(hits) == 1, (suffix, hits)
    out = list(items)
    out[hits[0]] = replace(out[hits[0]], **changes)  # type: ignore[arg-type]
    return out


def raw_zip(items: list[Entry]) -> bytes:
    """A zip of ``items``, written field by field (no zip64; members under 4 GiB)."""
    out = io.BytesIO()
    central = []
    offsets: dict[bytes, int] = {}
    for e in items:
        plain = e.plain if e.plain is not None else e.data
        crc = zlib.crc32(plain) if e.crc is None else e.crc
        size = len(plain) if e.size is None else e.size
        csize = len(e.data) if e.csize is None else e.csize
        if e.alias_of is not None:
            offset = offsets[e.alias_of]
        else:
            offset = out.tell()
            offsets[e.name] = offset
            lname = e.name if e.local_name is None else e.local_name
            lsize = size if e.local_size is None else e.local_size
            out.write(
                struct.pack(
                    "<4s5H3L2H", b"PK\x03\x04", 20, e.flags, e.method, 0, 0x21, crc, csize, lsize, len(lname), 0
                )
            )
            out.write(lname)
            out.write(e.data)
        central.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                (3 << 8) | 20,
                20,
                e.flags,
                e.method,
                0,
                0x21,
                crc,
                csize,
                size,
                len(e.name),
                0,
                0,
                0,
                0,
                e.external_attr,
                offset,
            )
            + e.name
        )
    start = out.tell()
    cd = b"".join(central)
    out.write(cd)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(items), len(items), len(cd), start, 0))
    return out.getvalue()
