"""One zip member's bytes, read verified: :func:`read_member`, :class:`MemberReader`, :class:`BlockReader`.

What :class:`~pt2canon.serde.zipsource.ZipSource` (and ``pt2canon audit``)
read a member's data with, once the central directory has been checked:

* the member's local header must name the member's raw name with the
  directory's method and sizes, and its data must end before the next
  member's header (:func:`data_start`);
* stored data is read as it is (in chunks, or straight into the caller's
  buffers by :class:`MemberReader`, with no allocation per read); deflate
  is inflated in bounded steps, never past the declared size
  (:func:`inflate`: a zip bomb is refused as it inflates);
* the bytes read must be exactly the declared size with the declared
  CRC-32 (zlib-ng's, checked as the last byte is read): corruption is an
  error, never a different program.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import threading
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any

from pt2canon.errors import ArchiveError, InputError, UnsafeArchiveError

try:  # zlib-ng: the same CRC-32 with the CPU's carry-less multiply (about 13x zlib 1.2.13's here)
    from zlib_ng.zlib_ng import crc32, crc32_combine
except ImportError:  # pragma: no cover - a core dependency; zlib's CRC-32 is the same function, slower
    from zlib import crc32

    def crc32_combine(crc1: int, crc2: int, len2: int, /) -> int:
        # CRC-32 is affine: crc(A + B) = crc(A + zeros) ^ crc(B) ^ crc(zeros), zeros as long as B.
        zeros = bytes(len2)
        return crc32(zeros, crc1) ^ crc2 ^ crc32(zeros)


__all__ = [
    "CHUNK",
    "LOCAL_HEADER",
    "BlockReader",
    "MemberReader",
    "check_crc",
    "crc32",
    "crc32_combine",
    "data_start",
    "inflate",
    "read_member",
]

#: Bytes per chunk when a member is streamed.
CHUNK = 1 << 20
#: Size of a local file header before its name (APPNOTE 4.3.7).
LOCAL_HEADER = 30


def data_start(fh: IO[bytes], info: zipfile.ZipInfo, raw_name: bytes, bound: int, label: str) -> int:
    """Where a member's data starts in ``fh``, after checking its local header against the directory.

    Raises
    ------
    ArchiveError, UnsafeArchiveError
        If the header is missing, or disagrees with the directory on the name, method or sizes, or the
        data would run past ``bound`` (the next member's header).

    Examples
    --------
    A zip in memory: the local header (30 bytes and the 11-byte name) comes first:

    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
    ...     zf.writestr("a/notes.txt", b"hello " * 100)
    >>> info = zipfile.ZipFile(buf).getinfo("a/notes.txt")
    >>> data_start(buf, info, b"a/notes.txt", len(buf.getvalue()), "t.zip")
    41
    >>> data_start(buf, info, b"a/other.txt", len(buf.getvalue()), "t.zip")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pt2canon.errors.UnsafeArchiveError: t.zip:a/notes.txt: ...
    """
    fh.seek(info.header_offset)
    header = fh.read(LOCAL_HEADER)
    if len(header) != LOCAL_HEADER or header[:4] != b"PK\x03\x04":
        raise ArchiveError("member's local header is missing or corrupt", file=label, member=info.filename)
    flags, method = struct.unpack("<HH", header[6:10])
    crc, csize, size = struct.unpack("<3L", header[14:26])
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    described = flags & 0x8 or 0xFFFFFFFF in (csize, size)  # sizes in a data descriptor or zip64 field
    if not described and (crc, csize, size) != (info.CRC, info.compress_size, info.file_size):
        raise UnsafeArchiveError(
            f"member's local header declares {size} bytes ({csize} stored, CRC {crc:08x}), the directory "
            f"{info.file_size} ({info.compress_size} stored, CRC {info.CRC:08x}): zip readers disagree on it",
            file=label,
            member=info.filename,
        )
    local_name = fh.read(name_len)
    if local_name != raw_name:
        shown = local_name.decode("utf-8", "backslashreplace")
        raise UnsafeArchiveError(
            f"member's local header names {shown!r}: zip readers disagree on what this member is",
            file=label,
            member=info.filename,
        )
    if method != info.compress_type:
        raise UnsafeArchiveError(
            f"member's local header says method {method}, the directory {info.compress_type}",
            file=label,
            member=info.filename,
        )
    start = info.header_offset + LOCAL_HEADER + name_len + extra_len
    if start + info.compress_size > bound:
        raise UnsafeArchiveError(
            "member's data overlaps the next member (a zip bomb or a corrupt archive)",
            file=label,
            member=info.filename,
        )
    return start


def read_member(
    fh: IO[bytes], info: zipfile.ZipInfo, raw_name: bytes, bound: int, label: str, *, chunk: int = CHUNK
) -> Iterator[bytes]:
    """Yield a member's bytes from ``fh`` in chunks, verified.

    The local header must name ``raw_name`` with the directory's method and
    sizes, the data must end before ``bound``, deflate is inflated in steps
    of at most ``chunk`` bytes and never past the declared size, and the
    CRC-32 is checked as the last chunk is read. ``pt2canon audit`` reads
    members through this too.

    Examples
    --------
    A deflated member of 1000 bytes, inflated 300 bytes at a time:

    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as zf:
    ...     zf.writestr("b.txt", "x" * 1000, compress_type=zipfile.ZIP_DEFLATED)
    >>> zf = zipfile.ZipFile(buf)
    >>> info = zf.getinfo("b.txt")
    >>> chunks = list(read_member(buf, info, b"b.txt", zf.start_dir, "t.zip", chunk=300))
    >>> [len(c) for c in chunks], b"".join(chunks) == b"x" * 1000
    ([300, 300, 300, 100], True)
    >>> list(read_member(buf, info, b"c.txt", zf.start_dir, "t.zip"))  # the header names another member
    Traceback (most recent call last):
    ...
    pt2canon.errors.UnsafeArchiveError: t.zip:b.txt: member's local header names 'b.txt': zip readers disagree on what this member is
    """
    name = info.filename
    try:
        fh.seek(data_start(fh, info, raw_name, bound, label))
        raw = raw_blocks(fh, info, chunk, label)
        blocks = raw if info.compress_type == zipfile.ZIP_STORED else inflate(raw, info, chunk, label)
        crc = 0
        done = 0
        for block in blocks:
            done += len(block)
            crc = crc32(block, crc)
            if done == info.file_size:
                check_crc(crc, info, label)
            yield block
        if info.file_size == 0:
            check_crc(0, info, label)
        if done != info.file_size:  # pragma: no cover - _raw_blocks and _inflate guarantee it
            raise ArchiveError(f"member has {done} of {info.file_size} bytes", file=label, member=name)
    except (ArchiveError, InputError):
        raise
    except (OSError, ValueError, OverflowError, zlib.error) as exc:  # a corrupt offset, a bad stream
        raise ArchiveError(f"cannot read member ({type(exc).__name__}: {exc})", file=label, member=name) from None


def check_crc(crc: int, info: zipfile.ZipInfo, label: str) -> None:
    """Refuse a member whose bytes' CRC-32 ``crc`` is not the one the archive declares.

    Examples
    --------
    >>> import zipfile, zlib
    >>> info = zipfile.ZipInfo("a/notes.txt")
    >>> info.CRC = zlib.crc32(b"hello")
    >>> check_crc(zlib.crc32(b"hello"), info, "t.zip")
    >>> check_crc(zlib.crc32(b"hellO"), info, "t.zip")
    Traceback (most recent call last):
    ...
    pt2canon.errors.ArchiveError: t.zip:a/notes.txt: member is corrupt: its CRC-32 is 0d7e864e, the archive says 3610a686
    """
    if crc != info.CRC:
        raise ArchiveError(
            f"member is corrupt: its CRC-32 is {crc:08x}, the archive says {info.CRC:08x}",
            file=label,
            member=info.filename,
        )


def raw_blocks(fh: IO[bytes], info: zipfile.ZipInfo, chunk: int, label: str) -> Iterator[bytes]:
    """The member's ``compress_size`` data bytes from ``fh``'s position, in blocks of at most ``chunk``."""
    remaining = info.compress_size
    while remaining:
        block = fh.read(min(chunk, remaining))
        if not block:
            raise ArchiveError(
                f"member is truncated: {remaining} of {info.compress_size} bytes missing",
                file=label,
                member=info.filename,
            )
        remaining -= len(block)
        yield block


def inflate(raw: Iterator[bytes], info: zipfile.ZipInfo, chunk: int, label: str) -> Iterator[bytes]:
    """Inflate in steps of at most ``chunk`` output bytes, never past the declared size.

    Examples
    --------
    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
    ...     zf.writestr("a/notes.txt", b"hello " * 100)
    >>> info = zipfile.ZipFile(buf).getinfo("a/notes.txt")
    >>> _ = buf.seek(data_start(buf, info, b"a/notes.txt", len(buf.getvalue()), "t.zip"))
    >>> [len(out) for out in inflate(raw_blocks(buf, info, 64, "t.zip"), info, 256, "t.zip")]
    [256, 256, 88]
    >>> info.file_size = 100  # a directory that understates the size: refused, not inflated further
    >>> _ = buf.seek(41)
    >>> list(inflate(raw_blocks(buf, info, 64, "t.zip"), info, 256, "t.zip"))
    Traceback (most recent call last):
    ...
    pt2canon.errors.UnsafeArchiveError: t.zip:a/notes.txt: member inflates past its declared size of 100 bytes (a zip bomb?)
    """
    d = zlib.decompressobj(-15)
    left = info.file_size
    for block in raw:
        data = block
        while not d.eof:
            want = min(chunk, left + 1)
            out = d.decompress(data, want)
            data = d.unconsumed_tail
            if len(out) > left:
                raise UnsafeArchiveError(
                    f"member inflates past its declared size of {info.file_size} bytes (a zip bomb?)",
                    file=label,
                    member=info.filename,
                )
            left -= len(out)
            if out:
                yield out
            if not data and len(out) < want:  # this block is used up and nothing is pending
                break
        if d.eof:
            break
    if not d.eof or left:
        raise ArchiveError(
            f"member is corrupt: its deflate stream ends after {info.file_size - left} of the "
            f"{info.file_size} bytes the archive declares",
            file=label,
            member=info.filename,
        )


class MemberReader:
    """A stored member's bytes read straight into the caller's buffers, verified: :meth:`readinto`.

    ``fh`` must be a private handle (the reader seeks it, and closes it on
    :meth:`close` when ``own``). Each :meth:`readinto` fills the buffer it is
    given (no new object per read, so a few reused buffers stream any size),
    folds what it read into the CRC-32 and checks it when the member's last
    byte is read. :meth:`ZipSource.open_member
    <pt2canon.serde.zipsource.ZipSource.open_member>` makes one.

    Several threads can read one reader at once with :meth:`read_at` (a
    positional read: ``os.preadv`` on a file where it exists, no shared
    position; else a seek and a read under the reader's lock); each computes
    its part's CRC-32 and :meth:`join_crc` joins the parts in member order,
    checking the whole as the last part is joined. A reader is read one way
    or the other, not both.

    Examples
    --------
    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as zf:
    ...     zf.writestr("a.bin", bytes(range(10)))
    >>> zf = zipfile.ZipFile(buf)
    >>> r = MemberReader(io.BytesIO(buf.getvalue()), zf.getinfo("a.bin"), b"a.bin", zf.start_dir, "t.zip")
    >>> out = bytearray(4)
    >>> [(r.readinto(out), bytes(out)) for _ in range(3)][2]  # the last read is short
    (2, b'\\x08\\t\\x06\\x07')
    >>> r.remaining, r.readinto(out)
    (0, 0)

    Positional reads, in any order, their CRCs joined in member order:

    >>> r = MemberReader(io.BytesIO(buf.getvalue()), zf.getinfo("a.bin"), b"a.bin", zf.start_dir, "t.zip")
    >>> tail, head = bytearray(6), bytearray(4)
    >>> r.read_at(tail, 4), r.read_at(head, 0), bytes(head + tail) == bytes(range(10))
    (6, 4, True)
    >>> r.join_crc(crc32(head), 4); r.join_crc(crc32(tail), 6); r.remaining
    0

    A changed byte fails the CRC-32 check as the last byte is read:

    >>> bad = buf.getvalue().replace(bytes(range(10)), bytes(range(1, 11)))
    >>> r = MemberReader(io.BytesIO(bad), zf.getinfo("a.bin"), b"a.bin", zf.start_dir, "t.zip")
    >>> r.readinto(bytearray(16))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pt2canon.errors.ArchiveError: t.zip:a.bin: member is corrupt: its CRC-32 is ..., the archive says ...
    """

    def __init__(
        self, fh: IO[bytes], info: zipfile.ZipInfo, raw_name: bytes, bound: int, label: str, *, own: bool = False
    ) -> None:
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError("MemberReader reads stored members; deflated ones are read through read_member")
        self.size = info.file_size
        #: Bytes of the member not read yet.
        self.remaining = info.file_size
        self._fh, self._info, self._label, self._own = fh, info, label, own
        self._crc = 0
        self._fd: int | None = None
        self._lock = threading.Lock()  # positional reads of a handle without a file descriptor
        try:
            self._start = data_start(fh, info, raw_name, bound, label)
            fh.seek(self._start)
            if hasattr(os, "preadv"):  # Linux, the BSDs; elsewhere (Windows, macOS) seek and read under a lock
                with contextlib.suppress(AttributeError, io.UnsupportedOperation):
                    self._fd = fh.fileno()
        except (OSError, ValueError, OverflowError) as exc:  # a corrupt offset: negative or past 2**63
            self.close()
            raise self._error(exc) from None
        except BaseException:
            self.close()
            raise
        if not self.size:
            check_crc(0, info, label)

    def _error(self, exc: Exception) -> ArchiveError:
        return ArchiveError(
            f"cannot read member ({type(exc).__name__}: {exc})", file=self._label, member=self._info.filename
        )

    def _truncated(self, missing: str) -> ArchiveError:
        return ArchiveError(f"member is truncated: {missing} missing", file=self._label, member=self._info.filename)

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` with the member's next bytes (all of it unless the member ends first); how many."""
        view = memoryview(buffer).cast("B")
        want = min(len(view), self.remaining)
        done = 0
        try:
            while done < want:
                n = self._fh.readinto(view[done:want])  # type: ignore[attr-defined]
                if not n:
                    raise self._truncated(f"{self.remaining} of {self.size} bytes")
                self._crc = crc32(view[done : done + n], self._crc)
                done += n
                self.remaining -= n
        except (OSError, ValueError, OverflowError) as exc:
            raise self._error(exc) from None
        if want and not self.remaining:
            check_crc(self._crc, self._info, self._label)
        return done

    def read_at(self, buffer: Any, pos: int) -> int:
        """Fill ``buffer`` with the member's bytes from ``pos`` on (all of it unless the member ends first); how many.

        Thread-safe, and not folded into the CRC-32: compute each part's with
        :func:`crc32` and join them in member order with :meth:`join_crc`.
        """
        view = memoryview(buffer).cast("B")
        want = max(0, min(len(view), self.size - pos))
        done = 0
        try:
            while done < want:
                offset = self._start + pos + done
                if self._fd is not None:
                    n = os.preadv(self._fd, [view[done:want]], offset)
                else:
                    with self._lock:
                        self._fh.seek(offset)
                        n = self._fh.readinto(view[done:want])  # type: ignore[attr-defined]
                if not n:
                    raise self._truncated(f"bytes {pos + done} to {self.size}")
                done += n
        except (OSError, ValueError, OverflowError) as exc:
            raise self._error(exc) from None
        return done

    def join_crc(self, crc: int, n: int) -> None:
        """Join the CRC-32 ``crc`` of the member's next ``n`` bytes (read by :meth:`read_at`); checked at the end."""
        self._crc = crc32_combine(self._crc, crc, n)
        self.remaining -= n
        if n and not self.remaining:
            check_crc(self._crc, self._info, self._label)

    def close(self) -> None:
        if self._own:
            self._fh.close()

    def __enter__(self) -> MemberReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BlockReader:
    """:meth:`readinto` over an iterator of byte blocks of ``size`` bytes in all (a deflated member, tensors in memory).

    The blocks are copied into the caller's buffer; whatever checks the
    iterator makes (:func:`read_member`'s CRC-32 and bounded inflation) it
    makes as it is read.

    Examples
    --------
    >>> r = BlockReader(iter([b"abc", b"defg"]), 7)
    >>> out = bytearray(5)
    >>> r.readinto(out), bytes(out), r.readinto(out), bytes(out[:2]), r.readinto(out)
    (5, b'abcde', 2, b'fg', 0)
    """

    def __init__(self, blocks: Iterator[bytes], size: int) -> None:
        self.size = size
        #: Bytes not read yet (as declared: the iterator may end sooner).
        self.remaining = size
        self._blocks = blocks
        self._pending = memoryview(b"")

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` with the next bytes (all of it unless the blocks end first); how many."""
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view):
            if not self._pending:
                block = next(self._blocks, None)
                if block is None:
                    break
                self._pending = memoryview(block).cast("B")
                continue
            n = min(len(self._pending), len(view) - done)
            view[done : done + n] = self._pending[:n]
            self._pending = self._pending[n:]
            done += n
        self.remaining = max(0, self.remaining - done)
        return done

    def close(self) -> None:
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
