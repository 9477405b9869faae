"""Pipeline tests: the real dvc and git on a temporary clone of this working tree."""

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import Lasso, LinearRegression, Ridge
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.helpers import edit_params, sh

pytestmark = pytest.mark.pipeline

STAGES = [
    "generate",
    "prepare",
    "current",
    "train_ols",
    "train_ridge",
    "train_lasso",
    "evaluate",
    "drift",
]


def ran_stages(output: str) -> list[str]:
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


def declared_outputs(repo: Path, kinds=("outs", "metrics", "plots")) -> dict[str, set[str]]:
    """Each stage's output paths of these kinds, as dvc.yaml declares them."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    return {
        name: {
            next(iter(out)) if isinstance(out, dict) else out
            for kind in kinds
            for out in stage.get(kind, [])
        }
        for name, stage in stages.items()
    }


def test_every_declared_output_is_built_with_the_hash_in_dvc_lock(built_repo: Path) -> None:
    lock = yaml.safe_load((built_repo / "dvc.lock").read_text())["stages"]
    declared = declared_outputs(built_repo)
    assert sorted(lock) == sorted(declared) == sorted(STAGES)
    for name, stage in lock.items():
        locked = {out["path"]: out["md5"] for out in stage.get("outs", [])}
        assert set(locked) == declared[name], name
        for path, md5 in locked.items():  # the file on disk is the one dvc.lock records
            assert hashlib.md5((built_repo / path).read_bytes()).hexdigest() == md5, path


def test_metrics_are_scikit_learns_on_the_prepared_split(built_repo: Path) -> None:
    """The test metrics, the champion and LASSO's zeros equal scikit-learn's own fits at the
    alphas the train stages chose; OLS reproduces the course notebook's 53.85 and 0.45."""
    train = pd.read_parquet(built_repo / "data/prepared/train.parquet")
    test = pd.read_parquet(built_repo / "data/prepared/test.parquet")
    X, y = train.drop(columns="target"), train["target"]
    X_test, y_test = test.drop(columns="target"), test["target"]
    trained = {
        name: json.loads((built_repo / f"metrics/train_{name}.json").read_text())
        for name in ("ols", "ridge", "lasso")
    }
    estimators = {
        "ols": LinearRegression(),
        "ridge": Ridge(alpha=trained["ridge"]["alpha"]),
        "lasso": Lasso(alpha=trained["lasso"]["alpha"], tol=1e-13, max_iter=1_000_000),
        "baseline": DummyRegressor(),
    }
    evaluation = json.loads((built_repo / "metrics/evaluate.json").read_text())
    rmse = {}
    for name, estimator in estimators.items():
        fitted = make_pipeline(StandardScaler(), estimator).fit(X, y)
        predicted = fitted.predict(X_test)
        rmse[name] = root_mean_squared_error(y_test, predicted)
        got = evaluation["models"][name]
        assert got["rmse"] == pytest.approx(rmse[name], rel=1e-8), name
        assert got["mae"] == pytest.approx(mean_absolute_error(y_test, predicted), rel=1e-8)
        assert got["r2"] == pytest.approx(r2_score(y_test, predicted), rel=1e-8, abs=1e-9)
        if name == "lasso":
            zeros = int((fitted[-1].coef_ == 0).sum())
            assert trained["lasso"]["n_zero_coef"] == zeros == 1, "LASSO keeps 9 of 10 features"
    assert evaluation["champion"] == min(["ols", "ridge", "lasso"], key=rmse.__getitem__)
    assert (round(rmse["ols"], 2), round(evaluation["models"]["ols"]["r2"], 2)) == (53.85, 0.45)


def test_metrics_show_reads_every_metrics_file(built_repo: Path) -> None:
    shown = json.loads(sh("dvc", "metrics", "show", "--json", cwd=built_repo).stdout)
    files = next(iter(shown.values()))["data"]
    metrics = set().union(*declared_outputs(built_repo, kinds=("metrics",)).values())
    assert set(files) == metrics
    for path in metrics:  # what DVC shows is the file's content, number for number
        assert files[path]["data"] == as_dvc_shows(json.loads((built_repo / path).read_text()))


def as_dvc_shows(value: object) -> object:
    """``value`` as ``dvc metrics show`` gives it: scalars only, so nulls and lists are left
    out, and a mapping emptied by that too."""
    if not isinstance(value, dict):
        return value
    kept = {key: as_dvc_shows(item) for key, item in value.items() if not isinstance(item, list)}
    return {key: item for key, item in kept.items() if item not in (None, {})}


def test_second_repro_reruns_nothing(built_repo: Path) -> None:
    result = sh("dvc", "repro", cwd=built_repo)
    assert ran_stages(result.stdout) == []
    assert "Data and pipelines are up to date" in result.stdout


def test_ridge_param_change_reruns_only_ridge_and_downstream(repo_copy: Path) -> None:
    edit_params(repo_copy / "params.yaml", {"train_ridge.alpha": 10})
    status = json.loads(sh("dvc", "status", "--json", cwd=repo_copy).stdout)
    assert sorted(status) == ["train_ridge"]

    result = sh("dvc", "repro", cwd=repo_copy)
    # alpha=10 makes ridge the champion, so drift (which checks the champion) reruns too
    assert ran_stages(result.stdout) == ["train_ridge", "evaluate", "drift"]
    ridge = json.loads((repo_copy / "metrics/train_ridge.json").read_text())
    assert ridge["alpha"] == 10
    assert ridge["n_alphas_searched"] == 1


def test_bad_param_stops_the_stage_and_outputs_are_restorable(repo_copy: Path) -> None:
    model = repo_copy / "models/ridge.joblib"
    before = model.read_bytes()
    edit_params(repo_copy / "params.yaml", {"train_ridge.alpha": -1})

    result = sh("dvc", "repro", cwd=repo_copy, check=False)
    assert result.returncode != 0
    assert "train_ridge.alpha" in result.stderr
    assert "greater than 0" in result.stderr
    assert "Traceback" not in result.stderr

    # DVC removes a stage's outputs before running it; models come back from the DVC cache,
    # metrics (small JSON kept in git) from git.
    sh("git", "checkout", "--", "params.yaml", "metrics", cwd=repo_copy)
    sh("dvc", "checkout", cwd=repo_copy)
    assert model.read_bytes() == before
    assert "up to date" in sh("dvc", "status", cwd=repo_copy).stdout
