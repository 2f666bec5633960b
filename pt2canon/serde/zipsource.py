"""A zip archive read as untrusted input: :class:`ZipSource` and :func:`open_regular`.

:mod:`zipfile` parses the central directory; everything else is checked and
read here, so that a hostile archive cannot make pt2canon hang, exhaust
memory or see other bytes than the ones the directory names:

* only regular files are opened (a FIFO, a device or a socket would block
  or never end: :func:`~pt2canon.serde.files.open_regular`, importable from
  here too, as :class:`~pt2canon.serde.files.Window` is);
* every member's raw name is read from the central directory (zipfile cuts
  names at a NUL byte) and refused if it holds a NUL or another control
  character or is not UTF-8, or could escape a folder
  (:func:`pt2canon.serde.layout.member_name_problem`);
* a member that is encrypted, or compressed with another method than
  stored or deflate (the two torch's reader, miniz, supports), is refused
  by name; duplicates, overlapping data and stored members whose
  compressed size is not their size are refused;
* declared sizes are bounded by :class:`~pt2canon.serde.layout.Limits`
  (one member, all members, what is decompressed per member and in all);
* a member is read in chunks or into the caller's buffers, deflate is
  inflated in bounded steps, and the bytes read must be exactly the declared
  size with the declared CRC-32 (checked as the last chunk is read):
  corruption is an error, never a different program. Reading one member's
  data (its local header, stored blocks, bounded inflation, the CRC-32) is
  :mod:`pt2canon.serde.members`; :data:`CHUNK` and :func:`read_member` are
  importable from here too.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import struct
import zipfile
from collections.abc import Iterator
from typing import IO

from pt2canon.errors import ArchiveError, UnsafeArchiveError
from pt2canon.serde.files import Window, open_regular
from pt2canon.serde.layout import Limits, member_name_problem
from pt2canon.serde.members import (
    CHUNK,
    LOCAL_HEADER,
    BlockReader,
    MemberReader,
    check_crc,
    crc32,
    data_start,
    read_member,
)

__all__ = [
    "CHUNK",
    "METHOD_NAMES",
    "Window",
    "ZipSource",
    "data_bounds",
    "open_regular",
    "raw_name_problem",
    "raw_names",
    "read_member",
]


#: Zip compression methods by number (APPNOTE 4.4.5), for messages.
METHOD_NAMES = {
    0: "stored", 1: "shrink", 2: "reduce-1", 3: "reduce-2", 4: "reduce-3", 5: "reduce-4", 6: "implode",
    8: "deflate", 9: "deflate64", 10: "PKWARE DCL implode", 12: "bzip2", 14: "LZMA", 16: "IBM z/OS CMPSC",
    18: "IBM TERSE", 19: "IBM LZ77", 20: "zstd (old number)", 93: "zstd", 94: "MP3", 95: "xz", 96: "JPEG",
    97: "WavPack", 98: "PPMd", 99: "AES encryption",
}  # fmt: skip
_SUPPORTED = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def raw_names(fh: IO[bytes], start: int, count: int, label: str) -> list[tuple[bytes, int]]:
    """``(raw name, flags)`` of each central-directory record, in order.

    ``start`` is the directory's offset in ``fh`` and ``count`` its number
    of records (``zipfile.ZipFile.start_dir`` and ``len(infolist())``).
    The names are the bytes the directory holds: :mod:`zipfile` cuts a
    name at a NUL byte, this does not.

    Raises
    ------
    ArchiveError
        If a record is not where the directory should be.

    Examples
    --------
    A zip whose third name is edited to hold a NUL byte:

    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as zf:
    ...     zf.writestr("m/models/model.json", "{}")
    ...     zf.writestr("m/a\\x1b[2J.json", "x")
    ...     zf.writestr("m/aXb.json", "y")
    >>> data = buf.getvalue().replace(b"aXb", b"a\\x00b")
    >>> zf = zipfile.ZipFile(io.BytesIO(data))
    >>> zf.namelist()[2]  # what zipfile sees
    'm/a'
    >>> [name for name, flags in raw_names(io.BytesIO(data), zf.start_dir, 3, "t.zip")]
    [b'm/models/model.json', b'm/a\\x1b[2J.json', b'm/a\\x00b.json']
    >>> raw_names(io.BytesIO(data), 0, 3, "t.zip")  # no directory at offset 0
    Traceback (most recent call last):
    ...
    pt2canon.errors.ArchiveError: t.zip: central directory is truncated or corrupt
    """
    fh.seek(start)
    out = []
    for _ in range(count):
        head = fh.read(46)
        if len(head) != 46 or head[:4] != b"PK\x01\x02":
            raise ArchiveError("central directory is truncated or corrupt", file=label)
        flags = struct.unpack("<H", head[8:10])[0]
        n, m, k = struct.unpack("<3H", head[28:34])
        name = fh.read(n)
        fh.seek(m + k, os.SEEK_CUR)
        out.append((name, flags))
    return out


def raw_name_problem(raw: bytes) -> str | None:
    """What is wrong with a member's raw name bytes (NUL, not UTF-8, a control character), or ``None``.

    Examples
    --------
    >>> raw_name_problem(b"m/models/model.json") is None
    True
    >>> raw_name_problem(b"m/a\\x00.json")
    'contains a NUL byte (zip readers cut the name there, so they disagree on it)'
    >>> raw_name_problem(b"m/\\xff.json")
    'is not valid UTF-8 (torch reads member names as UTF-8)'
    >>> raw_name_problem("m/\\x1b[2J.json".encode())
    'contains a control character'
    """
    if b"\x00" in raw:
        return "contains a NUL byte (zip readers cut the name there, so they disagree on it)"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "is not valid UTF-8 (torch reads member names as UTF-8)"
    if _CONTROL.search(text):
        return "contains a control character"
    return None


def data_bounds(
    infos: list[zipfile.ZipInfo],
    raw: dict[str, bytes],
    start_dir: int,
    label: str,
    *,
    problems: list[UnsafeArchiveError] | None = None,
) -> dict[str, int]:
    """For each member, the offset its data may not run past: the next member's header, or the directory.

    Raises
    ------
    UnsafeArchiveError
        If a member's header, name and data run into the next member (several names for one
        stretch of bytes multiply the work of reading a file without growing it); with
        ``problems`` given, every such error is appended to it instead.

    Examples
    --------
    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as zf:
    ...     zf.writestr("a.txt", "hello")
    ...     zf.writestr("b.txt", "world")
    >>> zf = zipfile.ZipFile(buf)
    >>> infos = zf.infolist()
    >>> raw = {i.filename: i.filename.encode() for i in infos}
    >>> data_bounds(infos, raw, zf.start_dir, "t.zip") == {"a.txt": infos[1].header_offset, "b.txt": zf.start_dir}
    True

    A directory that declares ``a.txt`` 100 bytes long makes it run into
    ``b.txt``:

    >>> infos[0].compress_size = 100
    >>> data_bounds(infos, raw, zf.start_dir, "t.zip")
    Traceback (most recent call last):
    ...
    pt2canon.errors.UnsafeArchiveError: t.zip:a.txt: member's data overlaps member 'b.txt' (a zip bomb or a corrupt directory)
    >>> problems = []
    >>> _ = data_bounds(infos, raw, zf.start_dir, "t.zip", problems=problems)
    >>> [p.member for p in problems]
    ['a.txt']
    """
    bounds = {}
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for k, info in enumerate(ordered):
        after = ordered[k + 1] if k + 1 < len(ordered) else None
        end = after.header_offset if after is not None else start_dir
        if info.header_offset + LOCAL_HEADER + len(raw[info.filename]) + info.compress_size > end:
            err = UnsafeArchiveError(
                f"member's data overlaps {'member ' + repr(after.filename) if after else 'the central directory'} "
                "(a zip bomb or a corrupt directory)",
                file=label,
                member=info.filename,
            )
            if problems is None:
                raise err
            problems.append(err)
        bounds[info.filename] = end
    return bounds


class ZipSource:
    """A zip file opened once, with safety checks and bounded, verified member reads.

    Give the zip as ``data`` (bytes) or ``path``; ``label`` names it in
    messages. The archive readers open it for you
    (:func:`~pt2canon.serde.archive.read_artifact`).

    Raises
    ------
    ArchiveError
        If the zip cannot be read or a member breaks a rule (see the module).
    UnsafeArchiveError
        If a member's name or size is refused.

    Examples
    --------
    >>> import hashlib, io, zipfile
    >>> from pt2canon.serde.layout import DEFAULT_LIMITS
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as zf:
    ...     zf.writestr("a.txt", "hello")
    ...     zf.writestr("b.txt", "x" * 1000, compress_type=zipfile.ZIP_DEFLATED)
    >>> src = ZipSource(buf.getvalue(), None, "t.zip", DEFAULT_LIMITS)
    >>> src.names(), src.size("b.txt"), src.read("a.txt")
    (['a.txt', 'b.txt'], 1000, b'hello')
    >>> [len(c) for c in src.iter_chunks("b.txt", chunk=400)]
    [400, 400, 200]
    >>> src.sha256("a.txt") == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    True
    >>> src.read("b.txt", limit=10)
    Traceback (most recent call last):
    ...
    pt2canon.errors.UnsafeArchiveError: t.zip:b.txt: member declares 1000 bytes, over the limit of 10 for members read whole
    >>> src.close()

    Changed bytes fail the CRC-32 check; a hostile name is refused on opening:

    >>> corrupt = ZipSource(buf.getvalue().replace(b"hello", b"jello"), None, "t.zip", DEFAULT_LIMITS)
    >>> corrupt.read("a.txt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pt2canon.errors.ArchiveError: t.zip:a.txt: member is corrupt: its CRC-32 is ..., the archive says ...
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as zf:
    ...     zf.writestr("../evil.sh", "")
    >>> ZipSource(buf.getvalue(), None, "t.zip", DEFAULT_LIMITS)
    Traceback (most recent call last):
    ...
    pt2canon.errors.UnsafeArchiveError: t.zip:../evil.sh: member name '../evil.sh' contains a '..' component; refusing the archive
    """

    def __init__(self, data: bytes | None, path: str | None, label: str, limits: Limits):
        self.label = label
        self.path = path
        self.limits = limits
        self._data = data
        self._fileobj: IO[bytes] = self._open_private()
        self.infos: dict[str, zipfile.ZipInfo] = {}
        #: For each member, the offset its data may not run past (the next member's header).
        self._bounds: dict[str, int] = {}
        self._raw: dict[str, bytes] = {}
        try:
            try:
                self.zip = zipfile.ZipFile(self._fileobj, metadata_encoding="utf-8")
                infos = self.zip.infolist()
            except UnicodeDecodeError:
                raise self._undecodable_name() from None
            except Exception as exc:  # BadZipFile, LargeZipFile, OSError, EOFError, struct.error, ...
                raise ArchiveError(
                    f"not a readable zip archive ({type(exc).__name__}: {exc})"
                    if not isinstance(exc, zipfile.BadZipFile)
                    else f"not a readable zip archive ({exc})",
                    file=label,
                ) from None
            self._check(infos)
        except BaseException:
            self._fileobj.close()
            raise

    # -- opening -------------------------------------------------------------------------------
    def _undecodable_name(self) -> UnsafeArchiveError:
        """The error for a member name that is not UTF-8, naming the member (its bytes escaped) where found."""
        raw: list[tuple[bytes, int]] = []
        # The directory as zipfile reads it undecoded; if even that fails, no name.
        with contextlib.suppress(Exception), zipfile.ZipFile(self._fileobj) as zf:
            raw = raw_names(self._fileobj, zf.start_dir, len(zf.infolist()), self.label)
        bad = next((name for name, _ in raw if raw_name_problem(name)), None)
        shown = bad.decode("utf-8", "backslashreplace") if bad is not None else None
        return UnsafeArchiveError(
            f"member name {shown!r} is not valid UTF-8 (torch reads member names as UTF-8); refusing the archive"
            if shown is not None
            else "a member name is not valid UTF-8 (torch reads member names as UTF-8); refusing the archive",
            file=self.label,
            member=shown,
        )

    def _check(self, infos: list[zipfile.ZipInfo]) -> None:
        lim, label = self.limits, self.label
        if len(infos) > lim.max_members:
            raise UnsafeArchiveError(
                f"archive has {len(infos)} members, over the limit max_members={lim.max_members}", file=label
            )
        raw = raw_names(self._fileobj, self.zip.start_dir, len(infos), label)
        total = inflated = 0
        for info, (raw_name, _flags) in zip(infos, raw, strict=True):
            name = info.filename
            why = raw_name_problem(raw_name)
            if why:
                shown = raw_name.decode("utf-8", "backslashreplace")  # not zipfile's name, cut at a NUL
                raise UnsafeArchiveError(f"member name {shown!r} {why}; refusing the archive", file=label, member=shown)
            problem = member_name_problem(name)
            if problem:
                raise UnsafeArchiveError(
                    f"member name {name!r} {problem[1]}; refusing the archive", file=label, member=name
                )
            if name in self.infos:
                raise UnsafeArchiveError("member name appears twice in the archive", file=label, member=name)
            if info.flag_bits & 0x1:
                raise UnsafeArchiveError(
                    "member is encrypted; torch never encrypts members and pt2canon cannot check it",
                    file=label,
                    member=name,
                )
            if info.compress_type not in _SUPPORTED:
                method = METHOD_NAMES.get(info.compress_type, "an unknown method")
                raise ArchiveError(
                    f"member is compressed with {method} (method {info.compress_type}); torch's archive reader "
                    "(and pt2canon) read only stored and deflate members: re-save the program with torch.export.save",
                    file=label,
                    member=name,
                )
            if info.file_size > lim.max_member_bytes:
                raise UnsafeArchiveError(
                    f"member declares {info.file_size} bytes, over the limit max_member_bytes={lim.max_member_bytes}",
                    file=label,
                    member=name,
                )
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                raise UnsafeArchiveError(
                    f"stored member declares {info.file_size} bytes but {info.compress_size} stored bytes; "
                    "a stored member's sizes are equal (a crafted or corrupt directory)",
                    file=label,
                    member=name,
                )
            if info.compress_type != zipfile.ZIP_STORED:
                if info.file_size > lim.max_inflated_bytes:
                    raise UnsafeArchiveError(
                        f"compressed member declares {info.file_size} bytes, over the limit "
                        f"max_inflated_bytes={lim.max_inflated_bytes} for one decompressed member (a zip bomb?)",
                        file=label,
                        member=name,
                    )
                inflated += info.file_size
            total += info.file_size
            self.infos[name] = info
            self._raw[name] = raw_name
        if total > lim.max_total_bytes:
            raise UnsafeArchiveError(
                f"members declare {total} bytes in all, over the limit max_total_bytes={lim.max_total_bytes}",
                file=label,
            )
        if inflated > lim.max_total_inflated_bytes:
            raise UnsafeArchiveError(
                f"compressed members declare {inflated} bytes in all, over the limit "
                f"max_total_inflated_bytes={lim.max_total_inflated_bytes} (a zip bomb?)",
                file=label,
            )
        for name, end in data_bounds(infos, self._raw, self.zip.start_dir, label).items():
            self._bounds[name] = end

    # -- reading ---------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self.infos)

    def size(self, name: str) -> int:
        return self.infos[name].file_size

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = self.infos.get(name)
        if info is None:
            raise ArchiveError("member is missing from the archive", file=self.label, member=name)
        return info

    def read(self, name: str, *, limit: int | None = None) -> bytes:
        """Read a whole member, refusing more than ``limit`` bytes (default ``max_json_bytes``)."""
        rule = f"the limit max_json_bytes={self.limits.max_json_bytes}" if limit is None else f"the limit of {limit}"
        limit = self.limits.max_json_bytes if limit is None else limit
        info = self._info(name)
        if info.file_size > limit:
            raise UnsafeArchiveError(
                f"member declares {info.file_size} bytes, over {rule} for members read whole",
                file=self.label,
                member=name,
            )
        if info.compress_type == zipfile.ZIP_STORED:
            # One read into one buffer: chunks and their join would hold the member twice.
            blocks = list(self.iter_chunks(name, chunk=max(info.file_size, 1)))
            return blocks[0] if len(blocks) == 1 else b"".join(blocks)
        return b"".join(self.iter_chunks(name))

    def data_start(self, fh: IO[bytes], info: zipfile.ZipInfo) -> int:
        """Where a member's data starts in ``fh``, after checking its local header against the directory."""
        return data_start(fh, info, self._raw[info.filename], self._bounds[info.filename], self.label)

    def _open_private(self) -> IO[bytes]:
        # Each reader gets its own handle, so members can be read from
        # several threads (hashing) or in alternation without seeking races.
        if self.path is not None:
            return open_regular(self.path)
        return io.BytesIO(self._data or b"")

    def iter_chunks(self, name: str, *, chunk: int = CHUNK) -> Iterator[bytes]:
        """Yield a member's bytes in chunks of at most ``chunk``; the CRC-32 is checked with the last one."""
        info = self._info(name)
        with self._open_private() as fh:
            yield from read_member(fh, info, self._raw[name], self._bounds[name], self.label, chunk=chunk)

    def open_member(self, name: str) -> MemberReader | BlockReader:
        """A reader of a member's bytes into the caller's buffers (``readinto``), on a private handle; close it.

        A stored member is read straight from the file into the buffer
        (:class:`~pt2canon.serde.members.MemberReader`: no new object per
        read); a deflated one through :meth:`iter_chunks` (bounded inflation).
        Either checks the CRC-32 as the last byte is read.

        Examples
        --------
        >>> import io, zipfile
        >>> from pt2canon.serde.layout import DEFAULT_LIMITS
        >>> buf = io.BytesIO()
        >>> with zipfile.ZipFile(buf, "w") as zf:
        ...     zf.writestr("a.txt", "hello")
        ...     zf.writestr("b.txt", "x" * 1000, compress_type=zipfile.ZIP_DEFLATED)
        >>> src = ZipSource(buf.getvalue(), None, "t.zip", DEFAULT_LIMITS)
        >>> out = bytearray(600)
        >>> with src.open_member("a.txt") as r:
        ...     r.readinto(out), bytes(out[:5])
        (5, b'hello')
        >>> with src.open_member("b.txt") as r:
        ...     r.size, r.readinto(out), r.readinto(out), r.readinto(out)
        (1000, 600, 400, 0)
        """
        info = self._info(name)
        if info.compress_type != zipfile.ZIP_STORED:
            return BlockReader(self.iter_chunks(name), info.file_size)
        fh = self._open_private()
        return MemberReader(fh, info, self._raw[name], self._bounds[name], self.label, own=True)

    def sha256(self, name: str, *, chunk: int = 4 << 20) -> str:
        """``sha256:<hex>`` of a member's bytes, streamed (thread-safe); the CRC-32 is checked too."""
        info = self._info(name)
        h = hashlib.sha256()
        if info.compress_type != zipfile.ZIP_STORED:
            for block in self.iter_chunks(name, chunk=chunk):
                h.update(block)
            return "sha256:" + h.hexdigest()
        # Stored (what torch writes): one reused buffer, no copy per chunk.
        buf = bytearray(min(chunk, max(info.file_size, 1)))
        view = memoryview(buf)
        crc = 0
        try:
            with self._open_private() as fh:
                fh.seek(self.data_start(fh, info))
                remaining = info.file_size
                while remaining:
                    n = fh.readinto(view[: min(len(buf), remaining)])  # type: ignore[attr-defined]
                    if not n:
                        raise ArchiveError(
                            f"member is truncated: {remaining} of {info.file_size} bytes missing",
                            file=self.label,
                            member=name,
                        )
                    h.update(view[:n])
                    crc = crc32(view[:n], crc)
                    remaining -= n
        except (OSError, ValueError, OverflowError) as exc:  # a corrupt offset: negative or past 2**63
            raise ArchiveError(f"cannot read member ({exc})", file=self.label, member=name) from None
        check_crc(crc, info, self.label)
        return "sha256:" + h.hexdigest()

    def close(self) -> None:
        self.zip.close()
        self._fileobj.close()
