"""pytest plugin: check exported programs against golden files (fixture ``pt2canon_golden``).

Registered through the ``pytest11`` entry point, so it is active in every
pytest session once pt2canon is installed; importing it imports neither
torch nor the rest of pt2canon (they are loaded when a test first calls
:meth:`GoldenChecker.check`).

::

    def test_model_export(pt2canon_golden):
        ep = torch.export.export(MyModel(), (torch.randn(2, 8),))
        pt2canon_golden.check(ep)                      # or a .pt2 / model.json path

A golden file lives beside the test module, in a folder named after it:
``<test dir>/<module stem>/<test name>[.<name>].pt2canon.json``. It is the
canonical program (:func:`pt2canon.canonicalize`) as indented JSON with
sorted keys, plus a ``"_pt2canon"`` header holding the hash and its layer
digests at the checked level; small, stable across re-exports and file
names, and reviewable in a pull request. Without the header it is a plain
serialized ``ExportedProgram``: ``pt2canon show|diff`` read it as a bare
``model.json``.

Options:

``--pt2canon-update`` (ini ``pt2canon_update = true``)
    Write the golden files that are missing or differ from the program at
    their level (atomically); the check then passes, and the terminal
    summary lists the files written. Review and commit them.
ini ``pt2canon_level``
    Default level of :meth:`GoldenChecker.check` (``graph``; or ``structure``).

Without the option a missing golden file fails the test with the command
that creates it, and a program that differs from its golden file fails the
test with the structural diff (:func:`pt2canon.diff.diff_programs`, text
rendering). See ``docs/pytest-plugin.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from pt2canon.canon.hashing import HashResult
    from pt2canon.serde.archive import Artifact

__all__ = [
    "GOLDEN_FORMAT",
    "GOLDEN_LEVELS",
    "GOLDEN_SUFFIX",
    "HEADER_KEY",
    "GoldenChecker",
    "golden_path",
    "pt2canon_golden",
]

#: File name ending of golden files.
GOLDEN_SUFFIX = ".pt2canon.json"
#: Key of the header object in a golden file (sorts before the program's own keys).
HEADER_KEY = "_pt2canon"
#: Version of the golden file layout (the header's ``format``).
GOLDEN_FORMAT = 1
#: Levels a golden file can be checked at (it holds no weights, so not ``full``).
GOLDEN_LEVELS = ("structure", "graph")

_UPDATE_FLAG = "--pt2canon-update"
_WORKER_KEY = "pt2canon_golden_written"
_MAX_DIFF_LINES = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


# -- hooks (thin: state lives in _GoldenSession, work in GoldenChecker) -----------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pt2canon", "pt2canon golden files of exported programs")
    group.addoption(
        _UPDATE_FLAG,
        action="store_true",
        default=None,
        dest="pt2canon_update",
        help="write the pt2canon golden files that are missing or differ (fixture pt2canon_golden)",
    )
    parser.addini("pt2canon_update", type="bool", default=False, help="always write pt2canon golden files")
    parser.addini("pt2canon_level", default="graph", help="default level of pt2canon golden checks (structure|graph)")


_SESSION = pytest.StashKey["_GoldenSession"]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SESSION] = _GoldenSession.from_config(config)


def pytest_report_header(config: pytest.Config) -> str | None:
    state = config.stash.get(_SESSION, None)
    if state is not None and state.update:
        return "pt2canon: updating golden files (--pt2canon-update)"
    return None


@pytest.fixture
def pt2canon_golden(request: pytest.FixtureRequest) -> GoldenChecker:
    """Check an ``ExportedProgram`` or archive against this test's golden file: ``pt2canon_golden.check(ep)``."""
    return GoldenChecker(request.config.stash[_SESSION], request.node)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # On a pytest-xdist worker: hand the files written here to the controller.
    workeroutput = getattr(session.config, "workeroutput", None)
    state = session.config.stash.get(_SESSION, None)
    if workeroutput is not None and state is not None:
        workeroutput[_WORKER_KEY] = list(state.written)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    # On the pytest-xdist controller: collect what a worker wrote.
    state = node.config.stash.get(_SESSION, None)
    written = getattr(node, "workeroutput", {}).get(_WORKER_KEY, [])
    if state is not None:
        state.written.extend(tuple(w) for w in written)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_SESSION, None)
    if state is None or not state.written:
        return
    terminalreporter.section("pt2canon golden files")
    for line in state.report_lines():
        terminalreporter.write_line(line)


# -- session state -------------------------------------------------------------------------------


@dataclass
class _GoldenSession:
    """What the plugin keeps per session: options, files written, golden paths in use."""

    update: bool
    level: str
    rootpath: Path
    verbose: int = 0
    written: list[tuple[str, str]] = field(default_factory=list)  # (created|updated, path)
    claimed: dict[str, str] = field(default_factory=dict)  # golden path -> node id

    @classmethod
    def from_config(cls, config: pytest.Config) -> _GoldenSession:
        flag = config.getoption("pt2canon_update", default=None)
        update = bool(flag) if flag is not None else bool(config.getini("pt2canon_update"))
        level = str(config.getini("pt2canon_level") or "graph").strip()
        if level not in GOLDEN_LEVELS:
            raise pytest.UsageError(f"ini option pt2canon_level={level!r}: expected one of {', '.join(GOLDEN_LEVELS)}")
        return cls(update=update, level=level, rootpath=Path(config.rootpath), verbose=config.getoption("verbose") or 0)

    def show(self, path: Path) -> str:
        """``path`` relative to the rootdir when it is under it."""
        try:
            return str(path.resolve().relative_to(self.rootpath.resolve()))
        except ValueError:
            return str(path)

    def claim(self, path: Path, nodeid: str) -> None:
        key = str(path.resolve())
        owner = self.claimed.setdefault(key, nodeid)
        if owner != nodeid:
            pytest.fail(
                f"pt2canon golden file {self.show(path)} is checked by both {owner} and {nodeid}; "
                "give one of them another name= in pt2canon_golden.check(...)",
                pytrace=False,
            )

    def report_lines(self) -> list[str]:
        created = sum(1 for s, _ in self.written if s == "created")
        lines = [
            f"{len(self.written)} golden file(s) written ({created} created, {len(self.written) - created} updated):"
        ]
        lines += [f"  {status:<7} {path}" for status, path in sorted(self.written, key=lambda w: w[1])]
        lines.append("Review them (git diff) and commit them with the change that caused them.")
        return lines


# -- storage: where golden files are and how they are read and written ------------------------


def _test_stem(node: pytest.Item) -> str:
    """The file-name stem of a test: ``[Class.]function[_params_]`` with unsafe characters as ``_``."""
    parts = [n.name for n in node.listchain() if isinstance(n, (pytest.Class, pytest.Function))]
    stem = _UNSAFE.sub("_", ".".join(parts) or node.name).strip("._") or "test"
    if len(stem) > 150:  # keep file names portable; the digest keeps long ids apart
        import hashlib

        stem = f"{stem[:130]}-{hashlib.sha256(stem.encode()).hexdigest()[:12]}"
    return stem


def golden_path(node: pytest.Item, name: str | None = None) -> Path:
    """``<test dir>/<module stem>/<test stem>[.<name>].pt2canon.json`` for ``node``."""
    module = Path(node.path)
    stem = _test_stem(node)
    if name is not None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"name={name!r}: use letters, digits, '_', '.' and '-' (not starting with '.' or '-')")
        stem = f"{stem}.{name}"
    return module.parent / module.stem / f"{stem}{GOLDEN_SUFFIX}"


class _BrokenGolden(Exception):
    """A golden file that exists but cannot be read as one."""


def _read_golden(path: Path, label: str) -> tuple[dict[str, Any], Artifact] | None:
    """``(header, artifact)`` of a golden file, ``None`` when it does not exist; ``label`` names it in messages.

    Raises :class:`_BrokenGolden` when it is not JSON or not a program.
    """
    from pt2canon import _json
    from pt2canon.errors import Pt2CanonError
    from pt2canon.serde.archive import read_bytes

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _BrokenGolden(f"cannot read it ({exc.strerror or exc})") from None
    try:
        doc = _json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _BrokenGolden(
            f"it is not JSON ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from None
    if not isinstance(doc, dict):
        raise _BrokenGolden("it is not a JSON object")
    header = doc.pop(HEADER_KEY, None)
    try:
        artifact = read_bytes(_json.canonical_bytes(doc), label=label)
    except Pt2CanonError as exc:
        raise _BrokenGolden(str(exc)) from None
    return (header if isinstance(header, dict) else {}), artifact


def _golden_document(program: dict[str, Any], digest: HashResult) -> dict[str, Any]:
    """The golden file's content: the canonical program and a header with its hash."""
    header = {
        "format": GOLDEN_FORMAT,
        "hash": digest.hash,
        "hash_spec": digest.spec,
        "layers": {k: digest.layers[k] for k in digest.included if k in digest.layers},
        "level": digest.level,
        "written_by": "pt2canon pytest plugin; regenerate with pytest --pt2canon-update",
    }
    return {HEADER_KEY: header, **program}


def _write_golden(path: Path, doc: dict[str, Any]) -> None:
    from pt2canon.serde.writer import write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, doc, indent=2)


# -- the program under test ------------------------------------------------------------------


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
        raise _BrokenGolden(str(exc)) from None


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


# -- the fixture's object ------------------------------------------------------------------


class GoldenChecker:
    """The ``pt2canon_golden`` fixture: checks programs against this test's golden files."""

    def __init__(self, session: _GoldenSession, node: pytest.Item) -> None:
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
        """
        level = level or self._session.level
        if level not in GOLDEN_LEVELS:
            raise ValueError(
                f"level={level!r}: golden files are checked at {' or '.join(GOLDEN_LEVELS)} "
                "(they hold no weights; compare weights with pt2canon.hash(..., level='full'))"
            )
        path = golden_path(self._node, name)
        shown = self._session.show(path)
        if path in self._used:
            pytest.fail(
                f"pt2canon golden file {shown} is checked twice in this test; "
                "give each check of a test its own name= in pt2canon_golden.check(...)",
                pytrace=False,
            )
        self._used.add(path)
        self._session.claim(path, self._node.nodeid)
        current = _Current.load(program, model=model, level=level)
        try:
            golden = _read_golden(path, shown)
            digest = _golden_digest(golden[1], level) if golden is not None else None
            broken = None
        except _BrokenGolden as exc:
            golden, digest, broken = None, None, str(exc)
        if digest is not None and digest.hash == current.digest.hash:
            return path
        if self._session.update:
            _write_golden(path, _golden_document(current.canonical, current.digest))
            self._session.written.append(("created" if golden is None and broken is None else "updated", shown))
            return path
        rerun = f'pytest {_UPDATE_FLAG} "{self._node.nodeid}"'
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
