"""The analysts' notebooks run top to bottom on the bundled samples, headless."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"
# A first run of a kernel also imports Polars and starts a sandbox: allow for that.
CELL_TIMEOUT_S = 120


@pytest.fixture(autouse=True)
def kernel_imports_this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel imports ctjobs from this checkout, whatever else is installed."""
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))


def _execute(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Run every cell in the venv's ``python3`` kernel from the notebooks folder.

    nbclient raises `CellExecutionError` on the first cell that fails.
    """
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    return client.execute()


def _outputs_text(notebook: nbformat.NotebookNode) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.append(str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


def test_the_kernel_is_this_interpreter() -> None:
    # The `python3` kernelspec names plain `python`, which jupyter_client runs as
    # the interpreter running the tests: the venv's, with ctjobs and its deps.
    cell = nbformat.v4.new_code_cell("import sys; print(sys.executable)", id="only")
    notebook = nbformat.v4.new_notebook(cells=[cell])

    ran = _execute(notebook)

    assert Path(_outputs_text(ran).strip()).resolve() == Path(sys.executable).resolve()


@pytest.mark.parametrize(
    "path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda path: path.stem
)
def test_notebook_runs_top_to_bottom(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)

    ran = _execute(notebook)

    code = [cell for cell in ran.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    assert "Traceback" not in _outputs_text(ran)


@pytest.mark.parametrize(
    "path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda path: path.stem
)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]

    assert code
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
