"""What an audit found: :class:`Finding` and :class:`AuditReport`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["SEVERITIES", "AuditReport", "Finding", "Severity"]

Severity = Literal["high", "medium", "low", "info"]

#: Severities from most to least serious.
SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low", "info")


@dataclass(frozen=True)
class Finding:
    """One hazard found in an archive.

    Attributes
    ----------
    severity : {"high", "medium", "low", "info"}
        ``high``: code execution (or a write outside a folder) is possible.
    code : str
        A stable identifier (``"unsafe-global"``, ``"path-traversal"``, ...).
    member : str or None
        The archive member; a pickle inside a zip-format ``.pt`` member is
        named ``outer!inner`` (``m/data/sample_inputs/model.pt!archive/data.pkl``).
        ``None`` for findings about the whole archive.
    message : str
        One sentence a person can act on.
    detail : dict
        Machine-readable facts (``global``, ``opcode``, ``offset``, ...).
    """

    severity: Severity
    code: str
    member: str | None
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready data."""
        return {
            "severity": self.severity,
            "code": self.code,
            "member": self.member,
            "message": self.message,
            "detail": dict(self.detail),
        }


@dataclass
class AuditReport:
    """What :func:`audit_path` found in one file.

    Attributes
    ----------
    path : str
        The file audited.
    format : {"pt2", "legacy", "torch-zip", "pickle", "json"}
        A ``.pt2`` archive, the older zip format, a ``torch.save`` zip, a
        bare pickle or a JSON document.
    findings : list[Finding]
        In archive member order.
    pickles : list[str]
        Every pickle scanned (member names, ``outer!inner`` when nested).
    """

    path: str
    format: str = "pt2"
    findings: list[Finding] = field(default_factory=list)
    pickles: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when no finding is above ``info``."""
        return not any(f.severity != "info" for f in self.findings)

    def counts(self) -> dict[str, int]:
        """Number of findings per severity (every severity present, zeros included)."""
        out: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
        for f in self.findings:
            out[f.severity] += 1
        return out

    def by_severity(self, severity: Severity) -> list[Finding]:
        """The findings of one severity."""
        return [f for f in self.findings if f.severity == severity]

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "path": self.path,
            "format": self.format,
            "clean": self.clean,
            "counts": self.counts(),
            "pickles": list(self.pickles),
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as a JSON document (keys sorted)."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)
