"""The audit of one zip: names, sizes, members and the pickles in them (:class:`Auditor`)."""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import IO, Any

from pt2canon.audit.expressions import scan_program
from pt2canon.audit.integrity import Integrity
from pt2canon.audit.members import MemberKinds
from pt2canon.audit.pickles import Loader, Reader, scan_pickle_stream
from pt2canon.audit.report import AuditReport, Finding, Severity
from pt2canon.serde.archive import Limits
from pt2canon.serde.layout import has_dotdot, is_absolute

__all__ = ["Auditor"]

_MAX_FINDINGS = 1000  # findings kept per archive; then one "too-many-findings"
SNIFF = 8


class Auditor:
    """Collects the findings of one file."""

    def __init__(self, label: str, limits: Limits) -> None:
        self.label = label
        self.limits = limits
        self.report = AuditReport(path=label)
        self._truncated = 0

    # findings ----------------------------------------------------------------------
    def add(self, severity: Severity, code: str, member: str | None, message: str, **detail: Any) -> None:
        if len(self.report.findings) >= _MAX_FINDINGS:
            self._truncated += 1
            return
        self.report.findings.append(Finding(severity, code, member, message, detail))

    def finish(self) -> AuditReport:
        if self._truncated:
            self.report.findings.append(
                Finding(
                    "medium",
                    "too-many-findings",
                    None,
                    f"{self._truncated} more findings were left out after the first {_MAX_FINDINGS}",
                    {"left_out": self._truncated},
                )
            )
        return self.report

    def scan_blob(
        self,
        opener: Callable[[], AbstractContextManager[IO[bytes]]],
        size: int,
        label: str,
        loader: Loader,
        *,
        sniff: bool = False,
        whole: bool = True,
    ) -> None:
        """Scan a member that holds a pickle, a torch zip-format file, or (``sniff``) maybe neither.

        ``size`` bytes at most are read; ``whole`` is false when that is less
        than the member (a zip bomb), and then a nested zip, whose directory
        is at its end, is not opened.
        """
        with opener() as fh:
            head = fh.read(SNIFF)
        if head.startswith(b"PK\x03\x04") and loader != "pickle":  # pickle.loads never reads a zip
            if whole:
                self.scan_nested_zip(opener, label, loader, sniff=sniff)
            return
        if sniff and not (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
            return
        with opener() as fh:
            reader = Reader(fh, size)
            self.report.pickles.append(label)
            ok = scan_pickle_stream(
                self.add, reader, label, loader, count=0 if loader == "torch.load" else 1, head=head
            )
        if not ok:
            self.report.pickles.pop()
            if not sniff:
                self.add(
                    "medium",
                    "not-a-pickle",
                    label,
                    f"member should hold a pickle or a torch zip-format file but starts with {head[:4]!r}; "
                    "it was not checked",
                )

    def scan_nested_zip(
        self, opener: Callable[[], AbstractContextManager[IO[bytes]]], outer: str, loader: Loader, *, sniff: bool
    ) -> None:
        try:
            with opener() as fh, zipfile.ZipFile(fh) as inner:  # type: ignore[arg-type]
                infos = inner.infolist()
                if self.too_many_members(infos, outer, "nested zip"):
                    return
                names = [i.filename for i in infos]
                if (
                    loader == "torch.load"
                    and not sniff
                    and any(n == "constants.pkl" or n.endswith("/constants.pkl") for n in names)
                ):
                    self.add(
                        "high",
                        "torchscript-archive",
                        outer,
                        "member is a TorchScript archive (it holds constants.pkl): torch.load hands it to "
                        "torch.jit.load, which compiles and runs the code it carries",
                    )
                pkls = [i for i in infos if i.filename.endswith(".pkl")]
                if not pkls and not sniff:
                    self.add(
                        "medium",
                        "no-pickle-in-zip",
                        outer,
                        "member is a zip but holds no data.pkl, so it is not a torch zip-format file; torch.load would fail",
                    )
                for info in pkls:
                    label = f"{outer}!{info.filename}"
                    budget = self.check_member(info, label, nested=True)
                    if budget is None:
                        continue
                    self.report.pickles.append(label)
                    try:
                        with inner.open(info) as ih:
                            scan_pickle_stream(self.add, Reader(ih, budget), label, loader, count=1)
                    except Exception as exc:  # zlib.error, BadZipFile (bad CRC), NotImplementedError, ...
                        self.add(
                            "medium", "member-unreadable", label, f"cannot read member ({type(exc).__name__}: {exc})"
                        )
        except Exception as exc:  # BadZipFile, LargeZipFile, OSError, EOFError, ...
            self.add(
                "medium",
                "nested-zip-unreadable",
                outer,
                f"member starts like a zip but cannot be read as one ({type(exc).__name__}: {exc}); it was not checked",
            )

    # members -----------------------------------------------------------------------
    def check_member(self, info: zipfile.ZipInfo, label: str, *, nested: bool = False) -> int | None:
        """Size, ratio and encryption checks.

        Return how many bytes of the member may be read: its size, or for a
        member over the compression ratio limit ``max_ratio`` times its
        compressed size (a pickle at its start is still scanned, the bomb is
        never expanded); ``None`` if it must not be read at all.
        """
        lim = self.limits
        readable: int | None = info.file_size
        if info.flag_bits & 0x1:
            self.add(
                "medium", "encrypted-member", label, "member is encrypted; it cannot be checked (torch never encrypts)"
            )
            readable = None
        if info.file_size > lim.max_member_bytes:
            self.add(
                "medium",
                "member-too-large",
                label,
                f"member declares {info.file_size} bytes, over the limit max_member_bytes={lim.max_member_bytes}; not checked",
                size=info.file_size,
                limit=lim.max_member_bytes,
            )
            readable = None
        if info.compress_type != zipfile.ZIP_STORED:
            budget = lim.max_ratio * max(info.compress_size, 1)
            if info.file_size > budget:
                self.add(
                    "medium",
                    "compression-ratio",
                    label,
                    f"member expands {info.file_size} bytes from {info.compress_size}, over the compression ratio "
                    f"limit max_ratio={lim.max_ratio} (a zip bomb?); at most {budget} bytes of it were decompressed",
                    size=info.file_size,
                    compressed=info.compress_size,
                    limit=lim.max_ratio,
                )
                readable = None if readable is None else budget
            if not nested:
                self.add(
                    "low",
                    "compressed-member",
                    label,
                    f"member is compressed (method {info.compress_type}) where torch writes members stored; "
                    "the archive was rewritten by another tool",
                    method=info.compress_type,
                )
        return readable

    def check_name(self, info: zipfile.ZipInfo) -> None:
        # The rules of pt2canon.serde.layout, which the reader applies by refusing the archive.
        name = info.filename
        if is_absolute(name):
            self.add(
                "high",
                "path-traversal",
                name,
                "member name is an absolute path: extracting the archive writes outside the target folder",
            )
        elif has_dotdot(name, backslash=True):
            self.add(
                "high",
                "path-traversal",
                name,
                "member name has a '..' component: extracting the archive writes outside the target folder",
            )
        elif "\\" in name:
            self.add("medium", "backslash-name", name, "member name contains a backslash, a path separator on Windows")
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_ISLNK(mode):
            self.add(
                "high",
                "symlink-member",
                name,
                "member is a symbolic link: extracting it can point files outside the target folder",
            )

    def too_many_members(self, infos: list[zipfile.ZipInfo], member: str | None, what: str) -> bool:
        """Report a zip (``what``: ``"archive"``, ``"nested zip"``) with more than ``max_members`` members."""
        limit = self.limits.max_members
        if len(infos) <= limit:
            return False
        self.add(
            "medium",
            "too-many-members",
            member,
            f"{what} has {len(infos)} members, over the limit max_members={limit}; contents not checked",
            count=len(infos),
            limit=limit,
        )
        return True

    # the archive -------------------------------------------------------------------
    def audit_zip(self, zf: zipfile.ZipFile, fh: IO[bytes]) -> None:
        lim = self.limits
        infos = zf.infolist()
        if self.too_many_members(infos, None, "archive"):
            for info in infos:
                self.check_name(info)
            return
        seen: dict[str, int] = {}
        total = 0
        for info in infos:
            seen[info.filename] = seen.get(info.filename, 0) + 1
            total += info.file_size
        for name, n in seen.items():
            if n > 1:
                self.add(
                    "medium",
                    "duplicate-member",
                    name,
                    f"member name appears {n} times: different readers pick different copies (all were checked)",
                )
        if total > lim.max_total_bytes:
            self.add(
                "medium",
                "archive-too-large",
                None,
                f"members declare {total} bytes in all, over the limit max_total_bytes={lim.max_total_bytes}",
                size=total,
                limit=lim.max_total_bytes,
            )

        integrity = Integrity(self, zf, fh)
        layout = MemberKinds(self, zf, infos, integrity.read)
        self.report.format = layout.format
        for info in infos:
            self.check_name(info)
            name = info.filename
            if name.endswith("/"):
                continue
            budget = self.check_member(info, name)
            if budget is not None:
                integrity.verify(info)
            kind = layout.kind(name)
            if kind == "json" and info.file_size > lim.max_json_bytes:
                self.add(
                    "medium",
                    "json-too-large",
                    name,
                    f"JSON member declares {info.file_size} bytes, over the limit max_json_bytes={lim.max_json_bytes}",
                )
            if kind == "unknown":
                self.add("low", "unknown-member", name, "member is not part of the .pt2 layout; torch ignores it")
            if kind == "json" and layout.is_program(name):
                data = integrity.read(info, lim.max_json_bytes)
                if data is not None:
                    scan_program(self.add, name, data)
            if budget is None or kind in ("json", "text", "raw", "dir") or not integrity.readable(info):
                continue
            opener = integrity.opener(info)
            try:
                if kind in ("torch.load", "pickle", "torchscript"):
                    self.scan_blob(opener, budget, name, kind, whole=budget == info.file_size)  # type: ignore[arg-type]
                else:  # unknown, extra, other known folders: scan only what looks like a pickle
                    self.scan_blob(opener, budget, name, "torch.load", sniff=True, whole=budget == info.file_size)
            except Exception as exc:  # BadZipFile (bad CRC, header mismatch), zlib.error, OSError, ...
                self.add("medium", "member-unreadable", name, f"cannot read member ({type(exc).__name__}: {exc})")
        for finding in layout.findings:
            self.add(*finding)
