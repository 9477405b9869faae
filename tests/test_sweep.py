"""The alpha sweep: a real queued `dvc exp run` sweep on a temporary clone, and its summary."""

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from regpipe.errors import UserError
from regpipe.io import read_json, write_json
from regpipe.pipeline_paths import DVC_YAML, pipeline_paths
from regpipe.sweep import leaderboard, parse_experiments
from tests.helpers import ROOT, commit_all, git_init, sh

PATHS = pipeline_paths(ROOT)
SWEPT = "train_ridge.alpha"


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A git repository holding the pipeline's dvc.yaml, where each experiment is a commit."""
    repo = git_init(tmp_path / "repo")
    shutil.copyfile(ROOT / DVC_YAML, repo / DVC_YAML)
    return repo


def _commit(repo: Path, name: str, alpha: float, cv_rmse: float, test_rmse: float) -> dict:
    """An experiment committed as DVC commits one (its metrics files in git: the committed
    files with ridge's alpha, CV and test RMSE replaced), and its revision as `dvc exp show
    --json` lists it."""
    training = read_json(ROOT / PATHS.train_metrics("train_ridge"))
    evaluation = read_json(ROOT / PATHS.evaluate_metrics)
    evaluation["models"]["ridge"]["rmse"] = test_rmse
    evaluation["champion"] = "ridge"
    for path, data in (
        (PATHS.train_metrics("train_ridge"), {**training, "alpha": alpha, "cv_rmse_mean": cv_rmse}),
        (PATHS.evaluate_metrics, evaluation),
    ):
        write_json(data, repo / path)
    commit_all(repo, name)
    return {"rev": _head(repo), "name": name, "error": None, "data": {}}


def _head(repo: Path) -> str:
    return sh("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()


def _shown(*experiments: dict) -> list[dict]:
    return [
        {"rev": "workspace", "name": None, "data": {}, "experiments": None},
        {"rev": "abc123", "name": "main", "data": {}, "experiments": list(experiments)},
    ]


@pytest.mark.pipeline  # real git commits
def test_parse_experiments_reads_each_experiments_files_ranks_by_cv_and_sorts_out_failures(
    history: Path,
) -> None:
    a = _commit(history, "a", 10, 55.6, 53.6)
    b = _commit(history, "b", 1, 55.5, 53.8)
    queued = {"rev": "0" * 40, "name": "c", "error": None, "data": {}}
    shown = _shown(
        {"executor": {"state": "success"}, "revs": [a]},
        {"executor": None, "revs": [b]},
        {"executor": {"state": "queued"}, "revs": [queued]},
        {"executor": {"state": "failed", "local": {"log": None}}, "revs": [dict(a, name="d")]},
    )
    sweep = parse_experiments(shown, SWEPT, history)
    assert [trial.name for trial in sweep.finished] == ["b", "a"]
    assert [(trial.alpha, trial.cv_rmse_mean, trial.test_rmse) for trial in sweep.finished] == [
        (1.0, 55.5, 53.8),
        (10.0, 55.6, 53.6),
    ]
    assert sweep.unfinished == ["c"] and list(sweep.failed) == ["d"]
    table = leaderboard(sweep, SWEPT)
    assert "55.5000" in table and "failed: d:" in table and "still queued or running: c" in table


@pytest.mark.pipeline  # real git commits
def test_nulls_and_empty_lists_reach_the_sweep_as_committed(history: Path) -> None:
    """`dvc exp show --json` drops null values and empty lists; the committed files keep them,
    so a test R² left undefined (null) is read as such rather than refused as missing."""
    experiment = _commit(history, "a", 2.5, 55.6, 53.6)
    evaluation = read_json(history / PATHS.evaluate_metrics)
    evaluation["models"]["ridge"]["r2"] = None
    evaluation["gate"]["reasons"] = []
    write_json(evaluation, history / PATHS.evaluate_metrics)
    commit_all(history, "r2 undefined")
    sweep = parse_experiments(
        _shown(
            {"executor": None, "revs": [experiment, dict(experiment, rev=_head(history), name="b")]}
        ),
        SWEPT,
        history,
    )
    assert {trial.name: trial.test_r2 for trial in sweep.finished} == {
        "a": read_json(ROOT / PATHS.evaluate_metrics)["models"]["ridge"]["r2"],
        "b": None,
    }
    row = next(line for line in leaderboard(sweep, SWEPT).splitlines() if " b " in line)
    assert row.split()[5:] == ["-", "ridge", "passed"]


@pytest.mark.pipeline  # real git commits
def test_an_experiment_whose_files_do_not_fit_is_failed_with_the_file_named(
    history: Path,
) -> None:
    good = _commit(history, "good", 1, 55.5, 53.8)
    training = read_json(history / PATHS.train_metrics("train_ridge"))
    del training["cv_rmse_mean"]
    write_json(training, history / PATHS.train_metrics("train_ridge"))
    commit_all(history, "an edited file")
    edited = dict(good, name="edited", rev=_head(history))
    (history / PATHS.evaluate_metrics).unlink()
    commit_all(history, "no evaluate metrics")
    gone = dict(good, name="gone", rev=_head(history))
    sweep = parse_experiments(
        _shown({"executor": None, "revs": [good, edited, gone]}), SWEPT, history
    )
    assert [trial.name for trial in sweep.finished] == ["good"]
    where = PATHS.train_metrics("train_ridge")
    assert sweep.failed["edited"].startswith(
        f"{where} at experiment edited ({edited['rev'][:12]}): not a valid TrainMetrics report: "
        "cv_rmse_mean: Field required"
    )
    assert f"{PATHS.evaluate_metrics} at experiment gone" in sweep.failed["gone"]
    assert "not in git" in sweep.failed["gone"]


def test_parse_experiments_refuses_an_unknown_param_and_no_commit(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="train_ols.cv"):
        parse_experiments(_shown(), "train_ols.cv", tmp_path)
    with pytest.raises(UserError, match="commit the pipeline first"):
        parse_experiments(_shown()[:1], SWEPT, tmp_path)


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
