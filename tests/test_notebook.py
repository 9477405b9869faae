"""The analysis notebook runs top to bottom on the built pipeline; git keeps it without outputs."""

import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.helpers import ROOT

NOTEBOOK = Path("notebooks/analysis.ipynb")


def test_committed_notebook_has_no_outputs() -> None:
    notebook = nbformat.read(ROOT / NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_notebook_tells_the_story_of_the_built_pipeline(built_repo: Path) -> None:
    notebook = nbformat.read(built_repo / NOTEBOOK, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(built_repo / NOTEBOOK.parent)}},
    ).execute()  # raises CellExecutionError naming the cell on any error

    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    text = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    figures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(figures) >= 3  # coefficients, validation curves, LASSO path

    evaluation = json.loads((built_repo / "metrics/evaluate.json").read_text())
    champion = evaluation["champion"]
    rmse = evaluation["models"][champion]["rmse"]
    assert f"Champion: {champion}, test RMSE {rmse:.2f}" in text
    verdict = "passed" if evaluation["gate"]["passed"] else "failed"
    assert f"Gate {verdict}" in text
    lasso = json.loads((built_repo / "metrics/train_lasso.json").read_text())
    kept = sum(value != 0 for value in lasso["coef"].values())
    assert f"LASSO keeps {kept} of {len(lasso['coef'])} features" in text
    drift = json.loads((built_repo / "metrics/drift.json").read_text())["dataset"]
    assert f"{drift['n_drifted']} of {drift['n_tested']} columns drifted" in text
