"""The torch bridge: ExportedProgram in, reload checks out, and no torch where it is not needed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from corpus import CorpusEntry, ep_signature, json_signature, member_bytes, run_and_compare

import pt2canon
from pt2canon.errors import InputError, MissingDependencyError, UsageError
from pt2canon.serde.archive import read_artifact
from pt2canon.serde.torch_io import from_exported_program, to_exported_program


def test_an_exported_program_reads_as_the_archive_torch_would_save(corpus_entry: CorpusEntry) -> None:
    art = from_exported_program(corpus_entry.ep)
    assert art.path == "<ExportedProgram>" and art.format == "pt2"
    saved = read_artifact(corpus_entry.path)
    assert art.model.program == saved.model.program
    assert json_signature(art.model.program) == ep_signature(corpus_entry.ep)
    for fqn, payload in art.model.weights.items():
        expected = bytes(corpus_entry.ep.state_dict[fqn].untyped_storage())
        assert b"".join(art.iter_payload(payload)) == expected, fqn


def test_pt2canon_load_accepts_an_exported_program(corpus: dict[str, CorpusEntry]) -> None:
    entry = corpus["cond"]
    art = pt2canon.load(entry.ep)
    assert art.path == "<ExportedProgram>"
    assert art.model.program == read_artifact(entry.path).model.program


def test_to_exported_program_loads_a_path_or_bytes_that_run_the_same(corpus: dict[str, CorpusEntry]) -> None:
    entry = corpus["effects"]
    for source in (entry.path, str(entry.path), entry.path.read_bytes()):
        ep = to_exported_program(source)
        assert isinstance(ep, torch.export.ExportedProgram)
        run_and_compare(entry.ep, ep, entry.args)


def test_to_exported_program_on_a_bad_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "junk.pt2"
    path.write_bytes(b"not an archive")
    with pytest.raises(InputError, match=r"torch\.export\.load cannot load it") as exc:
        to_exported_program(path)
    assert str(exc.value).startswith(f"{path}: ")
    with pytest.raises(InputError, match="no such file"):
        to_exported_program(tmp_path / "missing.pt2")
    with pytest.raises(UsageError, match="expected a path or bytes"):
        to_exported_program(42)  # type: ignore[arg-type]


def test_from_exported_program_refuses_what_is_not_one() -> None:
    with pytest.raises(UsageError, match=r"expected a torch\.export\.ExportedProgram, got Linear"):
        from_exported_program(torch.nn.Linear(2, 2))


def test_without_torch_the_bridge_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, corpus: dict[str, CorpusEntry]
) -> None:
    entry = corpus["mlp"]
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'pt2canon\[torch\]'"):
        from_exported_program(entry.ep)
    with pytest.raises(MissingDependencyError, match=r"torch is needed for loading an archive"):
        to_exported_program(entry.path)


def test_importing_pt2canon_and_reading_and_writing_archives_does_not_import_torch(
    corpus: dict[str, CorpusEntry], tmp_path: Path
) -> None:
    # The archive/JSON path must stay torch-free: ``import torch`` costs over a second.
    script = textwrap.dedent(
        f"""
        import sys
        import pt2canon, pt2canon.serde.archive, pt2canon.serde.graph
        assert 'torch' not in sys.modules, 'import'
        import pt2canon.serde.writer, pt2canon.serde.torch_io, pt2canon.errors
        from pt2canon.serde.archive import read_artifact
        from pt2canon.serde.graph import to_networkx, from_networkx
        from pt2canon.serde.writer import write_archive, write_json
        art = read_artifact({str(corpus["transformer_layer"].path)!r})
        g = art.model.program["graph_module"]["graph"]
        assert from_networkx(to_networkx(g)) == g
        write_archive({str(tmp_path / "out.pt2")!r}, art)
        write_json({str(tmp_path / "out.json")!r}, art.model.program)
        assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:5]
        print('ok')
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert member_bytes(tmp_path / "out.pt2", "models/model.json") == (tmp_path / "out.json").read_bytes()
