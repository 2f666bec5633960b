"""Every notebook in ``notebooks/`` runs top to bottom on a fresh kernel, and is committed without outputs.

Each notebook is executed with nbclient on a new ``python3`` kernel (the
interpreter running the tests: jupyter_client starts ``sys.executable`` for
the ``python`` of the kernel spec) with ``notebooks/`` as the working
directory and the repository first on ``PYTHONPATH``, so the notebook runs
against this checkout. A cell that raises, including a failed ``assert``
(the notebooks check what they show), fails the test with the cell's
traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 300


def test_the_notebooks_folder_holds_the_explore_and_diff_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"explore.ipynb", "diff.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_committed_notebook_has_no_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code cells"
    for i, cell in enumerate(code):
        assert cell.get("outputs") == [], f"code cell {i} has outputs: clear them before committing"
        assert cell.get("execution_count") is None, f"code cell {i} has an execution count"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_notebook_runs_top_to_bottom_on_a_fresh_kernel(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path_env = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + (os.pathsep + path_env if path_env else ""))
    monkeypatch.setenv("MPLBACKEND", "agg")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        allow_errors=False,
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name}: a cell failed\n{exc}", pytrace=False)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "not every code cell ran"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    # The notebooks draw graphs: some output is an SVG drawing, inline in HTML or as an image.
    rich = [o.get("data", {}) for c in code for o in c.outputs if o.output_type in ("display_data", "execute_result")]
    assert any("<svg" in d.get("image/svg+xml", "") or "<svg" in d.get("text/html", "") for d in rich), (
        "no drawing shown"
    )
