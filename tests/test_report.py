"""The pull-request report: the verdict on edited evaluations, the real report on two commits."""

import json
import re
from pathlib import Path

import pytest
import yaml

from regpipe.errors import UserError
from regpipe.params import load_params
from regpipe.pipeline_paths import pipeline_paths
from regpipe.report import MARKER, judge
from regpipe.reports import Evaluation, read_report
from tests.helpers import ROOT, sh

BUILT = read_report(Evaluation, ROOT / pipeline_paths(ROOT).evaluate_metrics)


def _evaluation(champion: str, rmse: float, *, gate_reasons: tuple[str, ...] = ()) -> Evaluation:
    """The committed evaluation with ``champion`` at test RMSE ``rmse`` and this gate verdict."""
    models = {**BUILT.models, champion: BUILT.models[champion].model_copy(update={"rmse": rmse})}
    gate = BUILT.gate.model_copy(update={"passed": not gate_reasons, "reasons": list(gate_reasons)})
    return BUILT.model_copy(update={"champion": champion, "models": models, "gate": gate})


@pytest.mark.parametrize(
    ("head_rmse", "passed"),
    [(49.0, True), (50.0, True), (50.49, True), (50.51, False)],
)
def test_judge_allows_a_rise_up_to_the_tolerance(head_rmse: float, passed: bool) -> None:
    verdict = judge(
        _evaluation("ols", 50.0), _evaluation("ridge", head_rmse), max_rmse_regression=0.01
    )
    assert verdict.passed is passed
    if not passed:
        assert "report.max_rmse_regression allows +1.00%" in verdict.reasons[0]
        assert "ridge" in verdict.reasons[0] and "(ols)" in verdict.reasons[0]


def test_judge_fails_when_the_gate_failed() -> None:
    head = _evaluation("ols", 40.0, gate_reasons=("test R² 0.1 is below the floor 0.4",))
    verdict = judge(_evaluation("ols", 50.0), head, max_rmse_regression=0.01)
    assert not verdict.passed
    assert verdict.reasons == ["quality gate: test R² 0.1 is below the floor 0.4"]


@pytest.mark.parametrize("value", [-0.01, 1.0, "one percent"])
def test_the_tolerance_is_validated(tmp_path: Path, value: object) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["report"]["max_rmse_regression"] = value
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match="report.max_rmse_regression: Input should be"):
        load_params("report", tmp_path / "params.yaml")


def _commit_alpha(repo: Path, alpha: float, message: str) -> dict:
    """Set train_ridge.alpha, rebuild with dvc, commit; the resulting metrics/evaluate.json."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train_ridge"]["alpha"] = alpha
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("dvc", "repro", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", message, cwd=repo)
    return json.loads((repo / "metrics/evaluate.json").read_text())


def test_report_on_two_commits_shows_both_alphas_and_the_deltas(repo_copy: Path) -> None:
    base = _commit_alpha(repo_copy, 1, "ridge alpha 1")
    sh("git", "checkout", "-q", "-b", "change", cwd=repo_copy)
    head = _commit_alpha(repo_copy, 10, "ridge alpha 10")

    sh("regpipe-report", "--base", "main", "--out", "report.md", cwd=repo_copy)
    report = (repo_copy / "report.md").read_text()
    assert report.startswith(MARKER)
    assert "against `main`: passed" in report
    assert re.search(r"\| train_ridge\.alpha +\| 1 +\| 10 +\|", report)
    old, new = base["models"]["ridge"]["rmse"], head["models"]["ridge"]["rmse"]
    shown = [re.escape(str(round(value, 5))) for value in (old, new, new - old)]  # as dvc prints
    row = r"\| models\.ridge\.rmse +\| " + r" +\| ".join(shown) + r" +\|"
    assert re.search(row, report), report
    change = head["models"][head["champion"]]["rmse"] / base["models"][base["champion"]]["rmse"]
    assert f"{change - 1:+.2%} (allowed +1.00%)" in report
    assert (repo_copy / "report_plots/index.html").is_file()

    # The other way round, with a tolerance tighter than the difference: the check fails,
    # after writing the report, and says why.
    sh("git", "checkout", "-q", "main", cwd=repo_copy)
    sh("dvc", "checkout", "-q", cwd=repo_copy)
    params = yaml.safe_load((repo_copy / "params.yaml").read_text())
    params["report"]["max_rmse_regression"] = abs(change - 1) / 2
    (repo_copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    failed = sh("regpipe-report", "--base", "change", cwd=repo_copy, check=False)
    assert failed.returncode == 1
    assert "against `change`: FAILED" in failed.stdout
    assert "check failed: champion test RMSE" in failed.stderr
