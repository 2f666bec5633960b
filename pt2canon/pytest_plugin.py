"""pytest plugin: check exported programs against golden files (fixture ``pt2canon_golden``).

Registered through the ``pytest11`` entry point, so it is active in every
pytest session once pt2canon is installed; importing it imports neither
torch nor the rest of pt2canon (they are loaded when a test first calls
:meth:`~pt2canon.golden.checker.GoldenChecker.check`).

::

    def test_model_export(pt2canon_golden):
        ep = torch.export.export(MyModel(), (torch.randn(2, 8),))
        pt2canon_golden.check(ep)                      # or a .pt2 / model.json path

A golden file lives beside the test module, in a folder named after it:
``<test dir>/<module stem>/<test name>[.<name>].pt2canon.json``
(:mod:`pt2canon.golden.storage`). It is the canonical program
(:func:`pt2canon.canonicalize`) as indented JSON with sorted keys, plus a
``"_pt2canon"`` header holding the hash and its layer digests at the
checked level (:mod:`pt2canon.golden.format`); small, stable across
re-exports and file names, and reviewable in a pull request.

Options:

``--pt2canon-update`` (ini ``pt2canon_update = true``)
    Write the golden files that are missing or differ from the program at
    their level (atomically); the check then passes, and the terminal
    summary lists the files written. Review and commit them.
ini ``pt2canon_level``
    Default level of ``check`` (``graph``; or ``structure``).

Without the option a missing golden file fails the test with the command
that creates it, and a program that differs from its golden file fails the
test with the structural diff. The hooks here are thin: the session's
state and report are :mod:`pt2canon.golden.session`, the check
:mod:`pt2canon.golden.checker`. See ``docs/pytest-plugin.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pt2canon.golden.checker import UPDATE_FLAG, GoldenChecker
from pt2canon.golden.format import GOLDEN_LEVELS
from pt2canon.golden.session import GoldenSession

__all__ = ["GoldenChecker", "pt2canon_golden"]

_WORKER_KEY = "pt2canon_golden_written"
_SESSION = pytest.StashKey[GoldenSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pt2canon", "pt2canon golden files of exported programs")
    group.addoption(
        UPDATE_FLAG,
        action="store_true",
        default=None,
        dest="pt2canon_update",
        help="write the pt2canon golden files that are missing or differ (fixture pt2canon_golden)",
    )
    parser.addini("pt2canon_update", type="bool", default=False, help="always write pt2canon golden files")
    parser.addini("pt2canon_level", default="graph", help="default level of pt2canon golden checks (structure|graph)")


def pytest_configure(config: pytest.Config) -> None:
    flag = config.getoption("pt2canon_update", default=None)
    update = bool(flag) if flag is not None else bool(config.getini("pt2canon_update"))
    level = str(config.getini("pt2canon_level") or "graph").strip()
    if level not in GOLDEN_LEVELS:
        raise pytest.UsageError(f"ini option pt2canon_level={level!r}: expected one of {', '.join(GOLDEN_LEVELS)}")
    verbose = config.getoption("verbose") or 0
    config.stash[_SESSION] = GoldenSession(update=update, level=level, rootpath=Path(config.rootpath), verbose=verbose)


def pytest_report_header(config: pytest.Config) -> str | None:
    state = config.stash.get(_SESSION, None)
    if state is not None and state.update:
        return f"pt2canon: updating golden files ({UPDATE_FLAG})"
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
