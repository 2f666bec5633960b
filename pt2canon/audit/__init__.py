"""A static safety scan of ``.pt2`` archives: :func:`audit_path`.

``torch.export.load`` unpickles several members of an archive, and for
sample inputs and older-format blobs it retries a failed
``torch.load(weights_only=True)`` with ``weights_only=False``
(``torch/_export/serde/serialize.py``, ``deserialize_torch_artifact``), which
runs whatever the pickle says. ``use_pickle`` weights and constants are
loaded with ``weights_only=False`` straight away, ``opaque_obj_N`` constants
with ``pickle.loads``, and AOTInductor shared libraries under
``data/aotinductor/`` are loaded as native code. This module finds those
hazards without running anything:

* every pickle in the archive, including ``data.pkl`` inside a torch
  zip-format ``.pt`` member (a zip inside the zip), is walked opcode by
  opcode with :func:`pickletools.genops`; an abstract stack resolves
  ``GLOBAL``, ``INST`` and ``STACK_GLOBAL`` (through memoized strings) and
  the callable of every ``REDUCE``, ``NEWOBJ``, ``NEWOBJ_EX``, ``OBJ`` and
  ``INST``. Any global outside :data:`ALLOWED_GLOBALS` (what torch's tensor
  and container rebuilding needs, the set ``torch.load(weights_only=True)``
  accepts) is a ``high`` finding;
* member names that escape an extraction folder, symlinks, duplicates,
  compressed or encrypted members, declared sizes over :class:`Limits`,
  compression ratios of zip bombs, members that are not part of the layout.

Nothing is unpickled, imported, decompressed past the declared size or
extracted; every loop is bounded by the size of the input.

Severities: ``high`` (code execution or a file written outside a folder is
possible), ``medium`` (resource exhaustion, tampering, content that cannot be
checked), ``low`` (departures from what torch writes), ``info`` (facts that
need no action). :attr:`AuditReport.clean` is true when no finding is above
``info``.

Modules: ``audit.scan`` (the audit of one zip, :class:`Auditor`),
``audit.integrity`` (raw names, overlaps, local headers, CRC-32),
``audit.members`` (which member holds what, from the layout and configs),
``audit.pickles`` (the opcode walk), ``audit.globals`` (the allowlist),
``audit.expressions`` (symbolic expressions torch's loader would evaluate),
``audit.report`` (:class:`Finding`, :class:`AuditReport`).
"""

from __future__ import annotations

import os
import pickletools
import zipfile

from pt2canon.audit.globals import ALLOWED_GLOBALS, global_allowed
from pt2canon.audit.pickles import Reader, scan_pickle_stream
from pt2canon.audit.report import SEVERITIES, AuditReport, Finding
from pt2canon.audit.scan import SNIFF, Auditor
from pt2canon.errors import ArchiveError, InputError
from pt2canon.serde.archive import DEFAULT_LIMITS, Limits, sniff
from pt2canon.serde.zipsource import open_regular

__all__ = [
    "ALLOWED_GLOBALS",
    "SEVERITIES",
    "AuditReport",
    "Finding",
    "audit_path",
    "global_allowed",
]


def audit_path(path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> AuditReport:
    """Scan a ``.pt2`` archive (or an older-format zip, a ``torch.save`` file, a pickle) for hazards.

    Nothing is unpickled, imported or extracted.

    Parameters
    ----------
    path : str or os.PathLike
        The file to scan.
    limits : Limits
        Size bounds; members over them are reported and not read.

    Returns
    -------
    AuditReport
        The findings; ``report.clean`` is true when none is above ``info``.

    Raises
    ------
    InputError
        If the file is missing or empty, or is neither a zip, a JSON document nor a pickle.
    ArchiveError
        If the zip cannot be read at all, or holds neither a program nor torch.save data.
    """
    label = os.fspath(path)
    head, size = sniff(label, SNIFF)
    if size == 0:
        raise InputError("file is empty; expected a .pt2 archive", file=label)
    auditor = Auditor(label, limits)
    if head.startswith(b"PK"):
        with open_regular(label) as fh:
            try:
                zf = zipfile.ZipFile(fh)
            except Exception as exc:  # BadZipFile, LargeZipFile, OSError, EOFError, ValueError, ...
                raise ArchiveError(f"not a readable zip archive ({type(exc).__name__}: {exc})", file=label) from None
            with zf:
                auditor.audit_zip(zf, fh)
        return auditor.finish()
    if head.lstrip()[:1] in (b"{", b"["):
        auditor.report.format = "json"
        return auditor.finish()
    auditor.report.format = "pickle"
    if not (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) and not _parses(label, size):
        raise InputError("not a .pt2 archive, zip, JSON document or pickle", file=label)
    with open_regular(label) as fh:
        auditor.report.pickles.append(label)
        scan_pickle_stream(auditor.add, Reader(fh, size), None, "torch.load", count=0)
    from pt2canon.fx.pickled import audit_findings  # what is particular to GraphPickler payloads

    for severity, code, message, detail in audit_findings(auditor.report.findings):
        auditor.add(severity, code, None, message, **detail)  # type: ignore[arg-type]
    return auditor.finish()


def _parses(label: str, size: int) -> bool:
    """Whether a file without a protocol header is one whole pickle (protocol 0 and 1 have none)."""
    with open(label, "rb") as fh:
        try:
            for _ in pickletools.genops(Reader(fh, size)):  # type: ignore[arg-type]
                pass
        except Exception:
            return False
    return True
