"""One check of a program against its golden file: :class:`GoldenChecker` (the fixture's object).

The program is loaded and canonicalized, hashed at the level, and
compared with the golden file's program hashed the same way (the header
is only for review: a hand-edited header cannot make a check pass).
Equal: the check passes. Different, missing or unreadable: the test fails
with the structural diff (:func:`pt2canon.diff.diff_programs`, text), or
with the command that creates the file; with ``--pt2canon-update`` the
file is written instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pt2canon.golden.format import GoldenFileError, check_level, golden_document
from pt2canon.golden.session import GoldenSession
from pt2canon.golden.storage import golden_path, read_golden, write_golden

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.canon.hashing import HashResult
    from pt2canon.serde.archive import Artifact

__all__ = ["UPDATE_FLAG", "GoldenChecker"]

#: The command-line flag that writes golden files.
UPDATE_FLAG = "--pt2canon-update"
_MAX_DIFF_LINES = 200


@dataclass
class _Current:
    """The program a test checks: its model, canonical document and hash at the level."""

    label: str
    program: dict[str, Any]
    canonical: dict[str, Any]
    digest: HashResult

    @classmethod
    def load(cls, source: Any, *, model: str | None, level: str) -> _Current:
        import pt2canon
        from pt2canon.canon.hashing import hash_layers

        artifact = pt2canon.load(source)
        canon = pt2canon.canonicalize(artifact, model=model)
        chosen = artifact.models[model] if model else artifact.model
        return cls(artifact.path, chosen.program, canon.doc, hash_layers({"model": canon}, level=level))

    def artifact(self) -> Artifact:
        """The original program alone, as a JSON artifact (keeps its own node names for the diff)."""
        from pt2canon.serde.archive import Artifact, Model

        return Artifact(path=self.label, format="json", models={"model": Model(name="model", program=self.program)})


def _golden_digest(artifact: Artifact, level: str) -> HashResult:
    from pt2canon.api import canonicalize
    from pt2canon.canon.hashing import hash_layers
    from pt2canon.errors import Pt2CanonError

    try:
        return hash_layers({"model": canonicalize(artifact)}, level=level)
    except Pt2CanonError as exc:  # a hand-edited graph that no longer holds together
        raise GoldenFileError(str(exc)) from None


def _render_diff(golden: Artifact, current: _Current, level: str, verbose: int) -> str:
    """The structural text diff, cut to :data:`_MAX_DIFF_LINES` lines unless ``-vv``."""
    try:
        from pt2canon.diff import diff_programs

        result = diff_programs(golden, current.artifact(), level=level)
        text = result.render("text", color=False)
    except Exception as exc:  # a broken diff must not hide the mismatch itself
        return f"(the structural diff could not be computed: {type(exc).__name__}: {exc})"
    lines = text.rstrip("\n").splitlines()
    if verbose < 2 and len(lines) > _MAX_DIFF_LINES:
        cut = len(lines) - _MAX_DIFF_LINES
        lines = [*lines[:_MAX_DIFF_LINES], f"... {cut} more lines (use -vv to see the whole diff)"]
    return "\n".join(lines)


class GoldenChecker:
    """The ``pt2canon_golden`` fixture: checks programs against this test's golden files."""

    def __init__(self, session: GoldenSession, node: pytest.Item) -> None:
        self._session = session
        self._node = node
        self._used: set[Path] = set()

    def path(self, name: str | None = None) -> Path:
        """The golden file :meth:`check` uses for ``name``."""
        return golden_path(self._node, name)

    def check(
        self, program: Any, name: str | None = None, *, level: str | None = None, model: str | None = None
    ) -> Path:
        """Check ``program`` against its golden file; fail the test with the structural diff if it differs.

        Parameters
        ----------
        program : ExportedProgram, path, bytes or Artifact
            Anything :func:`pt2canon.load` takes: an in-memory
            ``torch.export.ExportedProgram``, a ``.pt2`` archive or a ``model.json``.
        name : str, optional
            Tells several golden files of one test apart
            (``<test>.<name>.pt2canon.json``).
        level : {"structure", "graph"}, optional
            What must match (default: ini ``pt2canon_level``, else ``graph``):
            see ``docs/hashing.md``. Weights are not in golden files.
        model : str, optional
            Which model of a multi-model archive.

        Returns
        -------
        pathlib.Path
            The golden file.

        Raises
        ------
        UsageError
            On ``level="full"`` or a ``name`` unsafe in file names.
        """
        level = check_level(level or self._session.level)
        path = golden_path(self._node, name)
        shown = self._session.show(path)
        self._claim(path, shown)
        current = _Current.load(program, model=model, level=level)
        try:
            golden = read_golden(path, shown)
            digest = _golden_digest(golden[1], level) if golden is not None else None
            broken = None
        except GoldenFileError as exc:
            golden, digest, broken = None, None, exc.message
        if digest is not None and digest.hash == current.digest.hash:
            return path
        if self._session.update:
            write_golden(path, golden_document(current.canonical, current.digest))
            self._session.written.append(("created" if golden is None and broken is None else "updated", shown))
            return path
        rerun = f'pytest {UPDATE_FLAG} "{self._node.nodeid}"'
        if broken is not None:
            pytest.fail(
                f"pt2canon golden file {shown} is unreadable: {broken}\nRewrite it with: {rerun}", pytrace=False
            )
        if golden is None:
            pytest.fail(
                f"pt2canon golden file {shown} does not exist.\n"
                f"Create it with: {rerun}\n"
                "then review it and commit it with the test.",
                pytrace=False,
            )
        assert digest is not None
        diff = _render_diff(golden[1], current, level, self._session.verbose)
        pytest.fail(
            f"program differs from pt2canon golden file {shown} at level {level}\n"
            f"  golden:  {digest.hash}\n"
            f"  current: {current.digest.hash}\n"
            f"{diff}\n"
            f"If the change is intended, accept it with: {rerun}",
            pytrace=False,
        )
        raise AssertionError("unreachable")  # pragma: no cover - pytest.fail raises

    def _claim(self, path: Path, shown: str) -> None:
        """Fail when this test or another one already checks ``path``."""
        if path in self._used:
            pytest.fail(
                f"pt2canon golden file {shown} is checked twice in this test; "
                "give each check of a test its own name= in pt2canon_golden.check(...)",
                pytrace=False,
            )
        self._used.add(path)
        owner = self._session.claim(path, self._node.nodeid)
        if owner is not None:
            pytest.fail(
                f"pt2canon golden file {shown} is checked by both {owner} and {self._node.nodeid}; "
                "give one of them another name= in pt2canon_golden.check(...)",
                pytrace=False,
            )
