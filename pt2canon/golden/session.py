"""What the plugin keeps per test session, and the report of the golden files written.

Examples
--------
>>> from pathlib import Path
>>> s = GoldenSession(update=True, level="graph", rootpath=Path("."))
>>> s.written.append(("created", "tests/test_m/test_a.pt2canon.json"))
>>> print("\\n".join(s.report_lines()))
1 golden file(s) written (1 created, 0 updated):
  created tests/test_m/test_a.pt2canon.json
Review them (git diff) and commit them with the change that caused them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GoldenSession"]


@dataclass
class GoldenSession:
    """Options of a session, the golden files written and the golden paths in use.

    Attributes
    ----------
    update : bool
        Write golden files that are missing or differ (``--pt2canon-update``).
    level : str
        Default level of the checks (ini ``pt2canon_level``).
    rootpath : Path
        The pytest rootdir; paths are shown relative to it.
    verbose : int
        pytest's verbosity (``-vv`` shows whole diffs).
    written : list of (str, str)
        ``("created" | "updated", shown path)`` per file written.
    claimed : dict
        Golden path -> the node id of the test that checks it.
    """

    update: bool
    level: str
    rootpath: Path
    verbose: int = 0
    written: list[tuple[str, str]] = field(default_factory=list)
    claimed: dict[str, str] = field(default_factory=dict)

    def show(self, path: Path) -> str:
        """``path`` relative to the rootdir when it is under it."""
        try:
            return str(path.resolve().relative_to(self.rootpath.resolve()))
        except ValueError:
            return str(path)

    def claim(self, path: Path, nodeid: str) -> str | None:
        """Record that ``nodeid`` checks ``path``; the node id of another test that already does, if any."""
        owner = self.claimed.setdefault(str(path.resolve()), nodeid)
        return owner if owner != nodeid else None

    def report_lines(self) -> list[str]:
        """The terminal summary of the files written."""
        created = sum(1 for s, _ in self.written if s == "created")
        lines = [
            f"{len(self.written)} golden file(s) written ({created} created, {len(self.written) - created} updated):"
        ]
        lines += [f"  {status:<7} {path}" for status, path in sorted(self.written, key=lambda w: w[1])]
        lines.append("Review them (git diff) and commit them with the change that caused them.")
        return lines
