"""Fixtures of the robustness tests: the bad-input files, and a sandbox that sees every file written.

``bad_files``  ``kind name -> Path`` of every :data:`bad_inputs.KINDS` entry, written
               once per session (``missing_file`` names a path that does not exist).
``sandbox``    a fresh working directory and a private temporary folder (``TMPDIR``,
               ``tempfile.tempdir``) for one test; :meth:`Sandbox.assert_untouched`
               checks that nothing was written to either.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from bad_inputs import KINDS, Sandbox
from corpus import Corpus


@pytest.fixture(scope="session")
def bad_files(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad_inputs")
    out = {}
    for name, kind in KINDS.items():
        path = folder / f"{name}.pt2"
        data = kind.build(corpus)
        if data is not None:
            path.write_bytes(data)
        out[name] = path
    return out


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path / "sandbox")
    monkeypatch.chdir(box.cwd)
    monkeypatch.setenv("TMPDIR", str(box.tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(box.tmp))
    yield box
