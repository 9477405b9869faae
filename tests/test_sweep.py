"""The alpha sweep: a real queued `dvc exp run` sweep on a temporary clone, and its summary."""

import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from regpipe.errors import UserError
from regpipe.io import read_json
from regpipe.pipeline_paths import pipeline_paths
from regpipe.sweep import leaderboard, parse_experiments
from tests.helpers import ROOT, sh

PATHS = pipeline_paths(ROOT)


def _revision(name: str, alpha: object, cv_rmse: float, test_rmse: float) -> dict:
    """One experiment revision shaped like `dvc exp show --json` prints it: the committed
    metrics with ridge's CV and test RMSE replaced."""
    training = read_json(ROOT / PATHS.train_metrics("train_ridge"))
    evaluation = read_json(ROOT / PATHS.evaluate_metrics)
    evaluation["models"]["ridge"]["rmse"] = test_rmse
    evaluation["champion"] = "ridge"
    return {
        "rev": f"{name}-sha",
        "name": name,
        "error": None,
        "data": {
            "params": {"params.yaml": {"data": {"train_ridge": {"alpha": alpha}}}},
            "metrics": {
                PATHS.train_metrics("train_ridge"): {
                    "data": {**training, "alpha": 2.5, "cv_rmse_mean": cv_rmse}
                },
                PATHS.evaluate_metrics: {"data": evaluation},
            },
        },
    }


def _shown(*experiments: dict) -> list[dict]:
    return [
        {"rev": "workspace", "name": None, "data": {}, "experiments": None},
        {"rev": "abc123", "name": "main", "data": {}, "experiments": list(experiments)},
    ]


def test_parse_experiments_ranks_by_cv_and_sorts_out_failures() -> None:
    shown = _shown(
        {"executor": {"state": "success"}, "revs": [_revision("a", 10, 55.6, 53.6)]},
        {"executor": None, "revs": [_revision("b", 1, 55.5, 53.8)]},
        {"executor": {"state": "queued"}, "revs": [_revision("c", 100, 0, 0)]},
        {
            "executor": {"state": "failed", "local": {"log": None}},
            "revs": [_revision("d", 1, 0, 0)],
        },
    )
    sweep = parse_experiments(shown, "train_ridge.alpha", PATHS)
    assert [trial.name for trial in sweep.finished] == ["b", "a"]
    assert [trial.alpha for trial in sweep.finished] == [1.0, 10.0]
    assert sweep.unfinished == ["c"] and list(sweep.failed) == ["d"]
    table = leaderboard(sweep, "train_ridge.alpha")
    assert "55.5000" in table and "failed: d:" in table and "still queued or running: c" in table


def test_parse_experiments_reports_the_alpha_the_search_chose() -> None:
    sweep = parse_experiments(
        _shown({"executor": None, "revs": [_revision("a", None, 55.6, 53.6)]}),
        "train_ridge.alpha",
        PATHS,
    )
    assert sweep.finished[0].alpha == 2.5


def test_parse_experiments_refuses_an_unknown_param_and_no_commit() -> None:
    with pytest.raises(UserError, match="train_ols.cv"):
        parse_experiments(_shown(), "train_ols.cv", PATHS)
    with pytest.raises(UserError, match="commit the pipeline first"):
        parse_experiments(_shown()[:1], "train_ridge.alpha", PATHS)


def test_queued_sweep_runs_every_alpha_and_refuses_bad_values(repo_copy: Path) -> None:
    params_before = (repo_copy / "params.yaml").read_bytes()
    model_before = (repo_copy / "models/ridge.joblib").read_bytes()

    # An unknown key is refused by DVC before anything is queued.
    queue = ("dvc", "exp", "run", "--queue", "-S")
    unknown = sh(*queue, "train_ridge.alpah=1", cwd=repo_copy, check=False)
    assert unknown.returncode != 0
    assert "Could not override 'train_ridge.alpah'" in unknown.stderr

    # Two numbers and one value that is not a number: the latter fails in its own
    # temporary workspace with our params message, the others finish (two numbers, so both
    # run at once under `-j 2`: a third would cost another round of `dvc exp run`).
    sh(*queue, "train_ridge.alpha=0.1,abc,1000", cwd=repo_copy)
    sh("dvc", "queue", "start", "-j", "2", cwd=repo_copy)
    summary = sh("regpipe-sweep", "--wait", "--poll-seconds", "2", cwd=repo_copy, check=False)
    assert summary.returncode == 1, summary.stderr  # a failed experiment is reported, not hidden
    assert "train_ridge.alpha: Input should be a valid number" in summary.stdout
    assert "(got 'abc')" in summary.stdout

    sweep = pd.read_csv(repo_copy / "sweep/sweep.csv")
    assert sweep["alpha"].tolist() == [0.1, 1000]
    assert sweep["cv_rmse_mean"].nunique() == 2 and sweep["test_rmse"].nunique() == 2
    plots = yaml.safe_load((repo_copy / "sweep/dvc.yaml").read_text())["plots"]
    assert plots[0]["train_ridge_alpha_sweep"]["y"] == {"sweep.csv": ["cv_rmse_mean", "test_rmse"]}
    rendered = sh("dvc", "plots", "show", "train_ridge_alpha_sweep", "--json", cwd=repo_copy)
    assert "test_rmse" in rendered.stdout

    # Nothing in the workspace changed: queued experiments run in temporary copies.
    assert (repo_copy / "params.yaml").read_bytes() == params_before
    assert (repo_copy / "models/ridge.joblib").read_bytes() == model_before
    assert "up to date" in sh("dvc", "status", cwd=repo_copy).stdout

    # The winner can be applied to the workspace and kept on a branch.
    best = pd.read_csv(repo_copy / "sweep/sweep.csv").sort_values("cv_rmse_mean").iloc[0]
    sh("dvc", "exp", "branch", best["name"], "ridge-best", cwd=repo_copy)
    shown = subprocess.run(
        ["git", "show", "ridge-best:params.yaml"], cwd=repo_copy, capture_output=True, text=True
    ).stdout
    assert yaml.safe_load(shown)["train_ridge"]["alpha"] == best["alpha"]
    sh("dvc", "exp", "apply", best["name"], cwd=repo_copy)
    applied = yaml.safe_load((repo_copy / "params.yaml").read_text())
    assert applied["train_ridge"]["alpha"] == best["alpha"]
    assert "up to date" in sh("dvc", "status", cwd=repo_copy).stdout
