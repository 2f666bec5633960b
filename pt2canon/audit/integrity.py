"""Whether an archive's members are what its directory says: raw names, overlaps, local headers, CRC-32.

The rules are the reader's (:mod:`pt2canon.serde.zipsource`), which refuses
an archive that breaks one; here each broken rule is a finding and the audit
goes on. Every member is read once, in bounded chunks, through the reader's
verified :func:`~pt2canon.serde.zipsource.read_member`: a bit flipped after
the archive was written shows as ``member-corrupt``, whatever the member.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from pt2canon.errors import Pt2CanonError, UnsafeArchiveError
from pt2canon.serde.zipsource import METHOD_NAMES, Window, data_bounds, raw_name_problem, raw_names, read_member

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.audit.scan import Auditor

__all__ = ["Integrity"]

_READABLE = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


class Integrity:
    """The directory and data checks of one archive, as findings of ``auditor``."""

    def __init__(self, auditor: Auditor, zf: zipfile.ZipFile, fh: IO[bytes]) -> None:
        self.auditor = auditor
        self.zf = zf
        self.fh = fh
        infos = zf.infolist()
        raw = raw_names(fh, zf.start_dir, len(infos), auditor.label)
        self.raw = {i.filename: r for i, (r, _) in zip(infos, raw, strict=True)}
        add = auditor.add
        for info, (name_bytes, _) in zip(infos, raw, strict=True):
            why = raw_name_problem(name_bytes)
            if why:
                code = (
                    "nul-in-name" if b"\x00" in name_bytes else "name-not-utf8" if "UTF-8" in why else "control-in-name"
                )
                add("medium", code, info.filename, f"member name {name_bytes!r} {why}", raw_name=repr(name_bytes))
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                add(
                    "medium",
                    "size-mismatch",
                    info.filename,
                    f"stored member declares {info.file_size} bytes but {info.compress_size} stored bytes "
                    "(a crafted directory: readers that trust one of the two read different data)",
                )
            if info.compress_type not in _READABLE:
                method = METHOD_NAMES.get(info.compress_type, "an unknown method")
                add(
                    "medium",
                    "unsupported-method",
                    info.filename,
                    f"member is compressed with {method} (method {info.compress_type}), which torch's archive "
                    "reader cannot read; its content was not checked",
                    method=info.compress_type,
                )
        problems: list[UnsafeArchiveError] = []
        self.bounds = data_bounds(infos, self.raw, zf.start_dir, auditor.label, problems=problems)
        for err in problems:
            add("medium", "overlapping-members", err.member, err.message)
        self.overlapping = {err.member for err in problems}

    def readable(self, info: zipfile.ZipInfo) -> bool:
        """Whether the member can be read at all (a method torch reads, not encrypted, not overlapping)."""
        return info.compress_type in _READABLE and not info.flag_bits & 0x1 and info.filename not in self.overlapping

    def verify(self, info: zipfile.ZipInfo) -> None:
        """Read the member once through the reader's checks; a broken one is ``member-corrupt``."""
        if not self.readable(info):
            return
        try:
            for _ in read_member(
                self.fh, info, self.raw[info.filename], self.bounds[info.filename], self.auditor.label
            ):
                pass
        except Pt2CanonError as exc:
            self.auditor.add("medium", "member-corrupt", info.filename, exc.message)

    def read(self, info: zipfile.ZipInfo, limit: int) -> bytes | None:
        """A readable member's whole bytes if it declares at most ``limit``, else ``None`` (never more is read)."""
        if not self.readable(info) or info.file_size > limit:
            return None
        try:
            return b"".join(
                read_member(self.fh, info, self.raw[info.filename], self.bounds[info.filename], self.auditor.label)
            )
        except Pt2CanonError:
            return None  # reported by verify

    def opener(self, info: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
        """Opens the member for the pickle scanner: stored data as a window, deflate through zipfile (bounded)."""

        def open_member() -> IO[bytes]:
            if info.compress_type == zipfile.ZIP_STORED:
                self.fh.seek(info.header_offset + 26)
                n, m = int.from_bytes(self.fh.read(2), "little"), int.from_bytes(self.fh.read(2), "little")
                start = info.header_offset + 30 + n + m
                fd, size = self.fh.fileno(), min(info.file_size, self.bounds[info.filename] - start)
                return io.BufferedReader(Window(lambda off, n: os.pread(fd, n, start + off), size))
            return self.zf.open(info)

        return open_member
